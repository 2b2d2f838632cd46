"""An in-memory bus with Kafka's semantics, for the embedded default and fast tests.

Records are appended to partitions chosen by key; each consumer group has committed offsets and
members that share the partitions (a join or leave rebalances them). Delivery happens in the
members' own tasks, never inside `publish`; a failing handler sees the record again (retries,
then the DLQ), and tests can inject faults: deliver every record twice, or seek a group back."""
from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

from shared.bus.delivery import deliver_batch
from shared.bus.ports import Bus, OutgoingRecord, Record, RecordHandler, Subscription, SubscriptionSpec, partition_for
from shared.observability import get_logger

log = get_logger(__name__)
TopicPartition = tuple[str, int]


@dataclass(eq=False)
class _Member(Subscription):
    bus: "MemoryBus"
    spec: SubscriptionSpec
    task: asyncio.Task | None = None
    stopping: bool = False

    async def stop(self) -> None:
        await self.bus._leave(self)


@dataclass
class _Group:
    committed: dict[TopicPartition, int] = field(default_factory=dict)
    members: list[_Member] = field(default_factory=list)
    owner: dict[TopicPartition, _Member] = field(default_factory=dict)
    # Held while a record of the partition is in a handler, so a new owner waits for it.
    locks: dict[TopicPartition, asyncio.Lock] = field(default_factory=lambda: defaultdict(asyncio.Lock))
    in_flight: int = 0


class MemoryBus(Bus):
    def __init__(self, partitions: int = 12, *, duplicate_delivery: bool = False) -> None:
        self.partitions = partitions
        self.duplicate_delivery = duplicate_delivery  # fault injection: every record handled twice
        self._logs: dict[str, list[list[Record]]] = {}
        self._groups: dict[str, _Group] = defaultdict(_Group)
        self._changed = asyncio.Condition()
        self._running = False

    # --- lifecycle ------------------------------------------------------------------------------
    async def start(self) -> None:
        self._running = True

    async def stop(self) -> None:
        self._running = False
        for group in list(self._groups.values()):
            for member in list(group.members):
                await member.stop()

    async def ping(self) -> bool:
        return self._running

    async def ensure_topics(self, topics: Sequence[str]) -> None:
        for topic in topics:
            self._logs.setdefault(topic, [[] for _ in range(self.partitions)])

    # --- produce --------------------------------------------------------------------------------
    async def publish(self, records: Sequence[OutgoingRecord]) -> None:
        if not self._running:
            raise RuntimeError("bus is not running")
        for rec in records:
            await self.ensure_topics([rec.topic])
            partition = partition_for(rec.key, self.partitions)
            log_ = self._logs[rec.topic][partition]
            log_.append(Record(rec.topic, partition, len(log_), rec.key, rec.value, rec.headers))
        await self._notify()

    # --- consume --------------------------------------------------------------------------------
    async def subscribe(self, spec: SubscriptionSpec) -> Subscription:
        await self.ensure_topics(spec.topics)
        member = _Member(self, spec)
        group = self._groups[spec.group]
        group.members.append(member)
        self._rebalance(spec.group)
        member.task = asyncio.create_task(self._run(member), name=f"memory-bus:{spec.group}")
        await self._notify()
        return member

    async def _leave(self, member: _Member) -> None:
        group = self._groups[member.spec.group]
        if member not in group.members:
            return
        group.members.remove(member)
        self._rebalance(member.spec.group)
        # Ask the loop to finish rather than cancel it inside Condition.wait: on Python 3.11 a
        # cancellation there can wait forever to re-acquire the condition's lock.
        member.stopping = True
        await self._notify()
        if member.task:
            try:
                await asyncio.wait_for(asyncio.shield(member.task), timeout=10)
            except TimeoutError:
                member.task.cancel()
                await asyncio.gather(member.task, return_exceptions=True)
        await self._notify()

    def _rebalance(self, group_name: str) -> None:
        """Round-robin the group's partitions over its members (like Kafka's assignors)."""
        group = self._groups[group_name]
        group.owner.clear()
        if not group.members:
            return
        topics = sorted({t for m in group.members for t in m.spec.topics})
        tps = [(t, p) for t in topics for p in range(len(self._logs[t]))]
        for i, tp in enumerate(tps):
            group.owner[tp] = group.members[i % len(group.members)]
        log.debug("rebalanced", group=group_name, members=len(group.members))

    async def _run(self, member: _Member) -> None:
        group = self._groups[member.spec.group]
        while not member.stopping:
            async with self._changed:
                await self._changed.wait_for(lambda: member.stopping or self._next_for(member) is not None)
            if member.stopping:
                return
            tp = self._next_for(member)
            if tp is None:
                continue
            async with group.locks[tp]:
                if group.owner.get(tp) is not member:  # rebalanced away while we waited
                    continue
                offset = group.committed.get(tp, 0)
                log_ = self._logs[tp[0]][tp[1]]
                if offset >= len(log_):
                    continue
                group.in_flight += 1
                try:
                    batch = log_[offset:offset + member.spec.max_batch]
                    await self._deliver(member.spec, batch)
                    # A seek during delivery wins over our commit.
                    if group.committed.get(tp, 0) == offset:
                        group.committed[tp] = offset + len(batch)
                except Exception as exc:  # noqa: BLE001 - DLQ publish failed: retry the record later
                    log.error("delivery_failed", group=member.spec.group, error=str(exc))
                    await asyncio.sleep(member.spec.retry.initial_backoff_s)
                finally:
                    group.in_flight -= 1
            await self._notify()

    async def _deliver(self, spec: SubscriptionSpec, batch: list[Record]) -> None:
        await deliver_batch(batch, spec, self.publish)
        if self.duplicate_delivery:
            await deliver_batch(batch, spec, self.publish)

    def _next_for(self, member: _Member) -> TopicPartition | None:
        group = self._groups[member.spec.group]
        for tp, owner in group.owner.items():
            if owner is member and group.committed.get(tp, 0) < len(self._logs[tp[0]][tp[1]]):
                return tp
        return None

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def drain_topic(self, topic: str, group: str, handler: RecordHandler) -> int:
        await self.ensure_topics([topic])
        state = self._groups[group]
        handled = 0
        for partition, log_ in enumerate(self._logs[topic]):
            end = len(log_)
            while (offset := state.committed.get((topic, partition), 0)) < end:
                await handler(log_[offset])
                state.committed[(topic, partition)] = offset + 1
                handled += 1
        return handled

    # --- test support ---------------------------------------------------------------------------
    def _idle(self) -> bool:
        for group in self._groups.values():
            if group.in_flight:
                return False
            for tp in group.owner:
                if group.committed.get(tp, 0) < len(self._logs[tp[0]][tp[1]]):
                    return False
        return True

    async def wait_idle(self, timeout: float = 10.0) -> None:
        """Wait until every subscribed group has handled every record."""
        async def idle() -> None:
            async with self._changed:
                await self._changed.wait_for(self._idle)
        await asyncio.wait_for(idle(), timeout)

    async def seek(self, group: str, topic: str, partition: int, offset: int) -> None:
        """Fault injection: move a group's committed offset (e.g. back, to redeliver)."""
        self._groups[group].committed[(topic, partition)] = offset
        await self._notify()

    def records(self, topic: str) -> list[Record]:
        return [r for log_ in self._logs.get(topic, []) for r in log_]
