"""Routing's pure rules: what each action plans, who may take it, and the clock's arithmetic."""
from __future__ import annotations

from datetime import datetime

import pytest

from services.routing.domain import (ExtensionFacts, RoutingRuleError, check_extension, paused_hours, plan_action,
                                     shift_deadline, step_roles)
from services.routing.workflow import load_workflows
from shared.calendar import VIETNAM_TZ, WorkingCalendar

WORKFLOWS = load_workflows()
CALENDAR = WorkingCalendar()
CLERK, LEADER = frozenset({"chuyen-vien"}), frozenset({"lanh-dao"})


def vn(*args: int) -> datetime:
    return datetime(*args, tzinfo=VIETNAM_TZ)


def test_each_action_plans_its_consequences():
    chain = WORKFLOWS.get("lien-thong-khai-sinh")
    consult = plan_action(chain, "ho-tich", "consult", to=None, roles=CLERK, competent_agency="A")
    assert consult.open_steps == ("cong-an-thuong-tru", "bhxh-the-bhyt") and consult.join_step == "tra-ket-qua"
    assert plan_action(chain, "cong-an-thuong-tru", "answer", to=None, roles=CLERK, competent_agency="A").answers_consultation
    supplement = plan_action(chain, "ho-tich", "request_supplement", to=None, roles=CLERK, competent_agency="A")
    assert supplement.pauses and not supplement.completes_task
    refuse = plan_action(chain, "tra-ket-qua", "refuse", to=None, roles=LEADER, competent_agency="A")
    assert refuse.decision == "refused" and refuse.needs_reason
    record = WORKFLOWS.get("ly-lich-tu-phap")
    transfer = plan_action(record, "tra-cuu", "transfer", to=None, roles=CLERK, competent_agency="000.00.01.H56")
    assert transfer.transfer_to == "000.17.22.H56" and transfer.open_steps == ("xac-minh-xa",)
    back = plan_action(record, "xac-minh-xa", "transfer", to=None, roles=CLERK, competent_agency="000.00.01.H56")
    assert back.transfer_to == "000.00.01.H56"   # "competent" resolves to the dossier's agency
    assert plan_action(record, "lap-phieu", "return", to="tra-cuu", roles=LEADER, competent_agency="X").needs_reason


@pytest.mark.parametrize(("step", "action", "to", "roles", "status", "code"), [
    ("tham-dinh", "approve", None, CLERK, 422, "action-not-available"),
    ("tham-dinh", "forward", "tham-dinh", CLERK, 422, "target-not-available"),
    ("tham-dinh", "forward", None, LEADER, 403, "role-not-allowed"),
    ("phe-duyet", "approve", None, CLERK, 403, "role-not-allowed"),
])
def test_actions_the_step_does_not_offer_or_the_role_may_not_take_are_refused(step, action, to, roles, status, code):
    with pytest.raises(RoutingRuleError) as refused:
        plan_action(WORKFLOWS.get("ho-kinh-doanh"), step, action, to=to, roles=roles, competent_agency="A")
    assert (refused.value.status, refused.value.code) == (status, code)
    assert refused.value.message_vi


def test_step_roles_are_the_owner_and_everyone_an_action_allows():
    assert step_roles(WORKFLOWS.get("ho-kinh-doanh").step("phe-duyet")) == {"lanh-dao"}


def test_the_pause_counts_working_time_only_and_deadlines_move_by_it():
    # Friday 16:00 -> Monday 08:00 (weekend between): 1 h on Friday + 1 h on Monday.
    assert paused_hours(CALENDAR, vn(2026, 11, 27, 16, 0), vn(2026, 11, 30, 8, 0)) == 2
    assert paused_hours(CALENDAR, vn(2026, 11, 30, 8, 0), vn(2026, 11, 27, 16, 0)) == 0
    # Over Vietnam Culture Day (Tuesday 24/11/2026, a day off): Monday 16:00 -> Wednesday 08:00 = 2 h.
    assert paused_hours(CALENDAR, vn(2026, 11, 23, 16, 0), vn(2026, 11, 25, 8, 0)) == 2
    assert shift_deadline(CALENDAR, vn(2026, 11, 27, 16, 0), 2) == vn(2026, 11, 30, 8, 0)
    assert shift_deadline(CALENDAR, None, 5) is None
    assert shift_deadline(CALENDAR, vn(2026, 11, 27, 16, 0), 0) == vn(2026, 11, 27, 16, 0)


def test_the_extension_rules():
    due = vn(2026, 12, 4, 17, 0)   # Friday
    running = ExtensionFacts("running", due, None)
    check_extension(CALENDAR, running, vn(2026, 12, 3, 17, 0), vn(2026, 12, 8, 17, 0))   # exactly 1 day before
    cases = [
        (running, vn(2026, 12, 4, 7, 1), vn(2026, 12, 8, 17, 0), "extension-too-late"),
        (ExtensionFacts("running", due, vn(2026, 12, 1, 9, 0)), vn(2026, 12, 1, 10, 0), vn(2026, 12, 8, 17, 0),
         "already-extended"),
        (running, vn(2026, 12, 1, 9, 0), due, "new-date-not-later"),
        (ExtensionFacts("decided", due, None), vn(2026, 12, 1, 9, 0), vn(2026, 12, 8, 17, 0), "not-in-processing"),
        (ExtensionFacts("running", None, None), vn(2026, 12, 1, 9, 0), vn(2026, 12, 8, 17, 0), "no-due-date"),
    ]
    for facts, now, new_due, code in cases:
        with pytest.raises(RoutingRuleError) as refused:
            check_extension(CALENDAR, facts, now, new_due)
        assert refused.value.code == code
    check_extension(CALENDAR, ExtensionFacts("paused", due, None), vn(2026, 12, 1, 9, 0), vn(2026, 12, 8, 17, 0))


def test_routing_clock_runs_ahead_only_outside_production():
    from pydantic import ValidationError

    from services.routing.settings import RoutingSettings
    production = {"environment": "production", "database_url": "postgresql+asyncpg://u@db/routing",
                  "kafka_bootstrap_servers": "kafka:9092", "pii_keys": ["k" * 44], "officer_jwt_secret": None}
    assert RoutingSettings(**production).clock_offset_hours == 0
    with pytest.raises(ValidationError, match="real time"):
        RoutingSettings(**production, clock_offset_hours=24)
    assert RoutingSettings(environment="test", database_url="sqlite+aiosqlite:///:memory:",
                           clock_offset_hours=24).clock_offset_hours == 24
