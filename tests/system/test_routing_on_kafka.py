"""Routing on real Kafka and PostgreSQL: the scripted dossiers played through intake's and
payments' events (published on the broker as their relays would) and the tasks API; then every
record of the topic is delivered a second time, and nothing changes."""
from __future__ import annotations

import uuid
from dataclasses import dataclass

import httpx
import pytest

from services.routing.main import create_app
from services.routing.settings import RoutingSettings
from tests.integration.harness import JWT_SECRET
from tests.integration.routing.conftest import MONDAY_9, RoutingHarness, play_scripted_dossiers, routing_state
from tests.system.kafka_harness import OnKafka, read_topic

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]


@dataclass
class KafkaRoutingHarness(OnKafka, RoutingHarness):
    bootstrap: str = ""


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
    delivered = await kafka_routing.deliver_every_record_again()
    await kafka_routing.settle()
    assert await routing_state(kafka_routing) == before
    again = await read_topic(kafka_routing.bootstrap, kafka_routing.settings.lifecycle_topic)
    assert len(again) == 2 * delivered             # the copies, and not one new event from routing
