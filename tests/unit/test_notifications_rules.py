"""Notifications' pure rules: templates load and render strictly in Vietnamese, SMS segments and
the unaccented fallback, recipients and opt-outs, the delivery state machine and backoff, webhook
signatures, internal addresses, and the portal's messages."""
from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from services.notifications.domain import (applicant_channels, backoff, internal_address, may_move, portal_messages,
                                           verify_webhook, wants, webhook_signature)
from services.notifications.templates import (MissingVariables, TemplateError, fit_sms, load_templates, render,
                                              sms_segments, unaccent)

TEMPLATES = load_templates()
LONG = {"dossier_code": "000.00.01.H56-261231-123456", "tracking_url": "https://dichvucong.khanhhoa.gov.vn/v1/tracking/"
        "000.00.01.H56-261231-123456", "due_at": "2026-12-31T10:00:00+00:00", "missing_items": ["a", "b"],
        "complete_by": "2027-01-20T10:00:00+00:00", "reason": "Lý do rất dài " * 20, "amount": 6_000_000,
        "expires_at": "2027-01-02T10:00:00+00:00", "pay_url": "https://dichvucong.khanhhoa.gov.vn/v1/bills/"
        "3f1c9e2a-1111-2222-3333-444455556666/pay?sig=0123456789abcdef0123456789abcdef",
        "paid_at": "2026-12-31T10:00:00+00:00", "new_due_at": "2027-01-08T10:00:00+00:00",
        "document_number": "12345/GCN-HKD", "verify_url": "https://dichvucong.khanhhoa.gov.vn/v1/results/verify/12345"}


def test_every_applicant_sms_fits_three_segments_with_long_realistic_values():
    for template in TEMPLATES.current.values():
        if template.channels.sms is None:
            continue
        body = render(template, "sms", {k: v for k, v in LONG.items()}).body
        for unicode in (True, False):
            segments, _ = sms_segments(fit_sms(body, 3, unicode))
            assert segments <= 3, template.id


def test_rendering_is_strict_and_vietnamese():
    received = TEMPLATES.current["received"]
    with pytest.raises(MissingVariables) as missing:
        render(received, "email", {"dossier_code": "X"})
    assert "applicant_name" in missing.value.names
    email = render(received, "email", {**LONG, "applicant_name": "Nguyễn Thị Mai", "procedure_name": "Khai sinh",
                                       "receipt_url": "https://x/receipt"})
    assert email.subject.startswith("Hồ sơ") and "Kính gửi Nguyễn Thị Mai" in email.body and email.template_version


def test_sms_encoding_and_unaccent():
    assert unaccent("Hồ sơ đã được tiếp nhận. Đăng ký") == "Ho so da duoc tiep nhan. Dang ky"
    assert sms_segments("a" * 160) == (1, "gsm7") and sms_segments("a" * 161) == (2, "gsm7")
    assert sms_segments("ồ" * 70) == (1, "ucs2") and sms_segments("ồ" * 71) == (2, "ucs2")
    cut = fit_sms("ồ" * 500, 2, True)
    assert len(cut) == 134 and cut.endswith("…")


def test_a_bad_template_file_stops_start_up_naming_the_file(tmp_path: Path):
    (tmp_path / "broken.yaml").write_text("id: broken\nversion: '2026.1'\nevent: dossier.accepted.v1\n"
                                          "audience: applicant\nessential: true\nchannels: {sms: '{{ unclosed'}\n")
    with pytest.raises(TemplateError, match="broken.yaml: channels.sms"):
        load_templates(tmp_path)
    (tmp_path / "broken.yaml").write_text("id: x\nversion: '2026.1'\nevent: no.such.v1\naudience: applicant\n"
                                          "essential: true\nchannels: {}\n")
    with pytest.raises(TemplateError, match="not in the event catalogue"):
        load_templates(tmp_path)


def test_recipients_follow_the_applicants_choices_and_opt_out():
    contact = {"phone": "+84912345678", "email": "a@b.vn", "channels": ["zalo", "email"], "non_essential": False}
    assert applicant_channels(contact, ["sms", "email", "zalo"]) == [("zalo", "+84912345678"), ("email", "a@b.vn")]
    assert applicant_channels({"phone": "+84912345678"}, ["sms", "email"]) == [("sms", "+84912345678")]
    assert applicant_channels({"email": "a@b.vn"}, ["sms", "email"]) == [("email", "a@b.vn")]
    assert applicant_channels({"channels": ["sms"], "email": "a@b.vn"}, ["sms", "email"]) == []   # no phone given
    assert wants(contact, essential=True) and not wants(contact, essential=False)


def test_the_delivery_state_machine_and_backoff():
    assert may_move("created", "sending") and may_move("sending", "sent") and may_move("sent", "delivered")
    assert may_move("temporary-failure", "sending")
    for final in ("delivered", "permanent-failure", "technical-failure"):
        assert not any(may_move(final, target) for target in ("sending", "delivered", "temporary-failure"))
    assert [backoff(n, 30) for n in (1, 2, 3)] == [timedelta(seconds=30), timedelta(seconds=60), timedelta(seconds=120)]
    assert backoff(30, 30) == timedelta(hours=1)


def test_webhook_signatures_verify_and_catch_forgery_and_replay():
    body, now = b'{"type":"dossier.accepted.v1"}', int(time.time())
    header = webhook_signature(["new", "old"], now, body)
    assert verify_webhook(header, body, "new", now) and verify_webhook(header, body, "old", now)
    assert not verify_webhook(header, body, "other", now)
    assert not verify_webhook(header, body + b"x", "new", now)
    assert not verify_webhook(header, body, "new", now + 301)
    assert not verify_webhook("v1=abc", body, "new", now)


@pytest.mark.parametrize(("address", "internal"), [("127.0.0.1", True), ("10.1.2.3", True), ("169.254.169.254", True),
                                                   ("192.168.1.1", True), ("::1", True), ("0.0.0.0", True),
                                                   ("203.162.4.191", False), ("2001:4860:4860::8888", False)])
def test_internal_addresses(address, internal):
    assert internal_address(address) == internal


def test_portal_messages_create_then_update_with_history():
    dossier = {"dossier_code": "C", "procedure_code": "1.001612", "procedure_name": "Hộ kinh doanh", "channel": "online",
               "receiving_agency": "A", "competent_agency": "A", "applicant_kind": "person", "applicant_name": "Mai"}
    at = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
    created = portal_messages("dossier.submitted.v1", {}, 1, dossier, at)
    assert [k for k, _ in created] == ["dossier", "history"]
    record = created[0][1]
    assert record["KenhThucHien"] == 2 and record["NgayNopHoSo"] == "20261123090000" and record["TrangThaiHoSo"] == 1
    assert portal_messages("task.completed.v1", {}, None, dossier, at) == []
    [(kind, update), _] = portal_messages("result.returned.v1", {"returned_at": at.isoformat()}, 10, dossier, at)
    assert update["TrangThaiHoSo"] == 10 and update["NgayTraKetQua"] == "20261123090000"


def test_a_new_due_date_reaches_the_portal_record_without_touching_its_status():
    dossier = {"dossier_code": "C", "procedure_code": "1.001612", "channel": "online", "receiving_agency": "A",
               "competent_agency": "A"}
    at = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
    messages = dict(portal_messages("dossier.extended.v1", {"new_due_at": "2026-12-01T10:00:00+00:00",
                                                            "original_due_at": at.isoformat(), "reason": "Xác minh"},
                                    None, dossier, at))
    assert messages["dossier"] == {"MaHoSo": "C", "NgayHenTra": "20261201170000"}
    [(_, resumed)] = [m for m in portal_messages("dossier.resumed.v1", {"due_at": "2026-12-02T10:00:00+00:00"},
                                                    None, dossier, at) if m[0] == "dossier"]
    assert "TrangThaiHoSo" not in resumed and resumed["NgayHenTra"] == "20261202170000"
