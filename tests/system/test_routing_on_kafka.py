"""Routing on real Kafka and PostgreSQL: the scripted dossiers played through intake's and
payments' events (published on the broker as their relays would) and the tasks API; then every
record of the topic is delivered a second time, and nothing changes."""
from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from services.routing.main import create_app
from services.routing.settings import RoutingSettings
from shared.bus import OutgoingRecord
from shared.events import Envelope, make_event
from shared.events.catalogue import EventData
from tests.integration.harness import JWT_SECRET
from tests.integration.routing.conftest import MONDAY_9, RoutingHarness, play_scripted_dossiers, routing_state
from tests.system.conftest import wait_groups_caught_up
from tests.system.test_backbone_on_kafka import read_topic

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]


@dataclass
class KafkaRoutingHarness(RoutingHarness):
    bootstrap: str = ""

    async def emit(self, data: EventData, source: str) -> Envelope:
        envelope = make_event(data, source_service=source, correlation_id=str(uuid.uuid4()))
        await self.kit.bus.publish([OutgoingRecord(self.settings.lifecycle_topic, envelope.subject,
                                                   envelope.value_bytes(), envelope.to_headers())])
        return envelope

    async def settle(self) -> None:
        """Until routing's outbox is relayed and its group has consumed the whole topic, twice in a row."""
        t = self.kit.tables.outbox
        for _ in range(300):
            async with self.kit.uow() as uow:
                pending = (await uow.conn.execute(select(func.count()).select_from(t)
                                                  .where(t.c.published_at.is_(None)))).scalar_one()
            if pending == 0:
                await wait_groups_caught_up(self.bootstrap, self.settings.lifecycle_topic, ["routing"])
                async with self.kit.uow() as uow:
                    if (await uow.conn.execute(select(func.count()).select_from(t)
                                               .where(t.c.published_at.is_(None)))).scalar_one() == 0:
                        return
            await asyncio.sleep(0.05)
        raise AssertionError("routing did not settle")

    async def events(self, event_type: str | None = None, subject: str | None = None) -> list[dict[str, Any]]:
        found = []
        for record in await read_topic(self.bootstrap, self.settings.lifecycle_topic):
            envelope = Envelope.from_record(tuple((k, v) for k, v in record.headers), record.value)
            if (event_type is None or envelope.type == event_type) and (subject is None or envelope.subject == subject):
                found.append({"type": envelope.type, "subject": envelope.subject, **envelope.data})
        return found


@pytest.fixture
async def kafka_routing(postgres_url, kafka_broker):
    settings = RoutingSettings(database_url=postgres_url, kafka_bootstrap_servers=kafka_broker.bootstrap_servers,
                               lifecycle_topic=f"lifecycle-{uuid.uuid4().hex[:8]}", topic_partitions=4,
                               environment="test", log_json=False, officer_jwt_secret=JWT_SECRET,
                               monitor_interval_s=3600, consumer_backoff_initial_s=0.05)
    app = create_app(settings, migrate_on_start=True)
    async with app.router.lifespan_context(app):
        app.state.routing.now = lambda: MONDAY_9
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://routing") as client:
            yield KafkaRoutingHarness(client, app, None, settings, [MONDAY_9], bootstrap=kafka_broker.bootstrap_servers)


async def test_every_event_delivered_twice_on_kafka_changes_nothing(kafka_routing):
    dossiers = await play_scripted_dossiers(kafka_routing)
    before = await routing_state(kafka_routing)
    assert {row[0] for row in before["instances"]} == set(dossiers)
    decided = await kafka_routing.events("dossier.decided.v1")
    assert sorted(e["outcome"] for e in decided) == ["approved", "refused"]
    records = await read_topic(kafka_routing.bootstrap, kafka_routing.settings.lifecycle_topic)
    await kafka_routing.kit.bus.publish([OutgoingRecord(r.topic, r.key.decode(), r.value, tuple(r.headers))
                                         for r in records])
    await kafka_routing.settle()
    assert await routing_state(kafka_routing) == before
    again = await read_topic(kafka_routing.bootstrap, kafka_routing.settings.lifecycle_topic)
    assert len(again) == 2 * len(records)          # the copies, and not one new event from routing
