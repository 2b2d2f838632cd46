"""Benchmark: the dossier lifecycle across all five services as separate processes.

    .venv/bin/python bench/lifecycle.py [--rate 50] [--seconds 30] [--idle 10]
    .venv/bin/python bench/lifecycle.py --rate 5 --seconds 600 --sample-every 30    # the 10-minute soak

Real PostgreSQL (a database per service) and a real Kafka broker, started by this harness
(tests/infra.py); the five services are `onestop serve` processes behind a path-routing gateway;
the outside systems are the simulators (tests/e2e/backbone.py, the same set-up the end-to-end test
uses). Open loop: a new desk dossier is submitted and accepted at a fixed rate, and every latency
is measured from the dossier's intended send time (no coordinated omission):
  accepted           - the accept call answered
  processing started - routing's dossier.processing_started.v1 seen on the topic
  first notification - notifications' first notification.sent.v1 for the dossier seen on the topic
CPU (% of one core) and RSS per service are sampled from /proc while idle and under load; RSS also
every --sample-every seconds, and its growth after the first minute is reported (the soak)."""
from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.e2e.backbone import running_backbone  # noqa: E402
from tests.infra import KafkaBroker, PostgresServer  # noqa: E402

COMMUNE = "000.17.22.H56"
BODY = {"procedure_code": "1.001612", "channel": "desk",
        "applicant": {"kind": "person", "full_name": "Trần Văn Bình", "citizen_id": "056090004321",
                      "phone": "0987654321", "address": "45 Lê Thánh Tôn, phường Nha Trang", "channels": ["sms"]},
        "form": {"business_name": "Hộ kinh doanh Bình An", "business_address": "45 Lê Thánh Tôn, phường Nha Trang",
                 "business_lines": ["Bán lẻ thực phẩm"], "capital_vnd": 200_000_000}}


def proc_sample(pid: int) -> tuple[float, float]:
    """(CPU seconds so far, RSS MiB) of one process."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = 100.0
    cpu = (int(fields[11]) + int(fields[12])) / ticks
    rss_kib = next(int(line.split()[1]) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
                   if line.startswith("VmRSS:"))
    return cpu, rss_kib / 1024


def usage(backbone, seconds: float, every: float = 30.0) -> dict[str, dict[str, Any]]:
    """CPU over the period, RSS at its end, and RSS every `every` seconds (for the soak's growth)."""
    before = {n: proc_sample(p.pid) for n, p in backbone.processes.items()}
    series: dict[str, list[float]] = {n: [before[n][1]] for n in backbone.processes}
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        time.sleep(min(every, left))
        for n, p in backbone.processes.items():
            series[n].append(proc_sample(p.pid)[1])
    after = {n: proc_sample(p.pid) for n, p in backbone.processes.items()}
    return {n: {"cpu_pct": round(100 * (after[n][0] - before[n][0]) / seconds, 1), "rss_mib": round(after[n][1], 1),
                "rss_series": series[n]} for n in backbone.processes}


def growth(series: list[float]) -> float:
    """RSS growth over a soak: the last sample against the one after the first minute's warm-up
    (allocator pools and caches fill in the first minute; a leak keeps growing after it)."""
    base = series[min(2, len(series) - 1)]
    return round(100 * (series[-1] - base) / base, 1)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def watch(bootstrap: str, topic: str, seen: dict[tuple[str, str], float], stop: asyncio.Event) -> None:
    from aiokafka import AIOKafkaConsumer
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", group_id=None)
    await consumer.start()
    try:
        while not stop.is_set():
            batch = await consumer.getmany(timeout_ms=200)
            now = time.monotonic()
            for records in batch.values():
                for record in records:
                    # The CloudEvents headers say what and whose: no need to parse the body (this
                    # process shares the 2 cores with what it measures).
                    attributes = dict(record.headers)
                    seen.setdefault((attributes["ce_subject"].decode(), attributes["ce_type"].decode()), now)
    finally:
        await consumer.stop()


async def run(args) -> None:
    postgres, kafka = PostgresServer().start(), KafkaBroker().start()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            async with running_backbone(postgres, kafka, Path(tmp)) as backbone:
                token = backbone.token(COMMUNE, ["dossiers:submit", "dossiers:receive", "dossiers:read"])
                headers = {"Authorization": f"Bearer {token}"}
                # Straight to intake's own port: the test gateway is a Python proxy in this process, and
                # would measure itself (production puts nginx there).
                async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{backbone.ports['intake']}", timeout=60,
                                             limits=httpx.Limits(max_connections=200)) as client:
                    for _ in range(5):   # warm up every path once
                        made = (await client.post("/v1/dossiers", json=BODY, headers={
                            **headers, "Idempotency-Key": str(uuid.uuid4())})).json()
                        await client.post(f"/v1/dossiers/{made['id']}/accept", json={}, headers=headers)
                    await asyncio.sleep(3)
                    idle = await asyncio.to_thread(usage, backbone, args.idle)
                    seen: dict[tuple[str, str], float] = {}
                    stop = asyncio.Event()
                    watcher = asyncio.create_task(watch(kafka.bootstrap_servers, backbone.env["intake"]["LIFECYCLE_TOPIC"],
                                                        seen, stop))
                    intended: dict[str, float] = {}
                    accepted: dict[str, float] = {}
                    errors = 0

                    async def one(at: float) -> None:
                        nonlocal errors
                        await asyncio.sleep(max(0.0, at - time.monotonic()))
                        try:
                            made = await client.post("/v1/dossiers", json=BODY, headers={
                                **headers, "Idempotency-Key": str(uuid.uuid4())})
                            dossier_id = made.json()["id"]
                            intended[dossier_id] = at
                            done = await client.post(f"/v1/dossiers/{dossier_id}/accept", json={}, headers=headers)
                            if done.status_code != 200:
                                errors += 1
                                return
                            accepted[dossier_id] = time.monotonic() - at
                        except (httpx.HTTPError, KeyError, ValueError):
                            errors += 1

                    start = time.monotonic() + 0.5
                    count = int(args.rate * args.seconds)
                    load = asyncio.gather(*(one(start + i / args.rate) for i in range(count)))
                    busy = asyncio.create_task(asyncio.to_thread(usage, backbone, args.seconds, args.sample_every))
                    await load
                    under_load = await busy
                    await asyncio.sleep(args.drain)
                    stop.set()
                    await watcher

                started = [seen[(d, "dossier.processing_started.v1")] - intended[d] for d in intended
                           if (d, "dossier.processing_started.v1") in seen]
                notified = [seen[(d, "notification.sent.v1")] - intended[d] for d in intended
                            if (d, "notification.sent.v1") in seen]

                def line(name: str, values: list[float]) -> str:
                    if not values:
                        return f"  {name:<20} no samples"
                    ms = [v * 1000 for v in values]
                    return (f"  {name:<20} n={len(ms):<5} p50={statistics.median(ms):7.1f} ms  p95={pct(ms, .95):7.1f} ms"
                            f"  p99={pct(ms, .99):7.1f} ms")
                print(f"\nopen loop: {args.rate}/s for {args.seconds}s ({count} dossiers), errors {errors}")
                print(line("to accepted", list(accepted.values())))
                print(line("to processing started", started))
                print(line("to first notification", notified))
                print("\n  service        idle CPU%  idle RSS MiB   load CPU%  load RSS MiB  RSS growth after 1st minute")
                for name in backbone.processes:
                    print(f"  {name:<14} {idle[name]['cpu_pct']:9.1f} {idle[name]['rss_mib']:13.1f} "
                          f"{under_load[name]['cpu_pct']:11.1f} {under_load[name]['rss_mib']:13.1f} "
                          f"{growth(under_load[name]['rss_series']):+10.1f} %  "
                          f"{[round(v) for v in under_load[name]['rss_series']]}")
    finally:
        kafka.destroy()
        postgres.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=50)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--idle", type=float, default=10)
    parser.add_argument("--sample-every", type=float, default=30, help="seconds between RSS samples (the soak)")
    parser.add_argument("--drain", type=float, default=10, help="seconds to wait for the last events")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
