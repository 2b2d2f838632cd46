"""Simulator of the national population database (VNeID) lookup used for pre-filling applicants.

POST /api/v1/citizens/lookup {"personal_id", "purpose", "requester"} with a bearer token ->
200 citizen record | 404 not found | 401. Citizens are seeded (`CITIZENS`) and can be added with
POST /_sim/citizens. Switches (POST /_sim/mode): {"mode": "normal" | "down" | "slow", "delay_s"}.
Every lookup is logged at GET /_sim/lookups, so tests can see what the backbone asked and why."""
from __future__ import annotations

import asyncio
from typing import Any

from fastapi import FastAPI, Header, HTTPException
from pydantic import BaseModel

CITIZENS: dict[str, dict[str, Any]] = {
    "079203001234": {
        "personal_id": "079203001234", "full_name": "Nguyễn Thị Mai", "sex": "Nữ", "date_of_birth": "2003-04-12",
        "ethnicity": "Kinh", "nationality": "Việt Nam", "home_town": "Xã Cam Lâm, tỉnh Khánh Hòa",
        "permanent_address": {"province_code": "56", "commune_code": "22015", "detail": "12 Trần Phú, phường Nha Trang"},
        "current_address": {"province_code": "56", "commune_code": "22015", "detail": "12 Trần Phú, phường Nha Trang"},
        "father_name": "Nguyễn Văn Hùng", "mother_name": "Lê Thị Hoa", "spouse_name": "Trần Minh Quang",
        "household_head": "Nguyễn Văn Hùng",
    },
    "056090004321": {
        "personal_id": "056090004321", "full_name": "Trần Văn Bình", "sex": "Nam", "date_of_birth": "1990-09-02",
        "ethnicity": "Kinh", "nationality": "Việt Nam", "home_town": "Phường Nha Trang, tỉnh Khánh Hòa",
        "permanent_address": {"province_code": "56", "commune_code": "22015", "detail": "45 Lê Thánh Tôn, phường Nha Trang"},
        "current_address": {"province_code": "56", "commune_code": "22015", "detail": "45 Lê Thánh Tôn, phường Nha Trang"},
        "father_name": "Trần Văn Long", "mother_name": "Phạm Thị Lan", "spouse_name": None,
        "household_head": "Trần Văn Bình",
    },
}


class Lookup(BaseModel):
    personal_id: str
    purpose: str
    requester: str


class Mode(BaseModel):
    mode: str = "normal"
    delay_s: float = 0.0


def create_app(token: str = "population-sim-token") -> FastAPI:
    app = FastAPI(title="Population database simulator")
    citizens = {k: dict(v) for k, v in CITIZENS.items()}
    state: dict[str, Any] = {"mode": "normal", "delay_s": 0.0, "lookups": []}

    @app.post("/api/v1/citizens/lookup")
    async def lookup(body: Lookup, authorization: str | None = Header(default=None)) -> dict[str, Any]:
        if authorization != f"Bearer {token}":
            raise HTTPException(401, "invalid token")
        state["lookups"].append({"personal_id": body.personal_id, "purpose": body.purpose, "requester": body.requester})
        if state["mode"] == "down":
            raise HTTPException(503, "maintenance")
        if state["mode"] == "slow":
            await asyncio.sleep(state["delay_s"])
        citizen = citizens.get(body.personal_id)
        if citizen is None:
            raise HTTPException(404, "not found")
        return citizen

    @app.post("/_sim/mode")
    async def set_mode(mode: Mode) -> dict[str, Any]:
        state.update(mode=mode.mode, delay_s=mode.delay_s)
        return {"mode": mode.mode}

    @app.post("/_sim/citizens")
    async def add_citizen(citizen: dict[str, Any]) -> dict[str, str]:
        citizens[citizen["personal_id"]] = citizen
        return {"personal_id": citizen["personal_id"]}

    @app.get("/_sim/lookups")
    async def lookups() -> list[dict[str, Any]]:
        return state["lookups"]

    return app
