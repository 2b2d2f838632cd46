"""What only the in-memory bus offers: asynchronous delivery, idleness, and fault injection."""
from shared.bus import OutgoingRecord, Record, RetryPolicy, SubscriptionSpec
from shared.bus.memory import MemoryBus


async def test_delivery_is_not_inside_publish_and_wait_idle_sees_it_through():
    bus = MemoryBus(2)
    await bus.start()
    seen: list[bytes] = []

    async def handler(record: Record) -> None:
        seen.append(record.value)

    await bus.subscribe(SubscriptionSpec("g", ["t"], handler))
    await bus.publish([OutgoingRecord("t", "k", b"1"), OutgoingRecord("t", "k", b"2")])
    assert seen == []
    await bus.wait_idle()
    assert seen == [b"1", b"2"]
    await bus.stop()


async def test_duplicate_delivery_and_seek_redeliver_records():
    bus = MemoryBus(1, duplicate_delivery=True)
    await bus.start()
    seen: list[bytes] = []

    async def handler(record: Record) -> None:
        seen.append(record.value)

    await bus.subscribe(SubscriptionSpec("g", ["t"], handler, RetryPolicy(2, 0.01, 0.01)))
    await bus.publish([OutgoingRecord("t", "k", b"1"), OutgoingRecord("t", "k", b"2")])
    await bus.wait_idle()
    assert seen == [b"1", b"2", b"1", b"2"]  # the batch went through twice

    bus.duplicate_delivery = False
    await bus.seek("g", "t", 0, 1)
    await bus.wait_idle()
    assert seen[4:] == [b"2"]
    await bus.stop()
