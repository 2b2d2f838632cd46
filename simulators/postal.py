"""Simulator of the public postal service's (bưu chính công ích) result delivery API.

POST /api/orders {"customer_code", "order_number", "receiver": {"name", "address", "phone"},
"cod_amount", "callback_url"} with `Authorization: Bearer <token>` -> {"tracking_code"} (the same
for the same order_number); POST /api/orders/{tracking_code}/cancel. The postman's delivery is
played with POST /_sim/deliver/{tracking_code} (or {"failed": true}): the simulator then posts the
confirmation {"tracking_code", "order_number", "status": "delivered"|"failed", "delivered_at",
"receiver_name"} to the order's callback_url, signed `X-Signature: <hex HMAC-SHA256 of the body>`.
Orders: GET /_sim/orders."""
from __future__ import annotations

import hashlib
import hmac
import json
import os
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
from fastapi import FastAPI, Header, HTTPException, Request
from fastapi.responses import JSONResponse


def create_app(token: str = "postal-sim-token", confirmation_secret: str | None = None) -> FastAPI:
    secret = confirmation_secret or os.environ.get("POSTAL_SIM_SECRET", "dev-postal-confirmation-secret")
    app = FastAPI(title="Public postal service simulator")
    orders: dict[str, dict[str, Any]] = {}

    @app.post("/api/orders")
    async def create(request: Request, authorization: str | None = Header(default=None)) -> JSONResponse:
        if authorization != f"Bearer {token}":
            return JSONResponse({"error": "unauthorized"}, status_code=401)
        body = await request.json()
        existing = next((o for o in orders.values() if o["order_number"] == body.get("order_number")), None)
        if existing:
            return JSONResponse({"tracking_code": existing["tracking_code"]})
        if not body.get("receiver", {}).get("address"):
            return JSONResponse({"error": "receiver address required"}, status_code=422)
        code = "EP" + uuid.uuid4().hex[:9].upper() + "VN"
        orders[code] = {**body, "tracking_code": code, "status": "accepted"}
        return JSONResponse({"tracking_code": code}, status_code=201)

    @app.post("/api/orders/{code}/cancel")
    async def cancel(code: str, authorization: str | None = Header(default=None)) -> dict[str, Any]:
        if authorization != f"Bearer {token}":
            raise HTTPException(401)
        orders[code]["status"] = "cancelled"
        return {"tracking_code": code, "status": "cancelled"}

    @app.post("/_sim/deliver/{code}")
    async def deliver(code: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        order = orders.get(code)
        if order is None:
            raise HTTPException(404)
        failed = bool((body or {}).get("failed"))
        order["status"] = "failed" if failed else "delivered"
        confirmation = json.dumps({"tracking_code": code, "order_number": order["order_number"],
                                   "status": order["status"], "delivered_at": datetime.now(UTC).isoformat(),
                                   "receiver_name": order["receiver"]["name"]}).encode()
        signature = hmac.new(secret.encode(), confirmation, hashlib.sha256).hexdigest()
        async with httpx.AsyncClient(timeout=10) as client:
            response = await client.post(order["callback_url"], content=confirmation,
                                         headers={"X-Signature": signature, "Content-Type": "application/json"})
        return {"tracking_code": code, "status": order["status"], "callback_status": response.status_code}

    @app.get("/_sim/orders")
    async def list_orders() -> list[dict[str, Any]]:
        return list(orders.values())

    return app
