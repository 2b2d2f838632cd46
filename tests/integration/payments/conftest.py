"""Payments running for real: its app with lifespan (relay, consumer) on a real database and the
in-memory bus, served on a real port so the payment-platform simulator (also a real HTTP server)
can send it confirmations. Intake's and routing's events are put on the bus as they publish them."""
from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from services.payments.main import create_app
from services.payments.settings import PaymentsSettings
from shared.bus.memory import MemoryBus
from shared.events.catalogue import DossierAccepted, FeeLine
from simulators.payment_platform import create_app as payment_platform
from tests.conftest import serving
from tests.infra import free_port
from tests.integration.harness import JWT_SECRET, ServiceHarness

SECRET, OLD_SECRET = "platform-secret-2026", "platform-secret-2025"
POLICE, COMMUNE = "000.00.31.H56", "000.17.22.H56"
ALL = ("payments:read", "payments:pay", "payments:refund", "payments:reconcile")
SECURITY_FEE = FeeLine(code="phi_antt", name="Phí thẩm định điều kiện an ninh, trật tự", kind="phi", amount=300_000,
                       collecting_agency=POLICE)
REGISTRATION_CHARGE = FeeLine(code="le_phi_dang_ky", name="Lệ phí đăng ký hộ kinh doanh", kind="le_phi",
                              amount=100_000, collecting_agency=COMMUNE, refundable_on=["withdrawal", "refusal"])


@dataclass
class PaymentsHarness(ServiceHarness):
    platform_url: str = ""
    platform: httpx.AsyncClient | None = None

    @property
    def ctx(self):
        return self.app.state.payments

    def officer(self, *roles: str, agency: str = COMMUNE) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(agency=agency, roles=roles or ALL)}"}

    async def accept(self, lines: list[FeeLine] | None = None, timing: str = "at_acceptance", **overrides: Any) -> str:
        dossier_id = overrides.pop("dossier_id", None) or str(uuid.uuid4())
        await self.emit(DossierAccepted(
            dossier_id=dossier_id, dossier_code=f"{COMMUNE}-261123-{uuid.uuid4().int % 10000:04d}",
            procedure_code="2.001478", procedure_version="2026.1", channel="online", receiving_agency=COMMUNE,
            competent_agency=POLICE, accepted_at=datetime.now(UTC), due_at=None,
            fee_lines=[SECURITY_FEE, REGISTRATION_CHARGE] if lines is None else lines, payment_timing=timing,
            **overrides), "intake")
        await self.settle()
        return dossier_id

    async def bill(self, dossier_id: str) -> dict[str, Any]:
        response = await self.client.get("/v1/bills", params={"dossier_id": dossier_id}, headers=self.officer())
        assert response.status_code == 200, response.text
        [bill] = response.json()["items"]
        return bill

    async def start(self, bill_id: str, key: str | None = None) -> httpx.Response:
        return await self.client.post(f"/v1/bills/{bill_id}/payments", headers={
            **self.officer(), "Idempotency-Key": key or str(uuid.uuid4())})

    async def payer(self, payment_url: str, outcome: str = "success") -> httpx.Response:
        """The citizen on the platform's page presses a button."""
        txn = payment_url.rsplit("/", 1)[1]
        response = await self.platform.post(f"/pay/{txn}", params={"outcome": outcome})
        assert response.status_code == 303, response.text
        return response

    async def behave(self, **switches: Any) -> None:
        response = await self.platform.post("/_sim/behaviour", json=switches)
        assert response.status_code == 200, response.text

    async def sim_log(self, kind: str | None = None) -> list[dict[str, Any]]:
        entries = (await self.platform.get("/_sim/log")).json()
        return [e for e in entries if kind is None or e["kind"] == kind]

    async def transactions(self) -> list[dict[str, Any]]:
        return (await self.platform.get("/_sim/transactions")).json()

    async def reconcile(self, kind: str = "manual") -> dict[str, Any]:
        response = await self.client.post("/v1/payments/reconciliation", json={"kind": kind}, headers=self.officer())
        assert response.status_code == 201, response.text
        await self.settle()
        return response.json()


@pytest.fixture
async def payments(database_url):
    """Payments on PostgreSQL and on SQLite, served on a real port; the platform simulator too."""
    bus = MemoryBus(4)
    await bus.start()
    async with serving(payment_platform(secret=SECRET)) as platform_url:
        port = free_port()
        settings = PaymentsSettings(
            database_url=database_url, environment="test", topic_partitions=4, log_json=False,
            officer_jwt_secret=JWT_SECRET, public_base_url=f"http://127.0.0.1:{port}", payment_platform_url=platform_url,
            payment_platform_secrets=[SECRET, OLD_SECRET], payment_platform_timeout_s=1,
            reconcile_early_interval_s=3600, reconcile_daily_interval_s=3600, expiry_sweep_interval_s=3600)
        app = create_app(settings, bus=bus, migrate_on_start=True)
        clock: list[datetime | None] = [None]
        async with app.router.lifespan_context(app):
            ctx = app.state.payments
            real_now: Callable[[], datetime] = ctx.now
            ctx.now = lambda: clock[0] or real_now()
            async with serving(app, port=port) as url:
                async with httpx.AsyncClient(base_url=url, timeout=30) as client, \
                        httpx.AsyncClient(base_url=platform_url, timeout=30) as platform:
                    yield PaymentsHarness(client, app, bus, settings, clock, platform_url=platform_url,
                                          platform=platform)
    await bus.stop()
