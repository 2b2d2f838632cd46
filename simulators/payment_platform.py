"""Simulator of the national payment platform (protocol in services/payments/adapters/platform.py).

Merchant API: POST /api/init | /api/query | /api/get_bill | /api/refund (signed JSON).
Payer: GET /pay/{transaction_id} (a page with two buttons), POST /pay/{transaction_id}?outcome=
success|fail (what the buttons do; tests call it directly). On completion the platform sends the
signed CONFIRM to the merchant's notify_url (server to server) and answers the payer with a
redirect to the merchant's return_url.

Switches (POST /_sim/behaviour, any subset; GET shows them):
  callback_delay_s      wait before sending CONFIRM (it then arrives after the redirect)
  duplicate_callback    send CONFIRM twice
  callback_before_redirect  send CONFIRM before answering the payer (default true)
  no_callback           never send CONFIRM (the merchant must QUERY)
  wrong_amount          CONFIRM (and QUERY) claim another amount
  bad_signature         CONFIRM carries a wrong checksum
  init_delay_s          INIT answers only after this long (past the merchant's timeout: "timeout")
  down                  every merchant API call answers 503
Every message in and out is logged at GET /_sim/log; transactions at GET /_sim/transactions."""
from __future__ import annotations

import asyncio
import base64
import os
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
from fastapi import FastAPI, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse

from services.payments.adapters.platform import FAILED, NOT_FOUND, PAID, PENDING, REFUNDED, sign, timestamp, verify
from shared.pdf import Document, render

BEHAVIOUR_DEFAULTS: dict[str, Any] = {
    "callback_delay_s": 0.0, "duplicate_callback": False, "callback_before_redirect": True, "no_callback": False,
    "wrong_amount": False, "bad_signature": False, "init_delay_s": 0.0, "down": False,
}


def create_app(secret: str | None = None, merchants: tuple[str, ...] = ("ONESTOP-KH",),
               public_url: str | None = None) -> FastAPI:
    """`public_url`: how payers reach this simulator (prefix of payment URLs); empty = the request's own.
    From the environment when not given: PAYMENT_SIM_SECRET, PAYMENT_SIM_PUBLIC_URL (compose)."""
    secret = secret or os.environ.get("PAYMENT_SIM_SECRET", "platform-sim-secret")
    public_url = public_url if public_url is not None else os.environ.get("PAYMENT_SIM_PUBLIC_URL", "")
    app = FastAPI(title="National payment platform simulator")
    transactions: dict[str, dict[str, Any]] = {}      # by reference
    log: list[dict[str, Any]] = []
    behaviour = dict(BEHAVIOUR_DEFAULTS)
    tasks: set[asyncio.Task] = set()

    def record(direction: str, kind: str, message: dict[str, Any]) -> None:
        log.append({"at": datetime.now(UTC).isoformat(), "direction": direction, "kind": kind, "message": message})

    def authentic(kind: str, body: dict[str, Any]) -> JSONResponse | None:
        record("in", kind, body)
        if behaviour["down"]:
            return JSONResponse({"error_code": "99", "message": "maintenance"}, status_code=503)
        if body.get("merchant_code") not in merchants or not verify(kind, body, [secret]):
            return JSONResponse({"error_code": "97", "message": "checksum or merchant invalid"})
        return None

    def answer(kind: str, message: dict[str, Any]) -> JSONResponse:
        signed = sign(kind, message, secret) if kind else message
        record("out", kind or "ANSWER", signed)
        return JSONResponse(signed)

    @app.post("/api/init")
    async def init(request: Request) -> JSONResponse:
        body = await request.json()
        if (refused := authentic("INIT", body)) is not None:
            return refused
        if behaviour["init_delay_s"]:
            await asyncio.sleep(behaviour["init_delay_s"])
        if not isinstance(body.get("amount"), int) or body["amount"] <= 0 or body.get("currency") != "VND":
            return answer("", {"error_code": "12", "message": "amount must be a positive VND integer"})
        txn = transactions.get(body["reference"])
        if txn is None:   # the same reference answers the same transaction (INIT is retried)
            txn_id = uuid.uuid4().hex[:16].upper()
            base = public_url or str(request.base_url).rstrip("/")
            txn = transactions[body["reference"]] = {
                "reference": body["reference"], "transaction_id": txn_id, "amount": body["amount"], "currency": "VND",
                "status": PENDING, "fee_lines": body.get("fee_lines", []), "notify_url": body["notify_url"],
                "return_url": body["return_url"], "description": body.get("description", ""),
                "payment_url": f"{base}/pay/{txn_id}", "refunded": 0, "paid_at": None}
        return answer("INIT_RESPONSE", {"error_code": "00", "reference": txn["reference"],
                                        "transaction_id": txn["transaction_id"], "payment_url": txn["payment_url"]})

    def by_id(txn_id: str) -> dict[str, Any]:
        txn = next((t for t in transactions.values() if t["transaction_id"] == txn_id), None)
        if txn is None:
            raise HTTPException(404, "no such transaction")
        return txn

    def claimed_amount(txn: dict[str, Any]) -> int:
        return txn["amount"] + 1000 if behaviour["wrong_amount"] else txn["amount"]

    @app.post("/api/query")
    async def query(request: Request) -> JSONResponse:
        body = await request.json()
        if (refused := authentic("QUERY", body)) is not None:
            return refused
        txn = transactions.get(body.get("reference"))
        if txn is None:
            return answer("", {"error_code": NOT_FOUND, "reference": body.get("reference")})
        return answer("QUERY_RESPONSE", {"error_code": "00", "reference": txn["reference"],
                                         "transaction_id": txn["transaction_id"], "status": txn["status"],
                                         "amount": claimed_amount(txn), "currency": "VND", "paid_at": txn["paid_at"],
                                         "payment_url": txn["payment_url"]})

    @app.post("/api/get_bill")
    async def get_bill(request: Request) -> JSONResponse:
        body = await request.json()
        if (refused := authentic("GET_BILL", body)) is not None:
            return refused
        txn = transactions.get(body.get("reference"))
        if txn is None or txn["status"] not in (PAID, REFUNDED):
            return answer("", {"error_code": NOT_FOUND})
        pdf = render(Document(agency="Nền tảng thanh toán quốc gia (mô phỏng)", title="BIÊN LAI THU TIỀN ĐIỆN TỬ",
                              number=txn["transaction_id"],
                              table=[("Mã tham chiếu", txn["reference"]), ("Số tiền", f"{txn['amount']:,} đồng".replace(",", ".")),
                                     ("Nội dung", txn["description"])]))
        return answer("", {"error_code": "00", "reference": txn["reference"], "receipt_pdf": base64.b64encode(pdf).decode()})

    @app.post("/api/refund")
    async def refund(request: Request) -> JSONResponse:
        body = await request.json()
        if (refused := authentic("REFUND", body)) is not None:
            return refused
        txn = transactions.get(body.get("reference"))
        if txn is None or txn["status"] not in (PAID, REFUNDED):
            return answer("", {"error_code": "14", "message": "transaction not paid"})
        refunds = txn.setdefault("refunds", {})
        if body["refund_reference"] not in refunds:   # idempotent by refund reference
            if txn["refunded"] + body["amount"] > txn["amount"]:
                return answer("", {"error_code": "15", "message": "refund exceeds the amount paid"})
            refunds[body["refund_reference"]] = body["amount"]
            txn["refunded"] += body["amount"]
            txn["status"] = REFUNDED
        return answer("REFUND_RESPONSE", {"error_code": "00", "refund_reference": body["refund_reference"],
                                          "amount": refunds[body["refund_reference"]]})

    async def send_confirm(txn: dict[str, Any], delay: float) -> None:
        if delay:
            await asyncio.sleep(delay)
        message = sign("CONFIRM", {
            "message_type": "CONFIRM", "merchant_code": merchants[0], "reference": txn["reference"],
            "transaction_id": txn["transaction_id"], "amount": claimed_amount(txn), "currency": "VND",
            "error_code": "00" if txn["status"] == PAID else "24", "timestamp": timestamp(datetime.now(UTC))}, secret)
        if behaviour["bad_signature"]:
            message["checksum"] = "0" * 64
        for _ in range(2 if behaviour["duplicate_callback"] else 1):
            record("out", "CONFIRM", message)
            try:
                async with httpx.AsyncClient(timeout=10) as client:
                    response = await client.post(txn["notify_url"], json=message)
                record("in", "CONFIRM_ANSWER", {"status": response.status_code, "body": response.text[:500]})
            except httpx.HTTPError as exc:
                record("in", "CONFIRM_ANSWER", {"error": type(exc).__name__})

    @app.get("/pay/{txn_id}", response_class=HTMLResponse)
    async def payer_page(txn_id: str) -> str:
        txn = by_id(txn_id)
        amount = f"{txn['amount']:,}".replace(",", ".")
        return (f"<!doctype html><meta charset='utf-8'><title>Thanh toán</title><h1>Thanh toán phí, lệ phí</h1>"
                f"<p>{txn['description']}</p><p>Số tiền: <b>{amount} đồng</b></p>"
                f"<form method='post' action='/pay/{txn_id}?outcome=success'><button>Thanh toán</button></form>"
                f"<form method='post' action='/pay/{txn_id}?outcome=fail'><button>Hủy giao dịch</button></form>")

    @app.post("/pay/{txn_id}")
    async def pay(txn_id: str, outcome: str = Query(pattern="^(success|fail)$")) -> RedirectResponse:
        txn = by_id(txn_id)
        if txn["status"] == PENDING:
            txn["status"] = PAID if outcome == "success" else FAILED
            txn["paid_at"] = timestamp(datetime.now(UTC)) if outcome == "success" else None
        if not behaviour["no_callback"]:
            if behaviour["callback_before_redirect"] and not behaviour["callback_delay_s"]:
                await send_confirm(txn, 0)
            else:
                task = asyncio.create_task(send_confirm(txn, behaviour["callback_delay_s"]))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
        separator = "&" if "?" in txn["return_url"] else "?"
        return RedirectResponse(f"{txn['return_url']}{separator}reference={txn['reference']}&result={outcome}",
                                status_code=303)

    @app.post("/_sim/behaviour")
    async def set_behaviour(changes: dict[str, Any]) -> dict[str, Any]:
        unknown = set(changes) - set(BEHAVIOUR_DEFAULTS)
        if unknown:
            raise HTTPException(422, f"unknown switches: {sorted(unknown)}")
        behaviour.update(changes)
        return behaviour

    @app.post("/_sim/reset")
    async def reset() -> dict[str, Any]:
        behaviour.clear()
        behaviour.update(BEHAVIOUR_DEFAULTS)
        return behaviour

    @app.get("/_sim/behaviour")
    async def get_behaviour() -> dict[str, Any]:
        return behaviour

    @app.get("/_sim/log")
    async def get_log() -> list[dict[str, Any]]:
        return log

    @app.get("/_sim/transactions")
    async def get_transactions() -> list[dict[str, Any]]:
        return list(transactions.values())

    return app
