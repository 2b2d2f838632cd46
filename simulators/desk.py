"""Simulator of an agency desk system that subscribes to dossier events (webhooks).

POST /hooks records every delivery (headers and raw body, so the receiver can check the
signature as README shows); answers 503 while `fail_next` > 0 (POST /_sim/fail {"next": n}).
Deliveries: GET /_sim/requests (bodies as text)."""
from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse


def create_app() -> tuple[FastAPI, dict[str, Any]]:
    app = FastAPI(title="Desk system webhook receiver simulator")
    state: dict[str, Any] = {"fail_next": 0, "requests": []}

    @app.post("/hooks")
    async def hook(request: Request) -> JSONResponse:
        state["requests"].append({"headers": dict(request.headers), "body": await request.body()})
        if state["fail_next"] > 0:
            state["fail_next"] -= 1
            return JSONResponse({"error": "busy"}, status_code=503)
        return JSONResponse({"ok": True})

    @app.post("/_sim/fail")
    async def fail(body: dict[str, Any]) -> dict[str, Any]:
        state["fail_next"] = int(body.get("next", 0))
        return {"fail_next": state["fail_next"]}

    @app.get("/_sim/requests")
    async def requests() -> list[dict[str, Any]]:
        return [{"headers": r["headers"], "body": r["body"].decode()} for r in state["requests"]]

    return app, state
