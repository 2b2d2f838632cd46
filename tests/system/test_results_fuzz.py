"""Fuzz results' OpenAPI with schemathesis against a real server: nothing a caller (or a forger of
postal confirmations or download links) can send gets a 5xx."""
import uuid

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from services.results.api import RESULTS_PERMISSIONS
from services.results.main import create_app
from services.results.settings import ResultsSettings
from shared.pii import Sealer
from tests.infra import free_port
from tests.system.fuzzing import fuzz_server


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    data = tmp_path_factory.mktemp("fuzz")
    app = create_app(ResultsSettings(database_url=f"sqlite+aiosqlite:///{data / 'results.db'}", environment="test",
                                     pii_keys=[Sealer.new_key()], storage_url=f"file:{data / 'files'}",
                                     signing_dir=str(data / "signing"), postal_url=f"http://127.0.0.1:{free_port()}",
                                     log_json=True, log_level="ERROR"), migrate_on_start=True)
    with fuzz_server(app, list(RESULTS_PERMISSIONS)) as running:
        yield running


def _openapi() -> dict:
    app = create_app(ResultsSettings(database_url="sqlite+aiosqlite:///:memory:", environment="test", log_json=True,
                                     signing_dir=str(__import__("tempfile").mkdtemp())))
    return app.openapi()


schema = schemathesis.openapi.from_dict(_openapi())


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_request_gets_a_server_error(case, server):
    base, key = server
    response = case.call(base_url=base, headers={"X-API-Key": key, "Idempotency-Key": str(uuid.uuid4())}, timeout=30)
    unavailable = response.status_code == 503 and response.json().get("type", "").endswith("-unavailable")
    assert response.status_code < 500 or unavailable, \
        f"{case.method} {case.formatted_path} -> {response.status_code}: {response.text[:500]}"
