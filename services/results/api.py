"""Results' HTTP API: a dossier's results, download links, the public verification (by number or
by uploading the PDF) and the trust anchor, return at the desk / by post / online, revocation,
the e-results exchange for other agencies with its audit log, and digitising paper results.

Permissions: results:read, results:return, results:revoke, results:exchange, results:audit,
results:digitise. Verification and the CA certificate are public."""
import hashlib
import hmac
import json
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, File, Form, Query, Request, Response, UploadFile
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from services.results import handlers
from services.results.adapters.signing import verify
from services.results.handlers import Results, load_result, result_view
from services.results.models import exchange_audit, results
from shared.auth import ALL_AGENCIES, Actor, require_actor
from shared.idempotency import Created, require_idempotency_key
from shared.problems import ProblemError

READ, RETURN, REVOKE, EXCHANGE, AUDIT, DIGITISE = ("results:read", "results:return", "results:revoke",
                                                   "results:exchange", "results:audit", "results:digitise")
RESULTS_PERMISSIONS = (READ, RETURN, REVOKE, EXCHANGE, AUDIT, DIGITISE)
MAX_SCAN_BYTES = 20 * 1024 * 1024


def _ctx(request: Request) -> Results:
    return request.app.state.results


Ctx = Annotated[Results, Depends(_ctx)]
Key = Annotated[str, Depends(require_idempotency_key)]


class Receiver(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=2, max_length=200)
    address: str = Field(min_length=5, max_length=500)
    phone: str = Field(pattern=r"^\+?\d{9,15}$")


class ReturnRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"channel": "desk", "collected_by": "Nguyễn Thị Mai", "id_document_type": "CCCD",
         "id_document_number": "079203001234"},
        {"channel": "postal", "receiver": {"name": "Nguyễn Thị Mai", "address": "12 Trần Phú, phường Nha Trang, "
                                            "tỉnh Khánh Hòa", "phone": "+84912345678"}}]})
    channel: Literal["desk", "postal"]
    collected_by: str | None = Field(default=None, min_length=2, max_length=200)
    id_document_type: Literal["CCCD", "CMND", "ho-chieu", "giay-uy-quyen"] | None = None
    id_document_number: str | None = Field(default=None, pattern=r"^[0-9A-Z]{6,20}$")
    receiver: Receiver | None = None


class Ownership(BaseModel):
    model_config = ConfigDict(extra="forbid")
    citizen_id: str = Field(pattern=r"^\d{9,13}$", description="The holder's personal identifier (or tax code)")


class Revocation(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=5, max_length=1000, examples=["Thu hồi do cơ sở kinh doanh ngừng hoạt động"])


def results_router() -> APIRouter:
    router = APIRouter(tags=["results"])

    @router.get("/v1/results", summary="A dossier's results")
    async def list_results(request: Request, dossier_id: Annotated[str, Query(max_length=36)],
                           actor: Annotated[Actor, require_actor(READ)]) -> dict[str, Any]:
        async with request.app.state.kit.uow() as uow:
            rows = (await uow.conn.execute(select(results).where(results.c.dossier_id == dossier_id)
                                           .order_by(results.c.issued_at))).all()
        return {"items": [result_view(r) for r in rows]}

    @router.get("/v1/results/ca.pem", summary="The certificate that signs results (the verifiers' trust anchor)",
                response_class=Response)
    async def ca(ctx: Ctx) -> Response:
        return Response(ctx.signer.trust_roots_pem(), media_type="application/x-pem-file")

    @router.get("/v1/results/verify", summary="Public: verify a result by its document number (the QR code)")
    async def verify_by_number(request: Request, ctx: Ctx,
                               number: Annotated[str, Query(min_length=3, max_length=64)]) -> dict[str, Any]:
        async with request.app.state.kit.uow() as uow:
            row = (await uow.conn.execute(select(results).where(results.c.document_number == number))).first()
        if row is None:
            raise ProblemError(404, "result-not-found", "No result has this number",
                               detail_vi="Không có kết quả mang số này.")
        checked = await verify(await ctx.storage.get(row.storage_key), ctx.signer.trust_roots_pem())
        return _verdict(row, checked)

    @router.post("/v1/results/verify", summary="Public: verify a PDF you were given (signature, alteration, revocation)")
    async def verify_upload(request: Request, ctx: Ctx, file: Annotated[UploadFile, File()]) -> dict[str, Any]:
        data = await file.read(MAX_SCAN_BYTES + 1)
        if len(data) > MAX_SCAN_BYTES:
            raise ProblemError(413, "file-too-large", "The file is too large")
        checked = await verify(data, ctx.signer.trust_roots_pem())
        async with request.app.state.kit.uow() as uow:
            row = (await uow.conn.execute(select(results).where(
                results.c.sha256 == hashlib.sha256(data).hexdigest()))).first()
        return _verdict(row, checked)

    @router.get("/v1/results/{result_id}", summary="A result")
    async def get_result(request: Request, result_id: str, actor: Annotated[Actor, require_actor(READ)]) -> dict:
        async with request.app.state.kit.uow() as uow:
            return result_view(await load_result(uow, result_id))

    @router.post("/v1/results/{result_id}/download-links", status_code=201,
                 summary="A short-lived download link: for the holder (proving ownership) or an officer")
    async def download_link(request: Request, ctx: Ctx, result_id: str, body: Annotated[Ownership, Body()]) -> dict:
        async with request.app.state.kit.uow() as uow:
            row = await load_result(uow, result_id)
        if row.applicant_ref is None or not hmac.compare_digest(ctx.applicant_ref(body.citizen_id), row.applicant_ref):
            raise ProblemError(403, "not-the-holder", "The identifier does not match the result's holder",
                               detail_vi="Số định danh không khớp với người được cấp kết quả.")
        if row.state == "revoked":
            raise ProblemError(410, "result-revoked", "The result was revoked", detail_vi="Kết quả đã bị thu hồi.")
        token, expires = ctx.download_token(row.id, "citizen")
        return {"url": ctx.url(f"/v1/results/files/{token}"), "expires_in_s": ctx.settings.download_link_ttl_s}

    @router.get("/v1/results/files/{token}", summary="Download a result by a signed link",
                response_class=Response, responses={200: {"content": {"application/pdf": {}}}})
    async def download(request: Request, ctx: Ctx, token: str) -> Response:
        result_id, audience = ctx.open_token(token)
        async with request.app.state.kit.uow() as uow:
            row = await handlers.citizen_download(ctx, uow, result_id, audience)
            await uow.commit()
        return Response(await ctx.storage.get(row.storage_key), media_type="application/pdf",
                        headers={"Content-Disposition": f'attachment; filename="ket-qua-{row.id[:8]}.pdf"'})

    @router.post("/v1/results/{result_id}/returns", summary="Return the result at the desk or send it by post")
    async def return_result(request: Request, ctx: Ctx, result_id: str, body: Annotated[ReturnRequest, Body()],
                            actor: Annotated[Actor, require_actor(RETURN)]) -> dict[str, Any]:
        if body.channel == "desk":
            if not (body.collected_by and body.id_document_type and body.id_document_number):
                raise ProblemError(422, "collector-required", "Record who collected it and their ID document",
                                   detail_vi="Cần ghi người nhận kết quả và giấy tờ tùy thân.",
                                   errors=[{"field": f, "message": "required"} for f in
                                           ("collected_by", "id_document_type", "id_document_number")
                                           if not getattr(body, f)])
            async with request.app.state.kit.uow() as uow:
                view = await handlers.return_at_desk(ctx, uow, actor, result_id, body.collected_by,
                                                     body.id_document_type, body.id_document_number)
                await uow.commit()
            return view
        if body.receiver is None:
            raise ProblemError(422, "receiver-required", "Give the receiver's name, address and phone",
                               errors=[{"field": "receiver", "message": "required"}])
        return await handlers.send_by_post(ctx, request.app.state.kit.uow, actor, result_id, body.receiver.model_dump())

    @router.post("/v1/results/postal/confirmations", summary="The postal service confirms a delivery (signed)")
    async def postal_confirmation(request: Request, ctx: Ctx) -> JSONResponse:
        body = await request.body()
        expected = hmac.new(ctx.settings.postal_confirmation_secret.get_secret_value().encode(), body,
                            hashlib.sha256).hexdigest()
        if not hmac.compare_digest(request.headers.get("x-signature", "").encode(), expected.encode()):
            raise ProblemError(401, "confirmation-signature-invalid", "The confirmation's signature does not verify")
        try:
            data = json.loads(body)
        except ValueError:
            data = None
        if not isinstance(data, dict):
            raise ProblemError(422, "confirmation-invalid", "A confirmation is a JSON object")
        async with request.app.state.kit.uow() as uow:
            outcome = await handlers.postal_confirmation(ctx, uow, data)
            await uow.commit()
        return JSONResponse({"result": outcome})

    @router.post("/v1/results/{result_id}/revocation", summary="Revoke a result (e.g. a licence withdrawn), with the reason")
    async def revoke(request: Request, ctx: Ctx, result_id: str, body: Annotated[Revocation, Body()],
                     actor: Annotated[Actor, require_actor(REVOKE)]) -> dict[str, Any]:
        async with request.app.state.kit.uow() as uow:
            view = await handlers.revoke(ctx, uow, actor, result_id, body.reason)
            await uow.commit()
        return view

    @router.post("/v1/results/digitised", status_code=201,
                 summary="Digitise a paper result: the scan (PDF) is stamped as a certified copy and signed")
    async def digitised(request: Request, ctx: Ctx, key: Key, actor: Annotated[Actor, require_actor(DIGITISE)],
                        file: Annotated[UploadFile, File()],
                        holder_name: Annotated[str, Form(min_length=2, max_length=200)],
                        holder_id: Annotated[str, Form(pattern=r"^\d{9,13}$")],
                        original_number: Annotated[str, Form(min_length=1, max_length=64)],
                        original_date: Annotated[str, Form(pattern=r"^\d{4}-\d{2}-\d{2}$")],
                        procedure_code: Annotated[str | None, Form(pattern=r"^\d\.\d{6}(\.[A-Z0-9]+)?$")] = None,
                        original_issuer: Annotated[str | None, Form(max_length=200)] = None) -> Response:
        scan = await file.read(MAX_SCAN_BYTES + 1)
        if len(scan) > MAX_SCAN_BYTES:
            raise ProblemError(413, "file-too-large", "The scan is too large (20 MB at most)")
        meta = {"holder_name": holder_name, "holder_id": holder_id, "original_number": original_number,
                "original_date": original_date, "procedure_code": procedure_code, "original_issuer": original_issuer}
        fingerprint = json.dumps({**meta, "sha256": hashlib.sha256(scan).hexdigest()}).encode()

        async def run(uow) -> Created:
            view = await handlers.digitise(ctx, uow, actor, scan, meta)
            return Created(201, view, f"/v1/results/{view['id']}")
        return await request.app.state.kit.idempotency.run(scope=actor.label, key=key, request_body=fingerprint,
                                                           action=run)

    return router


def _verdict(row, checked) -> dict[str, Any]:
    known = row is not None
    return {"signature": {"signed": checked.signed, "valid": checked.valid, "intact": checked.intact,
                          "trusted": checked.trusted, "covers_whole_file": checked.covers_whole_file,
                          "signer": checked.signer, "signed_at": checked.signed_at, "problem": checked.problem},
            "altered": checked.signed and not (checked.intact and checked.covers_whole_file),
            "known": known, "document_number": row.document_number if known else None,
            "issuing_agency": row.issuing_agency if known else None,
            "issued_at": row.issued_at.isoformat() if known else None,
            "revoked": bool(known and row.state == "revoked"),
            "revocation_reason": row.revocation_reason if known else None,
            "verdict": "valid" if checked.ok and known and row.state != "revoked" else
                       "revoked" if known and row.state == "revoked" else "invalid",
            "verdict_vi": "Kết quả hợp lệ" if checked.ok and known and row.state != "revoked" else
                          "Kết quả đã bị thu hồi" if known and row.state == "revoked" else "Kết quả không hợp lệ"}


def exchange_router() -> APIRouter:
    router = APIRouter(tags=["exchange"])

    @router.get("/v1/results/exchange/search",
                summary="Another agency finds a citizen's valid results to reuse; the legal basis is recorded")
    async def search(request: Request, ctx: Ctx, actor: Annotated[Actor, require_actor(EXCHANGE)],
                     citizen_id: Annotated[str, Query(pattern=r"^\d{9,13}$")],
                     legal_basis: Annotated[str, Query(min_length=5, max_length=500,
                                                       description="The law or the citizen's consent that allows it")],
                     procedure_code: Annotated[str | None, Query(pattern=r"^\d\.\d{6}(\.[A-Z0-9]+)?$")] = None,
                     purpose: Annotated[str | None, Query(max_length=500)] = None) -> dict[str, Any]:
        async with request.app.state.kit.uow() as uow:
            found = await handlers.exchange_search(ctx, uow, actor, citizen_id, procedure_code, legal_basis, purpose)
            await uow.commit()
        return found

    @router.get("/v1/results/exchange/audit", summary="Who accessed a citizen's results, when, on what legal basis")
    async def audit(request: Request, ctx: Ctx, actor: Annotated[Actor, require_actor(AUDIT)],
                    citizen_id: Annotated[str, Query(pattern=r"^\d{9,13}$")]) -> dict[str, Any]:
        query = select(exchange_audit).where(exchange_audit.c.applicant_ref == ctx.applicant_ref(citizen_id))
        if ALL_AGENCIES not in actor.permissions:
            query = query.where(exchange_audit.c.agency == actor.agency)
        async with request.app.state.kit.uow() as uow:
            rows = (await uow.conn.execute(query.order_by(exchange_audit.c.id))).all()
        return {"items": [{"at": r.at.isoformat(), "agency": r.agency, "actor": r.actor, "legal_basis": r.legal_basis,
                           "purpose": r.purpose, "procedure_code": r.procedure_code, "results": r.result_ids}
                          for r in rows]}

    return router
