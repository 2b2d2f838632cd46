"""The write path (unit of work + outbox relay) and the read path (inbox) on PostgreSQL and SQLite."""
from __future__ import annotations

import asyncio
import uuid
from collections import defaultdict
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, insert, select

from shared.bus.ports import Bus, Record
from shared.events import Envelope, make_event
from shared.events.catalogue import BackboneProbe
from shared.inbox import InboxConsumer
from shared.outbox import OutboxRelay
from shared.probe import record_probe


def probe_event(key: str, n: int = 0) -> Envelope:
    return make_event(BackboneProbe(dossier_id=key, probe_id=f"{key}-{n}-{uuid.uuid4().hex[:6]}"),
                      source_service="intake", correlation_id="test")


async def count(kit, table) -> int:
    async with kit.uow() as uow:
        return (await uow.conn.execute(select(func.count()).select_from(table))).scalar_one()


async def write_events(kit, keys: list[str], per_key: int) -> list[Envelope]:
    events = [probe_event(k, i) for i in range(per_key) for k in keys]
    async with kit.uow() as uow:
        for e in events:
            uow.publish(e)
        await uow.commit()
    return events


async def test_domain_rows_and_events_commit_together_or_not_at_all(kit):
    t = kit.tables
    async with kit.uow() as uow:
        await uow.conn.execute(insert(t.probe_receipts).values(
            probe_id="p1", event_id="e1", dossier_id="d1", received_at=datetime.now(UTC)))
        uow.publish(probe_event("d1"))
        await uow.commit()
    assert await count(kit, t.probe_receipts) == 1 and await count(kit, t.outbox) == 1

    with pytest.raises(RuntimeError):
        async with kit.uow() as uow:
            await uow.conn.execute(insert(t.probe_receipts).values(
                probe_id="p2", event_id="e2", dossier_id="d2", received_at=datetime.now(UTC)))
            uow.publish(probe_event("d2"))
            await uow.flush_events()
            raise RuntimeError("use case failed after writing")
    assert await count(kit, t.probe_receipts) == 1 and await count(kit, t.outbox) == 1


async def test_relay_publishes_in_order_per_key_and_marks_rows(kit, memory_bus):
    keys = [f"dossier-{n}" for n in range(5)]
    events = await write_events(kit, keys, per_key=30)
    while await kit.relay.publish_pending():
        pass
    assert await kit.relay.pending_count() == 0
    published = memory_bus.records(kit.settings.lifecycle_topic)
    assert len(published) == len(events)
    by_key = defaultdict(list)
    for rec in published:
        by_key[rec.key].append(Envelope.from_record(rec.headers, rec.value).id)
    for key in keys:
        assert by_key[key] == [e.id for e in events if e.subject == key]


async def test_commit_wakes_the_relay_without_waiting_for_a_poll(kit, memory_bus):
    kit.relay.poll_interval_s = 30  # a poll could not explain a prompt publish
    kit.relay.start()
    try:
        await asyncio.sleep(0.1)
        await write_events(kit, ["prompt"], per_key=1)
        for _ in range(100):
            if memory_bus.records(kit.settings.lifecycle_topic):
                break
            await asyncio.sleep(0.02)
        assert len(memory_bus.records(kit.settings.lifecycle_topic)) == 1
    finally:
        await kit.relay.stop()


class CrashAfter(Bus):
    """A real bus that dies part-way through a batch, like a relay process killed mid-publish."""

    def __init__(self, inner: Bus, records_before_crash: int) -> None:
        self.inner, self.left = inner, records_before_crash

    async def publish(self, records):
        head = list(records)[: self.left]
        await self.inner.publish(head)
        self.left -= len(head)
        if len(head) < len(records):
            raise ConnectionError("relay died mid-batch")

    async def start(self): ...
    async def stop(self): ...
    async def ensure_topics(self, topics): ...
    async def subscribe(self, spec): ...
    async def drain_topic(self, topic, group, handler): ...
    async def ping(self): return True


async def test_a_relay_dying_mid_batch_republishes_and_the_inbox_absorbs_it(kit, memory_bus):
    events = await write_events(kit, ["a", "b", "c"], per_key=10)
    crashing = OutboxRelay("intake", kit.engine, kit.tables, CrashAfter(memory_bus, 12), batch_size=100)
    with pytest.raises(ConnectionError):
        await crashing.publish_pending()
    assert await kit.relay.pending_count() == 30  # nothing marked: the transaction rolled back
    while await kit.relay.publish_pending():
        pass
    published = memory_bus.records(kit.settings.lifecycle_topic)
    assert len(published) == 42  # 12 twice

    consumer = InboxConsumer("intake", {"backbone.probe.v1": record_probe}, kit.uow)
    for rec in published:
        await consumer(rec)
    assert await count(kit, kit.tables.probe_receipts) == 30
    assert await count(kit, kit.tables.inbox) == 30
    assert {e.data["probe_id"] for e in events} == set(
        (await _scalars(kit, select(kit.tables.probe_receipts.c.probe_id))))


async def _scalars(kit, stmt):
    async with kit.uow() as uow:
        return (await uow.conn.execute(stmt)).scalars().all()


def as_record(e: Envelope) -> Record:
    return Record("dossier.lifecycle", 0, 0, e.subject, e.value_bytes(), tuple(e.to_headers()))


async def test_concurrent_duplicates_have_one_effect(kit):
    consumer = InboxConsumer("intake", {"backbone.probe.v1": record_probe}, kit.uow)
    event = probe_event("dup")
    await asyncio.gather(*(consumer(as_record(event)) for _ in range(5)))
    await consumer(as_record(event))
    assert await count(kit, kit.tables.probe_receipts) == 1


@pytest.mark.postgres
async def test_two_relays_on_postgres_share_the_outbox_without_reordering(postgres_url, memory_bus):
    from services.intake.bootstrap import definition
    from shared.service import ServiceKit
    from shared.settings import ServiceSettings

    settings = ServiceSettings(service_name="intake", database_url=postgres_url, topic_partitions=4,
                               outbox_batch_size=50)
    kit = ServiceKit(definition(settings), settings, bus=memory_bus)
    await kit.start(migrate=True, consume=False, relay=False)
    try:
        keys = [f"k{n}" for n in range(40)]
        events = await write_events(kit, keys, per_key=25)
        relays = [OutboxRelay("intake", kit.engine, kit.tables, memory_bus, batch_size=50) for _ in range(2)]
        passes = defaultdict(int)

        async def drive(i: int) -> None:
            while await kit.relay.pending_count():
                passes[i] += bool(await relays[i].publish_pending())
                await asyncio.sleep(0)

        await asyncio.gather(drive(0), drive(1))
        published = memory_bus.records(kit.settings.lifecycle_topic)
        ids = [Envelope.from_record(r.headers, r.value).id for r in published]
        assert sorted(ids) == sorted(e.id for e in events)  # each exactly once
        assert passes[0] and passes[1], "both replicas did work"
        by_key = defaultdict(list)
        for rec, eid in zip(published, ids):
            by_key[rec.key].append(eid)
        for key in keys:
            assert by_key[key] == [e.id for e in events if e.subject == key]
    finally:
        await kit.stop()
