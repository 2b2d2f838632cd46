"""Simulator of the National Public Service Portal's dossier sync (push, JSON).

POST /api/dossiers {"MaHoSo", ..., "TrangThaiHoSo"} creates or updates a dossier;
POST /api/dossiers/{MaHoSo}/history {"QuaTrinhXuLy": [...]} appends process history (the dossier
must exist). `Authorization: Bearer <token>`; `Idempotency-Key` makes a repeated message a no-op.
Answers {"error_code": "0"} on success (DOMAIN.md). Timestamps yyyyMMddHHmmss. Modes (POST
/_sim/mode): normal | down (503). State: GET /_sim/dossiers, GET /_sim/log."""
from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Header, Request
from fastapi.responses import JSONResponse


def create_app(token: str = "portal-sim-token") -> FastAPI:
    app = FastAPI(title="National public service portal simulator")
    dossiers: dict[str, dict[str, Any]] = {}
    seen_keys: set[str] = set()
    log: list[dict[str, Any]] = []
    state = {"mode": "normal"}

    def refuse(authorization: str | None, key: str | None) -> JSONResponse | None:
        if state["mode"] == "down":
            return JSONResponse({"error_code": "99", "message": "maintenance"}, status_code=503)
        if authorization != f"Bearer {token}":
            return JSONResponse({"error_code": "401", "message": "unauthorized"}, status_code=401)
        if not key:
            return JSONResponse({"error_code": "400", "message": "Idempotency-Key required"}, status_code=400)
        return None

    @app.post("/api/dossiers")
    async def upsert(request: Request, authorization: str | None = Header(default=None),
                     idempotency_key: str | None = Header(default=None)) -> JSONResponse:
        if (refused := refuse(authorization, idempotency_key)) is not None:
            return refused
        body = await request.json()
        if idempotency_key not in seen_keys:
            seen_keys.add(idempotency_key)
            log.append({"kind": "dossier", "key": idempotency_key, "body": body})
            current = dossiers.setdefault(body["MaHoSo"], {"history": []})
            current.update({k: v for k, v in body.items() if v is not None})
        return JSONResponse({"error_code": "0", "message": "OK"})

    @app.post("/api/dossiers/{code}/history")
    async def history(code: str, request: Request, authorization: str | None = Header(default=None),
                      idempotency_key: str | None = Header(default=None)) -> JSONResponse:
        if (refused := refuse(authorization, idempotency_key)) is not None:
            return refused
        if code not in dossiers:
            return JSONResponse({"error_code": "404", "message": "unknown dossier"}, status_code=404)
        body = await request.json()
        if idempotency_key not in seen_keys:
            seen_keys.add(idempotency_key)
            log.append({"kind": "history", "key": idempotency_key, "body": body})
            dossiers[code]["history"].extend(body["QuaTrinhXuLy"])
        return JSONResponse({"error_code": "0", "message": "OK"})

    @app.post("/_sim/mode")
    async def set_mode(body: dict[str, Any]) -> dict[str, Any]:
        state["mode"] = body.get("mode", "normal")
        return state

    @app.get("/_sim/dossiers")
    async def get_dossiers() -> dict[str, Any]:
        return dossiers

    @app.get("/_sim/log")
    async def get_log() -> list[dict[str, Any]]:
        return log

    return app
