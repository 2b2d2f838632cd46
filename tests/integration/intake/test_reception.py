"""Desk reception: accept (appointment, receipt), one supplement request, refusal, supplements,
withdrawal, fee-first clocks, the sweeps, and races between officers."""
import asyncio
import io
from datetime import datetime, timedelta

import pypdf

from services.intake.domain.due_date import appointment
from shared.calendar import VIETNAM_TZ
from shared.events.catalogue import DossierPaused, PaymentSucceeded, ResultIssued
from tests.integration.intake.conftest import COMMUNE, POLICE
from tests.integration.intake.samples import household_business, judicial_record, security_certificate

DESK = ("dossiers:submit", "dossiers:receive", "dossiers:read")


def pdf_text(data: bytes) -> str:
    return "\n".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(data)).pages)


async def submitted(intake, body=None, headers=None) -> dict:
    body = body or household_business("postal")
    if body["channel"] == "online":
        body = await intake.with_documents(body)
    response = await intake.submit(body, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


async def test_accept_fixes_the_appointment_assesses_fees_and_gives_a_receipt(intake):
    dossier = await submitted(intake, household_business("online"))
    officer = intake.officer(COMMUNE)
    accepted = await intake.act(dossier["id"], "accept", {"note": "Đủ hồ sơ"}, {**officer, "If-Match": '"1"'})
    assert accepted.status_code == 200, accepted.text
    body = accepted.json()
    assert body["status"] == "accepted" and body["version"] == 2 and accepted.headers["ETag"] == '"2"'
    accepted_at = datetime.fromisoformat(body["accepted_at"])
    procedure = intake.ctx.catalogue.procedure("1.001612")
    assert datetime.fromisoformat(body["due_at"]) == appointment(procedure.processing_time, accepted_at, intake.ctx.calendar)
    assert body["fee_lines"] == [{"code": "le_phi_dang_ky_hkd", "name": "Lệ phí đăng ký hộ kinh doanh", "kind": "le_phi",
                                  "amount": 50000, "collecting_agency": COMMUNE,
                                  "refundable_on": ["withdrawal"]}]   # 50% off online
    receipt = await intake.client.get(body["receipt_url"], headers=officer)
    assert receipt.status_code == 200 and receipt.headers["content-type"] == "application/pdf"
    text = pdf_text(receipt.content)
    assert "GIẤY TIẾP NHẬN HỒ SƠ VÀ HẸN TRẢ KẾT QUẢ" in text and dossier["code"] in text
    assert "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM" in text and "Trần Văn Bình" in text
    due_local = datetime.fromisoformat(body["due_at"]).astimezone(VIETNAM_TZ)
    assert f"ngày {due_local:%d/%m/%Y}" in text
    await intake.settle()
    [event] = await intake.events("dossier.accepted.v1")
    assert event["fee_lines"][0]["amount"] == 50000 and event["payment_timing"] == "at_acceptance"
    assert event["workflow"] == "ho-kinh-doanh" and event["competent_agency"] == COMMUNE
    again = await intake.act(dossier["id"], "accept", {}, officer)
    assert again.status_code == 409 and again.json()["type"].endswith("transition-not-allowed")


async def test_only_the_receiving_agency_may_decide(intake):
    dossier = await submitted(intake)
    elsewhere = await intake.act(dossier["id"], "accept", {}, intake.officer(POLICE))
    assert elsewhere.status_code == 403
    no_role = await intake.act(dossier["id"], "accept", {}, intake.officer(COMMUNE, roles=("dossiers:read",)))
    assert no_role.status_code == 403


async def test_stale_if_match_and_racing_officers(intake):
    dossier = await submitted(intake)
    stale = await intake.act(dossier["id"], "reject", {"reason": "Không thuộc thẩm quyền"},
                             intake.officer(COMMUNE, **{"If-Match": '"7"'}))
    assert stale.status_code == 409
    assert stale.json()["errors"][0]["current_version"] == 1
    first, second = await asyncio.gather(
        intake.act(dossier["id"], "accept", {}, intake.officer(COMMUNE, subject="a", **{"If-Match": '"1"'})),
        intake.act(dossier["id"], "reject", {"reason": "Hồ sơ giả mạo"}, intake.officer(COMMUNE, subject="b", **{"If-Match": '"1"'})))
    assert sorted([first.status_code, second.status_code]) == [200, 409]
    loser = first if first.status_code == 409 else second
    assert loser.json()["errors"][0].get("current_version") == 2 or "status" in loser.json()["errors"][0]["field"]
    view = (await intake.client.get(f"/v1/dossiers/{dossier['id']}", headers=intake.officer())).json()
    assert [h["action"] for h in view["history"]] in (["submit", "accept"], ["submit", "reject"])


async def test_one_supplement_request_then_the_supplement_then_acceptance(intake):
    dossier = await submitted(intake, household_business("online"))
    officer = intake.officer(COMMUNE)
    request = await intake.act(dossier["id"], "supplement-request", {"items": [
        {"document_code": "hop_dong_thue", "description": "Bản sao hợp đồng thuê địa điểm kinh doanh"},
        {"description": "Ghi rõ số lao động dự kiến"}]}, officer)
    assert request.status_code == 200, request.text
    assert request.json()["missing_items"] == ["Bản sao hợp đồng thuê địa điểm kinh doanh", "Ghi rõ số lao động dự kiến"]
    notice = await intake.client.get(request.json()["notice_url"], headers=officer)
    assert "PHIẾU YÊU CẦU BỔ SUNG" in pdf_text(notice.content) and "hợp đồng thuê" in pdf_text(notice.content)
    second = await intake.act(dossier["id"], "supplement-request", {"items": [{"description": "Thêm giấy tờ khác"}]}, officer)
    assert second.status_code == 409
    empty = await intake.act(dossier["id"], "supplements", {}, intake.partner())
    assert empty.status_code == 422
    upload = await intake.upload()
    supplement = await intake.act(dossier["id"], "supplements", {
        "documents": [{"code": "hop_dong_thue", "upload_id": upload}],
        "form": {**household_business()["form"], "employees": 3}}, intake.partner())
    assert supplement.status_code == 200 and supplement.json()["status"] == "submitted"
    assert supplement.json()["stage"] == "reception"
    assert (await intake.act(dossier["id"], "accept", {}, officer)).status_code == 200
    view = (await intake.client.get(f"/v1/dossiers/{dossier['id']}", headers=officer)).json()
    assert view["form"]["employees"] == 3
    assert [d["stage"] for d in view["documents"]] == ["submission", "supplement"]
    assert [h["action"] for h in view["history"]] == ["submit", "request_supplement", "supplement", "accept"]
    await intake.settle()
    types = [e["type"] for e in await intake.events() if e["subject"] == dossier["id"]]
    assert types == ["dossier.submitted.v1", "dossier.supplement_requested.v1", "dossier.supplemented.v1",
                     "dossier.accepted.v1"]


async def test_rejection_with_reason_and_withdrawal_with_stop_notice(intake):
    officer = intake.officer(COMMUNE)
    refused = await submitted(intake)
    response = await intake.act(refused["id"], "reject", {"reason": "Địa điểm kinh doanh thuộc khu vực cấm"}, officer)
    assert response.status_code == 200
    form03 = await intake.client.get(response.json()["notice_url"], headers=officer)
    assert "PHIẾU TỪ CHỐI" in pdf_text(form03.content) and "khu vực cấm" in pdf_text(form03.content)
    withdrawn = await submitted(intake)
    assert (await intake.act(withdrawn["id"], "accept", {}, officer)).status_code == 200
    stranger = await intake.act(withdrawn["id"], "withdrawal", {}, intake.officer(POLICE, roles=("dossiers:submit",)))
    assert stranger.status_code == 403
    response = await intake.act(withdrawn["id"], "withdrawal", {"reason": "Không còn nhu cầu"}, intake.partner())
    assert response.status_code == 200 and response.json()["status"] == "withdrawn"
    form05 = await intake.client.get(response.json()["notice_url"], headers=officer)
    assert "DỪNG GIẢI QUYẾT" in pdf_text(form05.content)
    assert (await intake.client.get(f"/v1/dossiers/{refused['id']}/forms/05", headers=officer)).status_code == 409


async def test_no_withdrawal_after_the_result_is_issued(intake):
    dossier = await submitted(intake)
    assert (await intake.act(dossier["id"], "accept", {}, intake.officer(COMMUNE))).status_code == 200
    now = datetime.now(VIETNAM_TZ)
    await intake.emit(ResultIssued(dossier_id=dossier["id"], result_id="r1", document_number="12/GCN-HKD",
                                   issuing_agency=COMMUNE, sha256="a" * 64, verify_url="https://x/verify/r1",
                                   issued_at=now), "results")
    await intake.settle()
    response = await intake.act(dossier["id"], "withdrawal", {}, intake.partner())
    assert response.status_code == 409 and "result" in response.json()["detail"]


async def test_supplement_during_processing_only_when_routing_asked(intake):
    dossier = await submitted(intake)
    assert (await intake.act(dossier["id"], "accept", {}, intake.officer(COMMUNE))).status_code == 200
    upload = await intake.upload()
    refs = {"documents": [{"code": "hop_dong_thue", "upload_id": upload}]}
    assert (await intake.act(dossier["id"], "supplements", refs, intake.partner())).status_code == 409
    await intake.emit(DossierPaused(dossier_id=dossier["id"], reason="supplement", paused_at=datetime.now(VIETNAM_TZ)),
                      "routing")
    await intake.settle()
    response = await intake.act(dossier["id"], "supplements", refs, intake.partner())
    assert response.status_code == 200 and response.json()["stage"] == "processing"
    await intake.settle()
    [event] = await intake.events("dossier.supplemented.v1")
    assert event["stage"] == "processing"


async def test_fee_first_clock_starts_at_payment(intake):
    desk = intake.officer(POLICE, roles=DESK)
    dossier = await submitted(intake, security_certificate("desk"), headers=desk)
    accepted = await intake.act(dossier["id"], "accept", {}, desk)
    assert accepted.json()["due_at"] is None and accepted.json()["clock_starts"] == "payment"
    paid_at = datetime(2026, 11, 23, 16, 0, tzinfo=VIETNAM_TZ)   # Monday 16:00; Tuesday 24/11 is a day off
    await intake.emit(PaymentSucceeded(dossier_id=dossier["id"], bill_id="b1", amount=300000, method="online",
                                       paid_at=paid_at), "payments")
    await intake.settle()
    [event] = await intake.events("dossier.due_date_set.v1")
    # 5 working days = 40 office hours from Monday 16:00: 1 h Monday, skip Tuesday, Wed-Mon 32 h, Tuesday 7 h.
    assert datetime.fromisoformat(event["due_at"]) == datetime(2026, 12, 1, 16, 0, tzinfo=VIETNAM_TZ)
    view = (await intake.client.get(f"/v1/dossiers/{dossier['id']}", headers=desk)).json()
    assert datetime.fromisoformat(view["due_at"]) == datetime(2026, 12, 1, 16, 0, tzinfo=VIETNAM_TZ)
    # Payment redelivered (or another replica consumed it): the clock does not restart.
    await intake.emit(PaymentSucceeded(dossier_id=dossier["id"], bill_id="b1", amount=300000, method="online",
                                       paid_at=paid_at + timedelta(days=1)), "payments")
    await intake.settle()
    assert len(await intake.events("dossier.due_date_set.v1")) == 1


async def test_sweeps_alert_unanswered_online_submissions_and_close_unsupplemented_ones(intake):
    online = await submitted(intake, judicial_record("online"))
    waiting = await submitted(intake)
    officer = intake.officer(COMMUNE)
    requested = await intake.act(waiting["id"], "supplement-request", {"items": [{"description": "Thiếu giấy đề nghị"}]},
                                 officer)
    complete_by = datetime.fromisoformat(requested.json()["complete_by"])
    sweep = intake.kit.definition.periodic[0].run
    assert await sweep(intake.kit) == 0                      # nothing is due yet
    intake.clock[0] = max(complete_by, datetime.fromisoformat(online["answer_due_at"])) + timedelta(minutes=1)
    assert await sweep(intake.kit) == 2
    assert await sweep(intake.kit) == 0                      # once only, whichever replica sweeps
    await intake.settle()
    [alert] = await intake.events("dossier.reception_overdue.v1")
    assert alert["subject"] == online["id"] and alert["receiving_agency"] == POLICE
    [closed] = await intake.events("dossier.rejected.v1")
    assert closed["subject"] == waiting["id"] and closed["cause"] == "supplement_not_received"
    view = (await intake.client.get(f"/v1/dossiers/{waiting['id']}", headers=officer)).json()
    assert view["status"] == "rejected" and view["history"][-1]["actor"] == "system:sweeper"


async def test_desk_list_is_cursor_paginated(intake):
    for _ in range(5):
        await submitted(intake)
    await intake.settle()
    officer = intake.officer(COMMUNE)
    seen, cursor = [], None
    while True:
        page = (await intake.client.get("/v1/dossiers", params={"limit": 2, **({"cursor": cursor} if cursor else {})},
                                        headers=officer)).json()
        seen += [item["code"] for item in page["items"]]
        assert all(item["national_status"] == 1 and item["national_status_name"] == "Mới đăng ký" for item in page["items"])
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert len(seen) == len(set(seen)) == 5
    assert seen == sorted(seen, reverse=True)
    bad = await intake.client.get("/v1/dossiers", params={"cursor": "%%%"}, headers=officer)
    assert bad.status_code == 400
