"""Fuzz notifications' OpenAPI with schemathesis against a real server: nothing a caller (or a
forger posting delivery receipts) can send gets a 5xx."""

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from services.notifications.api import NOTIFICATIONS_PERMISSIONS
from services.notifications.main import create_app
from services.notifications.settings import NotificationsSettings
from shared.pii import Sealer
from tests.system.fuzzing import assert_no_server_error, fuzz_server, openapi_of


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    data = tmp_path_factory.mktemp("fuzz")
    app = create_app(NotificationsSettings(database_url=f"sqlite+aiosqlite:///{data / 'notifications.db'}",
                                           environment="test", pii_keys=[Sealer.new_key()], log_json=True,
                                           log_level="ERROR", dispatch_interval_s=3600), migrate_on_start=True)
    with fuzz_server(app, list(NOTIFICATIONS_PERMISSIONS)) as running:
        yield running


SCHEMA_SETTINGS = NotificationsSettings(database_url="sqlite+aiosqlite:///:memory:", environment="test",
                                        log_json=True)
schema = schemathesis.openapi.from_dict(openapi_of(create_app, SCHEMA_SETTINGS))


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_request_gets_a_server_error(case, server):
    base, key = server
    assert_no_server_error(case, base, key)
