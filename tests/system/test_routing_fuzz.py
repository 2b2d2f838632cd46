"""Fuzz routing's OpenAPI with schemathesis against a real server: nothing a caller can send gets a 5xx."""

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from services.routing.api import ROUTING_PERMISSIONS
from services.routing.main import create_app
from services.routing.settings import RoutingSettings
from tests.system.fuzzing import assert_no_server_error, fuzz_server, openapi_of


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    data = tmp_path_factory.mktemp("fuzz")
    app = create_app(RoutingSettings(database_url=f"sqlite+aiosqlite:///{data / 'routing.db'}", environment="test",
                                     log_json=True, log_level="ERROR"), migrate_on_start=True)
    with fuzz_server(app, [*ROUTING_PERMISSIONS, "chuyen-vien", "lanh-dao"]) as running:
        yield running


SCHEMA_SETTINGS = RoutingSettings(database_url="sqlite+aiosqlite:///:memory:", environment="test",
                                  log_json=True)
schema = schemathesis.openapi.from_dict(openapi_of(create_app, SCHEMA_SETTINGS))


@schema.parametrize()
@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_request_gets_a_server_error(case, server):
    base, key = server
    assert_no_server_error(case, base, key)
