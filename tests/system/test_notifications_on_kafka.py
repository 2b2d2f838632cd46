"""Notifications on real Kafka and PostgreSQL: a whole dossier lifecycle, as intake, payments,
routing and results publish it, becomes exactly the expected messages - in the SMTP mailbox, the
SMS and Zalo simulators, the desk system's webhook receiver and the portal - once each, in
Vietnamese; then every record on the topic is delivered a second time and nothing more is sent."""
from __future__ import annotations

import uuid
from dataclasses import dataclass

import pytest

from services.notifications import handlers
from tests.integration.notifications.conftest import EMAIL, PHONE, NotificationsHarness, running_notifications
from tests.integration.notifications.test_messages import SUBJECTS, lifecycle
from tests.system.kafka_harness import OnKafka

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]


@dataclass
class KafkaNotificationsHarness(OnKafka, NotificationsHarness):
    bootstrap: str = ""


async def test_a_lifecycle_on_kafka_sends_each_message_once_even_when_everything_is_delivered_twice(
        postgres_url, kafka_broker):
    async with running_notifications(postgres_url, None, kafka_bootstrap_servers=kafka_broker.bootstrap_servers,
                                     lifecycle_topic=f"lifecycle-{uuid.uuid4().hex[:8]}") as parts:
        harness = KafkaNotificationsHarness(**parts, bootstrap=kafka_broker.bootstrap_servers)
        subscribed = await harness.client.post("/v1/notifications/subscriptions", json={
            "url": f"{harness.receiver_url}/hooks", "event_types": ["*"]},
            headers={**harness.officer(), "Idempotency-Key": "sub-1"})
        assert subscribed.status_code == 201, subscribed.text
        dossier_id = await harness.submitted()
        await lifecycle(harness, dossier_id)
        await harness.settle()
        await harness.deliver_every_record_again()
        await harness.deliver()
        for _ in range(2):   # what a later dispatcher pass would find: nothing
            await handlers.dispatch_messages(harness.ctx, harness.kit.uow)

        mails = harness.mailbox.messages
        assert len(mails) == len(SUBJECTS) and all(m["to"] == [EMAIL] for m in mails)
        for phrase in SUBJECTS.values():
            assert sum(phrase in m["subject"] for m in mails) == 1, phrase
        assert len([m for m in await harness.sms_sent() if m["to"] == PHONE]) == len(SUBJECTS)
        assert len(await harness.zalo_sent()) == len(SUBJECTS)
        lifecycle_events = 1 + 8   # submitted + the lifecycle's eight
        assert len({r["headers"]["x-onestop-event-id"] for r in harness.receiver["requests"]}) == lifecycle_events
        assert len(harness.receiver["requests"]) == lifecycle_events
        portal = (await harness.sims["portal"].get("/_sim/dossiers")).json()
        [record] = portal.values()
        assert record["TrangThaiHoSo"] == 10 and len(record["history"]) == lifecycle_events
