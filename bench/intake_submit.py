"""Benchmark: intake's submission path against a bare endpoint doing one INSERT, same database, one run.

    .venv/bin/python bench/intake_submit.py [--rounds 3] [--seconds 8] [--concurrency 16] [--rate 100]

Both servers are separate processes (uvicorn, one worker each) on the same PostgreSQL, started by
this harness (tests/infra.py). The bare endpoint (here, never in the product) parses the same JSON
and INSERTs one row of the same width into a table of the same database. Intake does everything a
real submission does: API key, Idempotency-Key claim, applicant and form checks, sealing the
personal data, the dossier-code counter, the dossier row, its history row and the outbox row in
one transaction, then its relay and its own consumer (tracking, KPIs) in the same process.

Throughput rounds are closed-loop and interleaved (bare, intake, bare, intake...). Then an
open-loop run at a fixed rate against intake: latency measured from each request's intended send
time, so a slow server cannot hide its queueing (no coordinated omission)."""
from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.infra import PostgresServer, free_port  # noqa: E402

BODY = {"procedure_code": "1.001612", "channel": "postal",
        "applicant": {"kind": "person", "full_name": "Trần Văn Bình", "citizen_id": "056090004321",
                      "phone": "0987654321", "email": "binh@example.vn", "address": "45 Lê Thánh Tôn, phường Nha Trang"},
        "form": {"business_name": "Hộ kinh doanh Bình An", "business_address": "45 Lê Thánh Tôn, phường Nha Trang",
                 "business_lines": ["Bán lẻ thực phẩm"], "capital_vnd": 200000000}}

BARE_APP = '''
import json, os, uuid
from datetime import UTC, datetime
import asyncpg
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
app = FastAPI()
pool = None

@app.on_event("startup")
async def startup():
    global pool
    pool = await asyncpg.create_pool(os.environ["BARE_DSN"], min_size=4, max_size=10)
    await pool.execute("""CREATE TABLE IF NOT EXISTS bare_dossiers (id varchar(36) primary key,
        code varchar(64) not null, procedure_code varchar(32) not null, channel varchar(8) not null,
        applicant bytea not null, form jsonb not null, submitted_at timestamptz not null)""")

@app.post("/v1/dossiers")
async def submit(request: Request):
    body = await request.json()
    dossier_id = str(uuid.uuid4())
    await pool.execute("INSERT INTO bare_dossiers VALUES ($1, $2, $3, $4, $5, $6, $7)", dossier_id, dossier_id,
                       body["procedure_code"], body["channel"], json.dumps(body["applicant"]).encode(),
                       json.dumps(body["form"]), datetime.now(UTC))
    return JSONResponse({"id": dossier_id}, status_code=201)
'''


def serve(module_dir: Path, app: str, port: int, env: dict[str, str], *, factory: bool = False) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "uvicorn", app, *(["--factory"] if factory else []),
                             "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning", "--no-access-log"],
                            cwd=module_dir, env={**os.environ, **env, "PYTHONPATH": f"{ROOT}:{module_dir}"})


async def wait_ready(url: str) -> None:
    async with httpx.AsyncClient() as client:
        for _ in range(300):
            try:
                if (await client.get(url)).status_code < 500:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


async def closed_loop(url: str, headers: dict[str, str], seconds: float, concurrency: int) -> tuple[int, list[float]]:
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=30) as client:
        async def worker() -> None:
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                response = await client.post(url, json=BODY, headers={**headers, "Idempotency-Key": str(uuid.uuid4())})
                assert response.status_code == 201, response.text
                latencies.append(time.perf_counter() - started)
        await asyncio.gather(*[worker() for _ in range(concurrency)])
    return len(latencies), latencies


async def open_loop(url: str, headers: dict[str, str], rate: float, seconds: float) -> list[float]:
    latencies: list[float] = []
    total = int(rate * seconds)
    async with httpx.AsyncClient(limits=httpx.Limits(max_connections=200), timeout=30) as client:
        start = time.perf_counter() + 0.2

        async def one(i: int) -> None:
            intended = start + i / rate
            await asyncio.sleep(max(0.0, intended - time.perf_counter()))
            response = await client.post(url, json=BODY, headers={**headers, "Idempotency-Key": str(uuid.uuid4())})
            assert response.status_code == 201, response.text
            latencies.append(time.perf_counter() - intended)
        await asyncio.gather(*[one(i) for i in range(total)])
    return latencies


async def wait_caught_up(dsn: str) -> None:
    """Until intake has relayed and consumed (tracking, KPIs) every event so far: a backlog from
    the throughput rounds must not be billed to the latency run."""
    import asyncpg
    conn = await asyncpg.connect(dsn)
    try:
        for _ in range(600):
            pending = await conn.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL")
            consumed = await conn.fetchval("SELECT count(*) FROM inbox")
            produced = await conn.fetchval("SELECT count(*) FROM outbox")
            if pending == 0 and consumed >= produced:
                return
            await asyncio.sleep(0.2)
    finally:
        await conn.close()
    raise RuntimeError("intake did not catch up")


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


async def create_key(intake_url_db: str, pii_key: str) -> str:
    from shared.auth import generate_key, store_key
    from services.intake.bootstrap import definition
    from services.intake.settings import IntakeSettings
    from shared.service import ServiceKit
    settings = IntakeSettings(database_url=intake_url_db, environment="test", pii_keys=[pii_key])
    kit = ServiceKit(definition(settings), settings)
    await kit.start(migrate=True, consume=False, relay=False)
    issued = generate_key()
    async with kit.uow() as uow:
        await store_key(uow, issued, name="bench", agency="000.00.01.H56", scopes=["dossiers:submit"])
        await uow.commit()
    await kit.stop()
    return issued.plaintext


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=8)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--rate", type=float, default=100)
    parser.add_argument("--open-seconds", type=float, default=20)
    args = parser.parse_args()

    from shared.pii import Sealer
    pg = PostgresServer().start()
    processes: list[subprocess.Popen] = []
    try:
        database = pg.create_database()
        pii_key = Sealer.new_key()
        key = await create_key(database, pii_key)
        bare_dir = Path(tempfile.mkdtemp(prefix="bench-intake-"))
        (bare_dir / "bare_app.py").write_text(BARE_APP)
        bare_port, intake_port = free_port(), free_port()
        dsn = database.replace("postgresql+asyncpg://", "postgresql://")
        processes.append(serve(bare_dir, "bare_app:app", bare_port, {"BARE_DSN": dsn}))
        processes.append(serve(ROOT, "services.intake.main:create_app", intake_port, {
            "DATABASE_URL": database, "ENVIRONMENT": "test", "PII_KEYS": f'["{pii_key}"]', "LOG_LEVEL": "WARNING",
            "STORAGE_URL": f"file:{bare_dir / 'files'}"}, factory=True))
        bare_url, intake_url = f"http://127.0.0.1:{bare_port}/v1/dossiers", f"http://127.0.0.1:{intake_port}/v1/dossiers"
        await wait_ready(f"http://127.0.0.1:{bare_port}/docs")
        await wait_ready(f"http://127.0.0.1:{intake_port}/readyz")
        headers = {"X-API-Key": key}
        await closed_loop(bare_url, {}, 2, args.concurrency)           # warm-up
        await closed_loop(intake_url, headers, 2, args.concurrency)

        results: dict[str, list[float]] = {"bare": [], "intake": []}
        latencies: dict[str, list[float]] = {"bare": [], "intake": []}
        for round_no in range(args.rounds):
            for name, url, hdrs in (("bare", bare_url, {}), ("intake", intake_url, headers)):
                count, lat = await closed_loop(url, hdrs, args.seconds, args.concurrency)
                results[name].append(count / args.seconds)
                latencies[name] += lat
                print(f"round {round_no + 1} {name:<6} {count / args.seconds:8.1f} req/s  p50 {pct(lat, .5):6.1f} ms"
                      f"  p99 {pct(lat, .99):6.1f} ms", flush=True)
        bare, intake = statistics.median(results["bare"]), statistics.median(results["intake"])
        print(f"\nthroughput (median of {args.rounds}, {args.concurrency} concurrent): bare {bare:.1f} req/s, "
              f"intake {intake:.1f} req/s, ratio {intake / bare:.2f} (target >= 0.5, stretch 0.7)")
        for name, url, hdrs in (("bare", bare_url, {}), ("intake", intake_url, headers)):
            started = time.perf_counter()
            await wait_caught_up(dsn)
            if name == "intake":
                print(f"(intake caught up with its event backlog in {time.perf_counter() - started:.1f} s)")
            lat = await open_loop(url, hdrs, args.rate, args.open_seconds)
            print(f"open loop {name:<6} {args.rate:g}/s for {args.open_seconds:g} s ({len(lat)} requests): "
                  f"p50 {pct(lat, .5):.1f} ms  p95 {pct(lat, .95):.1f} ms  p99 {pct(lat, .99):.1f} ms"
                  + ("  (target p99 <= 20 ms)" if name == "intake" else ""))
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=15)
        pg.stop()


if __name__ == "__main__":
    asyncio.run(main())
