"""Replaying a consumer's dead letters: each goes back, as it was, to the topic it came from.

Every consumer is idempotent (inbox), so groups that handled the event the first time skip it;
the group that failed gets another chance once the cause is fixed."""
from __future__ import annotations

from shared.bus.delivery import record_for_replay
from shared.bus.ports import Bus, Record
from shared.observability import get_logger

log = get_logger(__name__)


def replay_group(consumer_group: str) -> str:
    return f"{consumer_group}.dlq-replay"


async def replay_dead_letters(bus: Bus, consumer_group: str) -> int:
    async def republish(dead: Record) -> None:
        await bus.publish([record_for_replay(dead)])

    count = await bus.drain_topic(f"{consumer_group}.dlq", replay_group(consumer_group), republish)
    log.info("dlq_replayed", group=consumer_group, count=count)
    return count
