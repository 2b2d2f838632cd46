"""Whole lives of dossiers, played through the public APIs of a running backbone, with the
simulators answering as the citizen, the bank and the postman would. `onestop demo` plays them
on the embedded default and prints each dossier's timeline as it happens, with the links to look
at; the system tests play the same lives and check every service's part.

Nothing here touches a table: each step is an HTTP call a partner, an officer, a citizen or an
outside system would make, and each wait is for an event's consequence to become visible."""
from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from services.demo import BINH, HAI_DANG, MAI, PDF

COMMUNE, POLICE = "000.17.22.H56", "000.00.31.H56"
Say = Callable[[str], None]


@dataclass
class Life:
    story: str
    procedure_code: str
    applicant: dict[str, Any]
    form: dict[str, Any]
    agency: str
    channel: str = "online"
    return_by: str = "online"          # online | desk | postal
    outcome: str = "approved"          # approved | refused
    supplement_during_processing: bool = False
    dossier: dict[str, Any] = field(default_factory=dict)
    result: dict[str, Any] = field(default_factory=dict)
    seen: int = 0                       # timeline entries already printed

    @property
    def last4(self) -> str:
        return self.applicant["phone"][-4:]


def lives(more: bool = False) -> list[Life]:
    """Two lives for the demo and the end-to-end run; `more` adds the inter-agency consultation
    and a supplement during processing followed by a refusal."""
    extra = [
        Life("Liên thông khai sinh – thường trú – thẻ BHYT: xã hỏi ý kiến công an và bảo hiểm xã hội cùng lúc",
             "2.000986", MAI, {"child_full_name": "Trần Minh Khôi", "child_sex": "Nam",
                               "child_date_of_birth": "2026-11-20", "place_of_birth": "Bệnh viện Đa khoa tỉnh Khánh Hòa",
                               "mother_full_name": "Nguyễn Thị Mai", "father_full_name": "Trần Minh Quang",
                               "permanent_address": "12 Trần Phú, phường Nha Trang"}, COMMUNE),
        Life("Giấy phép xây dựng: bổ sung hồ sơ trong khi giải quyết (tạm dừng thời hạn), rồi bị từ chối có lý do",
             "1.013225", HAI_DANG, {"site_address": "Lô B2, đường Phong Châu, phường Nha Trang",
                                    "land_parcel": "Thửa 125, tờ 12", "floors": 4, "floor_area_m2": 320.5},
             "000.00.20.H56", outcome="refused", supplement_during_processing=True),
    ] if more else []
    return [
        Life("Hộ kinh doanh nộp trực tuyến, nộp lệ phí trực tuyến, nhận kết quả điện tử", "1.001612", BINH, {
            "business_name": "Hộ kinh doanh Bình An", "business_address": "45 Lê Thánh Tôn, phường Nha Trang",
            "business_lines": ["Bán lẻ thực phẩm"], "capital_vnd": 150_000_000}, COMMUNE),
        Life("Giấy chứng nhận an ninh trật tự: nộp phí trước, công an giải quyết, trả kết quả qua bưu điện",
             "2.001478", MAI, {"business_name": "Karaoke Hoa Biển", "business_address": "20 Trần Phú, phường Nha Trang",
                               "business_line": "karaoke", "responsible_person": "Nguyễn Thị Mai"},
             POLICE, return_by="postal"),
        *extra,
    ]


class Player:
    def __init__(self, client: httpx.AsyncClient, api_key: str, token: Callable[[str], str], say: Say = print,
                 timeout_s: float = 30.0) -> None:
        self.client, self.say, self.timeout_s = client, say, timeout_s
        self.partner = {"X-API-Key": api_key}
        self.token = token

    def officer(self, agency: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(agency)}"}

    async def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """One call, retried while the service is away (restarting: 502/503, refused connections) -
        with the same Idempotency-Key, so a retried POST does its work once."""
        deadline = asyncio.get_running_loop().time() + self.timeout_s
        while True:
            try:
                response = await self.client.request(method, path, **kwargs)
                if response.status_code not in (502, 503, 504):
                    return response
            except httpx.TransportError:
                pass
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"{method} {path}: the service stayed unavailable")
            await asyncio.sleep(0.3)

    async def _call(self, method: str, path: str, headers: dict[str, str] | None = None, **kwargs: Any) -> Any:
        if method == "POST":
            headers = {**(headers or {}), "Idempotency-Key": str(uuid.uuid4())}
        response = await self._request(method, path, headers=headers, **kwargs)
        if response.status_code >= 400:
            raise RuntimeError(f"{method} {path}: {response.status_code} {response.text[:300]}")
        return response.json() if response.headers.get("content-type", "").startswith("application/json") else response

    async def _until(self, what: str, probe: Callable[[], Any]) -> Any:
        deadline = asyncio.get_running_loop().time() + self.timeout_s
        while True:
            found = await probe()
            if found:
                return found
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"waited {self.timeout_s:g}s for {what}")
            await asyncio.sleep(0.1)

    async def timeline(self, life: Life) -> dict[str, Any]:
        view = await self._call("GET", f"/v1/tracking/{life.dossier['code']}", params={"phone_last4": life.last4})
        for entry in view["timeline"][life.seen:]:
            status = f" [trạng thái {entry['national_status']}]" if entry.get("national_status") else ""
            self.say(f"    {entry['at'][11:19]}  {entry['title']}{status}")
        life.seen = len(view["timeline"])
        return view

    async def play(self, life: Life) -> Life:
        self.say(f"\n▶ {life.story}")
        procedure = await self._call("GET", f"/v1/procedures/{life.procedure_code}")
        documents = []
        for document in procedure["documents"]:
            if document["requirement"] == "mandatory":
                upload = await self._call("POST", "/v1/dossiers/uploads", self.partner,
                                          files={"file": (f"{document['code']}.pdf", PDF, "application/pdf")})
                documents.append({"code": document["code"], "upload_id": upload["upload_id"]})
        life.dossier = await self._call("POST", "/v1/dossiers", self.partner, json={
            "procedure_code": life.procedure_code, "channel": life.channel, "applicant": life.applicant,
            "form": life.form, "documents": documents})
        dossier_id, code = life.dossier["id"], life.dossier["code"]
        self.say(f"  mã hồ sơ {code} — tra cứu: /v1/tracking/{code}?phone_last4={life.last4}")
        accepted = await self._call("POST", f"/v1/dossiers/{dossier_id}/accept", self.officer(COMMUNE), json={})
        self.say(f"  giấy tiếp nhận (mẫu 01): {accepted['receipt_url']}")
        if any(line["amount"] > 0 for line in accepted["fee_lines"]):
            await self._pay(life)
        await self._work_tasks(life)
        life.result = await self._until("the signed result", lambda: self._result(dossier_id))
        self.say(f"  kết quả {life.result['document_number']} — kiểm tra: "
                 f"/v1/results/verify?number={life.result['document_number']}")
        await self._return(life)
        await self._until("the dossier to end (status 10)", lambda: self._ended(life))
        return life

    async def _pay(self, life: Life) -> None:
        bill = (await self._until("the bill", lambda: self._bills(life.dossier["id"])))[0]
        self.say(f"  đề nghị nộp {bill['amount']:,} đồng".replace(",", "."))
        started = await self._call("POST", f"/v1/bills/{bill['id']}/payments", self.partner)
        payment_url = started.get("payment_url") or (await self._until("the payment page", lambda: self._attempt_url(
            started["id"])))
        # The citizen pays on the platform's page (the simulator answers as the bank would).
        await self._request("POST", payment_url, params={"outcome": "success"})
        await self._until("the payment to be confirmed", lambda: self._paid(bill["id"]))
        self.say("  đã thanh toán trực tuyến; biên lai điện tử đã lập")
        await self.timeline(life)

    async def _bills(self, dossier_id: str) -> list | None:
        answer = await self._call("GET", "/v1/bills", self.partner, params={"dossier_id": dossier_id})
        return answer["items"] if answer["items"] else None

    async def _attempt_url(self, attempt_id: str) -> str | None:
        return (await self._call("GET", f"/v1/payments/attempts/{attempt_id}", self.partner)).get("payment_url")

    async def _paid(self, bill_id: str) -> bool:
        return (await self._call("GET", f"/v1/bills/{bill_id}", self.partner))["state"] == "paid"

    async def _work_tasks(self, life: Life) -> None:
        for _ in range(10):
            tasks = await self._until("a task", lambda: self._open_tasks(life))
            if tasks == "done":
                return
            task = tasks[0]
            detail = await self._call("GET", f"/v1/tasks/{task['id']}", self.officer(task["agency"]))
            offered = {a["action"] for a in detail["actions"]}
            if life.supplement_during_processing and "request_supplement" in offered:
                life.supplement_during_processing = False
                await self._supplement(life, task)
                continue
            decision = "refuse" if life.outcome == "refused" else "approve"
            action = next(a for a in (decision, "answer", "consult", "transfer", "forward") if a in offered)
            body = {"action": action, "comment": "Đồng ý"}
            if action == "refuse":
                body["reason"] = "Công trình vi phạm chỉ giới xây dựng theo quy hoạch chi tiết được duyệt"
            await self._call("POST", f"/v1/tasks/{task['id']}/actions", self.officer(task["agency"]), json=body)
            self.say(f"  {task['agency']} · {task['step_name']}: {action}")
            await self.timeline(life)

    async def _supplement(self, life: Life, task: dict[str, Any]) -> None:
        """The agency asks for more while processing (the clock stops); the applicant sends it."""
        await self._call("POST", f"/v1/tasks/{task['id']}/actions", self.officer(task["agency"]), json={
            "action": "request_supplement", "missing_items": ["Bản vẽ thiết kế có chữ ký của chủ nhiệm thiết kế"]})
        self.say(f"  {task['agency']} · {task['step_name']}: yêu cầu bổ sung (tạm dừng thời hạn)")
        await self._until("intake to open the supplement", lambda: self._status_is(life, 5))
        upload = await self._call("POST", "/v1/dossiers/uploads", self.partner,
                                  files={"file": ("ban-ve.pdf", PDF, "application/pdf")})
        await self._call("POST", f"/v1/dossiers/{life.dossier['id']}/supplements", self.partner, json={
            "documents": [{"code": "ban_ve_thiet_ke", "upload_id": upload["upload_id"]}]})
        self.say("  doanh nghiệp đã bổ sung; thời hạn được cộng thêm thời gian tạm dừng")
        await self._until("routing to resume", lambda: self._running(life))
        await self.timeline(life)

    async def _status_is(self, life: Life, status: int) -> bool:
        return (await self.timeline(life))["national_status"] == status

    async def _running(self, life: Life) -> bool:
        view = await self._call("GET", f"/v1/processes/{life.dossier['id']}", self.officer(COMMUNE))
        return view["state"] == "running"

    async def _open_tasks(self, life: Life) -> list | str | None:
        response = await self._request("GET", f"/v1/processes/{life.dossier['id']}", headers=self.officer(COMMUNE))
        if response.status_code == 404:
            return None
        view = response.json()
        if view["state"] == "decided":
            return "done"
        open_tasks = [t for t in view["tasks"] if t["state"] in ("open", "claimed")]
        return open_tasks or None

    async def _result(self, dossier_id: str) -> dict | None:
        items = (await self._call("GET", "/v1/results", self.partner, params={"dossier_id": dossier_id}))["items"]
        return items[0] if items else None

    async def _return(self, life: Life) -> None:
        result_id = life.result["id"]
        if life.return_by == "online":
            link = await self._call("POST", f"/v1/results/{result_id}/download-links",
                                    json={"citizen_id": life.applicant.get("citizen_id") or life.applicant["tax_code"]})
            pdf = await self._request("GET", link["url"])
            size = f"{len(pdf.content):,}".replace(",", ".")
            self.say(f"  công dân tải kết quả điện tử ({size} byte, đã ký số)")
        elif life.return_by == "postal":
            sent = await self._call("POST", f"/v1/results/{result_id}/returns", self.officer(life.agency), json={
                "channel": "postal", "receiver": {"name": life.applicant["full_name"],
                                                  "address": life.applicant["address"],
                                                  "phone": "+84" + life.applicant["phone"].lstrip("0")}})
            tracking = sent["return_detail"]["tracking_code"]
            self.say(f"  gửi kết quả qua bưu chính công ích, mã vận đơn {tracking}")
            # The postman delivers (the postal simulator confirms to results).
            await self._call("POST", f"/simulators/postal/_sim/deliver/{tracking}")
            self.say("  bưu tá đã giao kết quả")

    async def _ended(self, life: Life) -> bool:
        view = await self.timeline(life)
        return view["national_status"] == 10
