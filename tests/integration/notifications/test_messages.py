"""Messages to applicants and agencies: the right templates, in Vietnamese, once per recipient and
channel even when every event arrives twice; opt-out of non-essential messages; SMS failover
between providers; delivery receipts; retries and permanent failures; missing variables."""
from __future__ import annotations

import hashlib
import hmac
import json
import unicodedata
from datetime import UTC, datetime, timedelta

from shared.events.catalogue import (DossierAccepted, DossierExtended, DossierPaused, DossierProcessingStarted,
                                     FeeLine, PaymentRequested, PaymentSucceeded, ResultIssued, ResultReturned,
                                     TaskDueSoon)
from tests.integration.notifications.conftest import COMMUNE, EMAIL, PHONE, RECEIPT_SECRET

SUBJECTS = {"received": "đã được tiếp nhận", "payment-requested": "Đề nghị nộp phí, lệ phí",
            "paid": "Đã nhận thanh toán", "processing": "đang được giải quyết",
            "processing-supplement": "cần bổ sung trong quá trình giải quyết", "apology": "Thư xin lỗi",
            "result-ready": "đã có kết quả", "returned": "Đã trả kết quả"}
NON_ESSENTIAL = {"paid", "processing", "returned"}


FEE = FeeLine(code="le_phi", name="Lệ phí đăng ký hộ kinh doanh", kind="le_phi", amount=100_000,
              collecting_agency=COMMUNE)


def accepted(dossier_id: str, now: datetime, due: datetime) -> DossierAccepted:
    return DossierAccepted(dossier_id=dossier_id, dossier_code="x", procedure_code="1.001612", procedure_version="2026.1",
                           channel="online", receiving_agency=COMMUNE, competent_agency=COMMUNE, accepted_at=now,
                           due_at=due, fee_lines=[FEE], procedure_name="Đăng ký thành lập hộ kinh doanh")


async def lifecycle(notifications, dossier_id: str) -> None:
    now = datetime.now(UTC)
    due = now + timedelta(days=3)
    fee = FEE
    events = [
        (accepted(dossier_id, now, due), "intake"),
        (PaymentRequested(dossier_id=dossier_id, bill_id="b1", amount=100_000, lines=[fee],
                          pay_url="https://dichvucong.example/v1/bills/b1/pay?sig=abc", expires_at=due), "payments"),
        (PaymentSucceeded(dossier_id=dossier_id, bill_id="b1", amount=100_000, method="online", paid_at=now), "payments"),
        (DossierProcessingStarted(dossier_id=dossier_id, workflow_id="ho-kinh-doanh", workflow_version="2026.1",
                                  started_at=now, due_at=due), "routing"),
        (DossierPaused(dossier_id=dossier_id, reason="supplement", paused_at=now,
                       missing_items=["Bản sao hợp đồng thuê địa điểm kinh doanh"]), "routing"),
        (DossierExtended(dossier_id=dossier_id, reason="Cần xác minh địa điểm kinh doanh", original_due_at=due,
                         new_due_at=due + timedelta(days=2), apology_url="https://dichvucong.example/f04"), "routing"),
        (ResultIssued(dossier_id=dossier_id, result_id="r1", document_number="123/GCN-HKD", issuing_agency=COMMUNE,
                      sha256="a" * 64, verify_url="https://dichvucong.example/v1/results/verify/123", issued_at=now),
         "results"),
        (ResultReturned(dossier_id=dossier_id, result_id="r1", channel="online", returned_at=now), "results"),
    ]
    for data, source in events:
        await notifications.emit(data, source)


def has_diacritics(text: str) -> bool:
    return any(unicodedata.combining(c) for c in unicodedata.normalize("NFD", text)) or "đ" in text.lower()


async def test_a_whole_lifecycle_sends_each_message_once_per_channel_in_vietnamese_even_when_delivered_twice(
        notifications):
    notifications.bus.duplicate_delivery = True
    dossier_id = await notifications.submitted()
    await lifecycle(notifications, dossier_id)
    await notifications.deliver()
    mails = [m for m in notifications.mailbox.messages if m["to"] == [EMAIL]]
    for template, phrase in SUBJECTS.items():
        assert sum(phrase in m["subject"] for m in mails) == 1, template
    assert len(mails) == len(SUBJECTS)
    received = next(m for m in mails if "tiếp nhận" in m["subject"])
    assert "Kính gửi Nguyễn Thị Mai" in received["body"] and "/v1/tracking/" in received["body"]
    sms = [m for m in await notifications.sms_sent() if m["to"] == PHONE]
    assert len(sms) == len(SUBJECTS) and {m["provider"] for m in sms} <= {"sms-a", "sms-b"}
    for message in sms:   # provider B carries only unaccented text; A gets Vietnamese with diacritics
        assert has_diacritics(message["text"]) == (message["provider"] == "sms-a"), message
    assert len([m for m in await notifications.zalo_sent() if m["phone"] == PHONE]) == len(SUBJECTS)
    history = await notifications.messages(dossier_id)
    assert len(history) == 3 * len(SUBJECTS)
    assert all(m["template_version"] == "2026.1" for m in history)
    assert {m["state"] for m in history if m["channel"] in ("email", "zalo")} == {"delivered"}
    assert all(PHONE not in m["recipient"] and EMAIL not in m["recipient"] for m in history)   # masked
    # Replaying every event again sends nothing more.
    await notifications.replay_from_start("notifications")
    await notifications.deliver()
    assert len(notifications.mailbox.messages) == len(SUBJECTS)
    assert len(await notifications.sms_sent()) == len(SUBJECTS)


async def test_an_applicant_who_opted_out_gets_only_what_the_law_requires(notifications):
    dossier_id = await notifications.submitted(channels=("email",), non_essential=False)
    await lifecycle(notifications, dossier_id)
    await notifications.deliver()
    subjects = [m["subject"] for m in notifications.mailbox.messages]
    assert len(subjects) == len(SUBJECTS) - len(NON_ESSENTIAL)
    assert not any(SUBJECTS[t] in s for t in NON_ESSENTIAL for s in subjects)
    assert await notifications.sms_sent() == []


async def test_sms_fails_over_when_a_provider_errors_or_is_slow_and_retries_when_both_are_down(notifications):
    await notifications.sims["sms-a"].post("/_sim/mode", json={"mode": "error"})
    first = await notifications.submitted(channels=("sms",))
    await notifications.emit(accepted(first, datetime.now(UTC), datetime.now(UTC) + timedelta(days=3)), "intake")
    await notifications.deliver()
    assert [m["provider"] for m in await notifications.sms_sent()] == ["sms-b"]
    await notifications.sims["sms-a"].post("/_sim/mode", json={"mode": "slow", "delay_s": 2})
    await notifications.sims["sms-b"].post("/_sim/mode", json={"mode": "error"})
    second = await notifications.submitted(channels=("sms",))
    await lifecycle(notifications, second)
    await notifications.deliver(rounds=1)
    states = {m["state"] for m in await notifications.messages(second)}
    assert states == {"temporary-failure"}                       # both down: kept, retried later
    await notifications.sims["sms-a"].post("/_sim/mode", json={"mode": "normal"})
    await notifications.sims["sms-b"].post("/_sim/mode", json={"mode": "normal"})
    await notifications.deliver(rounds=1)
    assert {m["state"] for m in await notifications.messages(second)} == {"temporary-failure"}   # not yet due
    notifications.later(31)
    await notifications.deliver()
    assert {m["state"] for m in await notifications.messages(second)} <= {"sent", "delivered"}
    assert len([m for m in await notifications.sms_sent()]) == 1 + len(SUBJECTS)
    health = (await notifications.client.get("/v1/notifications/providers", headers=notifications.officer())).json()
    assert {h["name"] for h in health["items"]} >= {"sms-a", "sms-b", "smtp", "zalo", "portal"}


async def test_a_permanent_failure_is_not_retried(notifications):
    dossier_id = await notifications.submitted(channels=("sms", "email"), phone="+84000111222",
                                               email="khong-ton-tai@example.vn")
    notifications.mailbox.refuse.add("khong-ton-tai@example.vn")
    await lifecycle(notifications, dossier_id)
    await notifications.deliver()
    notifications.later(7200)
    await notifications.deliver()
    history = await notifications.messages(dossier_id)
    assert {m["state"] for m in history} == {"permanent-failure"} and {m["attempts"] for m in history} == {1}
    failed = await notifications.events("notification.failed.v1", dossier_id)
    assert len(failed) == len(history)


async def test_delivery_receipts_are_authenticated_and_apply_only_while_not_final(notifications):
    dossier_id = await notifications.submitted(channels=("sms",))
    await notifications.emit(accepted(dossier_id, datetime.now(UTC), datetime.now(UTC) + timedelta(days=3)), "intake")
    await notifications.deliver()
    import asyncio
    for _ in range(50):   # the providers post receipts shortly after accepting
        states = {m["state"] for m in await notifications.messages(dossier_id)}
        if states == {"delivered"}:
            break
        await asyncio.sleep(0.05)
    [message] = await notifications.messages(dossier_id)
    assert message["state"] == "delivered"
    assert len(await notifications.events("notification.sent.v1", dossier_id)) == 1
    sent = (await notifications.sms_sent())[0]
    body = json.dumps({"message_id": sent["message_id"], "status": "failed"}).encode()
    forged = await notifications.client.post(f"/v1/notifications/receipts/sms/{message['provider']}", content=body,
                                             headers={"X-Signature": "0" * 64})
    assert forged.status_code == 401
    signature = hmac.new(RECEIPT_SECRET.encode(), body, hashlib.sha256).hexdigest()
    late = await notifications.client.post(f"/v1/notifications/receipts/sms/{message['provider']}", content=body,
                                           headers={"X-Signature": signature})
    assert late.json()["result"] == "ignored"
    assert (await notifications.messages(dossier_id))[0]["state"] == "delivered"


async def test_officer_alerts_go_to_the_agency_mailboxes(notifications):
    dossier_id = await notifications.submitted(channels=())
    await notifications.emit(TaskDueSoon(dossier_id=dossier_id, task_id="t", step="tham-dinh", agency=COMMUNE,
                                         unit="Phòng Kinh tế", due_at=datetime.now(UTC) + timedelta(hours=3),
                                         remaining_working_hours=3), "routing")
    await notifications.deliver()
    [alert] = [m for m in notifications.mailbox.messages if "Nhắc việc" in m["subject"]]
    assert alert["to"] == ["motcua@vinhhoa.khanhhoa.gov.vn"] and "3 giờ làm việc" in alert["body"]


async def test_templates_listing_preview_and_missing_variables(notifications):
    listing = (await notifications.client.get("/v1/notifications/templates")).json()["items"]
    assert {t["id"] for t in listing} >= set(SUBJECTS) and all(t["version"] for t in listing)
    path = "/v1/notifications/templates/received/preview"
    missing = await notifications.client.post(path, json={"channel": "sms", "variables": {"dossier_code": "X"}})
    assert missing.status_code == 422
    assert sorted(e["field"] for e in missing.json()["errors"]) == ["variables.due_at", "variables.tracking_url"]
    variables = {"dossier_code": "000.17.22.H56-261123-0001", "due_at": "2026-11-26T10:00:00+00:00",
                 "tracking_url": "https://dichvucong.khanhhoa.gov.vn/v1/tracking/000.17.22.H56-261123-0001"}
    accented = (await notifications.client.post(path, json={"channel": "sms", "variables": variables})).json()
    assert "tiếp nhận" in accented["body"] and accented["encoding"] == "ucs2" and accented["segments"] <= 3
    plain = (await notifications.client.post(path, json={"channel": "sms", "variables": variables,
                                                         "unicode": False})).json()
    assert "tiep nhan" in plain["body"] and plain["encoding"] == "gsm7" and plain["segments"] == 2   # 160+ chars
