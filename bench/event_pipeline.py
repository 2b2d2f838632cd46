"""Benchmark: the event pipeline against raw aiokafka, on the same real broker, in one run.

    .venv/bin/python bench/event_pipeline.py [--events 100000] [--rounds 2] [--rate 500] [--seconds 10]

Pipeline = rows already committed in intake's outbox (PostgreSQL) -> relay -> Kafka -> routing's
consumer with its inbox commit (PostgreSQL). Raw = aiokafka produce (acks=all, idempotent) of the
same number of same-sized messages + a consumer group reading them with manual commits.
Rounds are interleaved (raw, pipeline, raw, pipeline...) so drift affects both alike. Then an
open-loop latency run: events committed to the outbox at a fixed rate, latency from the intended
commit time to the consumer's inbox commit. Starts its own PostgreSQL and Kafka (tests/infra.py)."""
from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer  # noqa: E402
from sqlalchemy import func, insert, select  # noqa: E402

from services.intake.bootstrap import definition as intake_definition  # noqa: E402
from services.routing.bootstrap import definition as routing_definition  # noqa: E402
from shared.events import make_event  # noqa: E402
from shared.events.catalogue import BackboneProbe  # noqa: E402
from shared.observability import configure_logging  # noqa: E402
from shared.service import ServiceKit  # noqa: E402
from shared.settings import ServiceSettings  # noqa: E402
from shared.uow import lane_for  # noqa: E402
from tests.infra import KafkaBroker, PostgresServer, kafka_version  # noqa: E402

PARTITIONS = 12


def cpu() -> float:
    return time.process_time()


async def fill_outbox(kit: ServiceKit, n: int, note: str = "") -> None:
    """Commit n events to the outbox in chunks (not timed: the backlog exists before the relay runs)."""
    chunk = 2000
    for start in range(0, n, chunk):
        rows = []
        for i in range(start, min(n, start + chunk)):
            e = make_event(BackboneProbe(dossier_id=f"dossier-{i % 5000}", probe_id=str(uuid.uuid4()), note=note),
                           source_service="intake", correlation_id="bench")
            rows.append({"event_id": e.id, "topic": kit.settings.lifecycle_topic, "key": e.subject,
                         "lane": lane_for(e.subject), "event_type": e.type,
                         "headers": [[k, v.decode()] for k, v in e.to_headers()], "payload": e.value_bytes(),
                         "created_at": e.time})
        async with kit.uow() as uow:
            await uow.conn.execute(insert(kit.tables.outbox), rows)
            await uow.commit()


async def inbox_count(kit: ServiceKit) -> int:
    async with kit.uow() as uow:
        return (await uow.conn.execute(select(func.count()).select_from(kit.tables.inbox))).scalar_one()


async def pipeline_round(pg: PostgresServer, kafka: KafkaBroker, n: int) -> dict:
    topic = f"bench-{uuid.uuid4().hex[:8]}"
    common = dict(kafka_bootstrap_servers=kafka.bootstrap_servers, lifecycle_topic=topic,
                  topic_partitions=PARTITIONS, outbox_batch_size=2000, log_level="WARNING")
    producer = ServiceKit(intake_definition(s := ServiceSettings(service_name="intake", database_url=pg.create_database(), **common)), s)
    consumer = ServiceKit(routing_definition(), ServiceSettings(service_name="routing", database_url=pg.create_database(), **common))
    await producer.start(migrate=True, consume=False, relay=False)
    await consumer.start(migrate=True, consume=True, relay=False)
    try:
        await fill_outbox(producer, n)
        await asyncio.sleep(1)  # let the consumer's group join settle
        t0, c0 = time.perf_counter(), cpu()
        producer.relay.start()
        while await inbox_count(consumer) < n:
            await asyncio.sleep(0.05)
        elapsed, cpu_used = time.perf_counter() - t0, cpu() - c0
    finally:
        await producer.stop()
        await consumer.stop()
    return {"events": n, "seconds": elapsed, "rate": n / elapsed, "cpu_us_per_event": cpu_used / n * 1e6}


async def raw_round(kafka: KafkaBroker, n: int, value: bytes, headers: list) -> dict:
    topic = f"raw-{uuid.uuid4().hex[:8]}"
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka.bootstrap_servers)
    await admin.start()
    await admin.create_topics([NewTopic(topic, PARTITIONS, 1)])
    await admin.close()
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=kafka.bootstrap_servers, group_id=f"g-{topic}",
                                enable_auto_commit=False, auto_offset_reset="earliest", max_poll_records=2000)
    await consumer.start()
    producer = AIOKafkaProducer(bootstrap_servers=kafka.bootstrap_servers, acks="all", enable_idempotence=True,
                                linger_ms=2, max_batch_size=256 * 1024)
    await producer.start()
    await asyncio.sleep(1)
    t0, c0 = time.perf_counter(), cpu()

    async def produce() -> None:
        futures = [await producer.send(topic, value, key=f"dossier-{i % 5000}".encode(), headers=headers)
                   for i in range(n)]
        await asyncio.gather(*futures)

    async def consume() -> None:
        seen = 0
        while seen < n:
            batch = await consumer.getmany(timeout_ms=200)
            seen += sum(len(m) for m in batch.values())
            if batch:
                await consumer.commit()

    await asyncio.gather(produce(), consume())
    elapsed, cpu_used = time.perf_counter() - t0, cpu() - c0
    await producer.stop()
    await consumer.stop()
    return {"events": n, "seconds": elapsed, "rate": n / elapsed, "cpu_us_per_event": cpu_used / n * 1e6}


async def latency_run(pg: PostgresServer, kafka: KafkaBroker, rate: int, seconds: float) -> dict:
    topic = f"lat-{uuid.uuid4().hex[:8]}"
    common = dict(kafka_bootstrap_servers=kafka.bootstrap_servers, lifecycle_topic=topic,
                  topic_partitions=PARTITIONS, log_level="WARNING")
    producer = ServiceKit(intake_definition(s := ServiceSettings(service_name="intake", database_url=pg.create_database(), **common)), s)
    consumer = ServiceKit(routing_definition(), ServiceSettings(service_name="routing", database_url=pg.create_database(), **common))
    latencies: list[float] = []
    intended: dict[str, float] = {}
    handle_batch = consumer.consumer.handle_batch

    async def timed(records):  # latency ends when the consumer's transaction has committed
        await handle_batch(records)
        now = time.perf_counter()
        latencies.extend(now - intended[json.loads(r.value)["probe_id"]] for r in records)

    consumer.consumer.handle_batch = timed
    await producer.start(migrate=True, consume=False)
    await consumer.start(migrate=True, consume=True, relay=False)
    await asyncio.sleep(1.5)
    try:
        total = int(rate * seconds)
        start = time.perf_counter()
        c0 = cpu()
        for i in range(total):
            when = start + i / rate  # open loop: the schedule does not wait for the system
            delay = when - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            probe_id = str(uuid.uuid4())
            intended[probe_id] = when
            async with producer.uow() as uow:
                uow.publish(make_event(BackboneProbe(dossier_id=f"dossier-{i % 500}", probe_id=probe_id),
                                       source_service="intake", correlation_id="bench"))
                await uow.commit()
        while len(latencies) < total:
            await asyncio.sleep(0.05)
        cpu_used = cpu() - c0
    finally:
        await producer.stop()
        await consumer.stop()
    q = statistics.quantiles(latencies, n=100)
    return {"rate": rate, "events": total, "p50_ms": q[49] * 1e3, "p95_ms": q[94] * 1e3, "p99_ms": q[98] * 1e3,
            "max_ms": max(latencies) * 1e3, "cpu_us_per_event": cpu_used / total * 1e6}


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--rate", type=int, default=500)
    parser.add_argument("--seconds", type=float, default=10)
    args = parser.parse_args()
    configure_logging("WARNING", json=False)

    pg = PostgresServer().start()
    kafka = KafkaBroker().start()
    print(f"PostgreSQL on :{pg.port}, Kafka {kafka_version()} on {kafka.bootstrap_servers}")
    sample = make_event(BackboneProbe(dossier_id="dossier-1", probe_id=str(uuid.uuid4())), source_service="intake",
                        correlation_id="bench")
    try:
        raws, pipes = [], []
        for r in range(args.rounds):
            raws.append(await raw_round(kafka, args.events, sample.value_bytes(), sample.to_headers()))
            print(f"round {r + 1} raw      : {raws[-1]['rate']:>9.0f} ev/s  {raws[-1]['seconds']:.2f}s  "
                  f"{raws[-1]['cpu_us_per_event']:.0f} µs CPU/ev", flush=True)
            pipes.append(await pipeline_round(pg, kafka, args.events))
            print(f"round {r + 1} pipeline : {pipes[-1]['rate']:>9.0f} ev/s  {pipes[-1]['seconds']:.2f}s  "
                  f"{pipes[-1]['cpu_us_per_event']:.0f} µs CPU/ev", flush=True)
        raw_rate = statistics.median(x["rate"] for x in raws)
        pipe_rate = statistics.median(x["rate"] for x in pipes)
        print(f"\nmedian raw {raw_rate:.0f} ev/s, pipeline {pipe_rate:.0f} ev/s, ratio {pipe_rate / raw_rate:.2f}"
              f" (target >= 0.35); {args.events} backlog drained in "
              f"{statistics.median(x['seconds'] for x in pipes):.2f}s (target <= 5 s)")
        lat = await latency_run(pg, kafka, args.rate, args.seconds)
        print(f"open-loop {lat['rate']} ev/s for {args.seconds:.0f}s: outbox->consumer p50 {lat['p50_ms']:.1f} ms, "
              f"p95 {lat['p95_ms']:.1f} ms, p99 {lat['p99_ms']:.1f} ms, max {lat['max_ms']:.1f} ms "
              f"(target p99 <= 50 ms); {lat['cpu_us_per_event']:.0f} µs CPU/ev")
    finally:
        kafka.destroy()
        pg.stop()


if __name__ == "__main__":
    asyncio.run(main())
