"""The five services as separate OS processes (`onestop serve`), on real PostgreSQL (a database
each) and real Kafka, behind a small path-routing gateway like the production one, with every
outside system a real server: the payment platform, the postal service, two SMS providers, Zalo,
the national portal, an SMTP mailbox. Services can be killed (SIGKILL) and restarted."""
from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import uuid
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import create_async_engine

from shared.auth import ALL_AGENCIES, generate_key, issue_officer_token, store_key
from shared.db import add_backbone_tables, new_metadata
from shared.pii import Sealer
from shared.settings import SERVICE_NAMES
from shared.uow import UnitOfWork
from simulators import payment_platform, portal, postal, sms, zalo
from simulators.mailbox import Mailbox
from tests.conftest import serving
from tests.infra import free_port

JWT_SECRET = "e2e-officer-secret-0123456789abcdef"
PREFIXES = {"intake": ("/v1/intake", "/v1/procedures", "/v1/agencies", "/v1/dossiers", "/v1/tracking", "/v1/kpis"),
            "routing": ("/v1/routing", "/v1/workflows", "/v1/tasks", "/v1/processes", "/v1/performance"),
            "payments": ("/v1/payments", "/v1/bills", "/v1/receipts"),
            "notifications": ("/v1/notifications",), "results": ("/v1/results",)}


def gateway(upstreams: dict[str, str]):
    """A path-routing reverse proxy (what nginx does in compose)."""
    client = httpx.AsyncClient(timeout=60)

    def target(path: str) -> str | None:
        for prefix, url in sorted(upstreams.items(), key=lambda kv: -len(kv[0])):
            if path == prefix or path.startswith(prefix + "/"):
                return url + (path[len(prefix):] if prefix.startswith("/simulators/") else path)
        return None

    async def app(scope, receive, send):
        if scope["type"] != "http":
            return
        url = target(scope["path"])
        if url is None:
            await send({"type": "http.response.start", "status": 404, "headers": []})
            await send({"type": "http.response.body", "body": b"no upstream"})
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = [(k, v) for k, v in scope["headers"] if k.lower() not in (b"host", b"content-length")]
        query = scope.get("query_string", b"").decode()
        try:
            response = await client.request(scope["method"], url + (f"?{query}" if query else ""), content=body,
                                            headers=headers)
            status, out_headers, content = response.status_code, response.headers.raw, response.content
        except httpx.HTTPError:
            status, out_headers, content = 502, [], b"upstream unavailable"
        out_headers = [(k, v) for k, v in out_headers if k.lower() not in (b"content-length", b"transfer-encoding",
                                                                          b"content-encoding", b"connection")]
        await send({"type": "http.response.start", "status": status, "headers": out_headers})
        await send({"type": "http.response.body", "body": content})
    return app


@dataclass
class Backbone:
    base: str
    api_key: str
    env: dict[str, dict[str, str]]
    ports: dict[str, int]
    mailbox: Mailbox
    sims: dict[str, str]
    logs: Path
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)

    def token(self, agency: str, roles: list[str]) -> str:
        return issue_officer_token(JWT_SECRET, subject="e2e", name="Cán bộ", agency=agency, roles=roles,
                                   issuer="onestop-dev-sso", audience="onestop")

    def start(self, name: str) -> None:
        log = open(self.logs / f"{name}.log", "ab")
        self.processes[name] = subprocess.Popen(
            [sys.executable, "-m", "services.cli", "serve", name, "--host", "127.0.0.1", "--port",
             str(self.ports[name]), "--migrate"], env=self.env[name], stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True)

    def kill(self, name: str) -> None:
        process = self.processes.pop(name)
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)

    async def ready(self, name: str, timeout: float = 60) -> None:
        deadline = asyncio.get_running_loop().time() + timeout
        async with httpx.AsyncClient(timeout=2) as client:
            while True:
                try:
                    if (await client.get(f"http://127.0.0.1:{self.ports[name]}/readyz")).status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                if self.processes[name].poll() is not None or asyncio.get_running_loop().time() > deadline:
                    raise AssertionError(f"{name} did not become ready:\n"
                                         + (self.logs / f"{name}.log").read_text(errors="replace")[-3000:])
                await asyncio.sleep(0.2)

    def stop_all(self) -> None:
        for name in list(self.processes):
            process = self.processes.pop(name)
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)


async def get_json(client: httpx.AsyncClient, url: str, **kwargs: Any) -> Any:
    """GET that must answer 200 (the assertion says what it answered instead)."""
    response = await client.get(url, **kwargs)
    assert response.status_code == 200, (url, response.status_code, response.text[:500])
    return response.json()


async def _store_key(url: str, issued) -> None:
    engine = create_async_engine(url)
    tables = add_backbone_tables(new_metadata())
    try:
        async with UnitOfWork(engine, tables, "unused") as uow:
            await store_key(uow, issued, name="e2e partner", agency="000.00.01.H56",
                            scopes=["backbone:probe", ALL_AGENCIES, "dossiers:submit", "dossiers:read", "payments:read",
                                    "payments:pay", "results:read", "notifications:read"])
            await uow.commit()
    finally:
        await engine.dispose()


@asynccontextmanager
async def running_backbone(postgres_server, kafka_broker, tmp_path: Path, **extra_env: str):
    async with AsyncExitStack() as stack:
        sims = {name: await stack.enter_async_context(serving(app)) for name, app in (
            ("payment-platform", payment_platform.create_app(secret="e2e-platform-secret")),
            ("postal", postal.create_app(confirmation_secret="e2e-postal-secret")),
            ("sms-a", sms.create_app("sms-a", receipt_secret="e2e-receipt-secret")),
            ("sms-b", sms.create_app("sms-b", receipt_secret="e2e-receipt-secret")),
            ("zalo", zalo.create_app()), ("portal", portal.create_app()))}
        mailbox = await stack.enter_async_context(Mailbox(port=free_port()))
        ports = {name: free_port() for name in SERVICE_NAMES}
        gateway_port = free_port()
        base = f"http://127.0.0.1:{gateway_port}"
        upstreams = {prefix: f"http://127.0.0.1:{ports[name]}" for name, prefixes in PREFIXES.items() for prefix in prefixes}
        upstreams.update({f"/simulators/{name}": url for name, url in sims.items()})
        await stack.enter_async_context(serving(gateway(upstreams), port=gateway_port))
        topic = f"lifecycle-{uuid.uuid4().hex[:8]}"
        shared = {"ENVIRONMENT": "test", "KAFKA_BOOTSTRAP_SERVERS": kafka_broker.bootstrap_servers,
                  "LIFECYCLE_TOPIC": topic, "TOPIC_PARTITIONS": "4", "PUBLIC_BASE_URL": base,
                  "PII_KEYS": json.dumps([Sealer.new_key()]), "OFFICER_JWT_SECRET": JWT_SECRET, "LOG_JSON": "true",
                  "LOG_LEVEL": "WARNING", "OUTBOX_POLL_INTERVAL_S": "0.2", "CONSUMER_BACKOFF_INITIAL_S": "0.1"}
        specific = {
            "intake": {"STORAGE_URL": f"file:{tmp_path / 'intake-files'}"},
            "payments": {"PAYMENT_PLATFORM_URL": sims["payment-platform"],
                         "PAYMENT_PLATFORM_SECRETS": json.dumps(["e2e-platform-secret"])},
            "notifications": {"SMS_PROVIDERS": json.dumps([
                {"name": "sms-a", "url": sims["sms-a"], "token": "sms-sim-token", "weight": 70},
                {"name": "sms-b", "url": sims["sms-b"], "token": "sms-sim-token", "weight": 30, "unicode": False}]),
                "RECEIPT_SECRET": "e2e-receipt-secret", "SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(mailbox.port),
                "ZALO_URL": sims["zalo"], "PORTAL_URL": sims["portal"], "DISPATCH_INTERVAL_S": "0.3"},
            "results": {"STORAGE_URL": f"file:{tmp_path / 'results-files'}", "SIGNING_DIR": str(tmp_path / "signing"),
                        "POSTAL_URL": sims["postal"], "POSTAL_CONFIRMATION_SECRET": "e2e-postal-secret"},
        }
        issued = generate_key()
        env = {}
        for name in SERVICE_NAMES:
            url = postgres_server.create_database()
            await _store_key_after_migration(name, url, issued)
            env[name] = {**os.environ, **shared, **specific.get(name, {}), **extra_env, "SERVICE_NAME": name,
                         "DATABASE_URL": url}
        logs = tmp_path / "logs"
        logs.mkdir(parents=True)
        backbone = Backbone(base, issued.plaintext, env, ports, mailbox, sims, logs)
        try:
            for name in SERVICE_NAMES:
                backbone.start(name)
            for name in SERVICE_NAMES:
                await backbone.ready(name)
            yield backbone
        finally:
            backbone.stop_all()


async def _store_key_after_migration(name: str, url: str, issued) -> None:
    """Migrate the service's database (as `onestop migrate` would) and store the partner key."""
    from shared.migrate import upgrade_to_head
    engine = create_async_engine(url)
    try:
        await upgrade_to_head(engine, Path(__file__).parents[2] / "services" / name / "migrations")
    finally:
        await engine.dispose()
    await _store_key(url, issued)

