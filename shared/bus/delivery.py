"""Delivery of one record to a handler: retries with backoff, then the dead-letter topic.

Shared by both buses so that retry and DLQ behave the same on memory and on Kafka."""
from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime

from tenacity import AsyncRetrying, RetryError, retry_if_not_exception_type, stop_after_attempt, wait_exponential

from shared.bus.ports import OutgoingRecord, Record, RecordHandler, RetryPolicy, SubscriptionSpec
from shared.observability import EVENTS_DEAD_LETTERED, get_logger

log = get_logger(__name__)

DLQ_HEADER_PREFIX = "dlq_"


class PoisonRecord(Exception):
    """A record that can never succeed (unreadable, invalid): skip the retries, dead-letter it."""


def dead_letter_record(record: Record, group: str, error: BaseException, attempts: int) -> OutgoingRecord:
    details = {
        "error": f"{type(error).__name__}: {error}"[:2000],
        "error_type": type(error).__name__,
        "original_topic": record.topic,
        "original_partition": str(record.partition),
        "original_offset": str(record.offset),
        "consumer_group": group,
        "attempts": str(attempts),
        "failed_at": datetime.now(UTC).isoformat(),
    }
    kept = tuple(h for h in record.headers if not h[0].startswith(DLQ_HEADER_PREFIX))
    added = tuple((DLQ_HEADER_PREFIX + k, v.encode()) for k, v in details.items())
    return OutgoingRecord(topic=f"{group}.dlq", key=record.key, value=record.value, headers=kept + added)


def record_for_replay(dead: Record) -> OutgoingRecord:
    """The original record, as it was before it failed, for the topic it came from."""
    topic = dead.header(DLQ_HEADER_PREFIX + "original_topic")
    if not topic:
        raise PoisonRecord("dead-letter record without its original topic")
    headers = tuple(h for h in dead.headers if not h[0].startswith(DLQ_HEADER_PREFIX))
    return OutgoingRecord(topic=topic, key=dead.key, value=dead.value, headers=headers)


async def deliver(record: Record, handler: RecordHandler, group: str, policy: RetryPolicy,
                  publish: Callable[[list[OutgoingRecord]], Awaitable[None]]) -> bool:
    """Run the handler until it succeeds or the policy gives up; then dead-letter the record.
    Returns True when handled, False when dead-lettered. Raises only if the DLQ publish fails,
    in which case the offset must not advance."""
    attempts = 0
    try:
        async for attempt in AsyncRetrying(
            stop=stop_after_attempt(policy.max_attempts),
            wait=wait_exponential(multiplier=policy.initial_backoff_s, max=policy.max_backoff_s),
            retry=retry_if_not_exception_type(PoisonRecord),
            reraise=False,
        ):
            with attempt:
                attempts += 1
                try:
                    await handler(record)
                except PoisonRecord:
                    raise
                except Exception as exc:
                    log.warning("handler_failed", group=group, topic=record.topic, partition=record.partition,
                                offset=record.offset, attempt=attempts, error=f"{type(exc).__name__}: {exc}")
                    raise
        return True
    except RetryError as exhausted:
        error = exhausted.last_attempt.exception()
    except PoisonRecord as poison:
        error = poison
    assert error is not None
    await publish([dead_letter_record(record, group, error, attempts)])
    EVENTS_DEAD_LETTERED.labels(group).inc()
    log.error("dead_lettered", group=group, topic=record.topic, partition=record.partition,
              offset=record.offset, attempts=attempts, error_type=type(error).__name__)
    return False


async def deliver_batch(records: Sequence[Record], spec: SubscriptionSpec,
                        publish: Callable[[list[OutgoingRecord]], Awaitable[None]]) -> None:
    """Consecutive records of one partition: all at once if the spec can, else (or if that
    fails) one by one with retries and the DLQ. Returns when every record is handled or dead."""
    if spec.batch_handler is not None and len(records) > 1:
        try:
            await spec.batch_handler(records)
            return
        except Exception as exc:  # noqa: BLE001 - find the culprit record by record
            log.info("batch_failed_delivering_one_by_one", group=spec.group, size=len(records),
                     error=f"{type(exc).__name__}: {exc}")
    for record in records:
        await deliver(record, spec.handler, spec.group, spec.retry, publish)
