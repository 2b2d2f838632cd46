"""One suite, two buses: the in-memory bus must behave like Kafka in everything services rely on."""
from __future__ import annotations

import uuid
from collections import defaultdict

import pytest

from shared.bus import OutgoingRecord, PoisonRecord, Record, RetryPolicy, SubscriptionSpec
from shared.bus.kafka import KafkaBus
from shared.bus.memory import MemoryBus
from shared.bus.replay import replay_dead_letters
from tests.conftest import wait_until

PARTITIONS = 4
FAST_RETRY = RetryPolicy(max_attempts=3, initial_backoff_s=0.01, max_backoff_s=0.05)


@pytest.fixture(params=["memory", pytest.param("kafka", marks=pytest.mark.kafka)])
async def bus(request):
    if request.param == "memory":
        bus = MemoryBus(PARTITIONS)
    else:
        broker = request.getfixturevalue("kafka_broker")
        bus = KafkaBus(broker.bootstrap_servers, partitions=PARTITIONS)
    await bus.start()
    yield bus
    await bus.stop()


@pytest.fixture
async def topic(bus) -> str:
    name = f"contract-{uuid.uuid4().hex[:10]}"
    await bus.ensure_topics([name])
    return name


def records(topic: str, keys: list[str], per_key: int) -> list[OutgoingRecord]:
    return [OutgoingRecord(topic, key, f"{key}:{i}".encode(), (("seq", str(i).encode()),))
            for i in range(per_key) for key in keys]


class Collector:
    def __init__(self) -> None:
        self.seen: list[Record] = []

    async def __call__(self, record: Record) -> None:
        self.seen.append(record)

    def values(self) -> list[bytes]:
        return [r.value for r in self.seen]


async def test_each_key_keeps_its_order(bus, topic):
    keys = [f"dossier-{n}" for n in range(7)]
    collector = Collector()
    await bus.subscribe(SubscriptionSpec("orders", [topic], collector, FAST_RETRY))
    await bus.publish(records(topic, keys, per_key=20))
    await wait_until(lambda: len(collector.seen) >= 140, message="140 records")
    by_key = defaultdict(list)
    for rec in collector.seen:
        by_key[rec.key].append(int(rec.header("seq")))
    assert set(by_key) == set(keys)
    for key, seqs in by_key.items():
        assert seqs == list(range(20)), key
    # a key always lands on the same partition
    assert all(len({r.partition for r in collector.seen if r.key == k}) == 1 for k in keys)


async def test_every_group_sees_every_event(bus, topic):
    groups = {name: Collector() for name in ("intake", "routing", "payments")}
    for name, collector in groups.items():
        await bus.subscribe(SubscriptionSpec(name, [topic], collector, FAST_RETRY))
    sent = records(topic, ["a", "b", "c"], per_key=5)
    await bus.publish(sent)
    await wait_until(lambda: all(len(c.seen) >= len(sent) for c in groups.values()), message="all groups")
    for collector in groups.values():
        assert sorted(collector.values()) == sorted(r.value for r in sent)


async def test_a_failing_handler_gets_the_record_again_before_later_ones(bus, topic):
    attempts: dict[bytes, int] = defaultdict(int)
    handled: list[bytes] = []

    async def flaky(record: Record) -> None:
        attempts[record.value] += 1
        if record.value == b"k:0" and attempts[record.value] < 3:
            raise ConnectionError("database blinked")
        handled.append(record.value)

    await bus.subscribe(SubscriptionSpec("flaky", [topic], flaky, RetryPolicy(5, 0.01, 0.05)))
    await bus.publish(records(topic, ["k"], per_key=3))
    await wait_until(lambda: len(handled) == 3, message="three handled")
    assert handled == [b"k:0", b"k:1", b"k:2"]
    assert attempts[b"k:0"] == 3


async def test_after_n_failures_the_record_goes_to_the_dlq_and_the_partition_flows(bus, topic):
    handled: list[bytes] = []
    broken = {b"k:1"}

    async def handler(record: Record) -> None:
        if record.value in broken:
            raise RuntimeError("bug in handler")
        handled.append(record.value)

    group = f"dlqgroup-{topic}"
    dlq = Collector()
    await bus.ensure_topics([f"{group}.dlq"])
    await bus.subscribe(SubscriptionSpec("dlqwatcher", [f"{group}.dlq"], dlq, FAST_RETRY))
    await bus.subscribe(SubscriptionSpec(group, [topic], handler, FAST_RETRY))
    await bus.publish(records(topic, ["k"], per_key=4))
    await wait_until(lambda: len(handled) == 3 and len(dlq.seen) == 1, message="3 handled, 1 dead")
    assert handled == [b"k:0", b"k:2", b"k:3"]
    dead = dlq.seen[0]
    assert dead.value == b"k:1" and dead.key == "k"
    assert dead.header("dlq_error") == "RuntimeError: bug in handler"
    assert dead.header("dlq_attempts") == "3"
    assert dead.header("dlq_original_topic") == topic
    assert dead.header("seq") == "1"  # original headers kept

    # Once the bug is fixed, a replay hands the record back to its topic; the group consumes it.
    broken.clear()
    assert await replay_dead_letters(bus, group) == 1
    await wait_until(lambda: b"k:1" in handled, message="replayed record handled")
    assert await replay_dead_letters(bus, group) == 0  # each dead letter is replayed once


async def test_a_poison_record_skips_the_retries(bus, topic):
    calls = []

    async def handler(record: Record) -> None:
        calls.append(record.value)
        raise PoisonRecord("unreadable")

    group = f"poison-{topic}"
    dlq = Collector()
    await bus.ensure_topics([f"{group}.dlq"])
    await bus.subscribe(SubscriptionSpec("poisonwatch", [f"{group}.dlq"], dlq, FAST_RETRY))
    await bus.subscribe(SubscriptionSpec(group, [topic], handler, RetryPolicy(5, 0.01, 0.05)))
    await bus.publish([OutgoingRecord(topic, "x", b"garbage")])
    await wait_until(lambda: len(dlq.seen) == 1, message="poison dead-lettered")
    assert calls == [b"garbage"]
    assert dlq.seen[0].header("dlq_error_type") == "PoisonRecord"


async def test_committed_offsets_survive_a_member_leaving(bus, topic):
    first = Collector()
    member = await bus.subscribe(SubscriptionSpec("durable", [topic], first, FAST_RETRY))
    await bus.publish(records(topic, ["a", "b"], per_key=5))
    await wait_until(lambda: len(first.seen) == 10, message="first batch")
    await member.stop()

    second = Collector()
    await bus.subscribe(SubscriptionSpec("durable", [topic], second, FAST_RETRY))
    await bus.publish(records(topic, ["a"], per_key=1))
    await wait_until(lambda: len(second.seen) >= 1, message="new record")
    assert second.values() == [b"a:0"]  # nothing already committed comes back


async def test_rebalance_shares_partitions_and_loses_nothing(bus, topic):
    a, b = Collector(), Collector()
    member_a = await bus.subscribe(SubscriptionSpec("shared", [topic], a, FAST_RETRY))
    keys = [f"k{n}" for n in range(16)]
    await bus.publish(records(topic, keys, per_key=2))
    await wait_until(lambda: len(a.seen) >= 32, message="a alone")

    await bus.subscribe(SubscriptionSpec("shared", [topic], b, FAST_RETRY))
    second_wave = [OutgoingRecord(topic, k, f"{k}:late".encode()) for k in keys]

    async def both_members_took_work() -> None:
        await bus.publish(second_wave)
        await wait_until(lambda: {r.value for r in a.seen + b.seen} >= {r.value for r in second_wave},
                         timeout=40, message="second wave")

    await both_members_took_work()
    assert b.seen, "the new member was given partitions"
    assert {r.partition for r in b.seen}.isdisjoint({r.partition for r in a.seen if r.value.endswith(b"late")})

    await member_a.stop()  # its partitions move to b
    third_wave = [OutgoingRecord(topic, k, f"{k}:last".encode()) for k in keys]
    await bus.publish(third_wave)
    await wait_until(lambda: {r.value for r in b.seen} >= {r.value for r in third_wave}, timeout=40,
                     message="b took over")
