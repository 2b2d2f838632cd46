"""The backbone on real Kafka and PostgreSQL: an event written through intake's outbox is consumed
by every service exactly once in effect, through relay crashes, duplicates and poison."""
from __future__ import annotations

import asyncio
import uuid

import pytest
from sqlalchemy import select

from shared.bus import OutgoingRecord, Record, SubscriptionSpec
from shared.bus.kafka import KafkaBus
from shared.events import Envelope, make_event
from shared.events.catalogue import BackboneProbe
from shared.outbox import OutboxRelay
from shared.settings import SERVICE_NAMES
from tests.conftest import wait_until
from tests.integration.test_outbox_and_inbox import CrashAfter
from tests.system.conftest import wait_groups_caught_up
from tests.system.kafka_harness import read_topic

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]


async def receipts_everywhere(backbone, expected: int, timeout: float = 60) -> None:
    counts: dict[str, int] = {}

    async def all_there() -> bool:
        for name in SERVICE_NAMES:
            counts[name] = await backbone.receipts(name)
        return all(c >= expected for c in counts.values())

    deadline = asyncio.get_running_loop().time() + timeout
    while not await all_there():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"receipts {counts}, expected {expected} each")
        await asyncio.sleep(0.1)


async def test_a_probe_is_recorded_once_by_every_service_and_visible_over_http(kafka_backbone):
    probe = await kafka_backbone.send_probe(key="same-key")
    again = await kafka_backbone.send_probe(key="same-key")  # client retry: no second event
    assert again == probe
    await receipts_everywhere(kafka_backbone, 1)
    for name in SERVICE_NAMES:
        response = await kafka_backbone.clients[name].get(
            f"/v1/{name}/probes/{probe['probe_id']}", headers={"X-API-Key": kafka_backbone.api_key})
        assert response.status_code == 200 and response.json()["event_id"] == probe["event_id"]
        ready = await kafka_backbone.clients[name].get("/readyz")
        assert ready.json()["checks"] == {"database": True, "bus": True, "relay": True}
    await asyncio.sleep(1)
    assert [await kafka_backbone.receipts(n) for n in SERVICE_NAMES] == [1] * 5


async def test_relay_crash_mid_batch_and_every_event_delivered_twice_change_nothing(kafka_backbone, kafka_broker):
    intake = kafka_backbone.kit("intake")
    await intake.relay.stop()  # rows pile up in the outbox while the relay is down
    events = [make_event(BackboneProbe(dossier_id=f"d{n % 17}", probe_id=str(uuid.uuid4())),
                         source_service="intake", correlation_id="crash-test") for n in range(200)]
    async with intake.uow() as uow:
        for e in events:
            uow.publish(e)
        await uow.commit()

    crashing = OutboxRelay("intake", intake.engine, intake.tables, CrashAfter(intake.bus, 70), batch_size=150)
    with pytest.raises(ConnectionError):
        await crashing.publish_pending()
    intake.relay.start()  # the restarted relay republishes the unmarked batch
    await receipts_everywhere(kafka_backbone, 200)

    # Deliver every event a second time (as a broker redelivery or a replayed topic would).
    records = await read_topic(kafka_broker.bootstrap_servers, kafka_backbone.topic)
    assert len(records) >= 270  # the 70 published before the crash went out twice
    await intake.bus.publish([OutgoingRecord(r.topic, r.key.decode(), r.value, tuple(r.headers)) for r in records])
    await wait_groups_caught_up(kafka_broker.bootstrap_servers, kafka_backbone.topic, SERVICE_NAMES)
    for name in SERVICE_NAMES:
        assert await kafka_backbone.receipts(name) == 200, name
        assert await kafka_backbone.inbox_rows(name) == 200, name
    async with kafka_backbone.kit("results").uow() as uow:
        t = uow.tables.probe_receipts
        seen = set((await uow.conn.execute(select(t.c.event_id))).scalars())
    assert seen == {e.id for e in events}


async def test_a_poison_event_goes_to_each_dlq_and_the_partition_keeps_flowing(kafka_backbone, kafka_broker):
    bus: KafkaBus = kafka_backbone.kit("intake").bus
    key = f"poison-{uuid.uuid4().hex[:6]}"
    bad = Envelope(source="/onestop/intake", type="backbone.probe.v1", subject=key, correlationid="p",
                   data={"dossier_id": key})  # probe_id missing: fails validation
    dead: dict[str, list[Record]] = {name: [] for name in SERVICE_NAMES}
    watchers = []
    for name in SERVICE_NAMES:
        async def watch(record: Record, name=name) -> None:
            if record.key == key:
                dead[name].append(record)
        watchers.append(await bus.subscribe(SubscriptionSpec(f"watch-{key}-{name}", [f"{name}.dlq"], watch)))
    await bus.publish([OutgoingRecord(kafka_backbone.topic, key, b"{not json", bad.to_headers()),
                       OutgoingRecord(kafka_backbone.topic, key, bad.value_bytes(), tuple(bad.to_headers()))])
    probe = await kafka_backbone.send_probe(dossier_id=key)  # same key, same partition, behind the poison

    await receipts_everywhere(kafka_backbone, 1)
    await wait_until(lambda: all(len(v) == 2 for v in dead.values()), timeout=30, message="two dead letters each")
    for name in SERVICE_NAMES:
        assert {r.header("dlq_error_type") for r in dead[name]} == {"PoisonRecord"}
        assert all(r.header("dlq_consumer_group") == name for r in dead[name])
        assert dead[name][0].header("dlq_original_topic") == kafka_backbone.topic
    async with kafka_backbone.kit("payments").uow() as uow:
        t = uow.tables.probe_receipts
        assert (await uow.conn.execute(select(t.c.probe_id))).scalars().all() == [probe["probe_id"]]
    for w in watchers:
        await w.stop()
