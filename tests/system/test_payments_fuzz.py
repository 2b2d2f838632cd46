"""Fuzz payments' OpenAPI with schemathesis against a real server: nothing a caller (or a forger
posting to the confirmation endpoint) can send gets a 5xx. The platform is unreachable here, so
the only 5xx allowed is the 503 problem that says so."""
import uuid

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from services.payments.api import PAYMENTS_PERMISSIONS
from services.payments.main import create_app
from services.payments.settings import PaymentsSettings
from tests.infra import free_port
from tests.system.fuzzing import fuzz_server


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    data = tmp_path_factory.mktemp("fuzz")
    app = create_app(PaymentsSettings(database_url=f"sqlite+aiosqlite:///{data / 'payments.db'}", environment="test",
                                      payment_platform_url=f"http://127.0.0.1:{free_port()}",   # nobody listens
                                      payment_platform_timeout_s=0.5, log_json=True, log_level="ERROR"),
                     migrate_on_start=True)
    with fuzz_server(app, list(PAYMENTS_PERMISSIONS)) as running:
        yield running


def _openapi() -> dict:
    app = create_app(PaymentsSettings(database_url="sqlite+aiosqlite:///:memory:", environment="test", log_json=True))
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
