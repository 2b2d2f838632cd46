"""Intake's HTTP API: request -> command -> handler; domain errors become problem+json.

Public: the procedure catalogue, tracking by dossier code plus a second factor, rating.
Partners (API key) and officers (SSO token): submission, uploads, pre-fill, reception actions,
the officers' dossier view and forms, KPIs."""
import csv
import hashlib
import io
import json
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, File, Header, Query, Request, Response, UploadFile
from fastapi.responses import JSONResponse
from sqlalchemy import and_, func, or_, select

from services.intake import handlers
from services.intake.catalogue import Procedure
from services.intake.documents import form_available, render_form
from services.intake.domain import kpis
from services.intake.domain.tracking import OFFICER_ONLY, public_details, title
from services.intake.handlers import Intake
from services.intake.models import dossier_documents, dossier_history, dossiers, kpi_facts, population_lookups, \
    tracking_entries, tracking_failures, tracking_status
from services.intake.schemas import AcceptDossier, Prefill, RateDossier, RejectDossier, RequestSupplement, \
    SubmitDossier, SupplementDossier, WithdrawDossier
from shared.auth import Actor, require_actor
from shared.calendar import vn_iso
from shared.events.catalogue import NATIONAL_STATUS_NAMES
from shared.idempotency import Created, maybe_idempotent, require_idempotency_key
from shared.pii import mask_digits, mask_email
from shared.problems import ProblemError, decode_cursor, encode_cursor, parse_if_match, period_bounds

SUBMIT, RECEIVE, READ, KPI = "dossiers:submit", "dossiers:receive", "dossiers:read", "kpis:read"
INTAKE_PERMISSIONS = (SUBMIT, RECEIVE, READ, KPI)
PATH_PREFIXES = ("/v1/procedures", "/v1/agencies", "/v1/dossiers", "/v1/tracking", "/v1/kpis")


def _ctx(request: Request) -> Intake:
    return request.app.state.intake


Ctx = Annotated[Intake, Depends(_ctx)]
IfMatch = Annotated[str | None, Header(alias="If-Match", description='The dossier\'s ETag, e.g. "3"')]
Last4 = Annotated[str, Query(pattern=r"^\d{4}$", description="Last 4 digits of the applicant's phone (or ID number)")]
OptionalKey = Annotated[str | None, Header(alias="Idempotency-Key")]


# --- catalogue -----------------------------------------------------------------------------------
def _summary(p: Procedure) -> dict[str, Any]:
    return {"code": p.code, "version": p.version, "name": p.name, "field": p.field.model_dump(),
            "competent_agency": p.competent_agency, "level": p.level, "online_level": p.online_level,
            "processing_time": p.processing_time.model_dump(), "has_fees": p.has_fees}


def _cached(request: Request, etag: str, body: Any) -> Response:
    headers = {"ETag": etag, "Cache-Control": "public, max-age=300"}
    if request.headers.get("if-none-match") in (etag, f"W/{etag}", "*"):
        return Response(status_code=304, headers=headers)
    return JSONResponse(body, headers=headers)


def catalogue_router() -> APIRouter:
    router = APIRouter(tags=["catalogue"])

    @router.get("/v1/procedures", summary="List and search procedures (accent-insensitive Vietnamese)")
    async def list_procedures(request: Request, ctx: Ctx,
                              q: Annotated[str | None, Query(max_length=200, examples=["dang ky khai sinh"])] = None,
                              field: Annotated[str | None, Query(max_length=100)] = None,
                              agency: Annotated[str | None, Query(max_length=32)] = None,
                              level: Annotated[Literal["province", "commune"] | None, Query()] = None) -> Response:
        found = ctx.catalogue.search(q, field=field, agency=agency, level=level)
        return _cached(request, ctx.catalogue.etag, {"items": [_summary(p) for p in found], "count": len(found)})

    @router.get("/v1/procedures/{code}", summary="A procedure: documents, form schema, fees, time limit")
    async def get_procedure(request: Request, ctx: Ctx, code: str) -> Response:
        procedure = ctx.catalogue.procedure(code)
        if procedure is None:
            raise ProblemError(404, "procedure-not-found", "No such procedure", detail_vi="Không có thủ tục này.")
        return _cached(request, ctx.catalogue.etag, procedure.model_dump(mode="json"))

    @router.get("/v1/agencies", summary="Agencies and their electronic identifiers")
    async def list_agencies(request: Request, ctx: Ctx) -> Response:
        return _cached(request, ctx.catalogue.etag, {"items": [a.model_dump() for a in ctx.catalogue.agencies.values()]})

    return router


# --- submission and reception --------------------------------------------------------------------
def _etagged(body: dict[str, Any], status_code: int = 200) -> JSONResponse:
    return JSONResponse(body, status_code=status_code, headers={"ETag": f'"{body["version"]}"'})


def dossiers_router() -> APIRouter:
    router = APIRouter(tags=["dossiers"])

    @router.post("/v1/dossiers/uploads", status_code=201, summary="Upload one document file (PDF, JPEG, PNG)")
    async def upload(request: Request, ctx: Ctx, file: Annotated[UploadFile, File()],
                     key: Annotated[str, Depends(require_idempotency_key)],
                     actor: Annotated[Actor, require_actor(SUBMIT)]) -> Response:
        limit = int(ctx.settings.max_upload_mb * 1024 * 1024)
        data = await file.read(limit + 1)
        fingerprint = json.dumps({"name": file.filename, "type": file.content_type,
                                  "sha256": hashlib.sha256(data).hexdigest()}).encode()
        return await request.app.state.kit.idempotency.run(
            scope=actor.label, key=key, request_body=fingerprint,
            action=lambda uow: handlers.store_upload(ctx, uow, actor, file.filename or "document", file.content_type, data))

    @router.post("/v1/dossiers", status_code=201, summary="Submit a dossier (online, desk or postal)",
                 responses={201: {"description": "Created: the dossier code and the tracking link"},
                            422: {"description": "Invalid: every error names its field, in Vietnamese and English"}})
    async def submit(request: Request, ctx: Ctx, body: Annotated[SubmitDossier, Body()],
                     key: Annotated[str, Depends(require_idempotency_key)],
                     actor: Annotated[Actor, require_actor(SUBMIT)]) -> Response:
        return await request.app.state.kit.idempotency.run(
            scope=actor.label, key=key, request_body=await request.body(),
            action=lambda uow: handlers.submit_dossier(ctx, uow, actor, body))

    @router.post("/v1/dossiers/prefill", summary="Pre-fill the applicant from the population database")
    async def prefill(request: Request, ctx: Ctx, body: Annotated[Prefill, Body()],
                      actor: Annotated[Actor, require_actor(SUBMIT)]) -> dict[str, Any]:
        async with request.app.state.kit.uow() as uow:
            answer = await handlers.prefill_applicant(ctx, uow, actor, body)
            await uow.commit()
        return answer

    @router.get("/v1/dossiers/prefill/log", summary="Report of population-database lookups (who, when, why)")
    async def prefill_log(request: Request, actor: Annotated[Actor, require_actor(READ)],
                          limit: Annotated[int, Query(ge=1, le=500)] = 100) -> dict[str, Any]:
        t = population_lookups
        query = select(t).order_by(t.c.id.desc()).limit(limit)
        if "agency:*" not in actor.permissions:
            query = query.where(t.c.agency == actor.agency)
        async with request.app.state.kit.uow() as uow:
            rows = (await uow.conn.execute(query)).all()
        return {"items": [{"at": r.at.isoformat(), "subject": r.subject_masked, "requested_by": r.requested_by,
                           "agency": r.agency, "purpose": r.purpose, "procedure_code": r.procedure_code,
                           "outcome": r.outcome} for r in rows]}

    def action_route(path: str, model, handler, permission: str, summary: str) -> None:
        async def act(request: Request, ctx: Ctx, dossier_id: str, body: Annotated[model, Body()],  # type: ignore[valid-type]
                      if_match: IfMatch = None, key: OptionalKey = None,
                      actor: Actor = require_actor(permission)) -> Response:
            expected = parse_if_match(if_match)

            async def run(uow) -> Created:
                return Created(200, await handler(ctx, uow, actor, dossier_id, body, expected))
            response = await maybe_idempotent(request.app.state.kit, actor.label, key, await request.body(), run)
            body_json = json.loads(response.body)
            if response.status_code == 200 and "version" in body_json:
                response.headers["ETag"] = f'"{body_json["version"]}"'
            return response
        router.add_api_route(path, act, methods=["POST"], summary=summary)

    action_route("/v1/dossiers/{dossier_id}/accept", AcceptDossier, handlers.accept_dossier, RECEIVE,
                 "Accept at the desk: appointment date fixed, receipt (form 01)")
    action_route("/v1/dossiers/{dossier_id}/supplement-request", RequestSupplement, handlers.request_supplement, RECEIVE,
                 "Ask ONCE for everything missing (form 02)")
    action_route("/v1/dossiers/{dossier_id}/reject", RejectDossier, handlers.reject_dossier, RECEIVE,
                 "Refuse at reception with the reason (form 03)")
    action_route("/v1/dossiers/{dossier_id}/supplements", SupplementDossier, handlers.supplement_dossier, SUBMIT,
                 "The applicant supplies what was asked (at reception or during processing)")
    action_route("/v1/dossiers/{dossier_id}/withdrawal", WithdrawDossier, handlers.withdraw_dossier, SUBMIT,
                 "The applicant withdraws the dossier (stop notice, form 05)")

    @router.get("/v1/dossiers", summary="An agency's dossiers (officers), newest first, cursor pagination")
    async def list_dossiers(request: Request, actor: Annotated[Actor, require_actor(READ)],
                            agency: Annotated[str | None, Query(max_length=32)] = None,
                            status: Annotated[str | None, Query(max_length=32)] = None,
                            cursor: Annotated[str | None, Query(max_length=200)] = None,
                            limit: Annotated[int, Query(ge=1, le=200)] = 50) -> dict[str, Any]:
        agency = agency or actor.agency
        if not actor.may_act_for(agency):
            raise ProblemError(403, "not-your-agency", "You may list only your agency's dossiers")
        t = dossiers
        query = select(t.c.id, t.c.code, t.c.procedure_code, t.c.channel, t.c.status, t.c.version, t.c.submitted_at,
                       t.c.due_at, t.c.applicant_name_masked, tracking_status.c.national_status).outerjoin(
            tracking_status, tracking_status.c.dossier_id == t.c.id).where(
            or_(t.c.receiving_agency == agency, t.c.competent_agency == agency))
        if status:
            query = query.where(t.c.status == status)
        if cursor:
            at, last_id = decode_cursor(cursor)
            query = query.where(or_(t.c.submitted_at < at, and_(t.c.submitted_at == at, t.c.id < last_id)))
        query = query.order_by(t.c.submitted_at.desc(), t.c.id.desc()).limit(limit + 1)
        async with request.app.state.kit.uow() as uow:
            rows = (await uow.conn.execute(query)).all()
        page = rows[:limit]
        next_cursor = encode_cursor(page[-1].submitted_at, page[-1].id) if len(rows) > limit else None
        return {"items": [{"id": r.id, "code": r.code, "procedure_code": r.procedure_code, "channel": r.channel,
                           "status": r.status, "version": r.version, "submitted_at": vn_iso(r.submitted_at),
                           "due_at": vn_iso(r.due_at), "applicant": r.applicant_name_masked,
                           "national_status": r.national_status,
                           "national_status_name": NATIONAL_STATUS_NAMES.get(r.national_status)}
                          for r in page], "next_cursor": next_cursor}

    @router.get("/v1/dossiers/{dossier_id}", summary="The officers' full view of a dossier")
    async def get_dossier(request: Request, ctx: Ctx, dossier_id: str,
                          actor: Annotated[Actor, require_actor(READ)]) -> JSONResponse:
        async with request.app.state.kit.uow() as uow:
            row = await handlers.load_dossier(uow, dossier_id)
            if not (actor.may_act_for(row.receiving_agency) or actor.may_act_for(row.competent_agency)
                    or actor.label == row.submitted_by):
                raise ProblemError(403, "not-your-agency", "This dossier belongs to another agency")
            docs = (await uow.conn.execute(select(dossier_documents).where(
                dossier_documents.c.dossier_id == dossier_id).order_by(dossier_documents.c.id))).all()
            history = (await uow.conn.execute(select(dossier_history).where(
                dossier_history.c.dossier_id == dossier_id).order_by(dossier_history.c.id))).all()
            timeline = await _timeline(uow, dossier_id, public=False)
            national = (await uow.conn.execute(select(tracking_status.c.national_status).where(
                tracking_status.c.dossier_id == dossier_id))).scalar()
        personal = ctx.sealer.open(row.sealed)
        return _etagged({
            "id": row.id, "code": row.code, "status": row.status, "version": row.version,
            "national_status": national, "national_status_name": NATIONAL_STATUS_NAMES.get(national) if national else None,
            "procedure_code": row.procedure_code, "procedure_version": row.procedure_version, "channel": row.channel,
            "receiving_agency": row.receiving_agency, "competent_agency": row.competent_agency,
            "applicant": personal["applicant"], "form": personal["form"], "fee_exemption": personal.get("fee_exemption"),
            "submitted_at": vn_iso(row.submitted_at), "accepted_at": vn_iso(row.accepted_at),
            "answer_due_at": vn_iso(row.answer_due_at), "due_at": vn_iso(row.due_at),
            "supplement_due_at": vn_iso(row.supplement_due_at), "missing_items": row.missing_items,
            "decision_reason": row.decision_reason, "fee_lines": row.fee_lines,
            "documents": [{"code": d.document_code, "stage": d.stage, "filename": d.filename,
                           "content_type": d.content_type, "size": d.size, "sha256": d.sha256} for d in docs],
            "history": [{"at": h.at.isoformat(), "actor": h.actor, "action": h.action, "from": h.from_status,
                         "to": h.to_status, "version": h.version, "note": h.note} for h in history],
            "timeline": timeline, "tracking_url": ctx.tracking_url(row.code)})

    @router.get("/v1/dossiers/{dossier_id}/forms/{form}", summary="Form 01, 02, 03 or 05 as PDF",
                response_class=Response, responses={200: {"content": {"application/pdf": {}}}})
    async def get_form(request: Request, ctx: Ctx, dossier_id: str, form: Literal["01", "02", "03", "05"],
                       actor: Annotated[Actor, require_actor(READ)]) -> Response:
        async with request.app.state.kit.uow() as uow:
            row = await handlers.load_dossier(uow, dossier_id)
            if not (actor.may_act_for(row.receiving_agency) or actor.label == row.submitted_by):
                raise ProblemError(403, "not-your-agency", "This dossier belongs to another agency")
            return await _form_response(ctx, uow, row, form)

    return router


async def _form_response(ctx: Intake, uow, row, form: str) -> Response:
    if not form_available(form, row):
        raise ProblemError(409, "form-not-available", f"Form {form} does not exist for a dossier in status {row.status}",
                           detail_vi="Hồ sơ ở trạng thái hiện tại không có biểu mẫu này.")
    docs = (await uow.conn.execute(select(dossier_documents).where(
        dossier_documents.c.dossier_id == row.id).order_by(dossier_documents.c.id))).all()
    pdf = render_form(form, row, ctx.sealer.open(row.sealed), docs, ctx.catalogue, ctx.calendar.tz,
                      ctx.tracking_url(row.code))
    return Response(pdf, media_type="application/pdf",
                    headers={"Content-Disposition": f'inline; filename="{row.code}-mau-{form}.pdf"'})


async def _timeline(uow, dossier_id: str, *, public: bool) -> list[dict[str, Any]]:
    rows = (await uow.conn.execute(select(tracking_entries).where(tracking_entries.c.dossier_id == dossier_id)
                                      .order_by(tracking_entries.c.occurred_at, tracking_entries.c.id))).all()
    return [{"at": vn_iso(r.occurred_at), "event": r.event_type, "national_status": r.national_status,
             "national_status_name": NATIONAL_STATUS_NAMES.get(r.national_status) if r.national_status else None,
             "title": title(r.event_type), "source": r.source,
             "details": public_details(r.details) if public else r.details}
            for r in rows if not (public and r.event_type in OFFICER_ONLY)]


# --- tracking (public, second factor) ------------------------------------------------------------
class SecondFactorGuard:
    """Too many wrong second factors for one code lock it for a while. The failures live in the
    database, so every replica behind the gateway counts the same attempts."""

    def __init__(self, max_failures: int, window: timedelta = timedelta(minutes=15)) -> None:
        self.max_failures, self.window = max_failures, window

    async def check(self, uow, code: str, now: datetime) -> None:
        t = tracking_failures
        failures = (await uow.conn.execute(select(func.count()).select_from(t).where(
            t.c.code == code, t.c.at > now - self.window))).scalar_one()
        if failures >= self.max_failures:
            raise ProblemError(429, "too-many-attempts", "Too many wrong attempts for this dossier code",
                               "Try again in 15 minutes.", detail_vi="Nhập sai quá nhiều lần; vui lòng thử lại sau 15 phút.",
                               headers={"Retry-After": str(int(self.window.total_seconds()))})

    async def fail(self, uow, code: str, now: datetime) -> None:
        await uow.conn.execute(tracking_failures.insert(), {"code": code[:64], "at": now})
        await uow.commit()


def tracking_router(guard: SecondFactorGuard) -> APIRouter:
    router = APIRouter(tags=["tracking"])
    mismatch = ProblemError(404, "dossier-not-found", "No dossier with this code and second factor",
                            "Check the dossier code and the last 4 digits of the phone (or ID number).",
                            detail_vi="Không tìm thấy hồ sơ với mã và 4 số cuối điện thoại (hoặc số định danh) đã nhập.")

    async def find(request: Request, ctx: Intake, uow, code: str, last4: str):
        await guard.check(uow, code, ctx.now())
        row = (await uow.conn.execute(select(dossiers).where(dossiers.c.code == code))).first()
        # Same answer for an unknown code and a wrong factor: the API does not confirm codes.
        if row is None or row.second_factor_hash != ctx.second_factor_hash(row.id, last4):
            await guard.fail(uow, code, ctx.now())
            raise mismatch
        return row

    @router.get("/v1/tracking/{code}", summary="Public tracking: status, appointment and timeline (masked)")
    async def track(request: Request, ctx: Ctx, code: str, phone_last4: Last4) -> dict[str, Any]:
        async with request.app.state.kit.uow() as uow:
            row = await find(request, ctx, uow, code, phone_last4)
            status = (await uow.conn.execute(select(tracking_status).where(
                tracking_status.c.dossier_id == row.id))).first()
            timeline = await _timeline(uow, row.id, public=True)
        procedure = ctx.catalogue.procedure(row.procedure_code, row.procedure_version)
        national = status.national_status if status else None
        personal = ctx.sealer.open(row.sealed)["applicant"]
        return {"dossier_code": row.code, "procedure_code": row.procedure_code,
                "procedure_name": procedure.name if procedure else row.procedure_code,
                "applicant": row.applicant_name_masked, "phone": mask_digits(personal.get("phone")),
                "email": mask_email(personal.get("email")), "channel": row.channel,
                "national_status": national, "national_status_name": NATIONAL_STATUS_NAMES.get(national) if national else None,
                "submitted_at": vn_iso(row.submitted_at),
                "due_at": vn_iso(status.due_at if status and status.due_at else row.due_at),
                "receipt_url": f"/v1/tracking/{row.code}/receipt?phone_last4={phone_last4}" if row.accepted_at else None,
                "timeline": timeline}

    @router.get("/v1/tracking/{code}/receipt", summary="The receipt and appointment (form 01) as PDF",
                response_class=Response, responses={200: {"content": {"application/pdf": {}}}})
    async def receipt(request: Request, ctx: Ctx, code: str, phone_last4: Last4) -> Response:
        async with request.app.state.kit.uow() as uow:
            row = await find(request, ctx, uow, code, phone_last4)
            return await _form_response(ctx, uow, row, "01")

    @router.post("/v1/tracking/{code}/rating", status_code=201, summary="Rate a finished dossier once (1-5)")
    async def rate(request: Request, ctx: Ctx, code: str, body: Annotated[RateDossier, Body()]) -> dict[str, Any]:
        async with request.app.state.kit.uow() as uow:
            row = await find(request, ctx, uow, code, body.phone_last4)
            answer = await handlers.rate_dossier(ctx, uow, row.id, body)
            await uow.commit()
        return answer

    return router


# --- KPIs ----------------------------------------------------------------------------------------
def kpi_router() -> APIRouter:
    router = APIRouter(tags=["kpis"])

    @router.get("/v1/kpis", summary="The province's indicators per agency / procedure and period (JSON or CSV)")
    async def get_kpis(request: Request, ctx: Ctx, actor: Annotated[Actor, require_actor(KPI)],
                       date_from: Annotated[date, Query(alias="from")], date_to: Annotated[date, Query(alias="to")],
                       agency: Annotated[str | None, Query(max_length=32)] = None,
                       procedure_code: Annotated[str | None, Query(max_length=32)] = None,
                       group_by: Annotated[Literal["none", "agency", "procedure"], Query()] = "none",
                       due_basis: Annotated[Literal["original", "extended"] | None, Query()] = None,
                       format: Annotated[Literal["json", "csv"], Query()] = "json") -> Response:
        start, end = period_bounds(date_from, date_to, ctx.calendar.tz)
        query = select(kpi_facts)
        if agency:
            query = query.where(kpi_facts.c.agency == agency)
        if procedure_code:
            query = query.where(kpi_facts.c.procedure_code == procedure_code)
        async with request.app.state.kit.uow() as uow:
            rows = (await uow.conn.execute(query)).all()
        groups: dict[str, list[kpis.Facts]] = defaultdict(list)
        for r in rows:
            key = {"none": "all", "agency": r.agency, "procedure": r.procedure_code}[group_by] or "unknown"
            groups[key].append(kpis.Facts(
                r.channel, r.online_enabled, r.fee_bearing, r.submitted_at, r.accepted_at, r.refused_at_reception,
                r.supplement_at_reception, r.digitised_input, r.paid_online, r.due_at, r.extended_due_at,
                r.finished_at, r.finish_status, r.electronic_result, r.rating))
        basis = due_basis or ctx.settings.kpi_due_basis
        results = [{"group": key, **kpis.compute(facts, start, end, due_basis=basis)} for key, facts in sorted(groups.items())]
        if format == "csv":
            buffer = io.StringIO()
            columns = ["group", *kpis.compute([], start, end).keys()]
            writer = csv.DictWriter(buffer, fieldnames=columns)
            writer.writeheader()
            writer.writerows(results)
            return Response(buffer.getvalue(), media_type="text/csv; charset=utf-8",
                            headers={"Content-Disposition": f'attachment; filename="kpis-{date_from}-{date_to}.csv"'})
        return JSONResponse({"from": date_from.isoformat(), "to": date_to.isoformat(), "due_basis": basis,
                             "group_by": group_by, "groups": results,
                             "generated_at": datetime.now(UTC).isoformat()})

    return router
