"""Routing's HTTP API for desk systems and officers: workflow definitions, an agency's task list,
claiming/assigning/acting on tasks (If-Match), a dossier's process and history, the one extension
with its apology letter (form 04), and agency performance.

Officers sign in through the provincial SSO (JWT with `agency` and `roles`); desk systems use
partner API keys. Permissions: tasks:read, tasks:act, performance:read; the workflow roles
(chuyen-vien, lanh-dao, ...) come in the same roles/scopes list."""

import json
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, Header, Query, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy import and_, case, func, or_, select

from services.routing import handlers
from services.routing.forms import render_apology
from services.routing.handlers import Routing, process_view, task_view
from services.routing.models import history, instances, tasks
from services.routing.schemas import Assignment, Comment, Extension, TaskAction
from shared.auth import ALL_AGENCIES, Actor, require_actor
from shared.calendar import VIETNAM_TZ, vn_iso
from shared.idempotency import Created, maybe_idempotent
from shared.problems import ProblemError, decode_cursor, encode_cursor, parse_if_match, period_bounds

READ, ACT, PERFORMANCE = "tasks:read", "tasks:act", "performance:read"
ROUTING_PERMISSIONS = (READ, ACT, PERFORMANCE)
PATH_PREFIXES = ("/v1/workflows", "/v1/tasks", "/v1/processes", "/v1/performance")


def _ctx(request: Request) -> Routing:
    return request.app.state.routing


Ctx = Annotated[Routing, Depends(_ctx)]
IfMatch = Annotated[str | None, Header(alias="If-Match", description='The task\'s ETag, e.g. "3"')]
OptionalKey = Annotated[str | None, Header(alias="Idempotency-Key")]


def _etagged(body: dict[str, Any], version: int) -> JSONResponse:
    return JSONResponse(body, headers={"ETag": f'"{version}"'})


# --- workflow definitions -----------------------------------------------------------------------------
def workflows_router() -> APIRouter:
    router = APIRouter(tags=["workflows"])

    @router.get("/v1/workflows", summary="Workflow definitions (current versions)")
    async def list_workflows(ctx: Ctx) -> dict[str, Any]:
        return {"items": [{"id": w.id, "version": w.version, "name": w.name, "procedures": w.procedures,
                           "steps": len(w.steps), "longest_path_working_hours": w.longest_path_hours()}
                          for w in ctx.workflows.current.values()]}

    @router.get("/v1/workflows/{workflow_id}", summary="A workflow: steps, owners, time limits, actions")
    async def get_workflow(ctx: Ctx, workflow_id: str,
                           version: Annotated[str | None, Query(pattern=r"^\d{4}\.\d+$")] = None) -> dict[str, Any]:
        workflow = ctx.workflows.get(workflow_id, version)
        if workflow is None:
            raise ProblemError(404, "workflow-not-found", "No such workflow (version)",
                               detail_vi="Không có quy trình này.")
        return workflow.model_dump(mode="json")

    return router


# --- tasks -------------------------------------------------------------------------------------------
def tasks_router() -> APIRouter:
    router = APIRouter(tags=["tasks"])

    @router.get("/v1/tasks", summary="An agency's open tasks, earliest deadline first (cursor pagination)")
    async def list_tasks(request: Request, actor: Annotated[Actor, require_actor(READ)],
                         agency: Annotated[str | None, Query(max_length=32, description="Default: your agency")] = None,
                         unit: Annotated[str | None, Query(max_length=255)] = None,
                         role: Annotated[str | None, Query(max_length=32)] = None,
                         state: Annotated[Literal["open", "claimed", "active", "completed", "cancelled"],
                                          Query(description="active = open or claimed")] = "active",
                         assignee: Annotated[str | None, Query(max_length=128, description="'me' for your own")] = None,
                         overdue: Annotated[bool | None, Query()] = None,
                         dossier_id: Annotated[str | None, Query(max_length=36)] = None,
                         cursor: Annotated[str | None, Query(max_length=300)] = None,
                         limit: Annotated[int, Query(ge=1, le=200)] = 50) -> dict[str, Any]:
        agency = agency or actor.agency
        if not actor.may_act_for(agency):
            raise ProblemError(403, "not-your-agency", "You may list only your agency's tasks",
                               detail_vi="Chỉ xem được công việc của cơ quan mình.")
        t = tasks
        query = select(t, instances.c.dossier_code).join(instances, instances.c.dossier_id == t.c.dossier_id).where(
            t.c.agency == agency)
        query = query.where(t.c.state.in_(("open", "claimed")) if state == "active" else t.c.state == state)
        for column, value in ((t.c.unit, unit), (t.c.role, role), (t.c.dossier_id, dossier_id)):
            if value:
                query = query.where(column == value)
        if assignee:
            query = query.where(t.c.assignee == (actor.label if assignee == "me" else assignee))
        if overdue is not None:
            now = request.app.state.routing.now()
            query = query.where(t.c.due_at < now if overdue else or_(t.c.due_at.is_(None), t.c.due_at >= now))
        # Earliest deadline first; tasks without a deadline last (a far-future stand-in keeps one key order).
        far = datetime(9999, 1, 1, tzinfo=UTC)
        sort_due = func.coalesce(t.c.due_at, far)
        if cursor:
            at, last_id = decode_cursor(cursor)
            at = at or far
            query = query.where(or_(sort_due > at, and_(sort_due == at, t.c.id > last_id)))
        query = query.order_by(sort_due, t.c.id).limit(limit + 1)
        async with request.app.state.kit.uow() as uow:
            rows = (await uow.conn.execute(query)).all()
        page = rows[:limit]
        return {"items": [{**task_view(r), "dossier_code": r.dossier_code} for r in page],
                "next_cursor": encode_cursor(page[-1].due_at, page[-1].id) if len(rows) > limit else None}

    @router.get("/v1/tasks/{task_id}", summary="A task, the actions its step offers, and its ETag")
    async def get_task(request: Request, ctx: Ctx, task_id: str,
                       actor: Annotated[Actor, require_actor(READ)]) -> Response:
        async with request.app.state.kit.uow() as uow:
            task = await handlers.load_task(uow, task_id)
            instance = await handlers.load_instance(uow, task.dossier_id)
        if not actor.may_act_for(task.agency):
            raise ProblemError(403, "not-your-agency", "This task belongs to another agency",
                               detail_vi="Công việc thuộc cơ quan khác.")
        step = ctx.workflow_of(instance).step(task.step)
        body = {**task_view(task), "dossier_code": instance.dossier_code, "dossier_due_at": vn_iso(instance.due_at),
                "dossier_state": instance.state,
                "actions": [a.model_dump(exclude_none=True) for a in step.actions]}
        return _etagged(body, task.version)

    def task_route(path: str, model, handler, summary: str, *, versioned: bool = True) -> None:
        async def post(request: Request, ctx: Ctx, task_id: str, body: Annotated[model, Body()],  # type: ignore[valid-type]
                       if_match: IfMatch = None, key: OptionalKey = None,
                       actor: Actor = require_actor(ACT)) -> Response:
            expected = parse_if_match(if_match)

            async def run(uow) -> Created:
                if versioned:
                    return Created(200, await handler(ctx, uow, actor, task_id, body, expected))
                return Created(201, await handler(ctx, uow, actor, task_id, body))
            response = await maybe_idempotent(request.app.state.kit, actor.label, key, await request.body(), run)
            answer = json.loads(response.body)
            version = answer.get("version", answer.get("task", {}).get("version"))
            if response.status_code == 200 and version is not None:
                response.headers["ETag"] = f'"{version}"'
            return response
        router.add_api_route(path, post, methods=["POST"], summary=summary)

    @router.post("/v1/tasks/{task_id}/claim", summary="Claim the task for yourself (If-Match)")
    async def claim(request: Request, ctx: Ctx, task_id: str, if_match: IfMatch = None,
                    actor: Actor = require_actor(ACT)) -> Response:
        async with request.app.state.kit.uow() as uow:
            body = await handlers.claim_task(ctx, uow, actor, task_id, parse_if_match(if_match))
            await uow.commit()
        return _etagged(body, body["version"])

    task_route("/v1/tasks/{task_id}/assignment", Assignment, handlers.assign_task,
               "A unit leader assigns the task to an officer (If-Match)")
    task_route("/v1/tasks/{task_id}/actions", TaskAction, handlers.act_on_task,
               "Complete the task with an action of its step: forward, return, transfer, consult, answer, "
               "request_supplement, approve, refuse (If-Match; the loser of a race gets 409 with the current state)")
    task_route("/v1/tasks/{task_id}/comments", Comment, handlers.comment_on_task,
               "Comment on a task, with attachment references (kept in the dossier's history)", versioned=False)
    return router


# --- processes: a dossier's workflow, history, extension, form 04 --------------------------------------
async def _visible_instance(request: Request, ctx: Routing, actor: Actor, dossier_id: str):
    async with request.app.state.kit.uow() as uow:
        instance = await handlers.load_instance(uow, dossier_id)
    if instance is None:
        raise ProblemError(404, "process-not-found", "No workflow for this dossier",
                           detail_vi="Không tìm thấy hồ sơ đang xử lý.")
    involved = ctx.workflow_of(instance).agencies(instance.competent_agency) | {instance.receiving_agency}
    if not any(actor.may_act_for(agency) for agency in involved):
        raise ProblemError(403, "not-your-agency", "Your agency takes no part in this dossier",
                           detail_vi="Cơ quan của cán bộ không tham gia giải quyết hồ sơ này.")
    return instance


def processes_router() -> APIRouter:
    router = APIRouter(tags=["processes"])

    @router.get("/v1/processes/{dossier_id}", summary="A dossier's workflow: state, due dates, open tasks")
    async def get_process(request: Request, ctx: Ctx, dossier_id: str,
                          actor: Annotated[Actor, require_actor(READ)]) -> Response:
        instance = await _visible_instance(request, ctx, actor, dossier_id)
        async with request.app.state.kit.uow() as uow:
            rows = (await uow.conn.execute(select(tasks).where(tasks.c.dossier_id == dossier_id)
                                           .order_by(tasks.c.created_at, tasks.c.id))).all()
        body = {**process_view(instance), "tasks": [task_view(r) for r in rows]}
        if instance.extension:
            body["apology_url"] = ctx.url(f"/v1/processes/{dossier_id}/forms/04")
        return _etagged(body, instance.version)

    @router.get("/v1/processes/{dossier_id}/history", summary="Append-only history: who did what, when, time left")
    async def get_history(request: Request, ctx: Ctx, dossier_id: str,
                          actor: Annotated[Actor, require_actor(READ)]) -> dict[str, Any]:
        await _visible_instance(request, ctx, actor, dossier_id)
        async with request.app.state.kit.uow() as uow:
            rows = (await uow.conn.execute(select(history).where(history.c.dossier_id == dossier_id)
                                           .order_by(history.c.id))).all()
        return {"dossier_id": dossier_id, "items": [
            {"at": vn_iso(r.at), "actor": r.actor, "actor_name": r.actor_name, "agency": r.agency, "action": r.action,
             "step": r.step, "task_id": r.task_id, "detail": r.detail, "remaining_working_hours": r.remaining_hours}
            for r in rows]}

    @router.post("/v1/processes/{dossier_id}/extension", summary="Apologise and set a new due date (form 04), once "
                 "per dossier, at least one working day before the due date")
    async def extend(request: Request, ctx: Ctx, dossier_id: str, body: Annotated[Extension, Body()],
                     key: OptionalKey = None, actor: Actor = require_actor(ACT)) -> Response:
        async def run(uow) -> Created:
            return Created(201, await handlers.extend_due_date(ctx, uow, actor, dossier_id, body),
                           f"/v1/processes/{dossier_id}/forms/04")
        return await maybe_idempotent(request.app.state.kit, actor.label, key, await request.body(), run)

    @router.get("/v1/processes/{dossier_id}/forms/04", summary="The apology and extension letter (form 04) as PDF",
                response_class=Response, responses={200: {"content": {"application/pdf": {}}}})
    async def apology_letter(request: Request, ctx: Ctx, dossier_id: str,
                             actor: Annotated[Actor, require_actor(READ)]) -> Response:
        instance = await _visible_instance(request, ctx, actor, dossier_id)
        if not instance.extension:
            raise ProblemError(404, "form-not-available", "This dossier was not extended",
                               detail_vi="Hồ sơ chưa có văn bản xin lỗi và gia hạn.")
        pdf = render_apology(instance, ctx.calendar.tz, ctx.url(f"/v1/processes/{dossier_id}/forms/04"))
        return Response(pdf, media_type="application/pdf",
                        headers={"Content-Disposition": f'inline; filename="mau-04-{instance.dossier_code}.pdf"'})

    return router


# --- agency performance ---------------------------------------------------------------------------------
def _period(since: date | None, until: date | None) -> tuple[datetime, datetime]:
    until = until or datetime.now(VIETNAM_TZ).date()
    return period_bounds(since or until.replace(day=1), until, VIETNAM_TZ)


def performance_router() -> APIRouter:
    router = APIRouter(tags=["performance"])
    Since = Annotated[date | None, Query(alias="from", description="First day (Vietnam time); default: month start")]
    Until = Annotated[date | None, Query(alias="to", description="Last day, inclusive; default: today")]

    @router.get("/v1/performance", summary="Per agency: steps handled, on time, late, average working hours; "
                "dossiers decided on time and late")
    async def performance(request: Request, actor: Annotated[Actor, require_actor(PERFORMANCE)],
                          since: Since = None, until: Until = None,
                          agency: Annotated[str | None, Query(max_length=32)] = None) -> dict[str, Any]:
        start, end = _period(since, until)
        if agency and not actor.may_act_for(agency):
            raise ProblemError(403, "not-your-agency", "You may see only your agency's figures")
        if not agency and ALL_AGENCIES not in actor.permissions:
            agency = actor.agency
        t = tasks
        late = func.sum(case((t.c.on_time == 0, 1), else_=0))
        steps = select(t.c.agency, func.count().label("handled"), func.sum(t.c.on_time).label("on_time"),
                       late.label("late"), func.avg(t.c.worked_hours).label("avg_hours")).where(
            t.c.state == "completed", t.c.completed_at >= start, t.c.completed_at < end).group_by(t.c.agency)
        i = instances
        decided_late = func.sum(case((i.c.decided_at > i.c.due_at, 1), else_=0))
        dossiers = select(i.c.decided_by_agency.label("agency"), func.count().label("decided"),
                          decided_late.label("late")).where(
            i.c.state == "decided", i.c.decided_at >= start, i.c.decided_at < end).group_by(i.c.decided_by_agency)
        if agency:
            steps = steps.where(t.c.agency == agency)
            dossiers = dossiers.where(i.c.decided_by_agency == agency)
        async with request.app.state.kit.uow() as uow:
            step_rows = (await uow.conn.execute(steps)).all()
            dossier_rows = {r.agency: r for r in (await uow.conn.execute(dossiers)).all()}
        items = []
        for r in step_rows:
            decided = dossier_rows.get(r.agency)
            items.append({"agency": r.agency, "steps_handled": r.handled, "steps_on_time": int(r.on_time or 0),
                          "steps_late": int(r.late or 0),
                          "on_time_rate": round((r.on_time or 0) / r.handled, 4) if r.handled else None,
                          "average_working_hours": round(float(r.avg_hours or 0), 2),
                          "dossiers_decided": decided.decided if decided else 0,
                          "dossiers_decided_late": int(decided.late or 0) if decided else 0})
        return {"from": start.date().isoformat(), "to": (end - timedelta(days=1)).date().isoformat(), "items": items}

    @router.get("/v1/performance/late-units", summary="Units most often late (what provinces publish)")
    async def late_units(request: Request, actor: Annotated[Actor, require_actor(PERFORMANCE)],
                         since: Since = None, until: Until = None,
                         limit: Annotated[int, Query(ge=1, le=100)] = 10) -> dict[str, Any]:
        start, end = _period(since, until)
        t = tasks
        late = func.sum(case((t.c.on_time == 0, 1), else_=0))
        query = select(t.c.agency, t.c.unit, late.label("late"), func.count().label("handled")).where(
            t.c.state == "completed", t.c.completed_at >= start, t.c.completed_at < end).group_by(
            t.c.agency, t.c.unit).having(late > 0).order_by(late.desc(), t.c.agency, t.c.unit).limit(limit)
        if ALL_AGENCIES not in actor.permissions:
            query = query.where(t.c.agency == actor.agency)
        async with request.app.state.kit.uow() as uow:
            rows = (await uow.conn.execute(query)).all()
        return {"from": start.date().isoformat(), "to": (end - timedelta(days=1)).date().isoformat(),
                "items": [{"agency": r.agency, "unit": r.unit, "late": int(r.late), "handled": r.handled,
                           "late_rate": round(int(r.late) / r.handled, 4)} for r in rows]}

    return router
