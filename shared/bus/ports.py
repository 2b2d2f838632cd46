"""The one small interface both buses implement (Kafka in production, memory in the embedded default).

Semantics are Kafka's: topics of partitions, records keyed by dossier id (same key -> same
partition -> causal order), consumer groups with committed offsets, at-least-once delivery."""
from __future__ import annotations

import abc
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from aiokafka.partitioner import murmur2

Headers = tuple[tuple[str, bytes], ...]


@dataclass(frozen=True)
class OutgoingRecord:
    topic: str
    key: str
    value: bytes
    headers: Headers = ()


@dataclass(frozen=True)
class Record:
    topic: str
    partition: int
    offset: int
    key: str
    value: bytes
    headers: Headers = ()

    def header(self, name: str) -> str | None:
        for hname, raw in self.headers:
            if hname == name:
                return raw.decode()
        return None


RecordHandler = Callable[[Record], Awaitable[None]]
BatchHandler = Callable[[Sequence[Record]], Awaitable[None]]


@dataclass(frozen=True)
class RetryPolicy:
    """How often a failing record is retried before it goes to the group's dead-letter topic."""
    max_attempts: int = 5
    initial_backoff_s: float = 0.2
    max_backoff_s: float = 5.0


@dataclass
class SubscriptionSpec:
    group: str
    topics: Sequence[str]
    handler: RecordHandler
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    # Optional: handle a partition's consecutive records in one go (one database transaction).
    # If it raises, the records are delivered one by one through `handler` (retries, DLQ).
    batch_handler: BatchHandler | None = None
    max_batch: int = 500

    @property
    def dlq_topic(self) -> str:
        return f"{self.group}.dlq"


def partition_for(key: str, partitions: int) -> int:
    """Kafka's default partitioner (murmur2), so both buses place a key on the same partition."""
    return (murmur2(key.encode()) & 0x7FFFFFFF) % partitions


class Subscription(abc.ABC):
    @abc.abstractmethod
    async def stop(self) -> None:
        """Leave the group after committing what was processed (triggers a rebalance)."""


class Bus(abc.ABC):
    @abc.abstractmethod
    async def start(self) -> None: ...

    @abc.abstractmethod
    async def stop(self) -> None: ...

    @abc.abstractmethod
    async def ensure_topics(self, topics: Sequence[str]) -> None:
        """Create missing topics with the configured partitions."""

    @abc.abstractmethod
    async def publish(self, records: Sequence[OutgoingRecord]) -> None:
        """Return once every record is durably stored (acks=all); per-key order is kept."""

    @abc.abstractmethod
    async def subscribe(self, spec: SubscriptionSpec) -> Subscription:
        """Join `spec.group` and deliver records to the handler; offsets are committed only
        after the handler returned (i.e. after its database commit)."""

    @abc.abstractmethod
    async def drain_topic(self, topic: str, group: str, handler: RecordHandler) -> int:
        """Hand every record of `topic` past `group`'s committed offset to `handler`, committing as it
        goes, and return how many, once caught up with the end seen at the start (DLQ replay)."""

    @abc.abstractmethod
    async def ping(self) -> bool:
        """True when the bus answers (readiness)."""
