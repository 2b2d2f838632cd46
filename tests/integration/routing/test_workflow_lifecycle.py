"""Each sample workflow from dossier.accepted to dossier.decided through the API, and the moves
between: return, transfer to another agency, parallel consultation, supplement pause/resume,
withdrawal, the fee-first start."""
from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import pytest

from shared.calendar import VIETNAM_TZ
from shared.events.catalogue import DossierDueDateSet, DossierSupplemented, DossierWithdrawn, PaymentSucceeded
from tests.conftest import wait_until
from tests.integration.routing.conftest import COMMUNE, MONDAY_9, POLICE, PROCEDURES, SOCIAL_INSURANCE

PREFERENCE = ("approve", "answer", "consult", "transfer", "forward")   # the way to a decision


async def drive_to_decision(routing, dossier_id: str) -> list[str]:
    """Take the happy path: at each open task, the action that moves toward approval."""
    steps = []
    for _ in range(20):
        open_tasks = await routing.open_tasks(dossier_id)
        if not open_tasks:
            return steps
        task = open_tasks[0]
        detail = (await routing.client.get(f"/v1/tasks/{task['id']}", headers=routing.officer(task["agency"]))).json()
        offered = {a["action"]: a for a in detail["actions"]}
        action = next(a for a in PREFERENCE if a in offered)
        response = await routing.act(task, action, *offered[action]["roles"], comment="Đồng ý")
        assert response.status_code == 200, response.text
        steps.append(f"{task['step']}:{action}")
    raise AssertionError("the workflow did not end")


@pytest.mark.parametrize("procedure", sorted(PROCEDURES))
async def test_every_sample_workflow_runs_from_acceptance_to_decision(routing, procedure):
    workflow_id, agency, timing, clock_starts = PROCEDURES[procedure]
    dossier_id = await routing.accept(procedure)
    if clock_starts == "payment":   # fee first: intake fixes the appointment once paid
        await routing.emit(DossierDueDateSet(dossier_id=dossier_id, clock_started_at=MONDAY_9,
                                             due_at=routing.ctx.calendar.add_working_hours(MONDAY_9, 40)), "intake")
        await routing.settle()
    started = await routing.events("dossier.processing_started.v1", dossier_id)
    assert [e["workflow_id"] for e in started] == [workflow_id]
    steps = await drive_to_decision(routing, dossier_id)
    decided = await routing.events("dossier.decided.v1", dossier_id)
    assert len(decided) == 1 and decided[0]["outcome"] == "approved"
    assert decided[0]["result_template"] == "ket-qua" and decided[0]["payment_timing"] == timing
    process = await routing.process(dossier_id)
    assert process["state"] == "decided" and process["outcome"] == "approved"
    assigned = await routing.events("task.assigned.v1", dossier_id)
    completed = await routing.events("task.completed.v1", dossier_id)
    assert len(assigned) == len(completed) == len(process["tasks"]) >= len(steps)
    # Append-only history: started, one entry per action, in order, with the time left.
    history = await routing.history(dossier_id)
    assert history[0]["action"] == "started"
    assert [h["action"] for h in history[1:]] == [s.split(":")[1] for s in steps]
    assert all(h["remaining_working_hours"] is not None for h in history)


async def test_return_sends_the_dossier_back_to_the_earlier_step_with_a_reason(routing):
    dossier_id = await routing.accept("1.001612")
    [review] = await routing.open_tasks(dossier_id)
    assert (await routing.act(review, "forward", "chuyen-vien")).status_code == 200
    [approval] = await routing.open_tasks(dossier_id)
    missing_reason = await routing.act(approval, "return", "lanh-dao")
    assert missing_reason.status_code == 422 and missing_reason.json()["type"].endswith("reason-required")
    returned = await routing.act(approval, "return", "lanh-dao", reason="Thiếu đối chiếu ngành nghề kinh doanh")
    assert returned.status_code == 200, returned.text
    [again] = await routing.open_tasks(dossier_id)
    assert again["step"] == "tham-dinh" and again["id"] != review["id"]
    history = await routing.history(dossier_id)
    assert history[-1]["action"] == "return" and history[-1]["detail"]["reason"].startswith("Thiếu")


async def test_transfer_to_another_agency_and_back(routing):
    dossier_id = await routing.accept("3.000333")   # judicial record: the centre asks the commune to verify
    [lookup] = await routing.open_tasks(dossier_id)
    response = await routing.act(lookup, "transfer", "chuyen-vien", comment="Đề nghị xác minh nơi cư trú")
    assert response.status_code == 200, response.text
    [verify] = await routing.open_tasks(dossier_id)
    assert verify["agency"] == COMMUNE and verify["step"] == "xac-minh-xa"
    # The centre's officer cannot act on the commune's task.
    foreign = await routing.act(verify, "transfer", headers=routing.officer(lookup["agency"], "chuyen-vien"))
    assert foreign.status_code == 403
    assert (await routing.act(verify, "transfer", "chuyen-vien")).status_code == 200
    transfers = await routing.events("dossier.transferred.v1", dossier_id)
    assert [(t["from_agency"], t["to_agency"]) for t in transfers] == [(lookup["agency"], COMMUNE),
                                                                       (COMMUNE, lookup["agency"])]
    # The commune's desk system sees the task in its own list while it is there, not after.
    listed = await routing.client.get("/v1/tasks", headers=routing.officer(COMMUNE))
    assert all(t["dossier_id"] != dossier_id for t in listed.json()["items"])


async def test_parallel_consultation_waits_for_every_answer(routing):
    dossier_id = await routing.accept("2.000986")
    [civil] = await routing.open_tasks(dossier_id)
    assert (await routing.act(civil, "consult", "chuyen-vien")).status_code == 200
    branches = await routing.open_tasks(dossier_id)
    assert {b["agency"] for b in branches} == {POLICE, SOCIAL_INSURANCE}
    police = next(b for b in branches if b["agency"] == POLICE)
    insurance = next(b for b in branches if b["agency"] == SOCIAL_INSURANCE)
    assert (await routing.act(police, "answer", "chuyen-vien")).status_code == 200
    assert [t["step"] for t in await routing.open_tasks(dossier_id)] == ["bhxh-the-bhyt"]   # still waiting
    assert (await routing.act(insurance, "answer", "chuyen-vien")).status_code == 200
    [join] = await routing.open_tasks(dossier_id)
    assert join["step"] == "tra-ket-qua" and join["agency"] == COMMUNE


async def test_answers_arriving_at_the_same_moment_open_the_join_exactly_once(routing):
    dossier_id = await routing.accept("2.000986")
    [civil] = await routing.open_tasks(dossier_id)
    await routing.act(civil, "consult", "chuyen-vien")
    branches = await routing.open_tasks(dossier_id)
    answers = await asyncio.gather(*(routing.client.post(
        f"/v1/tasks/{b['id']}/actions", json={"action": "answer"},
        headers=routing.officer(b["agency"], "chuyen-vien")) for b in branches))
    await routing.settle()
    assert [a.status_code for a in answers] == [200, 200]
    assert [t["step"] for t in await routing.open_tasks(dossier_id)] == ["tra-ket-qua"]


async def test_supplement_pauses_the_clock_and_the_resume_shifts_every_deadline_exactly(routing):
    monday_17 = datetime(2026, 11, 23, 17, 0, tzinfo=VIETNAM_TZ)
    due = datetime(2026, 11, 27, 17, 0, tzinfo=VIETNAM_TZ)          # Friday 17:00
    dossier_id = await routing.accept("1.013225", due_at=due)
    [review] = await routing.open_tasks(dossier_id)
    step_due = datetime.fromisoformat(review["due_at"])
    assert step_due == routing.ctx.calendar.add_working_hours(MONDAY_9, 56)
    routing.set_time(datetime(2026, 11, 25, 10, 0, tzinfo=VIETNAM_TZ))           # Wednesday 10:00
    paused = await routing.act(review, "request_supplement", "chuyen-vien",
                               missing_items=["Bản vẽ mặt bằng có xác nhận của đơn vị thiết kế"])
    assert paused.status_code == 200, paused.text
    [event] = await routing.events("dossier.paused.v1", dossier_id)
    assert event["reason"] == "supplement" and event["missing_items"] == ["Bản vẽ mặt bằng có xác nhận của đơn vị thiết kế"]
    # While paused nobody can move the dossier on, and the monitor never calls it late.
    blocked = await routing.act(review, "forward", "chuyen-vien")
    assert blocked.status_code == 409 and blocked.json()["type"].endswith("dossier-not-running")
    routing.set_time(datetime(2026, 12, 31, 9, 0, tzinfo=VIETNAM_TZ))
    assert await routing.monitor() == 0
    # The applicant supplies on Thursday 10:00: exactly 8 working hours (one day) of pause.
    await routing.emit(DossierSupplemented(dossier_id=dossier_id, stage="processing",
                                           supplemented_at=datetime(2026, 11, 26, 10, 0, tzinfo=VIETNAM_TZ)), "intake")
    await routing.settle()
    [resumed] = await routing.events("dossier.resumed.v1", dossier_id)
    assert resumed["paused_working_hours"] == 8
    assert datetime.fromisoformat(resumed["due_at"]) == datetime(2026, 11, 30, 17, 0, tzinfo=VIETNAM_TZ)  # Mon
    process = await routing.process(dossier_id)
    assert datetime.fromisoformat(process["due_at"]) == datetime(2026, 11, 30, 17, 0, tzinfo=VIETNAM_TZ)
    assert datetime.fromisoformat(process["original_due_at"]) == due
    [task] = await routing.open_tasks(dossier_id)
    assert datetime.fromisoformat(task["due_at"]) == routing.ctx.calendar.add_working_hours(step_due, 8)
    # A supplement at reception (another stage) does not touch a running workflow.
    before = await routing.process(dossier_id)
    await routing.emit(DossierSupplemented(dossier_id=dossier_id, stage="reception", supplemented_at=monday_17), "intake")
    await routing.settle()
    assert (await routing.process(dossier_id))["version"] == before["version"]


async def test_withdrawal_cancels_open_tasks(routing):
    dossier_id = await routing.accept("2.000986")
    [civil] = await routing.open_tasks(dossier_id)
    await routing.act(civil, "consult", "chuyen-vien")
    await routing.emit(DossierWithdrawn(dossier_id=dossier_id, reason="Công dân rút hồ sơ",
                                        withdrawn_at=MONDAY_9 + timedelta(hours=2)), "intake")
    await routing.settle()
    process = await routing.process(dossier_id)
    assert process["state"] == "withdrawn" and await routing.open_tasks(dossier_id) == []
    cancelled = [e for e in await routing.events("task.completed.v1", dossier_id) if e["action"] == "cancelled"]
    assert len(cancelled) == 2
    late = await routing.act(process["tasks"][1], "answer", "chuyen-vien")
    assert late.status_code == 409


async def test_fee_first_procedures_wait_for_payment(routing):
    # Security certificate: fee before processing, clock from payment -> starts on intake's due date.
    fee_first = await routing.accept("2.001478")
    assert (await routing.process(fee_first))["state"] == "awaiting_payment"
    assert await routing.open_tasks(fee_first) == []
    paid_at = MONDAY_9 + timedelta(hours=3)
    await routing.emit(PaymentSucceeded(dossier_id=fee_first, bill_id="b1", amount=300_000, method="online",
                                        paid_at=paid_at), "payments")
    await routing.settle()
    assert (await routing.process(fee_first))["state"] == "awaiting_payment"   # waits for the appointment
    due = routing.ctx.calendar.add_working_hours(paid_at, 40)
    await routing.emit(DossierDueDateSet(dossier_id=fee_first, clock_started_at=paid_at, due_at=due), "intake")
    await routing.settle()
    process = await routing.process(fee_first)
    assert process["state"] == "running" and datetime.fromisoformat(process["due_at"]) == due
    [task] = await routing.open_tasks(fee_first)
    assert datetime.fromisoformat(task["due_at"]) == routing.ctx.calendar.add_working_hours(paid_at, 24)
    # Paid before processing but the clock ran from acceptance: starts on payment.succeeded itself.
    before_processing = await routing.accept("1.001612", payment_timing="before_processing")
    assert await routing.open_tasks(before_processing) == []
    await routing.emit(PaymentSucceeded(dossier_id=before_processing, bill_id="b2", amount=100_000, method="online",
                                        paid_at=paid_at), "payments")
    await routing.settle()
    assert len(await routing.open_tasks(before_processing)) == 1
    # A fee-first procedure whose applicant is exempt (nothing owed): nothing to wait for.
    exempt = await routing.accept("2.001478", fee_lines=[], clock_starts="acceptance")
    assert len(await routing.open_tasks(exempt)) == 1
    # Nothing to pay before processing: started at once; a later payment changes nothing.
    at_acceptance = await routing.accept("1.001612")
    await routing.emit(PaymentSucceeded(dossier_id=at_acceptance, bill_id="b3", amount=100_000, method="online",
                                        paid_at=paid_at), "payments")
    await routing.settle()
    assert len(await routing.events("dossier.processing_started.v1", at_acceptance)) == 1


async def test_a_dossier_naming_an_unknown_workflow_goes_to_the_dead_letter_topic(routing):
    dossier_id = await routing.accept("1.001612", workflow="khong-co")

    def dead_letters() -> list:
        return [r for r in routing.bus.records(routing.settings.dlq_topic) if r.key == dossier_id]
    await wait_until(lambda: len(dead_letters()) == 1, message="the event dead-lettered")
    response = await routing.client.get(f"/v1/processes/{dossier_id}", headers=routing.officer(COMMUNE, "agency:*"))
    assert response.status_code == 404
