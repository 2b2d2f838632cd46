"""All five services as real apps (API + relay + consumer in each lifespan), driven over HTTP."""
from __future__ import annotations

import importlib
import uuid
from contextlib import AsyncExitStack
from dataclasses import dataclass

import httpx
import pytest
from sqlalchemy import func, select

from shared.auth import generate_key, store_key
from shared.probe import PROBE_SCOPE
from shared.settings import SERVICE_NAMES, ServiceSettings


@dataclass
class RunningBackbone:
    apps: dict
    clients: dict[str, httpx.AsyncClient]
    api_key: str
    topic: str

    def kit(self, name: str):
        return self.apps[name].state.kit

    async def send_probe(self, dossier_id: str | None = None, key: str | None = None) -> dict:
        response = await self.clients["intake"].post(
            "/v1/intake/probes", json={"dossier_id": dossier_id} if dossier_id else {},
            headers={"X-API-Key": self.api_key, "Idempotency-Key": key or str(uuid.uuid4())})
        assert response.status_code == 202, response.text
        return response.json()

    async def receipts(self, name: str) -> int:
        kit = self.kit(name)
        async with kit.uow() as uow:
            return (await uow.conn.execute(select(func.count()).select_from(kit.tables.probe_receipts))).scalar_one()

    async def inbox_rows(self, name: str) -> int:
        kit = self.kit(name)
        async with kit.uow() as uow:
            return (await uow.conn.execute(select(func.count()).select_from(kit.tables.inbox))).scalar_one()


async def start_backbone(stack: AsyncExitStack, database_urls: dict[str, str], kafka: str | None, bus=None,
                         **overrides) -> RunningBackbone:
    topic = f"lifecycle-{uuid.uuid4().hex[:8]}"
    apps, clients = {}, {}
    issued = generate_key()
    for name in SERVICE_NAMES:
        settings = ServiceSettings(service_name=name, database_url=database_urls[name], kafka_bootstrap_servers=kafka,
                                   lifecycle_topic=topic, topic_partitions=4, consumer_max_attempts=2,
                                   consumer_backoff_initial_s=0.05, log_json=False, **overrides)
        app = importlib.import_module(f"services.{name}.main").create_app(settings, bus=bus, migrate_on_start=True)
        await stack.enter_async_context(app.router.lifespan_context(app))
        async with app.state.kit.uow() as uow:
            await store_key(uow, issued, name="system test", agency="000.00.00.H00", scopes=[PROBE_SCOPE])
            await uow.commit()
        apps[name] = app
        clients[name] = await stack.enter_async_context(
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test"))
    return RunningBackbone(apps, clients, issued.plaintext, topic)


async def wait_groups_caught_up(bootstrap: str, topic: str, groups, timeout: float = 60) -> None:
    """Wait until every group has committed offsets at the end of every partition of `topic`."""
    import asyncio

    from aiokafka import AIOKafkaConsumer, TopicPartition
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await admin.start()
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in range(4)]
        end = await consumer.end_offsets(tps)
        deadline = asyncio.get_running_loop().time() + timeout
        for group in groups:
            while True:
                committed = await admin.list_consumer_group_offsets(group, partitions=tps)
                if all(committed.get(tp) and committed[tp].offset >= end[tp] for tp in tps if end[tp]):
                    break
                if asyncio.get_running_loop().time() > deadline:
                    raise AssertionError(f"group {group} is behind on {topic}: {committed} vs {end}")
                await asyncio.sleep(0.1)
    finally:
        await consumer.stop()
        await admin.close()


@pytest.fixture
async def kafka_backbone(postgres_server, kafka_broker):
    urls = {name: postgres_server.create_database() for name in SERVICE_NAMES}
    async with AsyncExitStack() as stack:
        yield await start_backbone(stack, urls, kafka_broker.bootstrap_servers)
