"""Results running for real on a real database and the in-memory bus, served on a real port (the
postal simulator posts delivery confirmations to it), signing with a freshly generated test CA.
Intake's, routing's and payments' events are put on the bus as they publish them."""
from __future__ import annotations

import uuid
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from services.results.main import create_app
from services.results.settings import ResultsSettings
from shared.bus.memory import MemoryBus
from shared.events.catalogue import ApplicantContact, DossierAccepted, DossierDecided, DossierSubmitted
from shared.pii import Sealer
from simulators import postal as postal_sim
from tests.conftest import serving
from tests.infra import free_port
from tests.integration.harness import JWT_SECRET, ServiceHarness

COMMUNE = "000.17.22.H56"
POLICE = "000.00.31.H56"
CITIZEN_ID = "079203001234"
POSTAL_SECRET = "postal-secret-for-tests"


@dataclass
class ResultsHarness(ServiceHarness):
    postal: httpx.AsyncClient | None = None
    pii_key: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ctx(self):
        return self.app.state.results

    def officer(self, *roles: str, agency: str = COMMUNE) -> dict[str, str]:
        roles = roles or ("results:read", "results:return", "results:revoke", "results:digitise")
        return {"Authorization": f"Bearer {self.token(agency=agency, roles=roles)}"}

    async def decided(self, outcome: str = "approved", *, payment_timing: str = "at_acceptance",
                      reason: str | None = None, citizen_id: str = CITIZEN_ID) -> str:
        """A dossier's life as results sees it: submitted, accepted, decided."""
        dossier_id = str(uuid.uuid4())
        code = f"{COMMUNE}-261123-{uuid.uuid4().int % 10000:04d}"
        now = datetime.now(UTC)
        ref = Sealer([self.pii_key]).lookup_hash("applicant", citizen_id)   # what intake puts in the event
        await self.emit(DossierSubmitted(
            dossier_id=dossier_id, dossier_code=code, procedure_code="1.001612", procedure_version="2026.1",
            procedure_name="Đăng ký thành lập hộ kinh doanh", channel="online", receiving_agency=COMMUNE,
            competent_agency=COMMUNE, submitted_at=now, applicant_ref=ref,
            contact=ApplicantContact(kind="person", name="Nguyễn Thị Mai", phone="+84912345678")), "intake")
        await self.emit(DossierAccepted(
            dossier_id=dossier_id, dossier_code=code, procedure_code="1.001612", procedure_version="2026.1",
            channel="online", receiving_agency=COMMUNE, competent_agency=COMMUNE, competent_agency_name="UBND xã Vĩnh Hòa",
            procedure_name="Đăng ký thành lập hộ kinh doanh", accepted_at=now, due_at=None,
            payment_timing=payment_timing), "intake")
        await self.emit(DossierDecided(
            dossier_id=dossier_id, outcome=outcome, decided_by_agency=COMMUNE, decided_at=now, reason=reason,
            result_template="giay-chung-nhan-ho-kinh-doanh", payment_timing=payment_timing), "routing")
        await self.settle()
        return dossier_id

    async def results_of(self, dossier_id: str) -> list[dict[str, Any]]:
        response = await self.client.get("/v1/results", params={"dossier_id": dossier_id}, headers=self.officer())
        assert response.status_code == 200, response.text
        return response.json()["items"]

    async def pdf(self, result: dict[str, Any]) -> bytes:
        link = await self.client.post(f"/v1/results/{result['id']}/download-links", json={"citizen_id": CITIZEN_ID})
        assert link.status_code == 201, link.text
        response = await self.client.get(link.json()["url"].removeprefix(self.settings.public_base_url))
        assert response.status_code == 200, response.text
        return response.content


@asynccontextmanager
async def running_results(database_url: str, tmp_path, bus=None, **overrides: Any):
    async with AsyncExitStack() as stack:
        postal_url = await stack.enter_async_context(serving(postal_sim.create_app(confirmation_secret=POSTAL_SECRET)))
        port = free_port()
        pii_key = Sealer.new_key()
        settings = ResultsSettings(**{
            "database_url": database_url, "environment": "test", "topic_partitions": 4, "log_json": False,
            "officer_jwt_secret": JWT_SECRET, "public_base_url": f"http://127.0.0.1:{port}", "pii_keys": [pii_key],
            "storage_url": f"file:{tmp_path / 'storage'}", "signing_dir": str(tmp_path / "signing"),
            "postal_url": postal_url, "postal_confirmation_secret": POSTAL_SECRET, **overrides})
        app = create_app(settings, bus=bus, migrate_on_start=True)
        await stack.enter_async_context(app.router.lifespan_context(app))
        url = await stack.enter_async_context(serving(app, port=port))
        client = await stack.enter_async_context(httpx.AsyncClient(base_url=url, timeout=30))
        postal = await stack.enter_async_context(httpx.AsyncClient(base_url=postal_url, timeout=30))
        yield dict(client=client, app=app, bus=bus, settings=settings, postal=postal, pii_key=pii_key)


@pytest.fixture
async def results(database_url, tmp_path):
    bus = MemoryBus(4)
    await bus.start()
    async with running_results(database_url, tmp_path, bus) as parts:
        yield ResultsHarness(**parts)
    await bus.stop()
