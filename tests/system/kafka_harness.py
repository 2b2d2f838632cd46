"""A service harness whose bus is real Kafka: other services' events are produced to the broker,
'settled' means the service's outbox is relayed and its group has consumed the whole topic, and
the published events are read back from the topic."""
from __future__ import annotations

import asyncio
import uuid
from typing import Any

from sqlalchemy import func, select

from shared.bus import OutgoingRecord
from shared.events import Envelope, make_event
from shared.events.catalogue import EventData
from tests.system.conftest import wait_groups_caught_up


async def read_topic(bootstrap: str, topic: str) -> list:
    from aiokafka import AIOKafkaConsumer
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                                enable_auto_commit=False, group_id=None)
    await consumer.start()
    try:
        out = []
        while batch := await consumer.getmany(timeout_ms=1500):
            for msgs in batch.values():
                out.extend(msgs)
        return out
    finally:
        await consumer.stop()


class OnKafka:
    """Mix into a ServiceHarness (fields: app, settings; plus `bootstrap`)."""
    bootstrap: str

    async def emit(self, data: EventData, source: str) -> Envelope:
        envelope = make_event(data, source_service=source, correlation_id=str(uuid.uuid4()))
        await self.kit.bus.publish([OutgoingRecord(self.settings.lifecycle_topic, envelope.subject,
                                                   envelope.value_bytes(), envelope.to_headers())])
        return envelope

    async def settle(self) -> None:
        t = self.kit.tables.outbox
        for _ in range(300):
            async with self.kit.uow() as uow:
                pending = (await uow.conn.execute(select(func.count()).select_from(t)
                                                  .where(t.c.published_at.is_(None)))).scalar_one()
            if pending == 0:
                await wait_groups_caught_up(self.bootstrap, self.settings.lifecycle_topic,
                                            [self.settings.consumer_group])
                async with self.kit.uow() as uow:
                    if (await uow.conn.execute(select(func.count()).select_from(t)
                                               .where(t.c.published_at.is_(None)))).scalar_one() == 0:
                        return
            await asyncio.sleep(0.05)
        raise AssertionError(f"{self.settings.service_name} did not settle")

    async def events(self, event_type: str | None = None, subject: str | None = None) -> list[dict[str, Any]]:
        found = []
        for record in await read_topic(self.bootstrap, self.settings.lifecycle_topic):
            envelope = Envelope.from_record(tuple((k, v) for k, v in record.headers), record.value)
            if (event_type is None or envelope.type == event_type) and (subject is None or envelope.subject == subject):
                found.append({"type": envelope.type, "subject": envelope.subject, **envelope.data})
        return found

    async def deliver_every_record_again(self) -> int:
        records = await read_topic(self.bootstrap, self.settings.lifecycle_topic)
        await self.kit.bus.publish([OutgoingRecord(r.topic, r.key.decode(), r.value, tuple(r.headers))
                                    for r in records])
        return len(records)
