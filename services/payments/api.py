"""Payments' HTTP API: bills by dossier, starting a payment (Idempotency-Key), payment status, the
citizen's pay link and return page, the platform's confirmation endpoint, refunds, e-receipts and
reconciliation reports.

Partners and officers use API keys or SSO tokens with payments:read, payments:pay,
payments:refund, payments:reconcile. The pay link is signed (no login: it arrives by SMS); the
confirmation endpoint is authenticated by the platform's checksum; the return page trusts
nothing it is told and asks the platform itself."""
import hmac
import json
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, Query, Request, Response
from fastapi.responses import JSONResponse, RedirectResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from services.payments import handlers
from services.payments.adapters.platform import PlatformError, PlatformUnavailable
from services.payments.handlers import Payments, attempt_view, refund_view, report_view
from services.payments.models import attempts, bills, receipts, reconciliation_reports, refunds
from services.payments.receipts import render_receipt
from shared.auth import Actor, require_actor
from shared.calendar import VIETNAM_TZ
from shared.idempotency import require_idempotency_key
from shared.problems import ProblemError

READ, PAY, REFUND, RECONCILE = "payments:read", "payments:pay", "payments:refund", "payments:reconcile"
PAYMENTS_PERMISSIONS = (READ, PAY, REFUND, RECONCILE)
PATH_PREFIXES = ("/v1/bills", "/v1/receipts")


def _ctx(request: Request) -> Payments:
    return request.app.state.payments


Ctx = Annotated[Payments, Depends(_ctx)]
Key = Annotated[str, Depends(require_idempotency_key)]


class RefundRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"amount": 200000, "reason": "Công dân rút hồ sơ trước khi cơ quan giải quyết"}]})
    amount: int = Field(gt=0, description="The refundable amount you were shown (VND); a different current amount is refused")
    reason: str = Field(min_length=5, max_length=1000)


class ReconcileRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal["early", "daily", "manual"] = "manual"


def bill_view(row, ctx: Payments, refundable: int) -> dict[str, Any]:
    return {"id": row.id, "dossier_id": row.dossier_id, "dossier_code": row.dossier_code, "stage": row.stage,
            "amount": row.amount, "currency": "VND", "lines": row.lines, "state": row.state, "version": row.version,
            "created_at": row.created_at.isoformat(), "expires_at": row.expires_at.isoformat(),
            "paid_at": row.paid_at.isoformat() if row.paid_at else None, "method": row.method,
            "refunded_amount": row.refunded_amount, "refundable_amount": refundable, "pay_url": ctx.pay_link(row.id)}


def bills_router() -> APIRouter:
    router = APIRouter(tags=["bills"])

    @router.get("/v1/bills", summary="A dossier's bills")
    async def list_bills(request: Request, ctx: Ctx, dossier_id: Annotated[str, Query(max_length=36)],
                         actor: Annotated[Actor, require_actor(READ)]) -> dict[str, Any]:
        async with request.app.state.kit.uow() as uow:
            rows = (await uow.conn.execute(select(bills).where(bills.c.dossier_id == dossier_id)
                                           .order_by(bills.c.created_at))).all()
            items = [bill_view(row, ctx, (await handlers.refund_facts(uow, row))[0]) for row in rows]
        return {"items": items}

    @router.get("/v1/bills/{bill_id}", summary="A bill with its payment attempts, receipts and refunds")
    async def get_bill(request: Request, ctx: Ctx, bill_id: str,
                       actor: Annotated[Actor, require_actor(READ)]) -> dict[str, Any]:
        async with request.app.state.kit.uow() as uow:
            row = await handlers.load_bill(uow, bill_id)
            refundable, _ = await handlers.refund_facts(uow, row)
            tried = (await uow.conn.execute(select(attempts).where(attempts.c.bill_id == bill_id)
                                            .order_by(attempts.c.created_at))).all()
            issued = (await uow.conn.execute(select(receipts).where(receipts.c.bill_id == bill_id)
                                             .order_by(receipts.c.agency, receipts.c.kind))).all()
            returned = (await uow.conn.execute(select(refunds).where(refunds.c.bill_id == bill_id)
                                               .order_by(refunds.c.created_at))).all()
        return {**bill_view(row, ctx, refundable), "attempts": [attempt_view(a) for a in tried],
                "receipts": [{"id": r.id, "number": r.number, "agency": r.agency, "kind": r.kind, "amount": r.amount,
                              "url": f"/v1/receipts/{r.id}"} for r in issued],
                "refunds": [refund_view(r) for r in returned]}

    @router.post("/v1/bills/{bill_id}/payments", status_code=201,
                 summary="Start paying a bill online: its one live attempt and the platform's payment URL",
                 responses={200: {"description": "The bill's live attempt, already started"},
                            202: {"description": "The platform has not answered yet; the attempt is kept and settled"},
                            409: {"description": "Already paid, expired or cancelled"}})
    async def start(request: Request, ctx: Ctx, bill_id: str, key: Key,
                    actor: Annotated[Actor, require_actor(PAY)]) -> Response:
        kit = request.app.state.kit
        # The gateway call must not sit inside a transaction: the handler opens its own.
        return await kit.idempotency.run_outside_transaction(
            scope=actor.label, key=key, request_body=await request.body(),
            action=lambda: handlers.start_payment(ctx, kit.uow, bill_id))

    @router.get("/v1/bills/{bill_id}/pay", summary="The citizen's pay link: straight to the platform's page",
                response_class=RedirectResponse, status_code=303)
    async def pay_link(request: Request, ctx: Ctx, bill_id: str,
                       sig: Annotated[str, Query(pattern=r"^[0-9a-f]{32}$")]) -> Response:
        if not hmac.compare_digest(sig.encode(), ctx.link_signature(bill_id).encode()):
            raise ProblemError(404, "bill-not-found", "No such bill", detail_vi="Đường dẫn thanh toán không hợp lệ.")
        created = await handlers.start_payment(ctx, request.app.state.kit.uow, bill_id)
        url = created.body.get("payment_url")
        if not url:
            return JSONResponse(created.body, status_code=202)
        return RedirectResponse(url, status_code=303)

    @router.post("/v1/bills/{bill_id}/refunds", status_code=201,
                 summary="Refund what the rules return (withdrawal before processing; refusal where refundable)",
                 responses={409: {"description": "Nothing refundable, or the amount you saw is no longer right"}})
    async def refund(request: Request, ctx: Ctx, bill_id: str, body: Annotated[RefundRequest, Body()], key: Key,
                     actor: Annotated[Actor, require_actor(REFUND)]) -> Response:
        kit = request.app.state.kit
        return await kit.idempotency.run_outside_transaction(
            scope=actor.label, key=key, request_body=await request.body(),
            action=lambda: handlers.request_refund(ctx, kit.uow, actor, bill_id, body.amount, body.reason))

    @router.get("/v1/bills/{bill_id}/platform-receipt", summary="The payment platform's own e-receipt (PDF)",
                response_class=Response, responses={200: {"content": {"application/pdf": {}}}})
    async def platform_receipt(request: Request, ctx: Ctx, bill_id: str,
                               actor: Annotated[Actor, require_actor(READ)]) -> Response:
        pdf = await handlers.platform_receipt(ctx, bill_id, request.app.state.kit.uow)
        return Response(pdf, media_type="application/pdf")

    @router.get("/v1/receipts/{receipt_id}", summary="An e-receipt (biên lai điện tử) as PDF",
                response_class=Response, responses={200: {"content": {"application/pdf": {}}}})
    async def receipt(request: Request, ctx: Ctx, receipt_id: str,
                      actor: Annotated[Actor, require_actor(READ)]) -> Response:
        async with request.app.state.kit.uow() as uow:
            row = (await uow.conn.execute(select(receipts).where(receipts.c.id == receipt_id))).first()
        if row is None:
            raise ProblemError(404, "receipt-not-found", "No such receipt", detail_vi="Không tìm thấy biên lai.")
        pdf = render_receipt(row, VIETNAM_TZ, ctx.url(f"/v1/receipts/{row.id}"))
        return Response(pdf, media_type="application/pdf",
                        headers={"Content-Disposition": f'inline; filename="bien-lai-{row.number.replace("/", "-")}.pdf"'})

    return router


def payments_router() -> APIRouter:
    router = APIRouter(tags=["payments"])

    @router.get("/v1/payments/attempts/{attempt_id}", summary="A payment attempt's status")
    async def get_attempt(request: Request, attempt_id: str,
                          actor: Annotated[Actor, require_actor(READ)]) -> dict[str, Any]:
        async with request.app.state.kit.uow() as uow:
            row = (await uow.conn.execute(select(attempts).where(attempts.c.id == attempt_id))).first()
        if row is None:
            raise ProblemError(404, "attempt-not-found", "No such payment attempt",
                               detail_vi="Không tìm thấy giao dịch thanh toán.")
        return attempt_view(row)

    @router.post("/v1/payments/callbacks/platform", summary="The payment platform's confirmation (server to server)",
                 description="Authenticated by the message's SHA-256 checksum (any current secret), its timestamp "
                             "(tolerance) and amount; then confirmed by QUERYing the platform before anything changes.")
    async def confirmation(request: Request, ctx: Ctx) -> JSONResponse:
        try:
            message = json.loads(await request.body())
        except ValueError:
            message = None
        if not isinstance(message, dict):
            return JSONResponse({"error_code": "96", "message": "the body must be a JSON object"}, status_code=400)
        status, body = await handlers.handle_confirmation(ctx, request.app.state.kit.uow, message)
        return JSONResponse(body, status_code=status)

    @router.get("/v1/payments/return", summary="Where the platform sends the payer back; shows the payment's real state")
    async def payer_returns(request: Request, ctx: Ctx,
                            reference: Annotated[str, Query(max_length=96)]) -> dict[str, Any]:
        # The query string says what the browser was told; the state shown is what the platform answers us.
        try:
            await handlers.settle(ctx, request.app.state.kit.uow, reference, "return")
        except (PlatformUnavailable, PlatformError):
            pass   # show what we know; the confirmation or the reconciler will settle it
        async with request.app.state.kit.uow() as uow:
            row = (await uow.conn.execute(select(attempts).where(attempts.c.reference == reference))).first()
        if row is None:
            raise ProblemError(404, "attempt-not-found", "No such payment", detail_vi="Không tìm thấy giao dịch.")
        messages = {"succeeded": "Thanh toán thành công. Cảm ơn Ông/Bà.", "failed": "Giao dịch không thành công.",
                    "pending": "Giao dịch đang được xử lý.", "created": "Giao dịch đang được xử lý."}
        return {"reference": reference, "state": row.state, "amount": row.amount, "currency": "VND",
                "message_vi": messages.get(row.state, "Giao dịch đã kết thúc.")}

    @router.get("/v1/payments/reconciliation", summary="Reconciliation reports, newest first, with their differences")
    async def reports(request: Request, actor: Annotated[Actor, require_actor(RECONCILE)],
                      limit: Annotated[int, Query(ge=1, le=100)] = 20) -> dict[str, Any]:
        async with request.app.state.kit.uow() as uow:
            rows = (await uow.conn.execute(select(reconciliation_reports).order_by(
                reconciliation_reports.c.started_at.desc()).limit(limit))).all()
        return {"items": [report_view(r) for r in rows]}

    @router.post("/v1/payments/reconciliation", status_code=201, summary="Run a reconciliation sweep now")
    async def run_reconciliation(request: Request, ctx: Ctx, body: Annotated[ReconcileRequest, Body()],
                                 actor: Annotated[Actor, require_actor(RECONCILE)]) -> JSONResponse:
        ctx.require_platform()
        report = await handlers.reconcile(ctx, request.app.state.kit.uow, body.kind)
        return JSONResponse(report, status_code=201)

    return router
