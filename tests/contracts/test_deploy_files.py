"""No Docker engine runs here, so the deployment files are checked for structure."""
import importlib
import json
import re
from pathlib import Path

import yaml

from shared.pii import Sealer
from shared.settings import SERVICE_NAMES, ServiceSettings
from tests.infra import kafka_version

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_every_service_is_built_health_checked_configured_and_waits_for_healthy_infrastructure():
    services = COMPOSE["services"]
    databases = set()
    for name in SERVICE_NAMES:
        svc = services[name]
        assert "build" in svc or "image" in svc
        assert svc["command"] == ["serve", name]
        assert "/readyz" in " ".join(svc["healthcheck"]["test"])
        env = svc["environment"]
        assert env["KAFKA_BOOTSTRAP_SERVERS"] == "kafka:9092"
        assert env["SERVICE_NAME"] == name and env["ENVIRONMENT"] == "production"
        databases.add(env["DATABASE_URL"].rsplit("/", 1)[1])
        deps = svc["depends_on"]
        assert deps["kafka"]["condition"] == deps["postgres"]["condition"] == "service_healthy"
        assert deps[f"{name}-migrate"]["condition"] == "service_completed_successfully"
        migrate = services[f"{name}-migrate"]
        assert migrate["command"] == ["migrate", name]
        assert migrate["environment"]["DATABASE_URL"] == env["DATABASE_URL"]
        # what the container would be given must pass the service's own settings validation
        ServiceSettings(service_name=name, environment="production",
                        database_url=env["DATABASE_URL"].replace("${POSTGRES_PASSWORD}", "x"),
                        kafka_bootstrap_servers=env["KAFKA_BOOTSTRAP_SERVERS"],
                        pii_keys=json.loads(env["PII_KEYS"].replace("${PII_KEY:?set PII_KEY}", Sealer.new_key())))
    assert databases == set(SERVICE_NAMES), "a database per service"
    init_sql = (ROOT / "deploy/postgres/init-databases.sql").read_text()
    assert set(re.findall(r"CREATE DATABASE (\w+);", init_sql)) == databases


def test_infrastructure_has_health_checks_and_kafka_matches_the_tested_version():
    services = COMPOSE["services"]
    assert services["kafka"]["image"] == f"apache/kafka:{kafka_version()}"
    assert services["kafka"]["environment"]["KAFKA_PROCESS_ROLES"] == "broker,controller"  # KRaft
    for infra in ("kafka", "postgres"):
        assert services[infra]["healthcheck"]["test"]


def test_gateway_routes_every_service_prefix():
    conf = (ROOT / "deploy/gateway/nginx.conf").read_text()
    for name in SERVICE_NAMES:
        assert f"location /v1/{name}/" in conf and f"proxy_pass http://{name};" in conf
        settings = ServiceSettings(service_name=name, database_url="sqlite+aiosqlite:///:memory:")
        definition = importlib.import_module(f"services.{name}.bootstrap").definition(settings)
        for prefix in definition.path_prefixes:
            assert re.search(rf"location {re.escape(prefix)}\s+{{ proxy_pass http://{name}; }}", conf), prefix


def test_the_image_runs_the_onestop_command():
    dockerfile = (ROOT / "deploy/Dockerfile").read_text()
    assert 'ENTRYPOINT ["onestop"]' in dockerfile and "constraints.txt" in dockerfile
    assert "HEALTHCHECK" in dockerfile and "USER onestop" in dockerfile
