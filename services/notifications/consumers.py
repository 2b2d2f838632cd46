"""Event type -> handler: notifications reads every lifecycle event (its own excepted) and plans
what each one means for people and systems: messages, webhook deliveries, portal sync."""
from __future__ import annotations

from collections.abc import Mapping

from services.notifications import handlers
from services.notifications.handlers import Notifications
from shared.events.catalogue import CATALOGUE, EventData
from shared.events.envelope import Envelope
from shared.inbox import EventHandler
from shared.probe import record_probe
from shared.uow import UnitOfWork


def build_handlers(ctx: Notifications) -> Mapping[str, EventHandler]:
    async def plan(envelope: Envelope, data: EventData, uow: UnitOfWork) -> None:
        await handlers.on_event(ctx, uow, envelope)

    table: dict[str, EventHandler] = {name: plan for name, kind in CATALOGUE.items()
                                      if kind.producer != "notifications" and name != "backbone.probe.v1"}
    table["backbone.probe.v1"] = record_probe
    return table
