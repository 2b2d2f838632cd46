"""Simulator of an SMS provider (HTTP). Two run side by side in tests and the embedded default.

POST /api/sms {"to", "text", "unicode", "client_ref", "callback_url"} with `Authorization: Bearer
<token>` -> 202 {"message_id"} | 400 invalid number (permanent) | 401 | 429 | 503. Numbers
starting +84000 are invalid. A delivery receipt follows on `callback_url`: {"message_id",
"client_ref", "status": "delivered" | "failed", "reason"}, signed `X-Signature: <hex HMAC-SHA256
of the body with the receipt secret>`. Modes (POST /_sim/mode): normal | error (503) | slow
(delay_s before answering) | no-receipt | fail-receipt. Sent messages: GET /_sim/messages."""
from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
from fastapi import FastAPI, Header, Request
from fastapi.responses import JSONResponse


def create_app(name: str = "sms-a", token: str = "sms-sim-token", receipt_secret: str = "dev-delivery-receipt-secret",
               receipt_delay_s: float = 0.05) -> FastAPI:
    app = FastAPI(title=f"SMS provider simulator ({name})")
    state: dict[str, Any] = {"mode": "normal", "delay_s": 0.0, "messages": [], "calls": 0}
    tasks: set[asyncio.Task] = set()

    async def send_receipt(url: str, receipt: dict[str, Any]) -> None:
        await asyncio.sleep(receipt_delay_s)
        body = json.dumps(receipt).encode()
        signature = hmac.new(receipt_secret.encode(), body, hashlib.sha256).hexdigest()
        try:
            async with httpx.AsyncClient(timeout=5) as client:
                await client.post(url, content=body, headers={"X-Signature": signature,
                                                              "Content-Type": "application/json"})
        except httpx.HTTPError:
            pass

    @app.post("/api/sms")
    async def send(request: Request, authorization: str | None = Header(default=None)) -> JSONResponse:
        state["calls"] += 1
        if authorization != f"Bearer {token}":
            return JSONResponse({"error": "unauthorized"}, status_code=401)
        if state["mode"] == "error":
            return JSONResponse({"error": "temporarily unavailable"}, status_code=503)
        if state["mode"] == "slow":
            await asyncio.sleep(state["delay_s"])
        body = await request.json()
        if str(body.get("to", "")).startswith("+84000"):
            return JSONResponse({"error": "invalid destination number"}, status_code=400)
        message_id = f"{name}-{uuid.uuid4().hex[:12]}"
        state["messages"].append({"message_id": message_id, "to": body["to"], "text": body["text"],
                                  "unicode": body.get("unicode", True), "client_ref": body.get("client_ref"),
                                  "at": datetime.now(UTC).isoformat()})
        if body.get("callback_url") and state["mode"] != "no-receipt":
            status = "failed" if state["mode"] == "fail-receipt" else "delivered"
            task = asyncio.create_task(send_receipt(body["callback_url"], {
                "message_id": message_id, "client_ref": body.get("client_ref"), "status": status,
                "reason": "handset unreachable" if status == "failed" else None}))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        return JSONResponse({"message_id": message_id}, status_code=202)

    @app.post("/_sim/mode")
    async def set_mode(body: dict[str, Any]) -> dict[str, Any]:
        state["mode"] = body.get("mode", "normal")
        state["delay_s"] = float(body.get("delay_s", 0.0))
        return {"mode": state["mode"], "delay_s": state["delay_s"]}

    @app.get("/_sim/messages")
    async def messages() -> list[dict[str, Any]]:
        return state["messages"]

    @app.get("/_sim/stats")
    async def stats() -> dict[str, Any]:
        return {"calls": state["calls"], "accepted": len(state["messages"]), "mode": state["mode"]}

    return app
