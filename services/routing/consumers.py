"""Event type -> handler: what routing does with each lifecycle event it consumes.

accepted -> start the workflow (or wait for the fee); payment.succeeded / due_date_set -> start a
workflow that waited for the fee; supplemented (during processing) -> resume the clock;
withdrawn -> cancel open tasks. Each handler checks the instance's state first, so a redelivered
or replayed event changes nothing even without the inbox."""
from __future__ import annotations

from collections.abc import Mapping

from services.routing import handlers
from services.routing.handlers import Routing
from shared.events.catalogue import (DossierAccepted, DossierDueDateSet, DossierSupplemented, DossierWithdrawn,
                                     EventData, PaymentSucceeded)
from shared.events.envelope import Envelope
from shared.inbox import EventHandler
from shared.probe import record_probe
from shared.uow import UnitOfWork


def build_handlers(ctx: Routing) -> Mapping[str, EventHandler]:
    async def on_accepted(envelope: Envelope, data: EventData, uow: UnitOfWork) -> None:
        assert isinstance(data, DossierAccepted)
        await handlers.on_dossier_accepted(ctx, uow, envelope, data)

    async def on_paid(envelope: Envelope, data: EventData, uow: UnitOfWork) -> None:
        assert isinstance(data, PaymentSucceeded)
        await handlers.on_payment_succeeded(ctx, uow, envelope, data.dossier_id, data.paid_at)

    async def on_due_date_set(envelope: Envelope, data: EventData, uow: UnitOfWork) -> None:
        assert isinstance(data, DossierDueDateSet)
        await handlers.on_due_date_set(ctx, uow, envelope, data)

    async def on_supplemented(envelope: Envelope, data: EventData, uow: UnitOfWork) -> None:
        assert isinstance(data, DossierSupplemented)
        if data.stage == "processing":
            await handlers.on_supplemented(ctx, uow, envelope, data.dossier_id, data.supplemented_at)

    async def on_withdrawn(envelope: Envelope, data: EventData, uow: UnitOfWork) -> None:
        assert isinstance(data, DossierWithdrawn)
        await handlers.on_withdrawn(ctx, uow, envelope, data.dossier_id, data.withdrawn_at, data.reason)

    return {
        "dossier.accepted.v1": on_accepted,
        "payment.succeeded.v1": on_paid,
        "dossier.due_date_set.v1": on_due_date_set,
        "dossier.supplemented.v1": on_supplemented,
        "dossier.withdrawn.v1": on_withdrawn,
        "backbone.probe.v1": record_probe,
    }
