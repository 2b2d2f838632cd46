"""What every service's integration harness shares: the service app on a real database and the
in-memory bus, officer tokens from the dev SSO secret, waiting for the outbox and the consumers to
settle, putting another service's event on the bus, and reading what was published."""
from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx
from sqlalchemy import func, select

from shared.auth import issue_officer_token
from shared.bus.memory import MemoryBus
from shared.bus.ports import OutgoingRecord
from shared.events.catalogue import EventData, make_event
from shared.events.envelope import Envelope
from shared.settings import ServiceSettings

JWT_SECRET = "test-officer-secret-0123456789abcdef"


@dataclass
class ServiceHarness:
    client: httpx.AsyncClient
    app: Any
    bus: MemoryBus
    settings: ServiceSettings
    clock: list[datetime | None] = field(default_factory=lambda: [None])

    @property
    def kit(self):
        return self.app.state.kit

    def token(self, *, agency: str, roles: tuple[str, ...] | list[str], subject: str = "can-bo-1",
              name: str = "Cán bộ") -> str:
        return issue_officer_token(JWT_SECRET, subject=subject, name=name, agency=agency, roles=list(roles),
                                   issuer=self.settings.officer_jwt_issuer, audience=self.settings.officer_jwt_audience)

    async def settle(self) -> None:
        """Wait until every committed event is relayed and every consumer has handled it."""
        t = self.kit.tables.outbox
        for _ in range(200):
            await self.bus.wait_idle()
            async with self.kit.uow() as uow:
                pending = (await uow.conn.execute(select(func.count()).select_from(t)
                                                  .where(t.c.published_at.is_(None)))).scalar_one()
            if pending == 0:
                await self.bus.wait_idle()
                return
            await asyncio.sleep(0.02)
        raise AssertionError("outbox did not drain")

    async def emit(self, data: EventData, source: str) -> Envelope:
        """Another service's event, on the bus as that service's relay would put it (the contract)."""
        envelope = make_event(data, source_service=source, correlation_id=str(uuid.uuid4()))
        await self.bus.publish([OutgoingRecord(self.settings.lifecycle_topic, envelope.subject, envelope.value_bytes(),
                                               envelope.to_headers())])
        return envelope

    async def events(self, event_type: str | None = None, subject: str | None = None) -> list[dict[str, Any]]:
        found = []
        for record in self.bus.records(self.settings.lifecycle_topic):
            envelope = Envelope.from_record(record.headers, record.value)
            if (event_type is None or envelope.type == event_type) and (subject is None or envelope.subject == subject):
                found.append({"type": envelope.type, "subject": envelope.subject, **envelope.data})
        return found

    async def replay_from_start(self, group: str) -> None:
        for partition in range(self.settings.topic_partitions):
            await self.bus.seek(group, self.settings.lifecycle_topic, partition, 0)
        await self.settle()
