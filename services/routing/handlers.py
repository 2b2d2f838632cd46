"""Routing's use cases, one transaction each (the caller's unit of work; handlers never commit).

From events: start a workflow when a dossier is accepted (or once the fee is paid, for procedures
that collect before processing), pause and resume the clock around a supplement, stop on
withdrawal. From the API: claim, assign, comment, act on a task, extend the due date once.
From the monitor: warn before a deadline, report each overdue step and dossier exactly once.

Every change to a dossier's workflow first bumps its instance row's version: on PostgreSQL that
row lock serialises the dossier's actions, so two consultation branches answering at the same
moment cannot both miss the join, and a task's own version (optimistic locking) picks the
winner when two officers act on the same task."""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import and_, func, select, update

from services.routing.domain import (LEADER_ROLE, OPEN_TASK_STATES, ExtensionFacts, InstanceState, Plan,
                                     RoutingRuleError, TaskState, check_extension, paused_hours, plan_action,
                                     shift_deadline, step_agency, step_deadline, step_roles, working_hours)
from services.routing.models import history, instances, tasks
from services.routing.schemas import Assignment, Comment, Extension, TaskAction
from services.routing.settings import RoutingSettings
from services.routing.workflow import Workflow, Workflows
from shared.auth import Actor
from shared.calendar import WorkingCalendar
from shared.db import insert_if_absent
from shared.events.catalogue import (DossierAccepted, DossierDecided, DossierDueDateSet, DossierExtended,
                                     DossierOverdue, DossierPaused, DossierProcessingStarted, DossierResumed,
                                     DossierTransferred, TaskAssigned, TaskCompleted, TaskDueSoon)
from shared.context import ServiceContext
from shared.events.emit import Emitter
from shared.events.envelope import Envelope
from shared.observability import get_logger
from shared.problems import ProblemError
from shared.uow import UnitOfWork

log = get_logger(__name__)
SYSTEM = "system:routing"


class UnknownWorkflow(LookupError):
    """An accepted dossier names a workflow routing does not have: a deployment error. The event
    goes to the dead-letter topic and is replayed once the workflow file is deployed."""


@dataclass
class Routing(ServiceContext):
    """What routing's handlers are wired with (see bootstrap.py)."""
    settings: RoutingSettings
    workflows: Workflows
    calendar: WorkingCalendar

    event: ClassVar[Emitter] = Emitter("routing")

    def workflow_of(self, instance) -> Workflow:
        workflow = self.workflows.get(instance.workflow_id, instance.workflow_version)
        if workflow is None:
            raise ProblemError(409, "workflow-version-retired", "The workflow version of this dossier is no longer on file",
                               f"{instance.workflow_id} {instance.workflow_version}")
        return workflow


def rule_problem(exc: RoutingRuleError, **extra: Any) -> ProblemError:
    return ProblemError(exc.status, exc.code, exc.message, detail_vi=exc.message_vi,
                        errors=[{"message": exc.message, "message_vi": exc.message_vi, **extra}])


def _not_found(what: str) -> ProblemError:
    return ProblemError(404, f"{what}-not-found", f"No such {what}",
                        detail_vi="Không tìm thấy công việc." if what == "task" else "Không tìm thấy hồ sơ đang xử lý.")


async def load_instance(uow: UnitOfWork, dossier_id: str):
    return (await uow.conn.execute(select(instances).where(instances.c.dossier_id == dossier_id))).first()


async def load_task(uow: UnitOfWork, task_id: str):
    row = (await uow.conn.execute(select(tasks).where(tasks.c.id == task_id))).first()
    if row is None:
        raise _not_found("task")
    return row


async def _lock_instance(uow: UnitOfWork, dossier_id: str, **changes: Any):
    """Bump the instance's version (taking its row lock until commit) and return it fresh."""
    await uow.conn.execute(update(instances).where(instances.c.dossier_id == dossier_id)
                           .values(version=instances.c.version + 1, **changes))
    return await load_instance(uow, dossier_id)


async def _history(ctx: Routing, uow: UnitOfWork, instance, at: datetime, actor: Actor | str, action: str, *,
                   step: str | None = None, task_id: str | None = None, agency: str | None = None,
                   detail: dict[str, Any] | None = None) -> None:
    remaining = working_hours(ctx.calendar, at, instance.due_at) if instance.due_at else None
    await uow.conn.execute(history.insert(), dict(
        dossier_id=instance.dossier_id, at=at, actor=actor if isinstance(actor, str) else actor.label,
        actor_name=None if isinstance(actor, str) else actor.name, agency=agency, action=action, step=step,
        task_id=task_id, detail=detail or None, remaining_hours=None if remaining is None else round(remaining, 2)))


def task_view(row) -> dict[str, Any]:
    return {"id": row.id, "dossier_id": row.dossier_id, "step": row.step, "step_name": row.step_name,
            "agency": row.agency, "unit": row.unit, "role": row.role, "state": row.state, "version": row.version,
            "assignee": row.assignee, "created_at": row.created_at.isoformat(),
            "due_at": row.due_at.isoformat() if row.due_at else None,
            "completed_at": row.completed_at.isoformat() if row.completed_at else None,
            "action": row.action, "consultation": row.consult_group is not None}


def _task_conflict(row, message: str = "The task changed meanwhile; reload it and try again",
                   message_vi: str = "Công việc vừa được người khác cập nhật; hãy tải lại và thực hiện lại.") -> ProblemError:
    return ProblemError(409, "task-changed", "The task changed meanwhile", message, detail_vi=message_vi,
                        errors=[{"field": "header.If-Match", "message": f"current version is {row.version}",
                                 "current": task_view(row)}])


# --- starting ------------------------------------------------------------------------------------
async def open_step(ctx: Routing, uow: UnitOfWork, instance, workflow: Workflow, step_id: str, at: datetime,
                    causation: Envelope | None, *, consult_group: str | None = None,
                    join_step: str | None = None) -> str:
    step = workflow.step(step_id)
    agency = step_agency(step, instance.competent_agency)
    due = step_deadline(ctx.calendar, at, step)
    task_id = str(uuid.uuid4())
    await uow.conn.execute(tasks.insert(), dict(
        id=task_id, dossier_id=instance.dossier_id, step=step.id, step_name=step.name, agency=agency, unit=step.unit,
        role=step.role, state=TaskState.OPEN.value, version=1, assignee=None, consult_group=consult_group,
        join_step=join_step, created_at=at, due_at=due))
    uow.publish(ctx.event(TaskAssigned(dossier_id=instance.dossier_id, task_id=task_id, step=step.id, step_name=step.name,
                                       agency=agency, unit=step.unit, role=step.role, due_at=due,
                                       dossier_code=instance.dossier_code), causation))
    return task_id


async def _start(ctx: Routing, uow: UnitOfWork, dossier_id: str, started_at: datetime, due_at: datetime | None,
                 causation: Envelope) -> None:
    instance = await _lock_instance(uow, dossier_id, state=InstanceState.RUNNING.value, started_at=started_at,
                                    due_at=due_at, original_due_at=due_at, updated_at=ctx.now())
    workflow = ctx.workflow_of(instance)
    await _history(ctx, uow, instance, started_at, SYSTEM, "started", step=workflow.start,
                   detail={"workflow": workflow.id, "version": workflow.version})
    uow.publish(ctx.event(DossierProcessingStarted(
        dossier_id=dossier_id, dossier_code=instance.dossier_code, workflow_id=workflow.id,
        workflow_version=workflow.version, competent_agency=instance.competent_agency, started_at=started_at,
        due_at=due_at), causation))
    await open_step(ctx, uow, instance, workflow, workflow.start, started_at, causation)


async def on_dossier_accepted(ctx: Routing, uow: UnitOfWork, envelope: Envelope, data: DossierAccepted) -> None:
    workflow = ctx.workflows.get(data.workflow) if data.workflow else None
    if workflow is None:
        raise UnknownWorkflow(f"dossier {data.dossier_id}: procedure {data.procedure_code} names workflow "
                              f"{data.workflow!r}, which routing does not have")
    # Only money actually owed holds the workflow (an exempt applicant owes nothing: no bill, no wait).
    owes = any(line.amount > 0 for line in data.fee_lines)
    waits_for_payment = owes and (data.payment_timing == "before_processing" or data.clock_starts == "payment")
    inserted = await insert_if_absent(uow.conn, instances, dict(
        dossier_id=data.dossier_id, dossier_code=data.dossier_code, procedure_code=data.procedure_code,
        procedure_version=data.procedure_version, channel=data.channel, receiving_agency=data.receiving_agency,
        competent_agency=data.competent_agency, competent_agency_name=data.competent_agency_name,
        workflow_id=workflow.id, workflow_version=workflow.version, result_template=data.result_template,
        payment_timing=data.payment_timing, clock_starts=data.clock_starts,
        state=InstanceState.AWAITING_PAYMENT.value, version=0, accepted_at=data.accepted_at,
        due_at=data.due_at, original_due_at=data.due_at, paused_hours=0.0, updated_at=ctx.now()))
    if inserted and not waits_for_payment:
        await _start(ctx, uow, data.dossier_id, data.accepted_at, data.due_at, envelope)


async def on_payment_succeeded(ctx: Routing, uow: UnitOfWork, envelope: Envelope, dossier_id: str,
                               paid_at: datetime) -> None:
    instance = await load_instance(uow, dossier_id)
    if instance is None or instance.state != InstanceState.AWAITING_PAYMENT:
        return
    if instance.clock_starts == "payment":
        return   # the clock starts at payment: intake fixes the appointment (dossier.due_date_set), then we start
    await _start(ctx, uow, dossier_id, paid_at, instance.due_at, envelope)


async def on_due_date_set(ctx: Routing, uow: UnitOfWork, envelope: Envelope, data: DossierDueDateSet) -> None:
    instance = await load_instance(uow, data.dossier_id)
    if instance is None or instance.state != InstanceState.AWAITING_PAYMENT:
        return
    await _start(ctx, uow, data.dossier_id, data.clock_started_at, data.due_at, envelope)


# --- the applicant's side: supplement during processing, withdrawal -------------------------------
async def on_supplemented(ctx: Routing, uow: UnitOfWork, envelope: Envelope, dossier_id: str,
                          supplemented_at: datetime) -> None:
    """The clock resumes; every open deadline moves by the working time it stood still."""
    instance = await load_instance(uow, dossier_id)
    if instance is None or instance.state != InstanceState.PAUSED:
        return
    hours = paused_hours(ctx.calendar, instance.paused_at, supplemented_at)
    due = shift_deadline(ctx.calendar, instance.due_at, hours)
    instance = await _lock_instance(uow, dossier_id, state=InstanceState.RUNNING.value, paused_at=None, due_at=due,
                                    paused_hours=instance.paused_hours + hours, updated_at=ctx.now())
    open_tasks = (await uow.conn.execute(select(tasks.c.id, tasks.c.due_at).where(
        tasks.c.dossier_id == dossier_id, tasks.c.state.in_(OPEN_TASK_STATES)))).all()
    for task in open_tasks:
        await uow.conn.execute(update(tasks).where(tasks.c.id == task.id).values(
            due_at=shift_deadline(ctx.calendar, task.due_at, hours), version=tasks.c.version + 1))
    await _history(ctx, uow, instance, supplemented_at, SYSTEM, "resumed",
                   detail={"paused_working_hours": round(hours, 2)})
    uow.publish(ctx.event(DossierResumed(dossier_id=dossier_id, resumed_at=supplemented_at, due_at=due,
                                         paused_working_hours=round(hours, 4)), envelope))


async def _cancel_open_tasks(ctx: Routing, uow: UnitOfWork, dossier_id: str, at: datetime,
                             causation: Envelope | None, *, except_task: str | None = None) -> None:
    rows = (await uow.conn.execute(select(tasks).where(tasks.c.dossier_id == dossier_id,
                                                       tasks.c.state.in_(OPEN_TASK_STATES)))).all()
    for row in rows:
        if row.id == except_task:
            continue
        await uow.conn.execute(update(tasks).where(tasks.c.id == row.id).values(
            state=TaskState.CANCELLED.value, version=row.version + 1, completed_at=at, action="cancelled"))
        uow.publish(ctx.event(TaskCompleted(dossier_id=dossier_id, task_id=row.id, step=row.step, agency=row.agency,
                                            action="cancelled", completed_at=at), causation))


async def on_withdrawn(ctx: Routing, uow: UnitOfWork, envelope: Envelope, dossier_id: str, withdrawn_at: datetime,
                       reason: str | None) -> None:
    instance = await load_instance(uow, dossier_id)
    if instance is None or instance.state in (InstanceState.DECIDED, InstanceState.WITHDRAWN):
        return
    instance = await _lock_instance(uow, dossier_id, state=InstanceState.WITHDRAWN.value, paused_at=None,
                                    updated_at=ctx.now())
    await _cancel_open_tasks(ctx, uow, dossier_id, withdrawn_at, envelope)
    await _history(ctx, uow, instance, withdrawn_at, SYSTEM, "withdrawn", detail={"reason": reason} if reason else None)


# --- tasks: claim, assign, comment, act ----------------------------------------------------------
def _check_agency(actor: Actor, agency: str) -> None:
    if not actor.may_act_for(agency):
        raise ProblemError(403, "not-your-agency", "This task belongs to another agency",
                           detail_vi="Công việc thuộc cơ quan khác; cán bộ không có quyền xử lý.")


def _check_role(actor: Actor, roles: set[str]) -> None:
    if not actor.permissions & roles:
        raise ProblemError(403, "role-not-allowed", "Your role does not work on this step",
                           f"This step is worked on by: {', '.join(sorted(roles))}",
                           detail_vi="Vai trò của cán bộ không xử lý bước này.")


def _expect(row, expected_version: int | None) -> None:
    if expected_version is not None and expected_version != row.version:
        raise _task_conflict(row)


async def claim_task(ctx: Routing, uow: UnitOfWork, actor: Actor, task_id: str,
                     expected_version: int | None) -> dict[str, Any]:
    task = await load_task(uow, task_id)
    instance = await load_instance(uow, task.dossier_id)
    _check_agency(actor, task.agency)
    _check_role(actor, step_roles(ctx.workflow_of(instance).step(task.step)))
    return await _set_assignee(ctx, uow, actor, task, actor.label, expected_version, "claimed")


async def assign_task(ctx: Routing, uow: UnitOfWork, actor: Actor, task_id: str, cmd: Assignment,
                      expected_version: int | None) -> dict[str, Any]:
    task = await load_task(uow, task_id)
    _check_agency(actor, task.agency)
    _check_role(actor, {LEADER_ROLE})
    return await _set_assignee(ctx, uow, actor, task, cmd.assignee, expected_version, "assigned")


async def _set_assignee(ctx: Routing, uow: UnitOfWork, actor: Actor, task, assignee: str,
                        expected_version: int | None, action: str) -> dict[str, Any]:
    _expect(task, expected_version)
    if task.state not in OPEN_TASK_STATES:
        raise _task_conflict(task, "The task is already done", "Công việc đã được xử lý xong.")
    if action == "claimed" and task.assignee not in (None, actor.label):
        raise _task_conflict(task, f"The task is already claimed by {task.assignee}", "Công việc đã có cán bộ nhận xử lý.")
    instance = await _lock_instance(uow, task.dossier_id)
    now = ctx.now()
    result = await uow.conn.execute(update(tasks).where(tasks.c.id == task.id, tasks.c.version == task.version).values(
        assignee=assignee, state=TaskState.CLAIMED.value, claimed_at=now, version=task.version + 1))
    if result.rowcount != 1:
        raise _task_conflict(await load_task(uow, task.id))
    await _history(ctx, uow, instance, now, actor, action, step=task.step, task_id=task.id, agency=task.agency,
                   detail={"assignee": assignee})
    return task_view(await load_task(uow, task.id))


async def comment_on_task(ctx: Routing, uow: UnitOfWork, actor: Actor, task_id: str, cmd: Comment) -> dict[str, Any]:
    task = await load_task(uow, task_id)
    _check_agency(actor, task.agency)
    instance = await load_instance(uow, task.dossier_id)
    now = ctx.now()
    await _history(ctx, uow, instance, now, actor, "comment", step=task.step, task_id=task.id, agency=task.agency,
                   detail={"text": cmd.text, "attachments": [a.model_dump() for a in cmd.attachments]})
    return {"task_id": task.id, "dossier_id": task.dossier_id, "at": now.isoformat()}


def _refuse_now(instance) -> ProblemError:
    reasons = {
        InstanceState.PAUSED: ("The dossier waits for the applicant's supplement; act once it arrives",
                               "Hồ sơ đang chờ công dân bổ sung; chỉ xử lý tiếp khi đã nhận bổ sung."),
        InstanceState.AWAITING_PAYMENT: ("Processing starts once the fee is paid", "Hồ sơ chờ thực hiện nghĩa vụ tài chính."),
        InstanceState.DECIDED: ("The dossier is already decided", "Hồ sơ đã có quyết định giải quyết."),
        InstanceState.WITHDRAWN: ("The applicant withdrew the dossier", "Công dân đã rút hồ sơ."),
    }
    message, message_vi = reasons[InstanceState(instance.state)]
    return ProblemError(409, "dossier-not-running", message, detail_vi=message_vi,
                        errors=[{"field": "dossier", "current_state": instance.state}])


async def act_on_task(ctx: Routing, uow: UnitOfWork, actor: Actor, task_id: str, cmd: TaskAction,
                      expected_version: int | None) -> dict[str, Any]:
    task = await load_task(uow, task_id)
    instance = await load_instance(uow, task.dossier_id)
    workflow = ctx.workflow_of(instance)
    _check_agency(actor, task.agency)
    try:
        plan = plan_action(workflow, task.step, cmd.action, to=cmd.to, roles=actor.permissions,
                           competent_agency=instance.competent_agency)
    except RoutingRuleError as exc:
        raise rule_problem(exc, field="action") from None
    _check_request(plan, cmd)
    _expect(task, expected_version)
    if task.assignee not in (None, actor.label) and LEADER_ROLE not in actor.permissions:
        raise _task_conflict(task, f"The task is claimed by {task.assignee}", "Công việc đã có cán bộ khác nhận xử lý.")
    instance = await _lock_instance(uow, task.dossier_id)   # serialises this dossier's actions until commit
    current = await load_task(uow, task.id)
    if current.version != task.version:   # another officer's action on this task won the race
        raise _task_conflict(current)
    if instance.state != InstanceState.RUNNING:
        raise _refuse_now(instance)
    now = ctx.now()
    done = dict(version=task.version + 1)
    if plan.completes_task:
        on_time = task.due_at is None or now <= task.due_at
        done.update(state=TaskState.COMPLETED.value, completed_at=now, completed_by=actor.label, action=plan.action,
                    worked_hours=round(working_hours(ctx.calendar, task.created_at, now), 4), on_time=int(on_time))
    result = await uow.conn.execute(update(tasks).where(tasks.c.id == task.id, tasks.c.version == task.version,
                                                        tasks.c.state.in_(OPEN_TASK_STATES)).values(**done))
    if result.rowcount != 1:   # only where nothing serialised us (the row lock is held until commit)
        raise _task_conflict(await load_task(uow, task.id))
    await _history(ctx, uow, instance, now, actor, plan.action, step=task.step, task_id=task.id, agency=task.agency,
                   detail=_detail(cmd, plan))
    if plan.completes_task:
        uow.publish(ctx.event(TaskCompleted(dossier_id=task.dossier_id, task_id=task.id, step=task.step,
                                            agency=task.agency, action=plan.action, completed_at=now,
                                            on_time=bool(done["on_time"]))))
    opened = await _apply(ctx, uow, actor, instance, workflow, task, plan, cmd, now)
    return {"task": task_view(await load_task(uow, task.id)), "opened_tasks": opened,
            "dossier": process_view(await load_instance(uow, task.dossier_id))}


def _check_request(plan: Plan, cmd: TaskAction) -> None:
    if plan.needs_reason and not (cmd.reason and cmd.reason.strip()):
        raise ProblemError(422, "reason-required", f"{plan.action} needs a reason",
                           detail_vi="Cần nêu rõ lý do.", errors=[{"field": "reason", "message": "required"}])
    if plan.pauses and not cmd.missing_items:
        raise ProblemError(422, "missing-items-required", "List everything the applicant must supply, at once",
                           detail_vi="Cần liệt kê đầy đủ các nội dung công dân phải bổ sung (một lần).",
                           errors=[{"field": "missing_items", "message": "at least one item"}])


def _detail(cmd: TaskAction, plan: Plan) -> dict[str, Any]:
    detail: dict[str, Any] = {k: v for k, v in (("comment", cmd.comment), ("reason", cmd.reason)) if v}
    if plan.open_steps:
        detail["to"] = list(plan.open_steps)
    if plan.transfer_to:
        detail["to_agency"] = plan.transfer_to
    if cmd.missing_items:
        detail["missing_items"] = cmd.missing_items
    if cmd.attachments:
        detail["attachments"] = [a.model_dump() for a in cmd.attachments]
    return detail


async def _apply(ctx: Routing, uow: UnitOfWork, actor: Actor, instance, workflow: Workflow, task, plan: Plan,
                 cmd: TaskAction, now: datetime) -> list[str]:
    """The consequences of an action beyond its own task: next steps, pause, transfer, decision."""
    opened: list[str] = []
    if plan.join_step:   # consult: every branch at once, the join once all have answered
        for step_id in plan.open_steps:
            opened.append(await open_step(ctx, uow, instance, workflow, step_id, now, None,
                                          consult_group=task.id, join_step=plan.join_step))
    else:
        for step_id in plan.open_steps:
            opened.append(await open_step(ctx, uow, instance, workflow, step_id, now, None))
    if plan.transfer_to:
        uow.publish(ctx.event(DossierTransferred(dossier_id=task.dossier_id, from_agency=task.agency,
                                                 to_agency=plan.transfer_to, transferred_at=now)))
    if plan.answers_consultation and task.consult_group:
        still_open = (await uow.conn.execute(select(func.count()).select_from(tasks).where(
            tasks.c.consult_group == task.consult_group, tasks.c.state.in_(OPEN_TASK_STATES)))).scalar_one()
        if still_open == 0:
            opened.append(await open_step(ctx, uow, instance, workflow, task.join_step, now, None))
    if plan.pauses:
        await _lock_instance(uow, task.dossier_id, state=InstanceState.PAUSED.value, paused_at=now, updated_at=now)
        uow.publish(ctx.event(DossierPaused(dossier_id=task.dossier_id, reason="supplement", paused_at=now,
                                            step=task.step, agency=task.agency, missing_items=cmd.missing_items)))
    if plan.decision:
        await _decide(ctx, uow, instance, task, plan.decision, cmd.reason, now)
    return opened


async def _decide(ctx: Routing, uow: UnitOfWork, instance, task, outcome: str, reason: str | None,
                  now: datetime) -> None:
    await _cancel_open_tasks(ctx, uow, task.dossier_id, now, None, except_task=task.id)
    await _lock_instance(uow, task.dossier_id, state=InstanceState.DECIDED.value, decided_at=now, outcome=outcome,
                         decision_reason=reason, decided_by_agency=task.agency, updated_at=now)
    uow.publish(ctx.event(DossierDecided(
        dossier_id=task.dossier_id, outcome=outcome, decided_by_agency=task.agency, decided_at=now, reason=reason,
        dossier_code=instance.dossier_code, procedure_code=instance.procedure_code,
        procedure_version=instance.procedure_version, channel=instance.channel,
        result_template=instance.result_template, payment_timing=instance.payment_timing, due_at=instance.due_at,
        on_time=instance.due_at is None or now <= instance.due_at)))


# --- the one extension (form 04) -------------------------------------------------------------------
async def extend_due_date(ctx: Routing, uow: UnitOfWork, actor: Actor, dossier_id: str, cmd: Extension) -> dict[str, Any]:
    instance = await load_instance(uow, dossier_id)
    if instance is None:
        raise _not_found("process")
    _check_agency(actor, instance.competent_agency)
    _check_role(actor, {LEADER_ROLE})
    now = ctx.now()
    if cmd.new_due_at is not None:
        new_due = cmd.new_due_at.astimezone(UTC)
    elif instance.due_at is not None:
        new_due = ctx.calendar.add_working_time(instance.due_at, ctx.calendar.hours_per_day * cmd.extra_working_days)
    else:
        new_due = now
    try:
        check_extension(ctx.calendar, ExtensionFacts(instance.state, instance.due_at, instance.extended_at), now,
                        new_due, ctx.settings.extension_notice_days)
    except RoutingRuleError as exc:
        raise rule_problem(exc, field="new_due_at" if exc.code == "new-date-not-later" else "dossier") from None
    letter = {"reason": cmd.reason, "original_due_at": instance.due_at.isoformat(), "new_due_at": new_due.isoformat(),
              "signed_by": actor.label, "signer_name": actor.name, "issued_at": now.isoformat()}
    result = await uow.conn.execute(update(instances).where(instances.c.dossier_id == dossier_id,
                                                            instances.c.extended_at.is_(None)).values(
        extended_at=now, due_at=new_due, extension=letter, overdue_at=None, version=instances.c.version + 1,
        updated_at=now))
    if result.rowcount != 1:   # a concurrent extension won
        raise rule_problem(RoutingRuleError(409, "already-extended", "This dossier was already extended once",
                                            "Hồ sơ đã được gia hạn một lần."), field="dossier")
    instance = await load_instance(uow, dossier_id)
    apology = ctx.url(f"/v1/processes/{dossier_id}/forms/04")
    await _history(ctx, uow, instance, now, actor, "extended", agency=instance.competent_agency,
                   detail={"reason": cmd.reason, "original_due_at": letter["original_due_at"],
                           "new_due_at": letter["new_due_at"]})
    uow.publish(ctx.event(DossierExtended(dossier_id=dossier_id, reason=cmd.reason,
                                          original_due_at=datetime.fromisoformat(letter["original_due_at"]),
                                          new_due_at=new_due, agency=instance.competent_agency, apology_url=apology)))
    return {**process_view(instance), "apology_url": apology}


# --- the monitor: warnings and overdue, exactly once each --------------------------------------------
async def _mark_once(uow: UnitOfWork, table, key, column: str, now: datetime) -> bool:
    """Set a marker column if still empty; True for the one transaction (of any replica) that did."""
    result = await uow.conn.execute(update(table).where(key, table.c[column].is_(None)).values({column: now}))
    return result.rowcount == 1


async def monitor_deadlines(ctx: Routing, uow_factory) -> int:
    """One pass: overdue steps, overdue dossiers, steps due soon. Each item is marked and its
    event queued in its own transaction, so a failing item (or agency) does not stop the others
    and a second monitor on another replica finds the marker already set."""
    now = ctx.now()
    running = and_(instances.c.dossier_id == tasks.c.dossier_id, instances.c.state == InstanceState.RUNNING.value)
    limit = ctx.settings.monitor_batch
    queries = [
        ("overdue-step", select(tasks.c.id).join(instances, running).where(
            tasks.c.state.in_(OPEN_TASK_STATES), tasks.c.due_at < now, tasks.c.overdue_at.is_(None)).limit(limit)),
        ("overdue-dossier", select(instances.c.dossier_id).where(
            instances.c.state == InstanceState.RUNNING.value, instances.c.due_at < now,
            instances.c.overdue_at.is_(None)).limit(limit)),
    ]
    if ctx.settings.due_soon_warning_hours > 0:
        horizon = ctx.calendar.add_working_hours(now, ctx.settings.due_soon_warning_hours)
        queries.append(("due-soon", select(tasks.c.id).join(instances, running).where(
            tasks.c.state.in_(OPEN_TASK_STATES), tasks.c.due_at >= now, tasks.c.due_at <= horizon,
            tasks.c.due_soon_at.is_(None)).limit(limit)))
    done = 0
    for kind, query in queries:
        async with uow_factory() as uow:
            ids = (await uow.conn.execute(query)).scalars().all()
        for item_id in ids:
            try:
                async with uow_factory() as uow:
                    if await _report(ctx, uow, kind, item_id, now):
                        done += 1
                    await uow.commit()
            except Exception as exc:  # noqa: BLE001 - one bad item must not stop the pass
                log.error("deadline_report_failed", kind=kind, item=item_id, error_type=type(exc).__name__, exc_info=exc)
    return done


async def _report(ctx: Routing, uow: UnitOfWork, kind: str, item_id: str, now: datetime) -> bool:
    if kind == "overdue-dossier":
        if not await _mark_once(uow, instances, instances.c.dossier_id == item_id, "overdue_at", now):
            return False
        instance = await load_instance(uow, item_id)
        current = (await uow.conn.execute(select(tasks).where(tasks.c.dossier_id == item_id, tasks.c.state.in_(
            OPEN_TASK_STATES)).order_by(tasks.c.created_at).limit(1))).first()
        await _history(ctx, uow, instance, now, SYSTEM, "overdue", step=current.step if current else None,
                       agency=instance.competent_agency, detail={"scope": "dossier"})
        uow.publish(ctx.event(DossierOverdue(
            dossier_id=item_id, scope="dossier", step=current.step if current else "-",
            agency=current.agency if current else instance.competent_agency,
            task_id=current.id if current else None, due_at=instance.due_at, detected_at=now)))
        return True
    column = "overdue_at" if kind == "overdue-step" else "due_soon_at"
    if not await _mark_once(uow, tasks, tasks.c.id == item_id, column, now):
        return False
    task = await load_task(uow, item_id)
    if kind == "overdue-step":
        instance = await load_instance(uow, task.dossier_id)
        await _history(ctx, uow, instance, now, SYSTEM, "overdue", step=task.step, task_id=task.id, agency=task.agency,
                       detail={"scope": "step", "due_at": task.due_at.isoformat()})
        uow.publish(ctx.event(DossierOverdue(dossier_id=task.dossier_id, scope="step", step=task.step,
                                             agency=task.agency, task_id=task.id, due_at=task.due_at, detected_at=now)))
    else:
        remaining = working_hours(ctx.calendar, now, task.due_at)
        uow.publish(ctx.event(TaskDueSoon(dossier_id=task.dossier_id, task_id=task.id, step=task.step,
                                          agency=task.agency, unit=task.unit, due_at=task.due_at,
                                          remaining_working_hours=round(remaining, 2))))
    return True


# --- views -------------------------------------------------------------------------------------------
def process_view(row) -> dict[str, Any]:
    def iso(moment: datetime | None) -> str | None:
        return moment.isoformat() if moment else None
    return {"dossier_id": row.dossier_id, "dossier_code": row.dossier_code, "procedure_code": row.procedure_code,
            "workflow": {"id": row.workflow_id, "version": row.workflow_version}, "state": row.state,
            "version": row.version, "competent_agency": row.competent_agency, "accepted_at": iso(row.accepted_at),
            "started_at": iso(row.started_at), "due_at": iso(row.due_at), "original_due_at": iso(row.original_due_at),
            "paused_at": iso(row.paused_at), "paused_working_hours": round(row.paused_hours or 0, 2),
            "extended": row.extension, "overdue_since": iso(row.overdue_at), "decided_at": iso(row.decided_at),
            "outcome": row.outcome, "decision_reason": row.decision_reason}

