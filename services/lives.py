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
# What the officers in these lives may do: receive, work tasks (as specialist and leader), return
# results, refund; in every agency, since one player plays every desk.
OFFICER_ROLES = ["dossiers:receive", "dossiers:read", "tasks:read", "tasks:act", "chuyen-vien", "lanh-dao",
                 "results:read", "results:return", "payments:read", "payments:refund", "agency:*"]
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
    supplement_at_reception: bool = False        # the desk asks for a missing document before accepting
    payment_fails_first: bool = False            # the first attempt is cancelled on the bank's page
    withdraw_when: str | None = None             # "awaiting_payment" | "processing": the applicant withdraws then
    apologise: bool = False                      # the agency's leader issues the apology and a new date (form 04)
    hold_before_decision: bool = False           # play() stops once processing runs; carry_on() finishes
    dossier: dict[str, Any] = field(default_factory=dict)
    procedure: dict[str, Any] = field(default_factory=dict)
    result: dict[str, Any] = field(default_factory=dict)
    seen: int = 0                       # timeline entries already printed

    @property
    def last4(self) -> str:
        return self.applicant["phone"][-4:]

    @property
    def payment_timing(self) -> str:
        return (self.procedure.get("payment") or {}).get("timing") or "none"

    @property
    def ends_at(self) -> int:
        """The national status the life ends with: withdrawn (7) or returned (10)."""
        return 7 if self.withdraw_when else 10


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


# An applicant who asked for every channel, so each message can be seen arrive by SMS, Zalo and e-mail.
LAN = {"kind": "person", "full_name": "Lê Thị Lan", "citizen_id": "056185007788", "phone": "0905112233",
       "email": "le.thi.lan@example.vn", "address": "7 Yersin, phường Nha Trang", "channels": ["sms", "zalo", "email"]}
PROVINCE_RESOURCES, NOTARY = "000.00.20.H56", "000.18.05.H56"
BIRTH = {"child_full_name": "Lê Minh An", "child_sex": "Nữ", "child_date_of_birth": "2026-09-02",
         "place_of_birth": "Bệnh viện Đa khoa tỉnh Khánh Hòa", "mother_full_name": "Lê Thị Lan",
         "father_full_name": "Phạm Văn Hùng"}
BUSINESS = {"business_name": "Hộ kinh doanh Lan Yersin", "business_address": "7 Yersin, phường Nha Trang",
            "business_lines": ["Bán lẻ hàng may mặc"], "capital_vnd": 80_000_000}
PERMIT = {"site_address": "Lô C4, đường Phong Châu, phường Nha Trang", "land_parcel": "Thửa 88, tờ 9", "floors": 3,
          "floor_area_m2": 210.0}
RECORD = {"certificate_type": 1, "purpose": "Bổ sung hồ sơ xin việc", "copies": 2}
SECURITY = {"business_name": "Nhà nghỉ Biển Xanh", "business_address": "30 Trần Phú, phường Nha Trang",
            "business_line": "lưu trú", "responsible_person": "Lê Thị Lan"}


def catalogue_lives() -> list[Life]:
    """Every sample procedure's happy path, and each turn a dossier's life can take: supplement at
    reception, supplement during processing, fee-first payment, payment failure then success,
    transfer and parallel consultation between agencies, refusal with refund, withdrawal (before
    payment and during processing), return online, at the desk and by post. The apology with a new
    date and the overdue dossier need time to pass: see `overdue_life`."""
    return [
        Life("Khai sinh quá hạn: lệ phí trực tuyến, nhận kết quả điện tử", "1.001193", LAN,
             {**BIRTH, "late_registration": True}, COMMUNE),
        Life("Hộ kinh doanh: nhận kết quả tại bộ phận một cửa", "1.001612", LAN, BUSINESS, COMMUNE, return_by="desk"),
        Life("Giấy phép khoan nước: giao dịch đầu tiên không thành công, thanh toán lại", "1.004122", HAI_DANG,
             {"organisation_name": "Công ty TNHH Xây dựng Hải Đăng", "technical_lead": "Kỹ sư Võ Văn Tài",
              "drilling_scale": "nhỏ"}, PROVINCE_RESOURCES, payment_fails_first=True),
        Life("Giấy phép xây dựng được cấp, trả qua bưu chính", "1.013225", LAN, PERMIT, COMMUNE, return_by="postal"),
        Life("Sử dụng tạm vỉa hè: phí nộp khi nhận kết quả", "1.013274", LAN,
             {"location": "Trước số 7 Yersin, phường Nha Trang", "area_m2": 24, "purpose": "đám cưới",
              "from_date": "2026-12-05", "to_date": "2026-12-06"}, COMMUNE),
        Life("Chứng thực bản sao: bộ phận một cửa yêu cầu bổ sung trước khi tiếp nhận", "2.000815", LAN,
             {"document_title": "Bằng tốt nghiệp đại học", "pages": 3}, NOTARY, channel="desk",
             supplement_at_reception=True, return_by="desk"),
        Life("Cấp bản sao từ sổ gốc: không mất phí", "2.000908", LAN,
             {"original_document": "Giấy khai sinh", "copies": 2}, COMMUNE, channel="desk", return_by="desk"),
        Life("Liên thông khai sinh: hỏi ý kiến công an và bảo hiểm xã hội song song", "2.000986", LAN,
             {**BIRTH, "permanent_address": "7 Yersin, phường Nha Trang"}, COMMUNE),
        Life("An ninh trật tự: nộp phí trước rồi mới giải quyết, trả qua bưu chính", "2.001478", LAN, SECURITY, POLICE,
             return_by="postal"),
        Life("Lý lịch tư pháp: chuyển xã xác minh rồi trả về tỉnh", "3.000333", LAN, RECORD, POLICE),
        Life("Giấy phép xây dựng bị từ chối sau khi bổ sung trong quá trình giải quyết, hoàn lệ phí", "1.013225",
             HAI_DANG, {**PERMIT, "land_parcel": "Thửa 89, tờ 9"}, COMMUNE, outcome="refused",
             supplement_during_processing=True),
        Life("Lý lịch tư pháp: công dân rút hồ sơ khi đang giải quyết", "3.000333", LAN, RECORD, POLICE,
             withdraw_when="processing"),
        Life("An ninh trật tự: rút hồ sơ khi chưa nộp phí (hủy đề nghị thanh toán)", "2.001478", LAN, SECURITY, POLICE,
             withdraw_when="awaiting_payment"),
    ]


def overdue_life() -> Life:
    """Late: the leader apologises with a new date (form 04); then the new date passes too."""
    return Life("Hộ kinh doanh: xin lỗi và hẹn lại ngày trả, rồi quá hạn", "1.001612", LAN, BUSINESS, COMMUNE,
                apologise=True, hold_before_decision=True)


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

    async def until(self, what: str, probe: Callable[[], Any]) -> Any:
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
        await self._submit(life)
        dossier_id = life.dossier["id"]
        if life.supplement_at_reception:
            await self._supplement_at_reception(life)
        accepted = await self._call("POST", f"/v1/dossiers/{dossier_id}/accept", self.officer(COMMUNE), json={})
        self.say(f"  giấy tiếp nhận (mẫu 01): {accepted['receipt_url']}")
        owed = any(line["amount"] > 0 for line in accepted["fee_lines"])
        if life.withdraw_when == "awaiting_payment":
            await self.until("the bill", lambda: self._bills(dossier_id))
            return await self._withdraw(life)
        if owed and life.payment_timing != "on_result":
            await self._pay(life)
        if life.apologise or life.withdraw_when == "processing" or life.hold_before_decision:
            await self.until("processing to start", lambda: self._open_tasks(life))
        if life.apologise:
            await self._apologise(life)
        if life.withdraw_when == "processing":
            return await self._withdraw(life)
        if life.hold_before_decision:
            return life
        return await self.carry_on(life)

    async def carry_on(self, life: Life) -> Life:
        """From processing to the returned result (and the refund, where the rules give one)."""
        dossier_id = life.dossier["id"]
        await self._work_tasks(life)
        if life.payment_timing == "on_result" and life.outcome == "approved":
            await self._pay(life)
        life.result = await self.until("the signed result", lambda: self._result(dossier_id))
        self.say(f"  kết quả {life.result['document_number']} — kiểm tra: "
                 f"/v1/results/verify?number={life.result['document_number']}")
        if life.outcome == "refused":
            await self._refund_if_due(life)
        await self._return(life)
        await self.until("the dossier to end (status 10)", lambda: self._ended(life))
        return life

    async def _submit(self, life: Life) -> None:
        life.procedure = await self._call("GET", f"/v1/procedures/{life.procedure_code}")
        documents = [{"code": document["code"], "upload_id": await self._upload(f"{document['code']}.pdf")}
                     for document in life.procedure["documents"] if document["requirement"] == "mandatory"]
        if life.supplement_at_reception:   # one mandatory paper forgotten; the desk will ask for it
            documents = documents[1:]
        life.dossier = await self._call("POST", "/v1/dossiers", self.partner, json={
            "procedure_code": life.procedure_code, "channel": life.channel, "applicant": life.applicant,
            "form": life.form, "documents": documents})
        self.say(f"  mã hồ sơ {life.dossier['code']} — tra cứu: "
                 f"/v1/tracking/{life.dossier['code']}?phone_last4={life.last4}")

    async def _upload(self, name: str) -> str:
        upload = await self._call("POST", "/v1/dossiers/uploads", self.partner,
                                  files={"file": (name, PDF, "application/pdf")})
        return upload["upload_id"]

    async def _supplement_at_reception(self, life: Life) -> None:
        """The desk finds a paper missing and asks for everything missing at once (form 02)."""
        missing = next(d for d in life.procedure["documents"] if d["requirement"] == "mandatory")
        await self._call("POST", f"/v1/dossiers/{life.dossier['id']}/supplement-request", self.officer(COMMUNE),
                         json={"items": [{"document_code": missing["code"], "description": f"Thiếu: {missing['name']}"}]})
        self.say(f"  bộ phận một cửa yêu cầu bổ sung: {missing['name']} (mẫu 02)")
        await self.until("the request to show", lambda: self._status_is(life, 5))
        await self._call("POST", f"/v1/dossiers/{life.dossier['id']}/supplements", self.partner, json={
            "documents": [{"code": missing["code"], "upload_id": await self._upload(f"{missing['code']}.pdf")}]})
        self.say("  công dân đã bổ sung; bộ phận một cửa xem xét lại")

    async def _withdraw(self, life: Life) -> Life:
        await self._call("POST", f"/v1/dossiers/{life.dossier['id']}/withdrawal", self.partner,
                         json={"reason": "Công dân không còn nhu cầu"})
        self.say("  công dân rút hồ sơ (mẫu 05: thông báo dừng giải quyết)")
        await self.until("the withdrawal (status 7)", lambda: self._status_is(life, 7))
        return life

    async def _apologise(self, life: Life) -> None:
        """The competent agency's leader apologises and sets a new date, once (form 04)."""
        extended = await self._call("POST", f"/v1/processes/{life.dossier['id']}/extension", self.officer(life.agency),
                                    json={"reason": "Cần xác minh thực địa tại địa điểm hành nghề",
                                          "extra_working_days": 2})
        self.say(f"  văn bản xin lỗi và hẹn lại ngày trả kết quả (mẫu 04): {extended['apology_url']}")
        await self.timeline(life)

    async def _pay(self, life: Life) -> None:
        bill = next(b for b in await self.until("the bill", lambda: self._bills(life.dossier["id"]))
                    if b["state"] == "open")
        self.say(f"  đề nghị nộp {bill['amount']:,} đồng".replace(",", "."))
        if life.payment_fails_first:
            attempt = await self._attempt(bill, "fail")
            await self.until("the failed attempt", lambda: self._attempt_state(attempt, "failed"))
            self.say("  giao dịch đầu tiên bị hủy trên trang của ngân hàng; công dân thanh toán lại")
        await self._attempt(bill, "success")
        await self.until("the payment to be confirmed", lambda: self._paid(bill["id"]))
        self.say("  đã thanh toán trực tuyến; biên lai điện tử đã lập")
        await self.timeline(life)

    async def _attempt(self, bill: dict[str, Any], outcome: str) -> str:
        """The citizen opens the platform's page and pays (or cancels): the simulator answers as the bank."""
        started = await self._call("POST", f"/v1/bills/{bill['id']}/payments", self.partner)
        payment_url = started.get("payment_url") or await self.until(
            "the payment page", lambda: self._attempt_url(started["id"]))
        await self._request("POST", payment_url, params={"outcome": outcome})
        return started["id"]

    async def _attempt_state(self, attempt_id: str, state: str) -> bool:
        return (await self._call("GET", f"/v1/payments/attempts/{attempt_id}", self.partner))["state"] == state

    async def _refund_if_due(self, life: Life) -> None:
        """Refused: the finance officer pays back what the rules return, stating the amount seen."""
        for bill_id in [bill["id"] for bill in await self._bills(life.dossier["id"]) or []]:
            seen = await self.until("the refundable amount", lambda b=bill_id: self._refundable(b))
            if seen == "nothing":
                continue
            await self._call("POST", f"/v1/bills/{bill_id}/refunds", self.officer(COMMUNE),
                             json={"amount": seen, "reason": "Hồ sơ bị từ chối, không cấp giấy phép"})
            await self.until("the refund", lambda b=bill_id: self._bill_state(b, "refunded"))
            self.say(f"  đã hoàn trả {seen:,} đồng cho công dân".replace(",", "."))

    async def _refundable(self, bill_id: str) -> int | str | None:
        bill = await self._call("GET", f"/v1/bills/{bill_id}", self.partner)
        if bill["state"] != "paid":
            return "nothing"
        return bill["refundable_amount"] or None

    async def _bill_state(self, bill_id: str, state: str) -> bool:
        return (await self._call("GET", f"/v1/bills/{bill_id}", self.partner))["state"] == state

    async def _bills(self, dossier_id: str) -> list | None:
        answer = await self._call("GET", "/v1/bills", self.partner, params={"dossier_id": dossier_id})
        return answer["items"] if answer["items"] else None

    async def _attempt_url(self, attempt_id: str) -> str | None:
        return (await self._call("GET", f"/v1/payments/attempts/{attempt_id}", self.partner)).get("payment_url")

    async def _paid(self, bill_id: str) -> bool:
        return await self._bill_state(bill_id, "paid")

    async def _work_tasks(self, life: Life) -> None:
        for _ in range(10):
            tasks = await self.until("a task", lambda: self._open_tasks(life))
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
        await self.until("intake to open the supplement", lambda: self._status_is(life, 5))
        await self._call("POST", f"/v1/dossiers/{life.dossier['id']}/supplements", self.partner, json={
            "documents": [{"code": "ban_ve_thiet_ke", "upload_id": await self._upload("ban-ve.pdf")}]})
        self.say("  doanh nghiệp đã bổ sung; thời hạn được cộng thêm thời gian tạm dừng")
        await self.until("routing to resume", lambda: self._running(life))
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
        elif life.return_by == "desk":
            applicant = life.applicant
            await self._call("POST", f"/v1/results/{result_id}/returns", self.officer(life.agency), json={
                "channel": "desk", "collected_by": applicant["full_name"],
                "id_document_type": "CCCD" if applicant.get("citizen_id") else "giay-uy-quyen",
                "id_document_number": applicant.get("citizen_id") or applicant["tax_code"]})
            self.say(f"  {applicant['full_name']} nhận kết quả tại bộ phận một cửa")
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
        return await self._status_is(life, 10)
