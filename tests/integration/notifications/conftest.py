"""Notifications running for real on a real database and the in-memory bus, served on a real port
(providers post delivery receipts to it), with every outside system as a real server: two SMS
providers, an SMTP mailbox (aiosmtpd), Zalo OA, the national portal, and a desk system's webhook
receiver that can be told to fail. Other services' events are put on the bus as they publish them."""
from __future__ import annotations

import uuid
from collections.abc import Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from services.notifications import handlers
from services.notifications.main import create_app
from services.notifications.settings import NotificationsSettings, SmsProvider
from shared.bus.memory import MemoryBus
from shared.events.catalogue import ApplicantContact, DossierSubmitted
from shared.pii import Sealer
from simulators import desk as desk_sim
from simulators import portal as portal_sim
from simulators import sms as sms_sim
from simulators import zalo as zalo_sim
from simulators.mailbox import Mailbox
from tests.conftest import serving
from tests.infra import free_port
from tests.integration.harness import JWT_SECRET, ServiceHarness

COMMUNE = "000.17.22.H56"
RECEIPT_SECRET = "receipt-secret-for-tests"
PHONE, EMAIL = "+84912345678", "mai.nguyen@example.vn"


@dataclass
class NotificationsHarness(ServiceHarness):
    sims: dict[str, httpx.AsyncClient] = field(default_factory=dict)
    mailbox: Mailbox | None = None
    receiver: dict[str, Any] = field(default_factory=dict)
    receiver_url: str = ""

    @property
    def ctx(self):
        return self.app.state.notifications

    def officer(self, *roles: str, agency: str = COMMUNE) -> dict[str, str]:
        roles = roles or ("notifications:read", "webhooks:manage", "portal:sync")
        return {"Authorization": f"Bearer {self.token(agency=agency, roles=roles)}"}

    async def submitted(self, *, channels=("sms", "email", "zalo"), non_essential: bool = True, phone: str = PHONE,
                        email: str | None = EMAIL) -> str:
        dossier_id = str(uuid.uuid4())
        await self.emit(DossierSubmitted(
            dossier_id=dossier_id, dossier_code=f"{COMMUNE}-261123-{uuid.uuid4().int % 10000:04d}",
            procedure_code="1.001612", procedure_version="2026.1", procedure_name="Đăng ký thành lập hộ kinh doanh",
            channel="online", receiving_agency=COMMUNE, competent_agency=COMMUNE, submitted_at=datetime.now(UTC),
            contact=ApplicantContact(kind="person", name="Nguyễn Thị Mai", phone=phone, email=email,
                                     channels=list(channels), non_essential=non_essential)), "intake")
        return dossier_id

    async def deliver(self, rounds: int = 3) -> None:
        """Settle the bus, then run the dispatchers (as the periodic tasks would), a few rounds."""
        for _ in range(rounds):
            await self.settle()
            await handlers.dispatch_messages(self.ctx, self.kit.uow)
            await handlers.dispatch_webhooks(self.ctx, self.kit.uow)
            await handlers.dispatch_portal(self.ctx, self.kit.uow)
        await self.settle()

    async def sms_sent(self) -> list[dict[str, Any]]:
        found = []
        for name in ("sms-a", "sms-b"):
            found += [dict(m, provider=name) for m in (await self.sims[name].get("/_sim/messages")).json()]
        return found

    async def zalo_sent(self) -> list[dict[str, Any]]:
        return (await self.sims["zalo"].get("/_sim/messages")).json()

    async def messages(self, dossier_id: str) -> list[dict[str, Any]]:
        response = await self.client.get(f"/v1/notifications/dossiers/{dossier_id}/messages", headers=self.officer())
        assert response.status_code == 200, response.text
        return response.json()["items"]

    def later(self, seconds: float) -> None:
        self.clock[0] = (self.clock[0] or datetime.now(UTC)) + timedelta(seconds=seconds)


@asynccontextmanager
async def running_notifications(database_url: str, bus=None, **overrides: Any):
    """Notifications and every outside system as real servers; `bus` None = Kafka from `overrides`."""
    async with AsyncExitStack() as stack:
        sims = {}
        urls = {}
        for name, app in (("sms-a", sms_sim.create_app("sms-a", receipt_secret=RECEIPT_SECRET)),
                          ("sms-b", sms_sim.create_app("sms-b", receipt_secret=RECEIPT_SECRET)),
                          ("zalo", zalo_sim.create_app()), ("portal", portal_sim.create_app())):
            urls[name] = await stack.enter_async_context(serving(app))
            sims[name] = await stack.enter_async_context(httpx.AsyncClient(base_url=urls[name], timeout=30))
        mailbox = await stack.enter_async_context(Mailbox(port=free_port()))
        receiver_app, receiver = desk_sim.create_app()
        receiver_url = await stack.enter_async_context(serving(receiver_app))
        port = free_port()
        settings = NotificationsSettings(**{
            "database_url": database_url, "environment": "test", "topic_partitions": 4, "log_json": False,
            "officer_jwt_secret": JWT_SECRET, "public_base_url": f"http://127.0.0.1:{port}", "pii_keys": [Sealer.new_key()],
            "sms_providers": [SmsProvider(name="sms-a", url=urls["sms-a"], token="sms-sim-token", weight=70),
                              SmsProvider(name="sms-b", url=urls["sms-b"], token="sms-sim-token", weight=30,
                                          unicode=False)],
            "sms_timeout_s": 0.5, "receipt_secret": RECEIPT_SECRET, "smtp_host": "127.0.0.1", "smtp_port": mailbox.port,
            "zalo_url": urls["zalo"], "portal_url": urls["portal"], "dispatch_interval_s": 3600, "retry_base_s": 30,
            "webhook_allowed_hosts": ["127.0.0.1"], "webhook_require_https": False, "webhook_max_attempts": 5,
            **overrides})
        app = create_app(settings, bus=bus, migrate_on_start=True)
        clock: list[datetime | None] = [None]
        await stack.enter_async_context(app.router.lifespan_context(app))
        ctx = app.state.notifications
        real_now: Callable[[], datetime] = ctx.now
        ctx.now = lambda: clock[0] or real_now()
        url = await stack.enter_async_context(serving(app, port=port))
        client = await stack.enter_async_context(httpx.AsyncClient(base_url=url, timeout=30))
        yield dict(client=client, app=app, bus=bus, settings=settings, clock=clock, sims=sims, mailbox=mailbox,
                   receiver=receiver, receiver_url=receiver_url)


@pytest.fixture
async def notifications(database_url):
    bus = MemoryBus(4)
    await bus.start()
    async with running_notifications(database_url, bus) as parts:
        yield NotificationsHarness(**parts)
    await bus.stop()
