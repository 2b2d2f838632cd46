"""Results' use cases.

From events: remember the dossier's holder and channel (dossier.submitted, sealed), its agency
and payment timing (dossier.accepted), issue the result on dossier.decided - at once, or once the
fee is paid for procedures that collect on result - as a signed PDF, exactly once per decision
(a unique key per dossier and kind; the inbox already makes it once).

From the API: return online (a short-lived signed link after the citizen proves ownership), at
the desk (who collected, with which ID document) or by post (an order with the postal service,
delivered when its confirmation arrives); revoke; verify; let another agency find a citizen's
valid results with a legal basis, every access in an append-only audit log; digitise paper results."""
from __future__ import annotations

import base64
import hashlib
import hmac
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import select, update

from services.results.adapters.postal import PostalClient, PostalRefused, PostalUnavailable
from services.results.adapters.signing import Signer
from services.results.documents import render_result
from services.results.models import dossiers, exchange_audit, number_sequences, postal_orders, results
from services.results.settings import ResultsSettings
from shared.auth import Actor
from shared.calendar import VIETNAM_TZ
from shared.db import insert_if_absent
from shared.events.catalogue import (DossierAccepted, DossierDecided, DossierSubmitted, ResultIssued,
                                     ResultReturned, ResultReused)
from shared.context import ServiceContext
from shared.events.emit import Emitter
from shared.events.envelope import Envelope
from shared.pii import Sealer, mask_digits, mask_name
from shared.problems import ProblemError
from shared.storage import Storage
from shared.uow import UnitOfWork

UowFactory = Callable[[], UnitOfWork]


@dataclass
class Results(ServiceContext):
    """What results' handlers are wired with (see bootstrap.py)."""
    settings: ResultsSettings
    signer: Signer
    storage: Storage
    sealer: Sealer
    postal: PostalClient | None

    event: ClassVar[Emitter] = Emitter("results")

    def applicant_ref(self, identifier: str) -> str:
        """The same keyed hash intake puts in dossier.submitted (the number itself is never stored)."""
        return self.sealer.lookup_hash("applicant", identifier.strip())

    # --- short-lived download links -----------------------------------------------------------------
    def download_token(self, result_id: str, audience: str) -> tuple[str, int]:
        expires = int(time.time()) + self.settings.download_link_ttl_s
        payload = f"{result_id}|{audience}|{expires}"
        mac = hmac.new(self.settings.download_link_secret.get_secret_value().encode(), payload.encode(),
                       hashlib.sha256).hexdigest()[:32]
        return base64.urlsafe_b64encode(f"{payload}|{mac}".encode()).decode().rstrip("="), expires

    def open_token(self, token: str) -> tuple[str, str]:
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
            result_id, audience, expires, mac = raw.split("|")
        except (ValueError, UnicodeDecodeError):
            raise _gone() from None
        expected = hmac.new(self.settings.download_link_secret.get_secret_value().encode(),
                            f"{result_id}|{audience}|{expires}".encode(), hashlib.sha256).hexdigest()[:32]
        if not hmac.compare_digest(mac.encode(), expected.encode()) or not expires.isdigit() or int(expires) < time.time():
            raise _gone()
        return result_id, audience


def _gone() -> ProblemError:
    return ProblemError(410, "link-expired", "This download link is invalid or has expired",
                        detail_vi="Đường dẫn tải kết quả không hợp lệ hoặc đã hết hạn; vui lòng yêu cầu đường dẫn mới.")


def _not_found() -> ProblemError:
    return ProblemError(404, "result-not-found", "No such result", detail_vi="Không tìm thấy kết quả.")


async def load_result(uow: UnitOfWork, result_id: str):
    row = (await uow.conn.execute(select(results).where(results.c.id == result_id))).first()
    if row is None:
        raise _not_found()
    return row


# --- from events --------------------------------------------------------------------------------------
async def on_submitted(ctx: Results, uow: UnitOfWork, data: DossierSubmitted) -> None:
    contact = data.contact
    await insert_if_absent(uow.conn, dossiers, dict(
        dossier_id=data.dossier_id, dossier_code=data.dossier_code, procedure_code=data.procedure_code,
        procedure_name=data.procedure_name, channel=data.channel, applicant_ref=data.applicant_ref,
        holder=ctx.sealer.seal({"name": contact.name, "kind": contact.kind}) if contact else None,
        competent_agency=data.competent_agency, paid=False))


async def on_accepted(uow: UnitOfWork, data: DossierAccepted) -> None:
    await uow.conn.execute(update(dossiers).where(dossiers.c.dossier_id == data.dossier_id).values(
        competent_agency=data.competent_agency, competent_agency_name=data.competent_agency_name,
        procedure_name=data.procedure_name or dossiers.c.procedure_name, payment_timing=data.payment_timing))


async def on_paid(ctx: Results, uow: UnitOfWork, envelope: Envelope, dossier_id: str) -> None:
    await uow.conn.execute(update(dossiers).where(dossiers.c.dossier_id == dossier_id).values(paid=True))
    dossier = (await uow.conn.execute(select(dossiers).where(dossiers.c.dossier_id == dossier_id))).first()
    if dossier is not None and dossier.decision:
        await issue(ctx, uow, dossier, dossier.decision, envelope)


async def on_decided(ctx: Results, uow: UnitOfWork, envelope: Envelope, data: DossierDecided) -> None:
    dossier = (await uow.conn.execute(select(dossiers).where(dossiers.c.dossier_id == data.dossier_id))).first()
    if dossier is None:
        raise LookupError(f"dossier {data.dossier_id} decided before results saw it submitted")
    decision = {"outcome": data.outcome, "agency": data.decided_by_agency, "decided_at": data.decided_at.isoformat(),
                "reason": data.reason, "template": data.result_template}
    collects_on_result = (data.payment_timing or dossier.payment_timing) == "on_result"
    if data.outcome == "approved" and collects_on_result and not dossier.paid:
        await uow.conn.execute(update(dossiers).where(dossiers.c.dossier_id == data.dossier_id).values(decision=decision))
        return   # issued once the fee is paid (payment.succeeded)
    await issue(ctx, uow, dossier, decision, envelope)


async def next_number(uow: UnitOfWork, agency: str, year: int) -> int:
    """Gapless per issuing agency and year; the row lock holds until commit."""
    await insert_if_absent(uow.conn, number_sequences, {"agency": agency, "year": year, "last": 0})
    await uow.conn.execute(update(number_sequences).where(number_sequences.c.agency == agency,
                                                          number_sequences.c.year == year)
                           .values(last=number_sequences.c.last + 1))
    return (await uow.conn.execute(select(number_sequences.c.last).where(
        number_sequences.c.agency == agency, number_sequences.c.year == year))).scalar_one()


def verify_url(ctx: Results, number: str) -> str:
    return ctx.url(f"/v1/results/verify?number={number}")


async def issue(ctx: Results, uow: UnitOfWork, dossier, decision: dict[str, Any], causation: Envelope | None) -> None:
    kind = "approval" if decision["outcome"] == "approved" else "refusal"
    exists = (await uow.conn.execute(select(results.c.id).where(results.c.dossier_id == dossier.dossier_id,
                                                                results.c.kind == kind))).first()
    if exists:
        return
    now = ctx.now()
    decided_at = datetime.fromisoformat(decision["decided_at"])
    agency = decision["agency"] or dossier.competent_agency
    agency_name = dossier.competent_agency_name or agency
    year = decided_at.astimezone(VIETNAM_TZ).year
    sequence = await next_number(uow, agency, year)
    number = f"{sequence:05d}/{year}/{'TB' if kind == 'refusal' else 'KQ'}-{agency}"
    holder = ctx.sealer.open(dossier.holder) if dossier.holder else {"name": "—"}
    pdf = render_result(kind=kind, template=decision.get("template"), number=number, agency_name=agency_name,
                        holder_name=holder["name"], dossier_code=dossier.dossier_code,
                        procedure_name=dossier.procedure_name or dossier.procedure_code, decided_at=decided_at,
                        reason=decision.get("reason"), province=ctx.settings.province_name,
                        verify_url=verify_url(ctx, number), tz=VIETNAM_TZ)
    signed = await ctx.signer.sign(pdf, agency=agency, agency_name=agency_name,
                                   reason="Ký số kết quả giải quyết thủ tục hành chính")
    result_id = str(uuid.uuid4())
    key = f"results/{year}/{result_id}.pdf"
    await ctx.storage.put(key, signed, "application/pdf")   # before the row: a row never points at nothing
    digest = hashlib.sha256(signed).hexdigest()
    await uow.conn.execute(results.insert(), dict(
        id=result_id, dossier_id=dossier.dossier_id, dossier_code=dossier.dossier_code, kind=kind,
        procedure_code=dossier.procedure_code, template=decision.get("template"), document_number=number,
        issuing_agency=agency, applicant_ref=dossier.applicant_ref, holder_name_masked=mask_name(holder["name"]),
        storage_key=key, sha256=digest, size=len(signed), state="issued", version=1, issued_at=now))
    uow.publish(ctx.event(ResultIssued(dossier_id=dossier.dossier_id, result_id=result_id, document_number=number,
                                       issuing_agency=agency, sha256=digest, verify_url=verify_url(ctx, number),
                                       issued_at=now, kind=kind), causation))


# --- return ------------------------------------------------------------------------------------------
async def _mark_returned(ctx: Results, uow: UnitOfWork, row, channel: str, detail: dict[str, Any]) -> dict[str, Any]:
    now = ctx.now()
    updated = await uow.conn.execute(update(results).where(
        results.c.id == row.id, results.c.version == row.version, results.c.state.in_(("issued", "in_transit")))
        .values(state="returned", returned_at=now, return_channel=channel, return_detail=detail,
                version=row.version + 1))
    if updated.rowcount != 1:
        raise ProblemError(409, "result-not-returnable", "The result was returned, revoked or changed meanwhile",
                           detail_vi="Kết quả đã được trả, đã bị thu hồi hoặc vừa thay đổi.")
    if row.dossier_id:
        uow.publish(ctx.event(ResultReturned(dossier_id=row.dossier_id, result_id=row.id, channel=channel,
                                             returned_at=now)))
    return result_view(await load_result(uow, row.id))


def _returnable(row) -> None:
    if row.state == "revoked":
        raise ProblemError(409, "result-revoked", "The result was revoked", detail_vi="Kết quả đã bị thu hồi.")
    if row.state == "returned":
        raise ProblemError(409, "result-already-returned", "The result was already returned",
                           detail_vi="Kết quả đã được trả.")


def _check_issuer(actor: Actor, row) -> None:
    if not actor.may_act_for(row.issuing_agency):
        raise ProblemError(403, "not-your-agency", "Only the issuing agency may do this",
                           detail_vi="Chỉ cơ quan ban hành kết quả được thực hiện thao tác này.")


async def return_at_desk(ctx: Results, uow: UnitOfWork, actor: Actor, result_id: str, collected_by: str,
                         id_document_type: str, id_document_number: str) -> dict[str, Any]:
    row = await load_result(uow, result_id)
    _check_issuer(actor, row)
    _returnable(row)
    return await _mark_returned(ctx, uow, row, "desk", {
        "collected_by": mask_name(collected_by), "id_document_type": id_document_type,
        "id_document_number": mask_digits(id_document_number), "recorded_by": actor.label,
        "id_document_hash": ctx.sealer.lookup_hash("collector-id", id_document_number)})


async def send_by_post(ctx: Results, uow_factory: UowFactory, actor: Actor, result_id: str,
                       receiver: dict[str, Any]) -> dict[str, Any]:
    if ctx.postal is None:
        raise ProblemError(503, "postal-unavailable", "The postal service is not configured",
                           detail_vi="Chưa kết nối dịch vụ bưu chính công ích.")
    async with uow_factory() as uow:
        row = await load_result(uow, result_id)
        _check_issuer(actor, row)
        _returnable(row)
    try:   # outside any transaction; the order number (the result id) makes a retry the same order
        tracking = await ctx.postal.order(order_number=row.id, receiver=receiver,
                                          callback_url=ctx.url("/v1/results/postal/confirmations"))
    except PostalUnavailable:
        raise ProblemError(503, "postal-unavailable", "The postal service cannot be reached; try again",
                           detail_vi="Chưa kết nối được dịch vụ bưu chính; vui lòng thử lại.") from None
    except PostalRefused as exc:
        raise ProblemError(422, "postal-refused", "The postal service refused the order", str(exc)) from None
    async with uow_factory() as uow:
        await insert_if_absent(uow.conn, postal_orders, dict(tracking_code=tracking, result_id=row.id,
                                                             status="accepted", created_at=ctx.now()))
        await uow.conn.execute(update(results).where(results.c.id == row.id, results.c.state == "issued").values(
            state="in_transit", return_channel="postal", version=results.c.version + 1,
            return_detail={"tracking_code": tracking, "receiver": mask_name(receiver.get("name", ""))}))
        await uow.commit()
        return result_view(await load_result(uow, row.id))


async def postal_confirmation(ctx: Results, uow: UnitOfWork, confirmation: dict[str, Any]) -> str:
    order = (await uow.conn.execute(select(postal_orders).where(
        postal_orders.c.tracking_code == str(confirmation.get("tracking_code"))))).first()
    if order is None:
        return "unknown"
    if order.status != "accepted":
        return "ignored"   # a repeated confirmation
    delivered = confirmation.get("status") == "delivered"
    await uow.conn.execute(update(postal_orders).where(postal_orders.c.tracking_code == order.tracking_code)
                           .values(status="delivered" if delivered else "failed", confirmed_at=ctx.now()))
    row = await load_result(uow, order.result_id)
    if delivered:
        await _mark_returned(ctx, uow, row, "postal", {**(row.return_detail or {}), "delivered": True})
        return "returned"
    await uow.conn.execute(update(results).where(results.c.id == row.id).values(
        state="issued", version=row.version + 1, return_detail={**(row.return_detail or {}), "delivered": False}))
    return "failed"


async def citizen_download(ctx: Results, uow: UnitOfWork, result_id: str, audience: str):
    """Open a result's file by its link; the citizen's first download returns the result online."""
    row = await load_result(uow, result_id)
    if row.state == "revoked":
        raise ProblemError(410, "result-revoked", "The result was revoked", detail_vi="Kết quả đã bị thu hồi.")
    if audience == "citizen" and row.state == "issued":
        await _mark_returned(ctx, uow, row, "online", {"downloaded": True})
    return row


# --- revocation, reuse ------------------------------------------------------------------------------------
async def revoke(ctx: Results, uow: UnitOfWork, actor: Actor, result_id: str, reason: str) -> dict[str, Any]:
    row = await load_result(uow, result_id)
    _check_issuer(actor, row)
    if row.state == "revoked":
        raise ProblemError(409, "result-revoked", "The result is already revoked", detail_vi="Kết quả đã bị thu hồi.")
    await uow.conn.execute(update(results).where(results.c.id == row.id).values(
        state="revoked", revoked_at=ctx.now(), revocation_reason=reason, version=row.version + 1))
    return result_view(await load_result(uow, row.id))


async def exchange_search(ctx: Results, uow: UnitOfWork, actor: Actor, citizen_id: str, procedure_code: str | None,
                          legal_basis: str, purpose: str | None) -> dict[str, Any]:
    ref = ctx.applicant_ref(citizen_id)
    query = select(results).where(results.c.applicant_ref == ref, results.c.state != "revoked",
                                  results.c.kind != "refusal")
    if procedure_code:
        query = query.where(results.c.procedure_code == procedure_code)
    rows = (await uow.conn.execute(query.order_by(results.c.issued_at))).all()
    now = ctx.now()
    await uow.conn.execute(exchange_audit.insert(), dict(
        at=now, agency=actor.agency, actor=actor.label, applicant_ref=ref, procedure_code=procedure_code,
        legal_basis=legal_basis, purpose=purpose, result_ids=[r.id for r in rows]))
    for row in rows:
        if row.dossier_id:   # the citizen's tracking view shows who reused their result, and why
            uow.publish(ctx.event(ResultReused(dossier_id=row.dossier_id, result_id=row.id,
                                               accessing_agency=actor.agency, legal_basis=legal_basis,
                                               accessed_at=now)))
    items = []
    for row in rows:
        token, expires = ctx.download_token(row.id, "agency")
        items.append({**result_view(row), "download_url": ctx.url(f"/v1/results/files/{token}"),
                      "download_expires_at": datetime.fromtimestamp(expires, UTC).isoformat()})
    return {"items": items, "legal_basis": legal_basis}


def result_view(row) -> dict[str, Any]:
    return {"id": row.id, "dossier_id": row.dossier_id, "dossier_code": row.dossier_code, "kind": row.kind,
            "procedure_code": row.procedure_code, "document_number": row.document_number,
            "issuing_agency": row.issuing_agency, "holder": row.holder_name_masked, "sha256": row.sha256,
            "state": row.state, "version": row.version, "issued_at": row.issued_at.isoformat(),
            "returned_at": row.returned_at.isoformat() if row.returned_at else None,
            "return_channel": row.return_channel, "return_detail": row.return_detail,
            "revoked_at": row.revoked_at.isoformat() if row.revoked_at else None,
            "revocation_reason": row.revocation_reason}


# --- digitising paper results -----------------------------------------------------------------------------
async def digitise(ctx: Results, uow: UnitOfWork, actor: Actor, scan: bytes, meta: dict[str, Any]) -> dict[str, Any]:
    """A scanned paper result becomes an electronic one: stamped as a certified copy of the
    original and signed by the officer's agency, findable by the holder's ID like any other."""
    if not scan.startswith(b"%PDF-"):
        raise ProblemError(415, "pdf-required", "Upload the scan as a PDF", detail_vi="Bản quét phải là tệp PDF.")
    now = ctx.now()
    year = now.astimezone(VIETNAM_TZ).year
    sequence = await next_number(uow, actor.agency, year)
    number = f"{sequence:05d}/{year}/SH-{actor.agency}"
    stamp = (f"CHỨNG THỰC BẢN SAO ĐIỆN TỬ TỪ BẢN CHÍNH\nSố chứng thực: {number}\n"
             f"Bản chính số {meta['original_number']}, ngày {meta['original_date']}\nKiểm tra: {verify_url(ctx, number)}")
    try:
        signed = await ctx.signer.sign(scan, agency=actor.agency, agency_name=meta.get("agency_name") or actor.agency,
                                       reason="Chứng thực bản sao điện tử từ bản chính", stamp=stamp)
    except Exception as exc:  # noqa: BLE001 - a PDF pyHanko cannot extend is the caller's problem, not a 500
        raise ProblemError(422, "pdf-unusable", "The PDF cannot be stamped and signed",
                           f"{type(exc).__name__}", detail_vi="Không thể đóng dấu và ký số tệp PDF này.") from None
    result_id = str(uuid.uuid4())
    key = f"results/{year}/{result_id}.pdf"
    await ctx.storage.put(key, signed, "application/pdf")
    await uow.conn.execute(results.insert(), dict(
        id=result_id, dossier_id=None, dossier_code=None, kind="digitised", procedure_code=meta.get("procedure_code"),
        template=None, document_number=number, issuing_agency=actor.agency,
        applicant_ref=ctx.applicant_ref(meta["holder_id"]), holder_name_masked=mask_name(meta["holder_name"]),
        storage_key=key, sha256=hashlib.sha256(signed).hexdigest(), size=len(signed), state="issued", version=1,
        issued_at=now, metadata={k: meta[k] for k in ("original_number", "original_date", "original_issuer")
                                 if meta.get(k)} | {"digitised_by": actor.label}))
    return result_view(await load_result(uow, result_id))
