"""Simulator of the Zalo Official Account message API (HTTP).

POST /v3/oa/message {"phone", "text", "tracking_id"} with header `access_token` -> {"error": 0,
"message": "Success", "data": {"message_id"}}; {"error": -124} for a bad token; {"error": -201}
for a phone without Zalo (permanent). Modes (POST /_sim/mode): normal | down (503).
Messages: GET /_sim/messages."""
from __future__ import annotations

import uuid
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse


def create_app(token: str = "zalo-sim-token") -> FastAPI:
    app = FastAPI(title="Zalo OA simulator")
    state: dict[str, Any] = {"mode": "normal", "messages": []}

    @app.post("/v3/oa/message")
    async def send(request: Request) -> JSONResponse:
        access_token = request.headers.get("access_token")   # Zalo's header name, underscore and all
        if state["mode"] == "down":
            return JSONResponse({"error": -500, "message": "maintenance"}, status_code=503)
        if access_token != token:
            return JSONResponse({"error": -124, "message": "invalid access token"})
        body = await request.json()
        if str(body.get("phone", "")).startswith("+84000"):
            return JSONResponse({"error": -201, "message": "user has no Zalo account"})
        message_id = uuid.uuid4().hex[:16]
        state["messages"].append({"message_id": message_id, "phone": body["phone"], "text": body["text"],
                                  "tracking_id": body.get("tracking_id")})
        return JSONResponse({"error": 0, "message": "Success", "data": {"message_id": message_id}})

    @app.post("/_sim/mode")
    async def set_mode(body: dict[str, Any]) -> dict[str, Any]:
        state["mode"] = body.get("mode", "normal")
        return {"mode": state["mode"]}

    @app.get("/_sim/messages")
    async def messages() -> list[dict[str, Any]]:
        return state["messages"]

    return app
