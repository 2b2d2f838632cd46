"""The runtime every service shares: engine, unit of work, outbox relay, inbox consumer, bus,
health, metrics and error handling, started and stopped by the app's lifespan.

A service describes itself with a ServiceDefinition (its tables, migrations, event handlers and
routes); `create_service_app` turns that plus settings into a FastAPI app. The embedded runner
passes one shared in-memory bus to all five; a container builds a Kafka bus from settings."""
from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import MetaData, text

from shared.auth import PrincipalCache
from shared.bus.kafka import KafkaBus
from shared.bus.memory import MemoryBus
from shared.bus.ports import Bus, RetryPolicy, Subscription, SubscriptionSpec
from shared.calendar import WorkingCalendar
from shared.db import BackboneTables, create_engine
from shared.idempotency import IdempotentExecutor
from shared.inbox import EventHandler, InboxConsumer
from shared.migrate import upgrade_to_head
from shared.observability import HTTP_LATENCY, HTTP_REQUESTS, correlation_id_var, get_logger
from shared.outbox import OutboxRelay
from shared.problems import install_problem_handlers
from shared.settings import ServiceSettings
from shared.uow import UnitOfWork

log = get_logger(__name__)


@dataclass(frozen=True)
class PeriodicTask:
    """Work a service does on a timer (sweeps, monitors). Must be safe on several replicas at once."""
    name: str
    interval_s: float
    run: Callable[["ServiceKit"], Awaitable[int]]   # returns how many things it did


@dataclass(frozen=True)
class ServiceDefinition:
    name: str
    title: str
    description: str
    metadata: MetaData
    tables: BackboneTables
    migrations_dir: Path
    handlers: Mapping[str, EventHandler]
    routers: Sequence[APIRouter] = ()
    # Paths this service owns, for the gateway and the embedded runner (unique across services).
    path_prefixes: tuple[str, ...] = field(default=())
    periodic: Sequence[PeriodicTask] = ()
    state: Mapping[str, Any] = field(default_factory=dict)           # set on app.state for the routes
    on_stop: Sequence[Callable[[], Awaitable[None]]] = ()             # close adapters (HTTP clients...)

    def owns(self, path: str) -> bool:
        return any(path == p or path.startswith(p + "/") for p in (f"/v1/{self.name}", *self.path_prefixes))


def working_calendar(settings: ServiceSettings) -> WorkingCalendar:
    return WorkingCalendar(extra_days_off=settings.calendar_extra_days_off,
                           extra_working_days=settings.calendar_extra_working_days,
                           morning=settings.office_morning, afternoon=settings.office_afternoon)


def build_bus(settings: ServiceSettings) -> Bus:
    if settings.kafka_bootstrap_servers:
        return KafkaBus(settings.kafka_bootstrap_servers, partitions=settings.topic_partitions,
                        replication_factor=settings.topic_replication_factor, client_id=settings.service_name)
    log.warning("in_memory_bus", service=settings.service_name,
                detail="no KAFKA_BOOTSTRAP_SERVERS: events stay inside this process")
    return MemoryBus(settings.topic_partitions)


class ServiceKit:
    """The wired runtime of one service (the adapters bootstrap.py hands to handlers)."""

    def __init__(self, definition: ServiceDefinition, settings: ServiceSettings, bus: Bus | None = None) -> None:
        self.definition = definition
        self.settings = settings
        self.tables = definition.tables
        self._owns_bus = bus is None
        self.bus = bus or build_bus(settings)
        self.engine = create_engine(settings)
        self.calendar = working_calendar(settings)
        self.relay = OutboxRelay(settings.service_name, self.engine, self.tables, self.bus,
                                 batch_size=settings.outbox_batch_size, poll_interval_s=settings.outbox_poll_interval_s,
                                 retention=timedelta(hours=settings.outbox_retention_hours),
                                 linger_s=settings.outbox_linger_ms / 1000)
        self.consumer = InboxConsumer(settings.consumer_group, definition.handlers, self.uow)
        self.principals = PrincipalCache()
        self.idempotency = IdempotentExecutor(self.uow, timedelta(hours=settings.idempotency_ttl_hours))
        self.subscription: Subscription | None = None
        self._periodic: list[asyncio.Task] = []

    def uow(self) -> UnitOfWork:
        return UnitOfWork(self.engine, self.tables, self.settings.lifecycle_topic, on_commit=self.relay.notify)

    async def start(self, *, migrate: bool, consume: bool = True, relay: bool = True) -> None:
        if migrate:
            await upgrade_to_head(self.engine, self.definition.migrations_dir)
        if self._owns_bus:
            await self.bus.start()
        await self.bus.ensure_topics([self.settings.lifecycle_topic, self.settings.dlq_topic])
        if relay:
            self.relay.start()
        if consume:
            self.subscription = await self.bus.subscribe(SubscriptionSpec(
                group=self.settings.consumer_group, topics=[self.settings.lifecycle_topic], handler=self.consumer,
                batch_handler=self.consumer.handle_batch, retry=RetryPolicy(self.settings.consumer_max_attempts, self.settings.consumer_backoff_initial_s,
                                  self.settings.consumer_backoff_max_s)))
        self._periodic = [asyncio.create_task(self._every(task), name=f"{self.settings.service_name}:{task.name}")
                          for task in self.definition.periodic]
        log.info("service_started", service=self.settings.service_name)

    async def _every(self, task: PeriodicTask) -> None:
        while True:
            try:
                done = await task.run(self)
                if done:
                    log.info("periodic_task_done", task=task.name, count=done)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - a failing sweep retries at the next tick
                log.error("periodic_task_failed", task=task.name, error_type=type(exc).__name__, exc_info=exc)
            await asyncio.sleep(task.interval_s)

    async def stop(self) -> None:
        for running in self._periodic:
            running.cancel()
        await asyncio.gather(*self._periodic, return_exceptions=True)
        self._periodic = []
        if self.subscription:
            await self.subscription.stop()
            self.subscription = None
        await self.relay.stop()
        if self._owns_bus:
            await self.bus.stop()
        await self.engine.dispose()
        for close in self.definition.on_stop:
            await close()
        log.info("service_stopped", service=self.settings.service_name)

    async def readiness(self) -> dict[str, bool]:
        checks = {"database": False, "bus": False, "relay": self.relay.running}
        try:
            async with self.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
            checks["database"] = True
        except Exception as exc:  # noqa: BLE001 - readiness reports, it does not raise
            log.warning("database_not_ready", error=type(exc).__name__)
        checks["bus"] = await self.bus.ping()
        return checks


def _health_router(definition: ServiceDefinition) -> APIRouter:
    router = APIRouter(tags=["health"])

    async def healthz() -> dict:
        return {"status": "ok", "service": definition.name}

    async def readyz(request: Request) -> JSONResponse:
        checks = await request.app.state.kit.readiness()
        ready = all(checks.values())
        return JSONResponse({"status": "ready" if ready else "not-ready", "service": definition.name,
                             "checks": checks}, status_code=200 if ready else 503)

    for prefix in ("", f"/v1/{definition.name}"):
        router.add_api_route(f"{prefix}/healthz", healthz, methods=["GET"], summary="Process is alive")
        router.add_api_route(f"{prefix}/readyz", readyz, methods=["GET"], summary="Database and bus reachable")
    return router


async def metrics_endpoint() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


class ObserveMiddleware:
    """Correlation id in and out, request count and latency per route template. Plain ASGI:
    BaseHTTPMiddleware's extra task and streams cost more than the work it wraps."""

    def __init__(self, app, service: str) -> None:
        self.app, self.service = app, service

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = next((v for k, v in scope["headers"] if k == b"x-correlation-id"), None)
        correlation_id = incoming.decode("latin-1") if incoming else str(uuid.uuid4())
        token = correlation_id_var.set(correlation_id)
        started = time.perf_counter()
        status = [500]

        async def send_with_id(message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
                message["headers"] = [*message.get("headers", []), (b"x-correlation-id", correlation_id.encode("latin-1"))]
            await send(message)
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            correlation_id_var.reset(token)
            template = getattr(scope.get("route"), "path", "unmatched")
            HTTP_REQUESTS.labels(self.service, scope["method"], template, status[0]).inc()
            HTTP_LATENCY.labels(self.service, scope["method"], template).observe(time.perf_counter() - started)


def create_service_app(definition: ServiceDefinition, settings: ServiceSettings, *, bus: Bus | None = None,
                       migrate_on_start: bool = False) -> FastAPI:
    kit = ServiceKit(definition, settings, bus)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        await kit.start(migrate=migrate_on_start)
        try:
            yield
        finally:
            await kit.stop()

    app = FastAPI(title=definition.title, description=definition.description, version="1.0.0", lifespan=lifespan,
                  docs_url=f"/v1/{definition.name}/docs", redoc_url=None,
                  openapi_url=f"/v1/{definition.name}/openapi.json")
    app.state.kit = kit
    for name, value in definition.state.items():
        setattr(app.state, name, value)
    install_problem_handlers(app)

    app.add_middleware(ObserveMiddleware, service=definition.name)

    app.include_router(_health_router(definition))
    app.add_api_route("/metrics", metrics_endpoint, methods=["GET"], include_in_schema=False)
    for router in definition.routers:
        app.include_router(router)
    return app
