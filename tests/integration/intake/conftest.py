"""Intake running for real: its app with lifespan (relay, consumer, sweeps) on a real database and
the in-memory bus, driven over HTTP; the population database simulator as a real HTTP server."""
from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
import pytest

from services.intake.api import INTAKE_PERMISSIONS
from services.intake.main import create_app
from services.intake.settings import IntakeSettings
from shared.auth import ALL_AGENCIES, generate_key, store_key
from shared.bus.memory import MemoryBus
from shared.pii import Sealer
from simulators.population import create_app as population_simulator
from tests.conftest import serving
from tests.integration.harness import JWT_SECRET, ServiceHarness

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
COMMUNE = "000.17.22.H56"
POLICE = "000.00.31.H56"


@pytest.fixture(scope="session")
async def population_server():
    """The population-database simulator as a real HTTP server on a free port."""
    async with serving(population_simulator(token="sim-token")) as url:
        yield url


@dataclass
class IntakeHarness(ServiceHarness):
    partner_key: str = ""

    @property
    def ctx(self):
        return self.app.state.intake

    def partner(self, **extra: str) -> dict[str, str]:
        return {"X-API-Key": self.partner_key, **extra}

    def officer(self, agency: str = COMMUNE, roles: tuple[str, ...] = ("dossiers:receive", "dossiers:read"),
                subject: str = "can-bo-1", **extra: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(agency=agency, roles=roles, subject=subject)}", **extra}

    async def upload(self, data: bytes = PDF, name: str = "scan.pdf", content_type: str = "application/pdf",
                     headers: dict[str, str] | None = None) -> str:
        response = await self.client.post("/v1/dossiers/uploads", files={"file": (name, data, content_type)},
                                          headers={**(headers or self.partner()), "Idempotency-Key": str(uuid.uuid4())})
        assert response.status_code == 201, response.text
        return response.json()["upload_id"]

    async def with_documents(self, body: dict[str, Any]) -> dict[str, Any]:
        """The body with an upload for every mandatory document of its procedure (as online requires)."""
        procedure = self.ctx.catalogue.procedure(body["procedure_code"])
        documents = [{"code": d.code, "upload_id": await self.upload()} for d in procedure.documents
                     if d.requirement == "mandatory"]
        return {**body, "documents": documents}

    async def submit(self, body: dict[str, Any], headers: dict[str, str] | None = None, key: str | None = None):
        return await self.client.post("/v1/dossiers", json=body,
                                      headers={**(headers or self.partner()), "Idempotency-Key": key or str(uuid.uuid4())})

    async def act(self, dossier_id: str, action: str, body: dict[str, Any], headers: dict[str, str]):
        return await self.client.post(f"/v1/dossiers/{dossier_id}/{action}", json=body, headers=headers)


@pytest.fixture
async def intake(database_url, population_server, tmp_path):
    """Intake on PostgreSQL and on SQLite (the embedded default), via tests/integration/conftest.py."""
    bus = MemoryBus(4)
    await bus.start()
    settings = IntakeSettings(database_url=database_url, environment="test", topic_partitions=4, log_json=False,
                              pii_keys=[Sealer.new_key()], officer_jwt_secret=JWT_SECRET,
                              storage_url=f"file:{tmp_path / 'storage'}", public_base_url="https://dichvucong.example",
                              population_db_url=population_server, population_db_token="sim-token",
                              sweep_interval_s=3600, max_upload_mb=1)
    app = create_app(settings, bus=bus, migrate_on_start=True)
    clock: list[datetime | None] = [None]
    async with app.router.lifespan_context(app):
        ctx = app.state.intake
        real_now: Callable[[], datetime] = ctx.now
        ctx.now = lambda: clock[0] or real_now()   # tests move time for the sweeps
        issued = generate_key()
        async with app.state.kit.uow() as uow:
            await store_key(uow, issued, name="provincial portal", agency="000.00.01.H56",
                            scopes=["dossiers:submit"])
            await uow.commit()
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://intake") as client:
            yield IntakeHarness(client, app, bus, settings, clock, partner_key=issued.plaintext)
    await bus.stop()


async def make_key(harness: IntakeHarness, scopes: list[str], agency: str = COMMUNE) -> str:
    issued = generate_key()
    async with harness.kit.uow() as uow:
        await store_key(uow, issued, name="partner", agency=agency, scopes=scopes)
        await uow.commit()
    return issued.plaintext


ALL_PERMISSIONS = [*INTAKE_PERMISSIONS, ALL_AGENCIES]
