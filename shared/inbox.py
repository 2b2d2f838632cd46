"""The idempotent consumer: event type -> handler, run inside one transaction with an inbox row.

The inbox row (consumer, event id), the handler's effects and any events it publishes commit
together; a redelivered event finds its inbox row and is skipped. Consecutive records of a
partition are handled in one transaction when they can be (the bus falls back to one record
per transaction when a batch fails, so one bad event never blocks the others). Unreadable or invalid events
are poison (straight to the DLQ); any other error is retried by the bus."""
from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime

from pydantic import ValidationError

from shared.bus.delivery import PoisonRecord
from shared.bus.ports import Record
from shared.db import insert_many_if_absent
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

    def _decode(self, record: Record) -> tuple[Envelope, EventData | None, EventHandler | None]:
        try:
            envelope = Envelope.from_record(record.headers, record.value)
        except MalformedEvent as exc:
            raise PoisonRecord(str(exc)) from exc
        handler = self.handlers.get(envelope.type)
        if handler is None:
            return envelope, None, None
        try:
            return envelope, parse_data(envelope), handler
        except (ValidationError, UnknownEventType) as exc:
            raise PoisonRecord(f"invalid {envelope.type}: {exc}") from exc

    async def __call__(self, record: Record) -> None:
        """One record, one transaction (the bus's retry/DLQ unit)."""
        await self.handle_batch([record])

    async def handle_batch(self, records: Sequence[Record]) -> None:
        """Several records in one transaction: all their inbox rows and effects, or none."""
        decoded = [self._decode(r) for r in records]
        wanted = {e.id: e for e, _, handler in decoded if handler is not None}
        if not wanted:   # nothing this service handles: no transaction (most services ignore most types)
            for envelope, _, _ in decoded:
                EVENTS_CONSUMED.labels(self.consumer, envelope.type, "ignored").inc()
            return
        outcomes: list[tuple[str, str]] = []
        async with self._uow_factory() as uow:
            now = datetime.now(UTC)
            new_ids = await insert_many_if_absent(uow.conn, uow.tables.inbox, [
                {"consumer": self.consumer, "event_id": e.id, "event_type": e.type, "processed_at": now}
                for e in wanted.values()], key="event_id")
            for envelope, data, handler in decoded:
                if handler is None:
                    outcomes.append((envelope.type, "ignored"))
                    continue
                first_time = envelope.id in new_ids
                new_ids.discard(envelope.id)  # the same event twice in one batch runs once
                if first_time:
                    correlation_id_var.set(envelope.correlationid)
                    dossier_id_var.set(envelope.subject)
                    await handler(envelope, data, uow)  # handlers never commit: we do, once
                outcomes.append((envelope.type, "handled" if first_time else "duplicate"))
            await uow.commit()
        for event_type, outcome in outcomes:
            EVENTS_CONSUMED.labels(self.consumer, event_type, outcome).inc()
