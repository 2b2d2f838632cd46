"""Payments and routing as separate apps on real Kafka and PostgreSQL: a procedure that collects
the fee before processing waits in routing until the citizen pays on the platform simulator;
the confirmation, confirmed by QUERY, becomes payment.succeeded, and routing starts the workflow."""
from __future__ import annotations

import uuid
from contextlib import AsyncExitStack
from datetime import UTC, datetime

import httpx
import pytest

from services.payments.main import create_app as payments_app
from services.payments.settings import PaymentsSettings
from services.routing.main import create_app as routing_app
from services.routing.settings import RoutingSettings
from shared.auth import issue_officer_token
from shared.bus import OutgoingRecord
from shared.events import make_event
from shared.events.catalogue import DossierAccepted, FeeLine
from simulators.payment_platform import create_app as payment_platform
from tests.conftest import serving, wait_until_async
from tests.infra import free_port
from tests.integration.harness import JWT_SECRET

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]
COMMUNE = "000.17.22.H56"


async def test_payment_succeeded_unblocks_a_fee_first_workflow(postgres_server, kafka_broker):
    topic = f"lifecycle-{uuid.uuid4().hex[:8]}"
    common = dict(kafka_bootstrap_servers=kafka_broker.bootstrap_servers, lifecycle_topic=topic, topic_partitions=4,
                  environment="test", log_json=False, officer_jwt_secret=JWT_SECRET, consumer_backoff_initial_s=0.05)
    async with AsyncExitStack() as stack:
        platform_url = await stack.enter_async_context(serving(payment_platform(secret="s3cret")))
        port = free_port()
        payments = payments_app(PaymentsSettings(
            database_url=postgres_server.create_database(), public_base_url=f"http://127.0.0.1:{port}",
            payment_platform_url=platform_url, payment_platform_secrets=["s3cret"], **common), migrate_on_start=True)
        routing = routing_app(RoutingSettings(database_url=postgres_server.create_database(), **common),
                              migrate_on_start=True)
        for app in (payments, routing):
            await stack.enter_async_context(app.router.lifespan_context(app))
        payments_url = await stack.enter_async_context(serving(payments, port=port))
        http = await stack.enter_async_context(httpx.AsyncClient(timeout=30))
        token = issue_officer_token(JWT_SECRET, subject="desk", name="Cán bộ", agency=COMMUNE,
                                    roles=["payments:read", "payments:pay", "tasks:read", "agency:*"],
                                    issuer=payments.state.kit.settings.officer_jwt_issuer,
                                    audience=payments.state.kit.settings.officer_jwt_audience)
        officer = {"Authorization": f"Bearer {token}"}

        dossier_id = str(uuid.uuid4())
        accepted = make_event(DossierAccepted(
            dossier_id=dossier_id, dossier_code=f"{COMMUNE}-261123-0042", procedure_code="1.001612",
            procedure_version="2026.1", channel="online", receiving_agency=COMMUNE, competent_agency=COMMUNE,
            accepted_at=datetime.now(UTC), due_at=datetime.now(UTC), payment_timing="before_processing",
            workflow="ho-kinh-doanh", fee_lines=[FeeLine(code="le_phi", name="Lệ phí đăng ký hộ kinh doanh",
                                                         kind="le_phi", amount=100_000, collecting_agency=COMMUNE)]),
            source_service="intake", correlation_id="e2e")
        await payments.state.kit.bus.publish([OutgoingRecord(topic, dossier_id, accepted.value_bytes(),
                                                             accepted.to_headers())])
        bills: list = []

        async def bill_open() -> bool:
            answer = await http.get(f"{payments_url}/v1/bills", params={"dossier_id": dossier_id}, headers=officer)
            bills[:] = answer.json()["items"]
            return bool(bills)
        await wait_until_async(bill_open, "the bill")
        routing_client = await stack.enter_async_context(
            httpx.AsyncClient(transport=httpx.ASGITransport(app=routing), base_url="http://routing"))
        held = await routing_client.get(f"/v1/processes/{dossier_id}", headers=officer)
        assert held.json()["state"] == "awaiting_payment" and held.json()["tasks"] == []

        started = await http.post(f"{payments_url}/v1/bills/{bills[0]['id']}/payments",
                                  headers={**officer, "Idempotency-Key": "pay-1"})
        assert started.status_code == 201, started.text
        txn = started.json()["payment_url"].rsplit("/", 1)[1]
        assert (await http.post(f"{platform_url}/pay/{txn}", params={"outcome": "success"})).status_code == 303

        async def running() -> bool:
            answer = await routing_client.get(f"/v1/processes/{dossier_id}", headers=officer)
            return answer.json()["state"] == "running" and len(answer.json()["tasks"]) == 1
        await wait_until_async(running, "routing to start the workflow")

