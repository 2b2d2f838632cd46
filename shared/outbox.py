"""The outbox relay: publishes committed outbox rows to the bus, in order per key.

A pass locks free lanes with `FOR UPDATE SKIP LOCKED` (PostgreSQL; SQLite has one writer anyway),
reads their oldest unpublished rows, publishes them as one batch, waits for the broker's acks and
marks them published in the same transaction. Each key lives in one lane and a lane is held by one
relay at a time, so several replicas never reorder a dossier's events. A crash between publish and
commit republishes the batch: consumers' inboxes make that harmless (at-least-once)."""
from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.bus.ports import Bus, OutgoingRecord
from shared.db import BackboneTables
from shared.observability import OUTBOX_BACKLOG, OUTBOX_PUBLISHED, get_logger

log = get_logger(__name__)


class OutboxRelay:
    def __init__(self, service: str, engine: AsyncEngine, tables: BackboneTables, bus: Bus, *,
                 batch_size: int = 500, poll_interval_s: float = 0.5, retention: timedelta = timedelta(hours=72),
                 linger_s: float = 0.0):
        self.service = service
        self._engine = engine
        self._t = tables
        self._bus = bus
        self.batch_size = batch_size
        self.poll_interval_s = poll_interval_s
        self.retention = retention
        self.linger_s = linger_s
        self._last_pass_at = 0.0
        self._wake = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._last_prune = 0.0

    def notify(self) -> None:
        """Called after a local commit wrote outbox rows."""
        self._wake.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"outbox-relay:{self.service}")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def _run(self) -> None:
        backoff = self.poll_interval_s
        while True:
            self._wake.clear()
            try:
                published = await self.publish_pending()
                backoff = self.poll_interval_s
                if published >= self.batch_size:
                    continue  # backlog: go again at once
                await self._maybe_prune()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - bus or database down: back off, rows stay pending
                log.error("outbox_relay_failed", service=self.service, error=f"{type(exc).__name__}: {exc}")
                backoff = min(backoff * 2, 10.0)
                await asyncio.sleep(backoff)
                continue
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=self.poll_interval_s)
                # Under load, at most one pass per linger interval, so commits close together share
                # a pass (like Kafka's linger.ms); an isolated commit still goes out at once.
                wait = self.linger_s - (time.monotonic() - self._last_pass_at)
                if wait > 0:
                    await asyncio.sleep(wait)
            except asyncio.TimeoutError:
                pass

    async def publish_pending(self) -> int:
        """One relay pass; returns how many rows it published."""
        self._last_pass_at = time.monotonic()
        t = self._t
        async with self._engine.begin() as conn:
            lanes = (await conn.execute(
                select(t.outbox_lanes.c.lane).order_by(t.outbox_lanes.c.lane).with_for_update(skip_locked=True)
            )).scalars().all()
            if not lanes:
                return 0
            rows = (await conn.execute(
                select(t.outbox.c.id, t.outbox.c.topic, t.outbox.c.key, t.outbox.c.headers, t.outbox.c.payload)
                .where(t.outbox.c.published_at.is_(None), t.outbox.c.lane.in_(lanes))
                .order_by(t.outbox.c.id).limit(self.batch_size)
            )).all()
            if not rows:
                OUTBOX_BACKLOG.labels(self.service).set(0)
                return 0
            await self._bus.publish([
                OutgoingRecord(r.topic, r.key, r.payload, tuple((k, v.encode()) for k, v in r.headers)) for r in rows
            ])
            await conn.execute(update(t.outbox).where(t.outbox.c.id.in_([r.id for r in rows]))
                                  .values(published_at=datetime.now(UTC)))
        OUTBOX_PUBLISHED.labels(self.service).inc(len(rows))
        if len(rows) < self.batch_size:
            OUTBOX_BACKLOG.labels(self.service).set(0)
        return len(rows)

    async def pending_count(self) -> int:
        async with self._engine.connect() as conn:
            return (await conn.execute(
                select(func.count()).select_from(self._t.outbox).where(self._t.outbox.c.published_at.is_(None))
            )).scalar_one()

    async def _maybe_prune(self) -> None:
        """Published rows are kept a while for audit and replays, then deleted."""
        if time.monotonic() - self._last_prune < 60:
            return
        self._last_prune = time.monotonic()
        cutoff = datetime.now(UTC) - self.retention
        async with self._engine.begin() as conn:
            await conn.execute(delete(self._t.outbox).where(self._t.outbox.c.published_at < cutoff))
