"""Fuzz intake's OpenAPI with schemathesis against a real server: nothing a caller can send gets a 5xx.

Intake runs as `onestop serve` would run it (its own thread and event loop, uvicorn, SQLite and its
own in-memory bus), with a partner key that holds every intake permission, so generated requests
reach the handlers instead of stopping at authentication."""
import asyncio
import threading
import uuid

import pytest
import schemathesis
import uvicorn
from hypothesis import HealthCheck, settings

from services.intake.api import INTAKE_PERMISSIONS
from services.intake.main import create_app
from services.intake.settings import IntakeSettings
from shared.auth import ALL_AGENCIES, generate_key, store_key
from shared.pii import Sealer
from tests.infra import free_port


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory):
    data = tmp_path_factory.mktemp("fuzz")
    port = free_port()
    issued = generate_key()
    app = create_app(IntakeSettings(database_url=f"sqlite+aiosqlite:///{data / 'intake.db'}", environment="test",
                                    pii_keys=[Sealer.new_key()], storage_url=f"file:{data / 'files'}", log_json=True,
                                    log_level="ERROR"), migrate_on_start=True)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error", lifespan="off"))

    async def main() -> None:
        async with app.router.lifespan_context(app):
            async with app.state.kit.uow() as uow:
                await store_key(uow, issued, name="fuzzer", agency="000.17.22.H56",
                                scopes=[*INTAKE_PERMISSIONS, ALL_AGENCIES])
                await uow.commit()
            await server.serve()

    thread = threading.Thread(target=lambda: asyncio.run(main()), daemon=True)
    thread.start()
    for _ in range(400):
        if server.started:
            break
        threading.Event().wait(0.05)
    assert server.started, "intake did not start"
    yield f"http://127.0.0.1:{port}", issued.plaintext
    server.should_exit = True
    thread.join(timeout=15)


def _openapi() -> dict:
    """The document the server publishes at /v1/intake/openapi.json (built without starting it)."""
    app = create_app(IntakeSettings(database_url="sqlite+aiosqlite:///:memory:", environment="test", log_json=True))
    return app.openapi()


schema = schemathesis.openapi.from_dict(_openapi())


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_request_gets_a_server_error(case, fuzz_server):
    base, key = fuzz_server
    response = case.call(base_url=base, headers={"X-API-Key": key, "Idempotency-Key": str(uuid.uuid4())}, timeout=20)
    assert response.status_code < 500, f"{case.method} {case.formatted_path} -> {response.status_code}: {response.text[:500]}"
