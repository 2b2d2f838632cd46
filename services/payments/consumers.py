"""Event type -> handler: what payments does with the lifecycle events it consumes.

accepted -> remember the fee lines, bill now if the procedure collects at acceptance or before
processing; decided -> bill an approved dossier of a procedure that collects on result, and note
refusals (refund rules); processing_started and withdrawn -> the facts refunds depend on.
Every handler is a set-if-absent, so a replayed event changes nothing even without the inbox."""
from __future__ import annotations

from collections.abc import Mapping

from services.payments import handlers
from services.payments.handlers import Payments
from shared.events.catalogue import (DossierAccepted, DossierDecided, DossierProcessingStarted, DossierWithdrawn,
                                     EventData)
from shared.events.envelope import Envelope
from shared.inbox import EventHandler
from shared.probe import record_probe
from shared.uow import UnitOfWork


def build_handlers(ctx: Payments) -> Mapping[str, EventHandler]:
    async def on_accepted(envelope: Envelope, data: EventData, uow: UnitOfWork) -> None:
        assert isinstance(data, DossierAccepted)
        await handlers.on_dossier_accepted(ctx, uow, envelope, data)

    async def on_decided(envelope: Envelope, data: EventData, uow: UnitOfWork) -> None:
        assert isinstance(data, DossierDecided)
        await handlers.on_dossier_decided(ctx, uow, envelope, data)

    async def on_started(envelope: Envelope, data: EventData, uow: UnitOfWork) -> None:
        assert isinstance(data, DossierProcessingStarted)
        await handlers.on_processing_started(uow, data.dossier_id, data.started_at)

    async def on_withdrawn(envelope: Envelope, data: EventData, uow: UnitOfWork) -> None:
        assert isinstance(data, DossierWithdrawn)
        await handlers.on_dossier_withdrawn(ctx, uow, data.dossier_id, data.withdrawn_at)

    return {
        "dossier.accepted.v1": on_accepted,
        "dossier.decided.v1": on_decided,
        "dossier.processing_started.v1": on_started,
        "dossier.withdrawn.v1": on_withdrawn,
        "backbone.probe.v1": record_probe,
    }
