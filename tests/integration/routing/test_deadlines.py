"""The clock's consequences: a warning before a step's deadline, exactly one dossier.overdue per
overdue step and per dossier (also with two monitors at once on PostgreSQL), the one extension
with its apology letter (form 04), and the agency performance report."""
from __future__ import annotations

import asyncio
import io
from datetime import datetime, timedelta

import pytest
from pypdf import PdfReader

from services.routing.handlers import monitor_deadlines
from services.routing.settings import RoutingSettings
from shared.calendar import VIETNAM_TZ
from shared.service import ServiceKit
from tests.integration.routing.conftest import CENTRE, COMMUNE, MONDAY_9, POLICE, PROVINCE_DEPT


async def test_a_warning_before_the_deadline_then_one_overdue_event_per_step_and_dossier(routing):
    # Accepted Monday 09:00; Tuesday is a day off. Due Friday 09:00 (3 working days); the first step
    # has 16 working hours: due Thursday 09:00.
    dossier_id = await routing.accept("1.001612")
    [task] = await routing.open_tasks(dossier_id)
    assert datetime.fromisoformat(task["due_at"]) == datetime(2026, 11, 26, 9, 0, tzinfo=VIETNAM_TZ)
    routing.set_time(datetime(2026, 11, 23, 16, 0, tzinfo=VIETNAM_TZ))
    assert await routing.monitor() == 0                         # 11 working hours left: no warning yet
    routing.set_time(datetime(2026, 11, 26, 8, 0, tzinfo=VIETNAM_TZ))
    assert await routing.monitor() == 1
    [soon] = await routing.events("task.due_soon.v1", dossier_id)
    assert soon["task_id"] == task["id"] and soon["remaining_working_hours"] == 1
    assert await routing.monitor() == 0                         # warned once
    routing.set_time(datetime(2026, 11, 26, 9, 30, tzinfo=VIETNAM_TZ))
    assert await routing.monitor() == 1                         # the step is late; the dossier is not yet
    routing.set_time(datetime(2026, 11, 27, 10, 0, tzinfo=VIETNAM_TZ))
    assert await routing.monitor() == 1                         # now the dossier too
    for _ in range(3):
        assert await routing.monitor() == 0
    overdue = await routing.events("dossier.overdue.v1", dossier_id)
    assert sorted(e["scope"] for e in overdue) == ["dossier", "step"]
    assert all(e["step"] == "tham-dinh" and e["agency"] == COMMUNE for e in overdue)
    # Completing the late step records it as late, for the performance report.
    await routing.act(task, "forward", "chuyen-vien")
    completed = [e for e in await routing.events("task.completed.v1", dossier_id) if e["task_id"] == task["id"]]
    assert completed[0]["on_time"] is False


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)   # SQLite has one writer: nothing to race
async def test_two_monitors_at_once_report_each_overdue_item_exactly_once(routing):
    dossiers = [await routing.accept(p) for p in ("1.001612", "1.001193", "2.000815", "3.000333", "1.013274")]
    # A second replica of routing on the same database, with its own engine and monitor.
    settings = RoutingSettings(**{**routing.settings.model_dump(), "officer_jwt_secret": "x" * 32})
    other = ServiceKit(routing.kit.definition, settings, bus=routing.bus)
    try:
        routing.set_time(datetime(2026, 12, 31, 16, 0, tzinfo=VIETNAM_TZ))
        done = await asyncio.gather(monitor_deadlines(routing.ctx, routing.kit.uow),
                                    monitor_deadlines(routing.ctx, other.uow))
        await routing.settle()
    finally:
        await other.engine.dispose()
    overdue = [e for e in await routing.events("dossier.overdue.v1") if e["subject"] in dossiers]
    assert sum(done) == len(overdue) == 2 * len(dossiers)      # each dossier: its step and itself, once
    assert len({(e["subject"], e["scope"]) for e in overdue}) == len(overdue)


async def test_the_one_extension_with_its_apology_letter(routing):
    dossier_id = await routing.accept("1.013225", due_at=datetime(2026, 12, 4, 17, 0, tzinfo=VIETNAM_TZ))
    leader = routing.officer(PROVINCE_DEPT, "lanh-dao")
    path = f"/v1/processes/{dossier_id}/extension"
    body = {"reason": "Cần lấy ý kiến cơ quan quản lý đê điều về vị trí công trình", "extra_working_days": 5}
    officer = await routing.client.post(path, json=body, headers=routing.officer(PROVINCE_DEPT, "chuyen-vien"))
    assert officer.status_code == 403                           # the unit leader signs form 04
    commune = await routing.client.post(path, json=body, headers=routing.officer(COMMUNE, "lanh-dao"))
    assert commune.status_code == 403                           # ... of the competent agency
    routing.set_time(datetime(2026, 12, 3, 16, 0, tzinfo=VIETNAM_TZ))   # 9 working hours before: in time
    earlier = await routing.client.post(path, json={**body, "extra_working_days": None,
                                                    "new_due_at": "2026-12-01T17:00:00+07:00"}, headers=leader)
    assert earlier.status_code == 422 and earlier.json()["type"].endswith("new-date-not-later")
    extended = await routing.client.post(path, json=body, headers={**leader, "Idempotency-Key": "ext-1"})
    assert extended.status_code == 201, extended.text
    assert datetime.fromisoformat(extended.json()["due_at"]) == datetime(2026, 12, 11, 17, 0, tzinfo=VIETNAM_TZ)
    await routing.settle()
    [event] = await routing.events("dossier.extended.v1", dossier_id)
    assert event["original_due_at"].startswith("2026-12-04T10:00") and event["apology_url"].endswith("/forms/04")
    replay = await routing.client.post(path, json=body, headers={**leader, "Idempotency-Key": "ext-1"})
    assert replay.status_code == 201 and replay.headers["Idempotent-Replayed"] == "true"
    second = await routing.client.post(path, json={**body, "extra_working_days": 2}, headers=leader)
    assert second.status_code == 409 and second.json()["type"].endswith("already-extended")
    assert "một lần" in second.json()["detail_vi"]
    letter = await routing.client.get(f"/v1/processes/{dossier_id}/forms/04", headers=leader)
    assert letter.status_code == 200 and letter.headers["content-type"] == "application/pdf"
    text = " ".join(page.extract_text() for page in PdfReader(io.BytesIO(letter.content)).pages)
    for expected in ("VĂN BẢN XIN LỖI", "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", "đê điều", "11/12/2026", "04/12/2026"):
        assert expected in text, expected
    process = await routing.process(dossier_id)
    assert process["original_due_at"].startswith("2026-12-04") and process["due_at"].startswith("2026-12-11")


async def test_an_extension_later_than_one_working_day_before_the_due_date_is_refused(routing):
    dossier_id = await routing.accept("1.013225", due_at=datetime(2026, 12, 4, 17, 0, tzinfo=VIETNAM_TZ))
    routing.set_time(datetime(2026, 12, 4, 8, 0, tzinfo=VIETNAM_TZ))    # 7 working hours left
    late = await routing.client.post(f"/v1/processes/{dossier_id}/extension", headers=routing.officer(PROVINCE_DEPT, "lanh-dao"),
                                     json={"reason": "Chưa kịp thẩm định", "extra_working_days": 3})
    assert late.status_code == 409 and late.json()["type"].endswith("extension-too-late")
    assert (await routing.process(dossier_id))["extended"] is None
    missing = await routing.client.get(f"/v1/processes/{dossier_id}/forms/04", headers=routing.officer(PROVINCE_DEPT))
    assert missing.status_code == 404


async def test_performance_per_agency_and_the_units_most_often_late(routing):
    on_time = await routing.accept("1.001612")
    late = await routing.accept("3.000333")
    [first] = await routing.open_tasks(on_time)
    await routing.act(first, "forward", "chuyen-vien")            # 5 minutes of work: on time
    routing.set_time(MONDAY_9 + timedelta(days=10))
    [slow] = await routing.open_tasks(late)
    await routing.act(slow, "forward", "chuyen-vien")             # days past its 3-day limit
    [sign] = await routing.open_tasks(late)
    await routing.act(sign, "approve", "lanh-dao")
    params = {"from": "2026-11-01", "to": "2026-12-31"}
    headers = routing.officer(COMMUNE, "performance:read", "agency:*")
    report = (await routing.client.get("/v1/performance", params=params, headers=headers)).json()
    by_agency = {item["agency"]: item for item in report["items"]}
    assert by_agency[COMMUNE]["steps_handled"] == 1 and by_agency[COMMUNE]["steps_on_time"] == 1
    assert by_agency[CENTRE]["steps_handled"] == 2 and by_agency[CENTRE]["steps_late"] == 1
    assert by_agency[CENTRE]["dossiers_decided"] == 1 and by_agency[CENTRE]["dossiers_decided_late"] == 1
    assert by_agency[COMMUNE]["average_working_hours"] == pytest.approx(5 / 60, abs=0.01)
    units = (await routing.client.get("/v1/performance/late-units", params=params, headers=headers)).json()
    assert [(u["agency"], u["late"]) for u in units["items"]] == [(CENTRE, 1)]
    own = await routing.client.get("/v1/performance", params={**params, "agency": POLICE},
                                   headers=routing.officer(COMMUNE, "performance:read"))
    assert own.status_code == 403
    wrong = await routing.client.get("/v1/performance", params={"from": "2026-12-31", "to": "2026-11-01"},
                                     headers=headers)
    assert wrong.status_code == 422
