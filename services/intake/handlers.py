"""Intake's use cases: one function per command, one transaction each (the caller's unit of work).

Commands arrive from the API (submit, upload, accept, request a supplement, reject, supplement,
withdraw, rate) and from the sweeper (alert unanswered online submissions, close dossiers not
supplemented in time). Each checks the rules in domain/, writes its rows and history, and queues
its event in the same transaction. Handlers never commit: the caller does, once."""
from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, ClassVar

from sqlalchemy import select, update

from services.intake.adapters.code_numbers import CodeNumbers
from services.intake.adapters.population import CitizenRecord, PopulationClient, PopulationUnavailable
from services.intake.catalogue import Catalogue, Procedure
from services.intake.domain import fees
from services.intake.domain.applicant import Applicant, check_applicant, citizen_id_errors
from services.intake.domain.dossier_code import dossier_code
from services.intake.domain.due_date import appointment, reception_answer_due, supplement_deadline
from services.intake.domain.errors import FieldError
from services.intake.domain.forms import form_errors
from services.intake.domain.reception import Action, DossierFacts, IllegalTransition, Status, transition
from services.intake.models import dossier_documents, dossier_history, dossiers, kpi_facts, \
    population_lookups, tracking_failures, uploads
from services.intake.schemas import AcceptDossier, DocumentRef, Prefill, RateDossier, RejectDossier, \
    RequestSupplement, SubmitDossier, SupplementDossier, WithdrawDossier
from services.intake.settings import IntakeSettings
from shared.auth import Actor
from shared.calendar import WorkingCalendar
from shared.events.catalogue import (ApplicantContact, DossierAccepted, DossierDueDateSet, DossierReceptionOverdue,
                                     DossierRejected, DossierSubmitted, DossierSupplemented,
                                     DossierSupplementRequested, DossierWithdrawn, FeeLine)
from shared.context import ServiceContext
from shared.events.emit import Emitter
from shared.events.envelope import Envelope
from shared.idempotency import Created
from shared.pii import Sealer, mask_digits, mask_name
from shared.problems import ProblemError
from shared.storage import Storage
from shared.uow import UnitOfWork

SNIFFED_TYPES = {b"%PDF-": "application/pdf", b"\xff\xd8\xff": "image/jpeg", b"\x89PNG\r\n\x1a\n": "image/png"}


@dataclass
class Intake(ServiceContext):
    """What intake's handlers are wired with (see bootstrap.py)."""
    settings: IntakeSettings
    catalogue: Catalogue
    calendar: WorkingCalendar
    sealer: Sealer
    storage: Storage
    population: PopulationClient | None
    code_numbers: CodeNumbers

    event: ClassVar[Emitter] = Emitter("intake")

    def tracking_url(self, code: str) -> str:
        return self.url(f"/v1/tracking/{code}")

    def second_factor_hash(self, dossier_id: str, last4: str) -> str:
        return self.sealer.lookup_hash("second-factor", dossier_id, last4)


def _rejected(errors: list[FieldError]) -> ProblemError:
    return ProblemError(422, "dossier-invalid", "The dossier is invalid",
                        "One or more fields are invalid; each error names its field.",
                        detail_vi="Hồ sơ chưa hợp lệ; xem lỗi của từng trường.",
                        errors=[e.as_problem_item() for e in errors])


def _not_found(what: str = "dossier") -> ProblemError:
    return ProblemError(404, f"{what}-not-found", f"No such {what}",
                        detail_vi="Không tìm thấy hồ sơ." if what == "dossier" else "Không tìm thấy.")


# --- uploads -------------------------------------------------------------------------------------
def sniff_type(data: bytes) -> str | None:
    return next((kind for magic, kind in SNIFFED_TYPES.items() if data.startswith(magic)), None)


async def store_upload(ctx: Intake, uow: UnitOfWork, actor: Actor, filename: str, declared_type: str | None,
                       data: bytes) -> Created:
    """Keep an uploaded file (content-addressed) until a submission attaches it to a document."""
    limit = int(ctx.settings.max_upload_mb * 1024 * 1024)
    if not data:
        raise _rejected([FieldError("file", "empty", "the file is empty", "Tệp tin rỗng")])
    if len(data) > limit:
        raise ProblemError(413, "file-too-large", "The file is too large",
                           f"At most {ctx.settings.max_upload_mb:g} MB per file.",
                           detail_vi=f"Tệp tin vượt quá {ctx.settings.max_upload_mb:g} MB.",
                           errors=[{"field": "file", "code": "too-large", "message": f"more than {limit} bytes"}])
    sniffed = sniff_type(data)
    if sniffed is None or (declared_type and declared_type not in (sniffed, "application/octet-stream")):
        raise ProblemError(415, "file-type-not-accepted", "The file type is not accepted",
                           "Upload PDF, JPEG or PNG files; the content must match the declared type.",
                           detail_vi="Chỉ chấp nhận tệp PDF, JPEG hoặc PNG đúng với định dạng khai báo.",
                           errors=[{"field": "file", "code": "type", "message": f"content is {sniffed or 'unknown'}"}])
    sha256 = hashlib.sha256(data).hexdigest()
    upload_id = str(uuid.uuid4())
    # One object per upload (not shared by content): deleting one person's file never touches another's.
    key = f"documents/{upload_id[:2]}/{upload_id}"
    await ctx.storage.put(key, data, sniffed)   # before the row: a row never points at nothing
    safe_name = "".join(c for c in filename if c.isprintable() and c not in "/\\")[:255] or "document"
    await uow.conn.execute(uploads.insert().values(
        id=upload_id, owner=actor.label, filename=safe_name, content_type=sniffed, size=len(data), sha256=sha256,
        storage_key=key, created_at=ctx.now(), attached_to=None))
    body = {"upload_id": upload_id, "sha256": sha256, "size": len(data), "content_type": sniffed, "filename": safe_name}
    return Created(201, body, f"/v1/dossiers/uploads/{upload_id}")


async def _attach_documents(ctx: Intake, uow: UnitOfWork, actor: Actor, procedure: Procedure, refs: list[DocumentRef],
                            field: str) -> tuple[list[dict[str, Any]], list[FieldError]]:
    """Resolve document references to uploads this caller made, checking each document's limits."""
    errors: list[FieldError] = []
    rows: list[dict[str, Any]] = []
    ids = [r.upload_id for r in refs]
    found = {r.id: r for r in (await uow.conn.execute(select(uploads).where(uploads.c.id.in_(ids)))).all()} if ids else {}
    seen: set[str] = set()
    for index, ref in enumerate(refs):
        where = f"{field}[{index}]"
        document = procedure.document(ref.code)
        upload = found.get(ref.upload_id)
        if document is None:
            errors.append(FieldError(f"{where}.code", "document-unknown", f"{ref.code!r} is not a document of this procedure",
                                     "Thành phần hồ sơ không thuộc thủ tục này"))
            continue
        if upload is None or upload.owner != actor.label or upload.attached_to is not None or ref.upload_id in seen:
            errors.append(FieldError(f"{where}.upload_id", "upload-unknown", "no such upload of yours (or already used)",
                                     "Không tìm thấy tệp đã tải lên (hoặc tệp đã được sử dụng)"))
            continue
        seen.add(ref.upload_id)
        if upload.content_type not in document.accepted_types:
            errors.append(FieldError(f"{where}.upload_id", "document-type",
                                     f"{document.name}: accepted types are {', '.join(document.accepted_types)}",
                                     f"{document.name}: chỉ chấp nhận {', '.join(document.accepted_types)}"))
        if upload.size > document.max_size_bytes:
            errors.append(FieldError(f"{where}.upload_id", "document-too-large",
                                     f"{document.name}: at most {document.max_size_mb:g} MB",
                                     f"{document.name}: dung lượng tối đa {document.max_size_mb:g} MB"))
        rows.append({"document_code": ref.code, "upload_id": upload.id, "filename": upload.filename,
                     "content_type": upload.content_type, "size": upload.size, "sha256": upload.sha256,
                     "storage_key": upload.storage_key})
    return rows, errors


async def _save_documents(uow: UnitOfWork, dossier_id: str, rows: list[dict[str, Any]], stage: str, now: datetime) -> None:
    if not rows:
        return
    await uow.conn.execute(dossier_documents.insert(), [
        {**row, "dossier_id": dossier_id, "stage": stage, "attached_at": now} for row in rows])
    claimed = await uow.conn.execute(update(uploads).where(
        uploads.c.id.in_([r["upload_id"] for r in rows]), uploads.c.attached_to.is_(None)).values(attached_to=dossier_id))
    if claimed.rowcount != len(rows):   # a concurrent submission took one of them first
        raise ProblemError(409, "upload-already-used", "An upload was attached to another dossier meanwhile",
                           detail_vi="Một tệp vừa được dùng cho hồ sơ khác; hãy tải lên lại.")


# --- submission ----------------------------------------------------------------------------------
async def next_dossier_code(ctx: Intake, agency: str, moment: datetime) -> str:
    day = moment.astimezone(ctx.calendar.tz).date()
    sequence = await ctx.code_numbers.next(agency, day)
    return dossier_code(agency, day, sequence, width=ctx.settings.dossier_code_width,
                        system_prefix=ctx.settings.dossier_code_system_prefix)


def _second_factor(applicant: Applicant) -> str:
    """Last 4 digits of the phone, else of the ID number: what the citizen types to look it up."""
    source = applicant.phone or applicant.citizen_id or applicant.tax_code or ""
    return "".join(c for c in source if c.isdigit())[-4:]


async def submit_dossier(ctx: Intake, uow: UnitOfWork, actor: Actor, cmd: SubmitDossier) -> Created:
    procedure = ctx.catalogue.procedure(cmd.procedure_code)
    if procedure is None:
        raise _rejected([FieldError("procedure_code", "procedure-unknown", f"no procedure {cmd.procedure_code!r}",
                                    f"Không có thủ tục mã {cmd.procedure_code}")])
    errors: list[FieldError] = []
    if cmd.applicant.kind not in procedure.applicant_types:
        errors.append(FieldError("applicant.kind", "applicant-kind", f"this procedure is for: {', '.join(procedure.applicant_types)}",
                                 "Đối tượng thực hiện không phù hợp với thủ tục"))
    a = cmd.applicant
    applicant, applicant_errors = check_applicant(a.kind, a.full_name, a.citizen_id, a.tax_code, a.phone, a.email, a.address)
    errors += applicant_errors
    errors += form_errors(procedure.form, cmd.form)
    exemption = cmd.fee_exemption
    errors += fees.exemption_errors(procedure, exemption.group if exemption else None,
                                    exemption.proof_reference if exemption else None)
    receiving = cmd.receiving_agency or procedure.competent_agency
    if receiving not in ctx.catalogue.agencies:
        errors.append(FieldError("receiving_agency", "agency-unknown", f"unknown agency {receiving}",
                                 "Cơ quan tiếp nhận không tồn tại"))
    elif cmd.channel == "desk" and not actor.may_act_for(receiving):
        errors.append(FieldError("receiving_agency", "agency-not-yours", "a desk submission is made at your own agency's desk",
                                 "Chỉ tiếp nhận trực tiếp tại bộ phận một cửa của cơ quan mình"))
    documents, document_errors = await _attach_documents(ctx, uow, actor, procedure, cmd.documents, "documents")
    errors += document_errors
    if cmd.channel == "online":
        given = {d["document_code"] for d in documents}
        for index, doc in enumerate(procedure.documents):
            if doc.requirement == "mandatory" and doc.code not in given:
                errors.append(FieldError(f"documents.{doc.code}", "document-missing", f"{doc.name} is required",
                                         f"Thiếu thành phần hồ sơ bắt buộc: {doc.name}"))
    if errors or applicant is None:
        raise _rejected(errors)

    now = ctx.now()
    dossier_id = str(uuid.uuid4())
    answer_due = reception_answer_due(now, ctx.calendar, ctx.settings.reception_answer_hours) \
        if cmd.channel == "online" else None
    sealed = ctx.sealer.seal({
        "applicant": {"kind": applicant.kind, "full_name": applicant.full_name, "citizen_id": applicant.citizen_id,
                      "tax_code": applicant.tax_code, "phone": applicant.phone, "email": applicant.email,
                      "address": applicant.address, "channels": a.channels, "non_essential": a.non_essential},
        "form": cmd.form,
        "fee_exemption": exemption.model_dump() if exemption else None,
    })
    code = await next_dossier_code(ctx, receiving, now)
    await uow.conn.execute(dossiers.insert(), dict(   # a prebuilt statement: parameters only
        id=dossier_id, code=code, procedure_code=procedure.code, procedure_version=procedure.version,
        channel=cmd.channel, receiving_agency=receiving, competent_agency=procedure.competent_agency,
        applicant_kind=applicant.kind, applicant_name_masked=mask_name(applicant.full_name),
        second_factor_hash=ctx.second_factor_hash(dossier_id, _second_factor(applicant)), sealed=sealed,
        status=Status.SUBMITTED.value, version=1, submitted_at=now, answer_due_at=answer_due,
        supplement_requests=0, fee_exemption_group=exemption.group if exemption else None,
        processing_supplement_open=False, result_issued=False, submitted_by=actor.label, updated_at=now))
    await _save_documents(uow, dossier_id, documents, "submission", now)
    await _history(uow, dossier_id, now, actor, "submit", None, Status.SUBMITTED, 1, f"channel={cmd.channel}")
    uow.publish(ctx.event(DossierSubmitted(
        dossier_id=dossier_id, dossier_code=code, procedure_code=procedure.code, procedure_version=procedure.version,
        procedure_name=procedure.name, channel=cmd.channel, receiving_agency=receiving,
        competent_agency=procedure.competent_agency, submitted_at=now, answer_due_at=answer_due,
        documents=len(documents), applicant_ref=ctx.sealer.lookup_hash(
            "applicant", applicant.citizen_id or applicant.tax_code) if (applicant.citizen_id or applicant.tax_code) else None,
        contact=ApplicantContact(kind=applicant.kind, name=applicant.full_name, phone=applicant.phone,
                                 email=applicant.email, channels=a.channels, non_essential=a.non_essential))))
    body = {"id": dossier_id, "code": code, "status": Status.SUBMITTED.value, "version": 1,
            "procedure_code": procedure.code, "procedure_version": procedure.version, "channel": cmd.channel,
            "receiving_agency": receiving, "submitted_at": now.isoformat(),
            "answer_due_at": answer_due.isoformat() if answer_due else None,
            "tracking_url": ctx.tracking_url(code), "second_factor": "last 4 digits of the applicant's phone "
            "(or of the ID number when no phone was given)"}
    return Created(201, body, f"/v1/dossiers/{dossier_id}")


async def prefill_applicant(ctx: Intake, uow: UnitOfWork, actor: Actor, cmd: Prefill) -> dict[str, Any]:
    """Pre-fill from the population database, logging who asked, when and why (every lookup)."""
    errors = citizen_id_errors(cmd.citizen_id, "citizen_id")
    if errors:
        raise _rejected(errors)
    if ctx.population is None:
        outcome, record = "unavailable", None
    else:
        try:
            record = await ctx.population.lookup(cmd.citizen_id, purpose=cmd.purpose, requester=actor.label)
            outcome = "found" if record else "not_found"
        except PopulationUnavailable:
            outcome, record = "unavailable", None
    await uow.conn.execute(population_lookups.insert().values(
        subject_hash=ctx.sealer.lookup_hash("citizen", cmd.citizen_id), subject_masked=mask_digits(cmd.citizen_id),
        requested_by=actor.label, agency=actor.agency, purpose=cmd.purpose, procedure_code=cmd.procedure_code,
        outcome=outcome, at=ctx.now()))
    return {"outcome": outcome, "applicant": _prefill_body(cmd.citizen_id, record) if record else None,
            "message_vi": {"found": "Đã lấy thông tin từ Cơ sở dữ liệu quốc gia về dân cư.",
                           "not_found": "Không tìm thấy công dân; vui lòng tự khai thông tin.",
                           "unavailable": "Chưa kết nối được Cơ sở dữ liệu quốc gia về dân cư; vui lòng tự khai thông tin."}[outcome]}


def _prefill_body(citizen_id: str, record: CitizenRecord) -> dict[str, Any]:
    data = record.data
    address = (data.get("current_address") or data.get("permanent_address") or {}).get("detail")
    return {"kind": "person", "full_name": data.get("full_name"), "citizen_id": citizen_id, "address": address,
            "sex": data.get("sex"), "date_of_birth": data.get("date_of_birth"), "ethnicity": data.get("ethnicity"),
            "nationality": data.get("nationality"), "home_town": data.get("home_town"),
            "permanent_address": data.get("permanent_address"), "father_name": data.get("father_name"),
            "mother_name": data.get("mother_name"), "spouse_name": data.get("spouse_name")}


# --- reception -----------------------------------------------------------------------------------
async def _history(uow: UnitOfWork, dossier_id: str, at: datetime, actor: Actor | str, action: str,
                   from_status: Status | None, to_status: Status, version: int, note: str | None) -> None:
    await uow.conn.execute(dossier_history.insert(), dict(
        dossier_id=dossier_id, at=at, actor=actor if isinstance(actor, str) else actor.label, action=action,
        from_status=from_status.value if from_status else None, to_status=to_status.value, version=version, note=note))


async def load_dossier(uow: UnitOfWork, dossier_id: str):
    row = (await uow.conn.execute(select(dossiers).where(dossiers.c.id == dossier_id))).first()
    if row is None:
        raise _not_found()
    return row


def _conflict(row) -> ProblemError:
    return ProblemError(409, "dossier-changed", "The dossier changed meanwhile",
                        f"The dossier is now at version {row.version} with status {row.status}; reload and retry.",
                        detail_vi="Hồ sơ vừa được người khác cập nhật; hãy tải lại và thực hiện lại.",
                        errors=[{"field": "header.If-Match", "message": f"current version is {row.version}",
                                 "current_status": row.status, "current_version": row.version}])


async def _move(ctx: Intake, uow: UnitOfWork, actor: Actor | str, row, action: Action, expected_version: int | None,
                note: str | None, **changes: Any) -> tuple[Status, int, datetime]:
    """Check the transition, then update with optimistic locking and write the history row."""
    if expected_version is not None and expected_version != row.version:
        raise _conflict(row)
    facts = DossierFacts(Status(row.status), row.supplement_requests, row.processing_supplement_open, row.result_issued)
    try:
        step = transition(facts, action)
    except IllegalTransition as exc:
        raise ProblemError(409, "transition-not-allowed", "This action is not allowed now", exc.reason,
                           detail_vi=exc.reason_vi,
                           errors=[{"field": "status", "message": exc.reason, "current_status": row.status}]) from None
    now = ctx.now()
    version = row.version + 1
    result = await uow.conn.execute(update(dossiers).where(dossiers.c.id == row.id, dossiers.c.version == row.version)
                                       .values(status=step.to.value, version=version, updated_at=now, **changes))
    if result.rowcount != 1:   # another officer's action won the race
        raise _conflict(await load_dossier(uow, row.id))
    await _history(uow, row.id, now, actor, action.value, Status(row.status), step.to, version, note)
    return step.to, version, now


def _check_receiver(actor: Actor, row) -> None:
    if not actor.may_act_for(row.receiving_agency):
        raise ProblemError(403, "not-your-agency", "Only the receiving agency's desk may do this",
                           detail_vi="Chỉ bộ phận tiếp nhận của cơ quan nhận hồ sơ được thực hiện thao tác này.")


def _check_applicant_side(actor: Actor, row) -> None:
    """Supplements and withdrawals come from whoever submitted, or from the receiving desk."""
    if actor.label != row.submitted_by and not actor.may_act_for(row.receiving_agency):
        raise ProblemError(403, "not-your-dossier", "Only the submitter or the receiving desk may do this",
                           detail_vi="Chỉ bên đã nộp hồ sơ hoặc bộ phận tiếp nhận được thực hiện thao tác này.")


def dossier_state(row, *, status: Status, version: int) -> dict[str, Any]:
    return {"id": row.id, "code": row.code, "status": status.value, "version": version}


async def accept_dossier(ctx: Intake, uow: UnitOfWork, actor: Actor, dossier_id: str, cmd: AcceptDossier,
                         if_match: int | None) -> dict[str, Any]:
    row = await load_dossier(uow, dossier_id)
    _check_receiver(actor, row)
    procedure = ctx.catalogue.procedure(row.procedure_code, row.procedure_version)
    if procedure is None:
        raise ProblemError(409, "procedure-version-retired", "The procedure version of this dossier is no longer on file")
    scans, errors = await _attach_documents(ctx, uow, actor, procedure, cmd.documents, "documents")
    if errors:
        raise _rejected(errors)
    personal = ctx.sealer.open(row.sealed)
    now = ctx.now()
    assessed = fees.assess(procedure, personal["form"], online=row.channel == "online",
                           exemption_group=row.fee_exemption_group)
    # An exempt applicant of a fee-first procedure pays nothing: the clock starts now, nothing waits.
    fee_first = procedure.fee_first and any(f.amount > 0 for f in assessed)
    due = None if fee_first else appointment(procedure.processing_time, now, ctx.calendar)
    fee_lines = [FeeLine(code=f.code, name=f.name, kind=f.kind, amount=f.amount, collecting_agency=f.collecting_agency,
                         refundable_on=list(f.refundable_on)) for f in assessed]
    status, version, now = await _move(ctx, uow, actor, row, Action.ACCEPT, if_match, cmd.note, accepted_at=now, due_at=due,
                                       clock_started_at=None if fee_first else now,
                                       fee_lines=[f.model_dump() for f in fee_lines])
    await _save_documents(uow, row.id, scans, "reception", now)
    has_documents = bool(scans) or bool((await uow.conn.execute(
        select(dossier_documents.c.id).where(dossier_documents.c.dossier_id == row.id).limit(1))).first())
    uow.publish(ctx.event(DossierAccepted(
        dossier_id=row.id, dossier_code=row.code, procedure_code=procedure.code, procedure_version=procedure.version,
        channel=row.channel, receiving_agency=row.receiving_agency, competent_agency=row.competent_agency,
        competent_agency_name=ctx.catalogue.agency_name(row.competent_agency), procedure_name=procedure.name,
        accepted_at=now, due_at=due, fee_lines=fee_lines, payment_timing=procedure.payment.timing,
        clock_starts="payment" if fee_first else "acceptance", workflow=procedure.workflow,
        result_template=procedure.result_template, online_level=procedure.online_level, digitised=has_documents)))
    return {**dossier_state(row, status=status, version=version), "accepted_at": now.isoformat(),
            "due_at": due.isoformat() if due else None, "clock_starts": "payment" if fee_first else "acceptance",
            "fee_lines": [f.model_dump() for f in fee_lines], "receipt_url": f"/v1/dossiers/{row.id}/forms/01"}


async def request_supplement(ctx: Intake, uow: UnitOfWork, actor: Actor, dossier_id: str, cmd: RequestSupplement,
                             if_match: int | None) -> dict[str, Any]:
    row = await load_dossier(uow, dossier_id)
    _check_receiver(actor, row)
    procedure = ctx.catalogue.procedure(row.procedure_code, row.procedure_version)
    errors = [FieldError(f"items[{i}].document_code", "document-unknown", "not a document of this procedure",
                         "Thành phần hồ sơ không thuộc thủ tục này")
              for i, item in enumerate(cmd.items) if item.document_code and not (procedure and procedure.document(item.document_code))]
    if errors:
        raise _rejected(errors)
    now = ctx.now()
    days = procedure.supplement_deadline_working_days if procedure else 15
    complete_by = supplement_deadline(now, ctx.calendar, days)
    missing = [item.description for item in cmd.items]
    status, version, now = await _move(ctx, uow, actor, row, Action.REQUEST_SUPPLEMENT, if_match, cmd.note,
                                       supplement_requests=row.supplement_requests + 1, supplement_due_at=complete_by,
                                       missing_items=[i.model_dump() for i in cmd.items])
    uow.publish(ctx.event(DossierSupplementRequested(dossier_id=row.id, missing_items=missing, requested_at=now,
                                                     complete_by=complete_by)))
    return {**dossier_state(row, status=status, version=version), "complete_by": complete_by.isoformat(),
            "missing_items": missing, "notice_url": f"/v1/dossiers/{row.id}/forms/02"}


async def reject_dossier(ctx: Intake, uow: UnitOfWork, actor: Actor, dossier_id: str, cmd: RejectDossier,
                         if_match: int | None) -> dict[str, Any]:
    row = await load_dossier(uow, dossier_id)
    _check_receiver(actor, row)
    status, version, now = await _move(ctx, uow, actor, row, Action.REJECT, if_match, cmd.reason, decision_reason=cmd.reason)
    uow.publish(ctx.event(DossierRejected(dossier_id=row.id, reason=cmd.reason, rejected_at=now)))
    return {**dossier_state(row, status=status, version=version), "notice_url": f"/v1/dossiers/{row.id}/forms/03"}


async def supplement_dossier(ctx: Intake, uow: UnitOfWork, actor: Actor, dossier_id: str, cmd: SupplementDossier,
                             if_match: int | None) -> dict[str, Any]:
    row = await load_dossier(uow, dossier_id)
    _check_applicant_side(actor, row)
    procedure = ctx.catalogue.procedure(row.procedure_code, row.procedure_version)
    assert procedure is not None
    documents, errors = await _attach_documents(ctx, uow, actor, procedure, cmd.documents, "documents")
    if cmd.form is not None:
        errors += form_errors(procedure.form, cmd.form)
    if not documents and cmd.form is None and not errors:
        errors.append(FieldError("documents", "supplement-empty", "send the missing documents or the corrected form",
                                 "Cần gửi giấy tờ còn thiếu hoặc tờ khai đã sửa"))
    if errors:
        raise _rejected(errors)
    stage = "processing" if row.status == Status.ACCEPTED.value else "reception"
    changes: dict[str, Any] = {"processing_supplement_open": False}
    if stage == "reception":
        # The clock restarts from zero: the desk answers the completed dossier as if new.
        changes.update(supplement_due_at=None, answer_due_at=reception_answer_due(
            ctx.now(), ctx.calendar, ctx.settings.reception_answer_hours) if row.channel == "online" else None,
            answer_alerted_at=None)
    if cmd.form is not None:
        personal = ctx.sealer.open(row.sealed)
        changes["sealed"] = ctx.sealer.seal({**personal, "form": cmd.form})
    status, version, now = await _move(ctx, uow, actor, row, Action.SUPPLEMENT, if_match, cmd.note, **changes)
    await _save_documents(uow, row.id, documents, "supplement", now)
    uow.publish(ctx.event(DossierSupplemented(dossier_id=row.id, supplemented_at=now, stage=stage)))
    return dossier_state(row, status=status, version=version) | {"stage": stage}


async def withdraw_dossier(ctx: Intake, uow: UnitOfWork, actor: Actor, dossier_id: str, cmd: WithdrawDossier,
                           if_match: int | None) -> dict[str, Any]:
    row = await load_dossier(uow, dossier_id)
    _check_applicant_side(actor, row)
    status, version, now = await _move(ctx, uow, actor, row, Action.WITHDRAW, if_match, cmd.reason,
                                       decision_reason=cmd.reason)
    uow.publish(ctx.event(DossierWithdrawn(dossier_id=row.id, reason=cmd.reason, withdrawn_at=now)))
    return {**dossier_state(row, status=status, version=version), "notice_url": f"/v1/dossiers/{row.id}/forms/05"}


async def rate_dossier(ctx: Intake, uow: UnitOfWork, dossier_id: str, cmd: RateDossier) -> dict[str, Any]:
    facts = (await uow.conn.execute(select(kpi_facts).where(kpi_facts.c.dossier_id == dossier_id))).first()
    if facts is None or facts.finish_status not in (7, 9, 10):
        raise ProblemError(409, "dossier-not-finished", "Only a finished dossier can be rated",
                           detail_vi="Chỉ đánh giá được hồ sơ đã giải quyết xong.")
    result = await uow.conn.execute(update(kpi_facts).where(kpi_facts.c.dossier_id == dossier_id,
                                                               kpi_facts.c.rating.is_(None))
                                       .values(rating=cmd.score, rating_comment=cmd.comment, rated_at=ctx.now()))
    if result.rowcount != 1:
        raise ProblemError(409, "already-rated", "This dossier has already been rated",
                           detail_vi="Hồ sơ này đã được đánh giá.")
    return {"dossier_id": dossier_id, "score": cmd.score}


# --- sweeps (idempotent across replicas: each claims its rows with a conditional UPDATE) ---------
async def alert_unanswered_online(ctx: Intake, uow: UnitOfWork) -> int:
    now = ctx.now()
    due = (await uow.conn.execute(select(dossiers.c.id, dossiers.c.receiving_agency, dossiers.c.submitted_at,
                                            dossiers.c.answer_due_at).where(
        dossiers.c.status == Status.SUBMITTED.value, dossiers.c.answer_due_at <= now,
        dossiers.c.answer_alerted_at.is_(None)).limit(500))).all()
    alerted = 0
    for row in due:
        claimed = await uow.conn.execute(update(dossiers).where(dossiers.c.id == row.id,
                                                                   dossiers.c.answer_alerted_at.is_(None))
                                            .values(answer_alerted_at=now))
        if claimed.rowcount == 1:
            uow.publish(ctx.event(DossierReceptionOverdue(dossier_id=row.id, receiving_agency=row.receiving_agency,
                                                          submitted_at=row.submitted_at, answer_due_at=row.answer_due_at)))
            alerted += 1
    return alerted


async def close_unsupplemented(ctx: Intake, uow: UnitOfWork) -> int:
    now = ctx.now()
    rows = (await uow.conn.execute(select(dossiers).where(
        dossiers.c.status == Status.SUPPLEMENT_REQUESTED.value, dossiers.c.supplement_due_at <= now).limit(500))).all()
    closed = 0
    reason = "Hồ sơ không được bổ sung đầy đủ trong thời hạn quy định"
    for row in rows:
        try:
            _, _, at = await _move(ctx, uow, "system:sweeper", row, Action.EXPIRE_SUPPLEMENT, None, reason,
                                   decision_reason=reason)
        except ProblemError:   # another replica closed it first
            continue
        uow.publish(ctx.event(DossierRejected(dossier_id=row.id, reason=reason, rejected_at=at,
                                              cause="supplement_not_received")))
        closed += 1
    return closed


async def purge_unattached_uploads(ctx: Intake, uow: UnitOfWork) -> list[str]:
    """Uploads no dossier took within the retention are personal data without a purpose: delete
    their rows. Returns their files' keys, for the caller to delete once this has committed (a
    crash in between leaves an orphan file, never a row without its file)."""
    cutoff = ctx.now() - timedelta(hours=ctx.settings.upload_retention_hours)
    stale = (await uow.conn.execute(select(uploads.c.id, uploads.c.storage_key).where(
        uploads.c.attached_to.is_(None), uploads.c.created_at < cutoff).limit(1000))).all()
    if stale:
        await uow.conn.execute(uploads.delete().where(uploads.c.id.in_([r.id for r in stale]),
                                                      uploads.c.attached_to.is_(None)))
    return [r.storage_key for r in stale]


async def purge_tracking_failures(ctx: Intake, uow: UnitOfWork) -> int:
    """Wrong-second-factor records past any lockout window have served their purpose."""
    result = await uow.conn.execute(tracking_failures.delete().where(
        tracking_failures.c.at < ctx.now() - timedelta(days=1)))
    return result.rowcount or 0


# --- effects of other services' events on the write model ----------------------------------------
async def start_clock_on_payment(ctx: Intake, uow: UnitOfWork, dossier_id: str, paid_at: datetime,
                                 cause: Envelope) -> None:
    """Fee-first procedures: the appointment date counts from the payment."""
    row = (await uow.conn.execute(select(dossiers).where(dossiers.c.id == dossier_id))).first()
    if row is None or row.status != Status.ACCEPTED.value or row.clock_started_at is not None:
        return
    procedure = ctx.catalogue.procedure(row.procedure_code, row.procedure_version)
    if procedure is None or not procedure.fee_first:
        return
    due = appointment(procedure.processing_time, paid_at, ctx.calendar)
    await uow.conn.execute(update(dossiers).where(dossiers.c.id == dossier_id)
                              .values(clock_started_at=paid_at, due_at=due, updated_at=ctx.now()))
    uow.publish(ctx.event(DossierDueDateSet(dossier_id=dossier_id, clock_started_at=paid_at, due_at=due), cause))
