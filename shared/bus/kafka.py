"""The Apache Kafka bus (aiokafka): idempotent producer with acks=all, consumer groups with manual
commits after the handler's database commit, commits on revocation, retries, then `<group>.dlq`."""
from __future__ import annotations

import asyncio
from collections.abc import Sequence

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError

from shared.bus.delivery import deliver_batch
from shared.bus.ports import Bus, OutgoingRecord, Record, RecordHandler, Subscription, SubscriptionSpec
from shared.observability import get_logger

log = get_logger(__name__)


def _record(msg) -> Record:  # aiokafka ConsumerRecord -> our Record
    return Record(msg.topic, msg.partition, msg.offset, (msg.key or b"").decode(), msg.value or b"",
                  tuple(msg.headers or ()))


class KafkaBus(Bus):
    def __init__(self, bootstrap_servers: str, *, partitions: int = 12, replication_factor: int = 1,
                 client_id: str = "onestop") -> None:
        self.bootstrap_servers = bootstrap_servers
        self.partitions = partitions
        self.replication_factor = replication_factor
        self.client_id = client_id
        self._producer: AIOKafkaProducer | None = None
        self._subscriptions: list[_KafkaSubscription] = []

    async def start(self) -> None:
        self._producer = AIOKafkaProducer(
            bootstrap_servers=self.bootstrap_servers, client_id=self.client_id,
            acks="all", enable_idempotence=True, linger_ms=2, max_batch_size=256 * 1024,
            request_timeout_ms=15_000,
        )
        await self._producer.start()

    async def stop(self) -> None:
        for sub in list(self._subscriptions):
            await sub.stop()
        if self._producer:
            await self._producer.stop()
            self._producer = None

    async def ping(self) -> bool:
        if not self._producer:
            return False
        try:
            await asyncio.wait_for(self._producer.client.fetch_all_metadata(), timeout=3)
            return True
        except (KafkaError, asyncio.TimeoutError, OSError):
            return False

    async def ensure_topics(self, topics: Sequence[str]) -> None:
        admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap_servers, client_id=f"{self.client_id}-admin")
        await admin.start()
        try:
            existing = set(await admin.list_topics())
            missing = [t for t in dict.fromkeys(topics) if t not in existing]
            for topic in missing:  # one at a time: a replica racing us on one topic must not hide the others
                try:
                    await admin.create_topics([NewTopic(topic, self.partitions, self.replication_factor)])
                    log.info("topic_created", topic=topic, partitions=self.partitions)
                except TopicAlreadyExistsError:
                    pass
        finally:
            await admin.close()

    async def publish(self, records: Sequence[OutgoingRecord]) -> None:
        if self._producer is None:
            raise RuntimeError("bus is not running")
        # send() enqueues in order; the idempotent producer keeps per-partition order on retries.
        futures = [await self._producer.send(r.topic, r.value, key=r.key.encode(), headers=list(r.headers))
                   for r in records]
        await asyncio.gather(*futures)

    async def subscribe(self, spec: SubscriptionSpec) -> Subscription:
        sub = _KafkaSubscription(self, spec)
        await sub.start()
        self._subscriptions.append(sub)
        return sub

    async def drain_topic(self, topic: str, group: str, handler: RecordHandler) -> int:
        consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap_servers, group_id=group,
                                    enable_auto_commit=False, auto_offset_reset="earliest")
        await consumer.start()
        handled = 0
        try:
            partitions = await self._producer.partitions_for(topic) if self._producer else set()
            tps = [TopicPartition(topic, p) for p in sorted(partitions)]
            if not tps:
                return 0
            consumer.assign(tps)
            end = await consumer.end_offsets(tps)
            for tp in tps:
                committed = await consumer.committed(tp)
                if committed is None:
                    await consumer.seek_to_beginning(tp)
                else:
                    consumer.seek(tp, committed)
            async def behind() -> bool:
                return any([await consumer.position(tp) < end[tp] for tp in tps])

            while await behind():
                batch = await consumer.getmany(timeout_ms=500)
                for tp, msgs in batch.items():
                    for msg in msgs:
                        if msg.offset >= end[tp]:
                            break
                        await handler(_record(msg))
                        await consumer.commit({tp: msg.offset + 1})
                        handled += 1
        finally:
            await consumer.stop()
        return handled


class _KafkaSubscription(Subscription, ConsumerRebalanceListener):
    def __init__(self, bus: KafkaBus, spec: SubscriptionSpec) -> None:
        self.bus, self.spec = bus, spec
        self._processed: dict[TopicPartition, int] = {}  # next offset to commit, per partition
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=bus.bootstrap_servers, group_id=spec.group, client_id=f"{bus.client_id}-{spec.group}",
            enable_auto_commit=False, auto_offset_reset="earliest", max_poll_records=500,
            session_timeout_ms=10_000, heartbeat_interval_ms=1_000,
        )
        self._task: asyncio.Task | None = None

    async def start(self) -> None:
        self._consumer.subscribe(list(self.spec.topics), listener=self)
        await self._consumer.start()
        self._task = asyncio.create_task(self._run(), name=f"kafka-consumer:{self.spec.group}")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
            await self._commit_processed()
            await self._consumer.stop()
            if self in self.bus._subscriptions:
                self.bus._subscriptions.remove(self)

    # ConsumerRebalanceListener: commit what we finished before the partitions go elsewhere.
    async def on_partitions_revoked(self, revoked) -> None:
        await self._commit_processed()

    async def on_partitions_assigned(self, assigned) -> None:
        log.info("partitions_assigned", group=self.spec.group, partitions=len(assigned))

    async def _commit_processed(self) -> None:
        if not self._processed:
            return
        offsets, self._processed = self._processed, {}
        try:
            await self._consumer.commit(offsets)
        except KafkaError as exc:  # the records will be redelivered; the inbox makes that harmless
            log.warning("commit_failed", group=self.spec.group, error=str(exc))

    async def _run(self) -> None:
        while True:
            try:
                batch = await self._consumer.getmany(timeout_ms=200, max_records=self.spec.max_batch)
                for tp, msgs in batch.items():
                    if not msgs or tp not in self._consumer.assignment():
                        continue  # revoked meanwhile: the new owner reads from the committed offset
                    await deliver_batch([_record(m) for m in msgs], self.spec, self.bus.publish)
                    self._processed[tp] = msgs[-1].offset + 1
                    await self._commit_processed()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - broker hiccup or DLQ publish failed: back off, re-read
                log.error("consumer_loop_error", group=self.spec.group, error=f"{type(exc).__name__}: {exc}")
                await self._commit_processed()
                await self._rewind_to_committed()
                await asyncio.sleep(1)

    async def _rewind_to_committed(self) -> None:
        self._processed.clear()
        for tp in self._consumer.assignment():
            committed = await self._consumer.committed(tp)
            if committed is None:
                await self._consumer.seek_to_beginning(tp)
            else:
                self._consumer.seek(tp, committed)
