"""Unit of work: one use case, one database transaction, holding the domain rows and the outbox rows.

    async with kit.uow() as uow:
        uow.session.add(dossier)
        uow.publish(make_event(...))
        await uow.commit()      # rows and events land together, or neither does

Nothing is sent to the bus here: the relay publishes committed outbox rows (no dual writes)."""
from __future__ import annotations

import zlib
from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.db import OUTBOX_LANES, BackboneTables
from shared.events.envelope import Envelope


def lane_for(key: str) -> int:
    return zlib.crc32(key.encode()) % OUTBOX_LANES


class UnitOfWork:
    def __init__(self, sessionmaker: async_sessionmaker, tables: BackboneTables, topic: str,
                 on_commit: Callable[[], None] | None = None) -> None:
        self._sessionmaker = sessionmaker
        self.tables = tables
        self.topic = topic
        self._on_commit = on_commit
        self._pending_events: list[Envelope] = []
        self._wrote_events = False
        self.session: AsyncSession

    async def __aenter__(self) -> "UnitOfWork":
        self.session = self._sessionmaker()
        await self.session.begin()
        return self

    async def __aexit__(self, *exc_info) -> None:
        try:
            if self.session.in_transaction():
                await self.session.rollback()
        finally:
            await self.session.close()

    def publish(self, envelope: Envelope) -> None:
        """Queue an event to be written to the outbox in this transaction."""
        self._pending_events.append(envelope)

    async def flush_events(self) -> None:
        if not self._pending_events:
            return
        now = datetime.now(UTC)
        rows = [{
            "event_id": e.id, "topic": self.topic, "key": e.subject, "lane": lane_for(e.subject),
            "event_type": e.type, "headers": [[k, v.decode()] for k, v in e.to_headers()],
            "payload": e.value_bytes(), "created_at": now,
        } for e in self._pending_events]
        await self.session.execute(insert(self.tables.outbox), rows)
        self._wrote_events = True
        self._pending_events.clear()

    async def commit(self) -> None:
        await self.flush_events()
        await self.session.commit()
        if self._wrote_events and self._on_commit:
            self._on_commit()  # wake the relay now instead of waiting for its next poll

    async def rollback(self) -> None:
        self._pending_events.clear()
        await self.session.rollback()
