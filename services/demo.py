"""Demo data for the embedded default: a handful of dossiers in various states, made through the
public API exactly as partners and desk officers would make them (no back doors into tables).

    onestop demo-data              (also loaded by `onestop dev` when intake has no dossiers yet)"""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import httpx

COMMUNE = "000.17.22.H56"
POLICE = "000.00.31.H56"
PDF = b"%PDF-1.4\n% demo scan\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"

MAI = {"kind": "person", "full_name": "Nguyễn Thị Mai", "citizen_id": "079203001234", "phone": "0912345678",
       "email": "mai.nguyen@example.vn", "address": "12 Trần Phú, phường Nha Trang", "channels": ["sms", "email"]}
BINH = {"kind": "person", "full_name": "Trần Văn Bình", "citizen_id": "056090004321", "phone": "0987654321",
        "address": "45 Lê Thánh Tôn, phường Nha Trang", "channels": ["zalo", "sms"]}
HAI_DANG = {"kind": "organisation", "full_name": "Công ty TNHH Xây dựng Hải Đăng", "tax_code": "0100109106",
            "email": "phaply@haidang.example.vn", "phone": "02583812345", "address": "8 Lê Lợi, phường Nha Trang"}


@dataclass(frozen=True)
class DemoDossier:
    story: str
    code: str
    status: str
    phone_last4: str


class DemoLoader:
    def __init__(self, client: httpx.AsyncClient, partner_key: str, officer_token: str, police_token: str) -> None:
        self.client = client
        self.partner = {"X-API-Key": partner_key}
        self.officer = {"Authorization": f"Bearer {officer_token}"}
        self.police = {"Authorization": f"Bearer {police_token}"}

    async def _post(self, path: str, headers: dict[str, str], **kwargs: Any) -> dict[str, Any]:
        response = await self.client.post(path, headers={**headers, "Idempotency-Key": str(uuid.uuid4())}, **kwargs)
        if response.status_code >= 300:
            raise RuntimeError(f"demo step {path} failed: {response.status_code} {response.text}")
        return response.json()

    async def _documents(self, procedure_code: str, headers: dict[str, str]) -> list[dict[str, str]]:
        procedure = (await self.client.get(f"/v1/procedures/{procedure_code}")).json()
        documents = []
        for document in procedure["documents"]:
            if document["requirement"] == "mandatory":
                upload = await self._post("/v1/dossiers/uploads", headers,
                                          files={"file": (f"{document['code']}.pdf", PDF, "application/pdf")})
                documents.append({"code": document["code"], "upload_id": upload["upload_id"]})
        return documents

    async def _submit(self, body: dict[str, Any], headers: dict[str, str]) -> dict[str, Any]:
        if body["channel"] == "online":
            body = {**body, "documents": await self._documents(body["procedure_code"], headers)}
        return await self._post("/v1/dossiers", headers, json=body)

    async def load(self) -> list[DemoDossier]:
        made: list[DemoDossier] = []
        birth = await self._submit({"procedure_code": "1.001193", "channel": "online", "applicant": MAI, "form": {
            "child_full_name": "Trần Minh Khôi", "child_sex": "Nam", "child_date_of_birth": "2026-11-20",
            "place_of_birth": "Bệnh viện Đa khoa tỉnh Khánh Hòa", "mother_full_name": "Nguyễn Thị Mai",
            "father_full_name": "Trần Minh Quang"}}, self.partner)
        await self._post(f"/v1/dossiers/{birth['id']}/accept", self.officer, json={"note": "Hồ sơ đầy đủ"})
        made.append(DemoDossier("Đăng ký khai sinh trực tuyến, đã tiếp nhận (hẹn trả trong ngày)", birth["code"],
                                "accepted", MAI["phone"][-4:]))

        business = await self._submit({"procedure_code": "1.001612", "channel": "desk", "applicant": BINH, "form": {
            "business_name": "Hộ kinh doanh Bình An", "business_address": "45 Lê Thánh Tôn, phường Nha Trang",
            "business_lines": ["Bán lẻ thực phẩm", "Đồ uống"], "capital_vnd": 200_000_000}},
            {**self.officer})
        await self._post(f"/v1/dossiers/{business['id']}/accept", self.officer, json={})
        made.append(DemoDossier("Đăng ký hộ kinh doanh tại quầy, đã tiếp nhận, lệ phí 100.000 đ", business["code"],
                                "accepted", BINH["phone"][-4:]))

        record = await self._submit({"procedure_code": "3.000333", "channel": "postal", "applicant": BINH, "form": {
            "certificate_type": 1, "purpose": "Bổ sung hồ sơ xin việc", "copies": 2}}, self.partner)
        await self._post(f"/v1/dossiers/{record['id']}/supplement-request", self.police, json={"items": [
            {"document_code": "to_khai", "description": "Tờ khai yêu cầu cấp Phiếu lý lịch tư pháp có chữ ký"},
            {"description": "Bản sao giấy tờ tùy thân còn hiệu lực"}]})
        made.append(DemoDossier("Phiếu lý lịch tư pháp qua bưu chính, chờ bổ sung", record["code"],
                                "supplement_requested", BINH["phone"][-4:]))

        sidewalk = await self._submit({"procedure_code": "1.013274", "channel": "online", "applicant": BINH, "form": {
            "location": "Trước số 45 Lê Thánh Tôn", "area_m2": 12, "purpose": "đám cưới",
            "from_date": "2026-12-05", "to_date": "2026-12-06"}}, self.partner)
        await self._post(f"/v1/dossiers/{sidewalk['id']}/reject", self.officer,
                         json={"reason": "Tuyến phố thuộc danh mục không cho phép sử dụng tạm thời vỉa hè"})
        made.append(DemoDossier("Sử dụng tạm thời vỉa hè, không được tiếp nhận", sidewalk["code"], "rejected",
                                BINH["phone"][-4:]))

        permit = await self._submit({"procedure_code": "1.013225", "channel": "online", "applicant": HAI_DANG, "form": {
            "site_address": "Lô B2, đường Phong Châu, phường Nha Trang", "land_parcel": "Thửa 125, tờ 12",
            "floors": 4, "floor_area_m2": 320.5}}, self.partner)
        made.append(DemoDossier("Giấy phép xây dựng nộp trực tuyến, chờ bộ phận một cửa", permit["code"], "submitted",
                                HAI_DANG["phone"][-4:]))

        copy = await self._submit({"procedure_code": "2.000908", "channel": "desk", "applicant": MAI, "form": {
            "original_document": "Giấy khai sinh", "copies": 2}}, self.officer)
        await self._post(f"/v1/dossiers/{copy['id']}/accept", self.officer, json={})
        await self._post(f"/v1/dossiers/{copy['id']}/withdrawal", self.officer, json={"reason": "Không còn nhu cầu"})
        made.append(DemoDossier("Cấp bản sao từ sổ gốc, công dân đã rút hồ sơ", copy["code"], "withdrawn",
                                MAI["phone"][-4:]))
        return made


async def has_dossiers(client: httpx.AsyncClient, officer_token: str) -> bool:
    response = await client.get("/v1/dossiers", params={"limit": 1, "agency": COMMUNE},
                                headers={"Authorization": f"Bearer {officer_token}"})
    return response.status_code == 200 and bool(response.json()["items"])


async def load_embedded_demo(backbone, base_url: str) -> list[DemoDossier]:
    """Seed an embedded backbone through its own gateway (in-process ASGI transport)."""
    roles = ["dossiers:submit", "dossiers:receive", "dossiers:read"]
    officer = backbone.officer_token(agency=COMMUNE, roles=roles)
    police = backbone.officer_token(agency=POLICE, roles=roles, subject="officer-police", name="Cán bộ Công an tỉnh")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(backbone.gateway), base_url=base_url) as client:
        if await has_dossiers(client, officer):
            return []
        dossiers = await DemoLoader(client, backbone.dev_api_key, officer, police).load()
    await backbone.bus.wait_idle()
    return dossiers
