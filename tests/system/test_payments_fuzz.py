"""Fuzz payments' OpenAPI with schemathesis against a real server: nothing a caller (or a forger
posting to the confirmation endpoint) can send gets a 5xx. The platform is unreachable here, so
the only 5xx allowed is the 503 problem that says so."""

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from services.payments.api import PAYMENTS_PERMISSIONS
from services.payments.main import create_app
from services.payments.settings import PaymentsSettings
from tests.infra import free_port
from tests.system.fuzzing import assert_no_server_error, fuzz_server, openapi_of


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    data = tmp_path_factory.mktemp("fuzz")
    app = create_app(PaymentsSettings(database_url=f"sqlite+aiosqlite:///{data / 'payments.db'}", environment="test",
                                      payment_platform_url=f"http://127.0.0.1:{free_port()}",   # nobody listens
                                      payment_platform_timeout_s=0.5, log_json=True, log_level="ERROR"),
                     migrate_on_start=True)
    with fuzz_server(app, list(PAYMENTS_PERMISSIONS)) as running:
        yield running


SCHEMA_SETTINGS = PaymentsSettings(database_url="sqlite+aiosqlite:///:memory:", environment="test",
                                   log_json=True)
schema = schemathesis.openapi.from_dict(openapi_of(create_app, SCHEMA_SETTINGS))


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_request_gets_a_server_error(case, server):
    base, key = server
    assert_no_server_error(case, base, key, outside_system_down_is_ok=True)
