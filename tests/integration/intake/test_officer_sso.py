"""Officers signed in at the provincial SSO: tokens verified against the SSO's published keys
(JWKS, from the SSO simulator running as a real HTTP server), across a key rotation."""
import uuid

import httpx
import pytest

from services.intake.main import create_app
from services.intake.settings import IntakeSettings
from shared.bus.memory import MemoryBus
from shared.pii import Sealer
from simulators.sso import create_app as sso_simulator
from tests.conftest import serving
from tests.infra import free_port
from tests.integration.intake.conftest import COMMUNE
from tests.integration.intake.samples import household_business

ISSUER = "http://sso.example/realms/tinh"
DESK = ["dossiers:submit", "dossiers:receive", "dossiers:read"]


@pytest.fixture
async def sso():
    async with serving(sso_simulator(issuer=ISSUER)) as url:
        yield url


async def intake_client(tmp_path, jwks_url: str):
    bus = MemoryBus(2)
    await bus.start()
    app = create_app(IntakeSettings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'intake.db'}", environment="test",
                                    pii_keys=[Sealer.new_key()], storage_url=f"file:{tmp_path / 'files'}",
                                    officer_jwks_url=jwks_url, officer_jwt_issuer=ISSUER, log_json=False,
                                    officer_jwks_refresh_cooldown_s=0),
                     bus=bus, migrate_on_start=True)
    return app, bus


async def token(sso: str, **claims) -> str:
    async with httpx.AsyncClient(base_url=sso) as client:
        response = await client.post("/_sim/token", json={"sub": "can-bo-7", "name": "Lê Văn Tâm", "agency": COMMUNE,
                                                           "roles": DESK, **claims})
        return response.json()["id_token"]


async def test_sso_tokens_across_a_key_rotation(sso, tmp_path):
    app, bus = await intake_client(tmp_path, f"{sso}/jwks.json")
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://intake") as client:
            async def submit(bearer: str) -> httpx.Response:
                return await client.post("/v1/dossiers", json=household_business("desk"), headers={
                    "Authorization": f"Bearer {bearer}", "Idempotency-Key": str(uuid.uuid4())})

            before = await token(sso)
            created = await submit(before)
            assert created.status_code == 201, created.text
            accepted = await client.post(f"/v1/dossiers/{created.json()['id']}/accept", json={},
                                         headers={"Authorization": f"Bearer {before}"})
            assert accepted.status_code == 200
            history = (await client.get(f"/v1/dossiers/{created.json()['id']}",
                                        headers={"Authorization": f"Bearer {before}"})).json()["history"]
            assert [h["actor"] for h in history] == ["officer:can-bo-7", "officer:can-bo-7"]

            async with httpx.AsyncClient(base_url=sso) as sim:
                await sim.post("/_sim/rotate")
            assert (await submit(await token(sso))).status_code == 201   # new kid: the key set is refetched
            assert (await submit(before)).status_code == 201              # old key still published (overlap)

            other_sso = sso_simulator(issuer=ISSUER)   # same issuer name, different keys: a forgery
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=other_sso), base_url="http://x") as fake:
                forged = (await fake.post("/_sim/token", json={"sub": "x", "name": "x", "agency": COMMUNE,
                                                               "roles": DESK})).json()["id_token"]
            assert (await submit(forged)).status_code == 401
            no_roles = await token(sso, roles=["dossiers:read"])
            assert (await submit(no_roles)).status_code == 403
    await bus.stop()


async def test_an_unreachable_sso_is_a_503_not_a_500(sso, tmp_path):
    bearer = await token(sso)
    app, bus = await intake_client(tmp_path, f"http://127.0.0.1:{free_port()}/jwks.json")
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://intake") as client:
            response = await client.post("/v1/dossiers", json=household_business("desk"), headers={
                "Authorization": f"Bearer {bearer}", "Idempotency-Key": "k"})
    await bus.stop()
    assert response.status_code == 503 and response.json()["type"].endswith("sso-unavailable")
