"""Routing's pure rules: what an action on a workflow step does, who may take it, and the legal
clock (step deadlines, pauses, the one extension). No I/O: handlers.py applies the plans.

A workflow instance runs while its dossier is processed; every step being worked on is a task.
An action on a task completes it and opens the next step(s): forward/return/transfer open one,
consult opens several branches at once (the join step opens when the last branch answers),
request_supplement keeps the task open and pauses the whole clock, approve/refuse end the
workflow with the decision."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from services.routing.workflow import Step, StepAction, Workflow
from shared.calendar import WorkingCalendar

LEADER_ROLE = "lanh-dao"   # a unit's leader: assigns tasks, signs the extension letter (form 04)


class InstanceState(StrEnum):
    AWAITING_PAYMENT = "awaiting_payment"   # the procedure collects the fee before processing
    RUNNING = "running"
    PAUSED = "paused"                       # waiting on the applicant's supplement: the clock stops
    DECIDED = "decided"
    WITHDRAWN = "withdrawn"


class TaskState(StrEnum):
    OPEN = "open"
    CLAIMED = "claimed"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


OPEN_TASK_STATES = (TaskState.OPEN.value, TaskState.CLAIMED.value)


class RoutingRuleError(Exception):
    """A request breaks a workflow rule. `status` is the HTTP answer: 403 (not yours), 409 (not
    now), 422 (no such action here)."""

    def __init__(self, status: int, code: str, message: str, message_vi: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.message_vi = status, code, message, message_vi


def step_agency(step: Step, competent_agency: str) -> str:
    return competent_agency if step.agency == "competent" else step.agency


def step_roles(step: Step) -> set[str]:
    """Everyone who works on the step: its owner role and the roles any of its actions allow."""
    return {step.role, *(role for action in step.actions for role in action.roles)}


@dataclass(frozen=True)
class Plan:
    """What one action does to the workflow."""
    action: str
    completes_task: bool = True
    open_steps: tuple[str, ...] = ()        # steps to open now (one, or the consult branches)
    join_step: str | None = None            # consult: opened when every branch has answered
    answers_consultation: bool = False
    pauses: bool = False
    decision: str | None = None              # "approved" | "refused"
    transfer_to: str | None = None           # the agency a transfer hands the dossier to
    needs_reason: bool = False


def plan_action(workflow: Workflow, step_id: str, action_name: str, *, to: str | None,
                roles: frozenset[str], competent_agency: str) -> Plan:
    """The plan for `action_name` on step `step_id` by someone holding `roles` (agency checked by
    the caller). Raises RoutingRuleError: 422 for an action the step does not offer, 403 for a
    role it does not allow."""
    step = workflow.step(step_id)
    offered = [a for a in step.actions if a.action == action_name]
    if not offered:
        names = ", ".join(sorted({a.action for a in step.actions}))
        raise RoutingRuleError(422, "action-not-available", f"Step {step_id!r} offers no {action_name!r} action "
                               f"(it offers: {names})", f"Bước xử lý này không có thao tác {action_name!r}.")
    if to is not None:
        offered = [a for a in offered if to in a.targets]
        if not offered:
            raise RoutingRuleError(422, "target-not-available", f"{action_name!r} from {step_id!r} cannot lead to {to!r}",
                                   f"Không thể chuyển hồ sơ từ bước này tới bước {to!r}.")
    elif len(offered) > 1:
        raise RoutingRuleError(422, "target-required", f"{action_name!r} from {step_id!r} has several targets; "
                               f"say which one in 'to'", "Cần chọn bước xử lý tiếp theo.")
    chosen: StepAction = offered[0]
    if not roles & set(chosen.roles):
        raise RoutingRuleError(403, "role-not-allowed", f"{action_name!r} at {step_id!r} needs the role "
                               f"{' or '.join(chosen.roles)}", "Vai trò của cán bộ không được thực hiện thao tác này.")
    match chosen.action:
        case "forward" | "return":
            return Plan(chosen.action, open_steps=(chosen.targets[0],), needs_reason=chosen.action == "return")
        case "transfer":
            target = workflow.step(chosen.targets[0])
            return Plan("transfer", open_steps=(target.id,), transfer_to=step_agency(target, competent_agency))
        case "consult":
            return Plan("consult", open_steps=tuple(chosen.targets), join_step=chosen.join)
        case "answer":
            return Plan("answer", answers_consultation=True)
        case "request_supplement":
            return Plan("request_supplement", completes_task=False, pauses=True)
        case "approve":
            return Plan("approve", decision="approved")
        case "refuse":
            return Plan("refuse", decision="refused", needs_reason=True)
    raise AssertionError(chosen.action)  # pragma: no cover - the model's Literal lists every action


# --- the clock ------------------------------------------------------------------------------------
def step_deadline(calendar: WorkingCalendar, start: datetime, step: Step) -> datetime:
    return calendar.add_working_hours(start, step.time_limit.hours)


def working_hours(calendar: WorkingCalendar, start: datetime, end: datetime) -> float:
    """Office time from start to end in hours (negative when end is earlier)."""
    return calendar.working_time_between(start, end) / timedelta(hours=1)


def paused_hours(calendar: WorkingCalendar, paused_at: datetime, resumed_at: datetime) -> float:
    """The working time the clock stood still (DOMAIN: the due date moves by the paused working time)."""
    return max(0.0, working_hours(calendar, paused_at, resumed_at))


def shift_deadline(calendar: WorkingCalendar, deadline: datetime | None, hours: float) -> datetime | None:
    """A deadline moved later by `hours` of working time."""
    if deadline is None or hours <= 0:
        return deadline
    return calendar.add_working_hours(deadline, hours)


@dataclass(frozen=True)
class ExtensionFacts:
    state: str
    due_at: datetime | None
    extended_at: datetime | None


def check_extension(calendar: WorkingCalendar, facts: ExtensionFacts, now: datetime, new_due_at: datetime,
                    notice_days: float = 1) -> None:
    """DOMAIN: at most ONCE per dossier, issued at the latest `notice_days` working day(s) before
    the due date, with a new date after the current one."""
    if facts.state not in (InstanceState.RUNNING, InstanceState.PAUSED):
        raise RoutingRuleError(409, "not-in-processing", "Only a dossier being processed can be extended",
                               "Chỉ gia hạn được hồ sơ đang giải quyết.")
    if facts.extended_at is not None:
        raise RoutingRuleError(409, "already-extended", "This dossier was already extended once; the law allows one "
                               "extension per dossier", "Hồ sơ đã được gia hạn một lần; mỗi hồ sơ chỉ được gia hạn một lần.")
    if facts.due_at is None:
        raise RoutingRuleError(409, "no-due-date", "This dossier has no due date to extend",
                               "Hồ sơ không có ngày hẹn trả để gia hạn.")
    notice = calendar.hours_per_day / timedelta(hours=1) * notice_days
    if working_hours(calendar, now, facts.due_at) < notice:
        raise RoutingRuleError(409, "extension-too-late",
                               f"The apology and new date must be issued at least {notice_days:g} working day(s) "
                               f"before the due date ({facts.due_at.isoformat()})",
                               f"Văn bản xin lỗi và gia hạn phải ban hành chậm nhất {notice_days:g} ngày làm việc "
                               "trước ngày hẹn trả kết quả.")
    if new_due_at <= facts.due_at:
        raise RoutingRuleError(422, "new-date-not-later", "The new due date must be later than the current one",
                               "Ngày hẹn mới phải sau ngày hẹn hiện tại.")
