"""Unit of work: one use case, one database transaction, holding the domain rows and the outbox rows.

    async with kit.uow() as uow:
        await uow.conn.execute(dossiers.insert().values(...))
        uow.publish(make_event(...))
        await uow.commit()      # rows and events land together, or neither does

Statements are SQLAlchemy Core on one connection (no ORM session: its bookkeeping costs more
than the inserts on a hot path). Nothing is sent to the bus here: the relay publishes committed outbox rows (no dual writes)."""
from __future__ import annotations

import zlib
from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from shared.db import OUTBOX_LANES, BackboneTables
from shared.events.envelope import Envelope


def lane_for(key: str) -> int:
    return zlib.crc32(key.encode()) % OUTBOX_LANES


class UnitOfWork:
    def __init__(self, engine: AsyncEngine, tables: BackboneTables, topic: str,
                 on_commit: Callable[[], None] | None = None) -> None:
        self._engine = engine
        self.tables = tables
        self.topic = topic
        self._on_commit = on_commit
        self._pending_events: list[Envelope] = []
        self._wrote_events = False
        self.conn: AsyncConnection

    async def __aenter__(self) -> "UnitOfWork":
        self.conn = await self._engine.connect()
        await self.conn.begin()
        return self

    async def __aexit__(self, *exc_info) -> None:
        try:
            if self.conn.in_transaction():
                await self.conn.rollback()
        finally:
            await self.conn.close()

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
        await self.conn.execute(insert(self.tables.outbox), rows)
        self._wrote_events = True
        self._pending_events.clear()

    async def commit(self) -> None:
        await self.flush_events()
        await self.conn.commit()
        if self._wrote_events and self._on_commit:
            self._on_commit()  # wake the relay now instead of waiting for its next poll

    async def rollback(self) -> None:
        self._pending_events.clear()
        await self.conn.rollback()
