"""Fuzz results' OpenAPI with schemathesis against a real server: nothing a caller (or a forger of
postal confirmations or download links) can send gets a 5xx."""
import tempfile

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from services.results.api import RESULTS_PERMISSIONS
from services.results.main import create_app
from services.results.settings import ResultsSettings
from shared.pii import Sealer
from tests.infra import free_port
from tests.system.fuzzing import assert_no_server_error, fuzz_server, openapi_of


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    data = tmp_path_factory.mktemp("fuzz")
    app = create_app(ResultsSettings(database_url=f"sqlite+aiosqlite:///{data / 'results.db'}", environment="test",
                                     pii_keys=[Sealer.new_key()], storage_url=f"file:{data / 'files'}",
                                     signing_dir=str(data / "signing"), postal_url=f"http://127.0.0.1:{free_port()}",
                                     log_json=True, log_level="ERROR"), migrate_on_start=True)
    with fuzz_server(app, list(RESULTS_PERMISSIONS)) as running:
        yield running


SCHEMA_SETTINGS = ResultsSettings(database_url="sqlite+aiosqlite:///:memory:", environment="test",
                                  log_json=True, signing_dir=tempfile.mkdtemp())
schema = schemathesis.openapi.from_dict(openapi_of(create_app, SCHEMA_SETTINGS))


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_request_gets_a_server_error(case, server):
    base, key = server
    assert_no_server_error(case, base, key, outside_system_down_is_ok=True)
