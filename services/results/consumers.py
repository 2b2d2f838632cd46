"""Event type -> handler: what results does with the lifecycle events it consumes.

submitted -> the holder (sealed) and channel; accepted -> agency and payment timing; decided ->
issue the signed result (or wait for the fee); payment.succeeded -> issue what waited."""
from __future__ import annotations

from collections.abc import Mapping

from services.results import handlers
from services.results.handlers import Results
from shared.events.catalogue import DossierAccepted, DossierDecided, DossierSubmitted, EventData
from shared.events.envelope import Envelope
from shared.inbox import EventHandler
from shared.probe import record_probe
from shared.uow import UnitOfWork


def build_handlers(ctx: Results) -> Mapping[str, EventHandler]:
    async def on_submitted(envelope: Envelope, data: EventData, uow: UnitOfWork) -> None:
        assert isinstance(data, DossierSubmitted)
        await handlers.on_submitted(ctx, uow, data)

    async def on_accepted(envelope: Envelope, data: EventData, uow: UnitOfWork) -> None:
        assert isinstance(data, DossierAccepted)
        await handlers.on_accepted(uow, data)

    async def on_decided(envelope: Envelope, data: EventData, uow: UnitOfWork) -> None:
        assert isinstance(data, DossierDecided)
        await handlers.on_decided(ctx, uow, envelope, data)

    async def on_paid(envelope: Envelope, data: EventData, uow: UnitOfWork) -> None:
        await handlers.on_paid(ctx, uow, envelope, data.dossier_id)

    return {
        "dossier.submitted.v1": on_submitted,
        "dossier.accepted.v1": on_accepted,
        "dossier.decided.v1": on_decided,
        "payment.succeeded.v1": on_paid,
        "backbone.probe.v1": record_probe,
    }
