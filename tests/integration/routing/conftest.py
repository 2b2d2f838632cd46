"""Routing running for real: its app with lifespan (relay, consumer) on a real database and the
in-memory bus, driven over HTTP by officers with SSO tokens. Intake's and payments' events are put
on the bus as those services publish them (the event contract); the clock is the test's."""
from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest

from services.routing.main import create_app
from services.routing.settings import RoutingSettings
from shared.bus.memory import MemoryBus
from shared.calendar import VIETNAM_TZ
from shared.events.catalogue import DossierAccepted, FeeLine
from tests.integration.harness import JWT_SECRET, ServiceHarness

COMMUNE = "000.17.22.H56"
POLICE = "000.00.31.H56"
PROVINCE_DEPT = "000.00.20.H56"
SOCIAL_INSURANCE = "000.00.40.H56"
CENTRE = "000.00.01.H56"
READ_ACT = ("tasks:read", "tasks:act")
FEE = FeeLine(code="phi", name="Phí thẩm định", kind="phi", amount=300_000, collecting_agency=POLICE)
# Monday 23/11/2026, 09:00 Vietnam time. Tuesday 24/11 is Vietnam Culture Day (a day off since 2026).
MONDAY_9 = datetime(2026, 11, 23, 9, 0, tzinfo=VIETNAM_TZ)

# procedure code -> (workflow, competent agency, payment timing, clock starts)
PROCEDURES: dict[str, tuple[str, str, str, str]] = {
    "1.001193": ("khai-sinh", COMMUNE, "at_acceptance", "acceptance"),
    "2.000986": ("lien-thong-khai-sinh", COMMUNE, "none", "acceptance"),
    "1.001612": ("ho-kinh-doanh", COMMUNE, "at_acceptance", "acceptance"),
    "2.001478": ("an-ninh-trat-tu", POLICE, "before_processing", "payment"),
    "1.013225": ("giay-phep-xay-dung", PROVINCE_DEPT, "at_acceptance", "acceptance"),
    "1.013274": ("via-he", COMMUNE, "on_result", "acceptance"),
    "3.000333": ("ly-lich-tu-phap", CENTRE, "at_acceptance", "acceptance"),
    "2.000815": ("chung-thuc", COMMUNE, "at_acceptance", "acceptance"),
    "1.004122": ("khoan-nuoc", CENTRE, "at_acceptance", "acceptance"),
}


@dataclass
class RoutingHarness(ServiceHarness):
    @property
    def ctx(self):
        return self.app.state.routing

    def set_time(self, moment: datetime | None) -> None:
        self.clock[0] = moment

    def officer(self, agency: str, *roles: str, subject: str = "can-bo-1") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(agency=agency, roles=(*READ_ACT, *roles), subject=subject)}"}

    async def accept(self, procedure_code: str = "1.001612", *, accepted_at: datetime = MONDAY_9,
                     due_at: datetime | None = None, dossier_id: str | None = None, **overrides: Any) -> str:
        """Intake's dossier.accepted for a catalogued procedure, as intake publishes it."""
        workflow, agency, timing, clock_starts = PROCEDURES[procedure_code]
        dossier_id = dossier_id or str(uuid.uuid4())
        due = due_at if due_at is not None else self.ctx.calendar.add_working_hours(accepted_at, 3 * 8)
        fields = dict(dossier_id=dossier_id, dossier_code=f"{COMMUNE}-261123-{uuid.uuid4().int % 10000:04d}",
                      procedure_code=procedure_code, procedure_version="2026.1", channel="online",
                      receiving_agency=COMMUNE, competent_agency=agency, competent_agency_name="UBND xã Vĩnh Hòa",
                      accepted_at=accepted_at, due_at=None if clock_starts == "payment" else due,
                      payment_timing=timing, clock_starts=clock_starts, workflow=workflow,
                      result_template="ket-qua", fee_lines=[] if timing == "none" else [FEE])
        await self.emit(DossierAccepted(**{**fields, **overrides}), "intake")
        await self.settle()
        return dossier_id

    async def process(self, dossier_id: str) -> dict[str, Any]:
        response = await self.client.get(f"/v1/processes/{dossier_id}", headers=self.officer(COMMUNE, "agency:*"))
        assert response.status_code == 200, response.text
        return response.json()

    async def open_tasks(self, dossier_id: str) -> list[dict[str, Any]]:
        return [t for t in (await self.process(dossier_id))["tasks"] if t["state"] in ("open", "claimed")]

    async def act(self, task: dict[str, Any], action: str, *roles: str, headers: dict[str, str] | None = None,
                  **body: Any) -> httpx.Response:
        headers = headers or self.officer(task["agency"], *(roles or ("chuyen-vien", "lanh-dao")))
        response = await self.client.post(f"/v1/tasks/{task['id']}/actions", json={"action": action, **body},
                                          headers=headers)
        await self.settle()
        return response

    async def history(self, dossier_id: str) -> list[dict[str, Any]]:
        response = await self.client.get(f"/v1/processes/{dossier_id}/history", headers=self.officer(COMMUNE, "agency:*"))
        assert response.status_code == 200, response.text
        return response.json()["items"]

    async def monitor(self) -> int:
        from services.routing.handlers import monitor_deadlines
        done = await monitor_deadlines(self.ctx, self.kit.uow)
        await self.settle()
        return done


@pytest.fixture
async def routing(database_url, tmp_path):
    """Routing on PostgreSQL and on SQLite (the embedded default), via tests/integration/conftest.py."""
    bus = MemoryBus(4)
    await bus.start()
    settings = RoutingSettings(database_url=database_url, environment="test", topic_partitions=4, log_json=False,
                               officer_jwt_secret=JWT_SECRET, public_base_url="https://dichvucong.example",
                               monitor_interval_s=3600, consumer_max_attempts=2,
                               consumer_backoff_initial_s=0.05)
    app = create_app(settings, bus=bus, migrate_on_start=True)
    clock: list[datetime | None] = [None]
    async with app.router.lifespan_context(app):
        ctx = app.state.routing
        real_now: Callable[[], datetime] = ctx.now
        ctx.now = lambda: clock[0] or real_now()   # tests move time for deadlines
        clock[0] = MONDAY_9 + timedelta(minutes=5)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://routing") as client:
            yield RoutingHarness(client, app, bus, settings, clock)
    await bus.stop()


# --- replays: the same scripted dossiers on the memory bus and on real Kafka -----------------------
async def play_scripted_dossiers(routing: RoutingHarness) -> list[str]:
    """Dossiers that between them use every consumed event type and most actions."""
    from shared.events.catalogue import DossierDueDateSet, DossierSupplemented, DossierWithdrawn, PaymentSucceeded
    at = MONDAY_9 + timedelta(hours=1)
    consulted = await routing.accept("2.000986")
    [civil] = await routing.open_tasks(consulted)
    await routing.act(civil, "consult", "chuyen-vien")
    for branch in await routing.open_tasks(consulted):
        await routing.act(branch, "answer", "chuyen-vien")
    [join] = await routing.open_tasks(consulted)
    await routing.act(join, "approve", "lanh-dao")
    supplemented = await routing.accept("1.013225")
    [review] = await routing.open_tasks(supplemented)
    await routing.act(review, "request_supplement", "chuyen-vien", missing_items=["Bản vẽ thiết kế"])
    await routing.emit(DossierSupplemented(dossier_id=supplemented, stage="processing",
                                           supplemented_at=at + timedelta(days=2)), "intake")
    await routing.settle()
    [review] = await routing.open_tasks(supplemented)
    await routing.act(review, "forward", "chuyen-vien")
    [sign] = await routing.open_tasks(supplemented)
    await routing.act(sign, "refuse", "lanh-dao", reason="Không phù hợp quy hoạch")
    transferred = await routing.accept("3.000333")
    [lookup] = await routing.open_tasks(transferred)
    await routing.act(lookup, "transfer", "chuyen-vien")
    withdrawn = await routing.accept("1.001612")
    await routing.emit(DossierWithdrawn(dossier_id=withdrawn, withdrawn_at=at), "intake")
    fee_first = await routing.accept("2.001478")
    await routing.emit(PaymentSucceeded(dossier_id=fee_first, bill_id="b", amount=300_000, method="online",
                                        paid_at=at), "payments")
    await routing.emit(DossierDueDateSet(dossier_id=fee_first, clock_started_at=at,
                                         due_at=routing.ctx.calendar.add_working_hours(at, 40)), "intake")
    await routing.settle()
    return [consulted, supplemented, transferred, withdrawn, fee_first]


async def routing_state(routing: RoutingHarness) -> dict[str, list]:
    """Every row of routing's business tables, as they are."""
    from sqlalchemy import select

    from services.routing.models import history, instances, tasks
    state = {}
    async with routing.kit.uow() as uow:
        for table, order in ((instances, instances.c.dossier_id), (tasks, tasks.c.id), (history, history.c.id)):
            state[table.name] = [tuple(row) for row in (await uow.conn.execute(select(table).order_by(order))).all()]
    return state
