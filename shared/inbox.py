"""The idempotent consumer: event type -> handler, run inside one transaction with an inbox row.

The inbox row (consumer, event id), the handler's effects and any events it publishes commit
together; a redelivered event finds its inbox row and is skipped. Unreadable or invalid events
are poison (straight to the DLQ); any other error is retried by the bus."""
from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime

from pydantic import ValidationError

from shared.bus.delivery import PoisonRecord
from shared.bus.ports import Record
from shared.db import insert_if_absent
from shared.events.catalogue import EventData, UnknownEventType, parse_data
from shared.events.envelope import Envelope, MalformedEvent
from shared.observability import EVENTS_CONSUMED, correlation_id_var, dossier_id_var
from shared.uow import UnitOfWork

EventHandler = Callable[[Envelope, EventData, UnitOfWork], Awaitable[None]]


class InboxConsumer:
    """The bus handler of one service: decodes, deduplicates and dispatches lifecycle events."""

    def __init__(self, consumer: str, handlers: Mapping[str, EventHandler], uow_factory: Callable[[], UnitOfWork]):
        self.consumer = consumer
        self.handlers = dict(handlers)
        self._uow_factory = uow_factory

    async def __call__(self, record: Record) -> None:
        try:
            envelope = Envelope.from_record(record.headers, record.value)
        except MalformedEvent as exc:
            raise PoisonRecord(str(exc)) from exc
        handler = self.handlers.get(envelope.type)
        if handler is None:
            EVENTS_CONSUMED.labels(self.consumer, envelope.type, "ignored").inc()
            return
        try:
            data = parse_data(envelope)
        except (ValidationError, UnknownEventType) as exc:
            raise PoisonRecord(f"invalid {envelope.type}: {exc}") from exc
        correlation_id_var.set(envelope.correlationid)
        dossier_id_var.set(envelope.subject)
        outcome = await self.handle(envelope, data, handler)
        EVENTS_CONSUMED.labels(self.consumer, envelope.type, outcome).inc()

    async def handle(self, envelope: Envelope, data: EventData, handler: EventHandler) -> str:
        async with self._uow_factory() as uow:
            first_time = await insert_if_absent(uow.session, uow.tables.inbox, {
                "consumer": self.consumer, "event_id": envelope.id, "event_type": envelope.type,
                "processed_at": datetime.now(UTC)})
            if not first_time:
                return "duplicate"
            await handler(envelope, data, uow)
            await uow.commit()
        return "handled"
