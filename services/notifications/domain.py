"""Notifications' pure rules: the delivery state machine, retry backoff, who receives what on
which channel, webhook signatures (and how a receiver verifies them), which addresses a webhook
may not reach, and how lifecycle events become the national portal's messages. No I/O."""
from __future__ import annotations

import hashlib
import hmac
import ipaddress
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from shared.calendar import VIETNAM_TZ
from shared.events.catalogue import NATIONAL_CHANNEL_CODES, NATIONAL_STATUS_NAMES


class DeliveryState(StrEnum):
    CREATED = "created"
    SENDING = "sending"
    SENT = "sent"                          # accepted by the provider; its receipt is awaited
    DELIVERED = "delivered"
    TEMPORARY_FAILURE = "temporary-failure"
    PERMANENT_FAILURE = "permanent-failure"
    TECHNICAL_FAILURE = "technical-failure"   # ours: a template or configuration problem


FINAL_STATES = (DeliveryState.DELIVERED.value, DeliveryState.PERMANENT_FAILURE.value,
                DeliveryState.TECHNICAL_FAILURE.value)
DELIVERY_TRANSITIONS: dict[str, tuple[str, ...]] = {
    "created": ("sending", "technical-failure"),
    "sending": ("sent", "delivered", "temporary-failure", "permanent-failure", "technical-failure"),
    "sent": ("delivered", "permanent-failure", "temporary-failure"),
    "temporary-failure": ("sending", "permanent-failure"),
}


def may_move(current: str, target: str) -> bool:
    return target in DELIVERY_TRANSITIONS.get(current, ())


def backoff(attempt: int, base_s: float, cap_s: float = 3600) -> timedelta:
    """The wait before attempt number `attempt + 1`: base, 2x base, 4x base... capped."""
    return timedelta(seconds=min(cap_s, base_s * 2 ** max(0, attempt - 1)))


# --- recipients ------------------------------------------------------------------------------------
def applicant_channels(contact: dict[str, Any], available: list[str]) -> list[tuple[str, str]]:
    """(channel, address) pairs for the applicant: the channels they chose, where the template
    has that channel and they gave the address; nothing chosen: SMS if a phone, else e-mail."""
    addresses = {"sms": contact.get("phone"), "zalo": contact.get("phone"), "email": contact.get("email")}
    chosen = contact.get("channels") or (["sms"] if contact.get("phone") else ["email"])
    return [(c, addresses[c]) for c in dict.fromkeys(chosen) if c in available and addresses.get(c)]


def wants(contact: dict[str, Any], essential: bool) -> bool:
    """Applicants may opt out of non-essential messages, never of the ones the law requires."""
    return essential or contact.get("non_essential", True)


def mask_address(channel: str, address: str) -> str:
    if channel == "email" and "@" in address:
        local, domain = address.split("@", 1)
        return f"{local[:1]}***@{domain}"
    return f"{address[:4]}****{address[-3:]}" if len(address) > 7 else "****"


# --- webhooks ----------------------------------------------------------------------------------------
SIGNATURE_HEADER = "X-Onestop-Signature"


def webhook_signature(secrets: list[str], timestamp: int, body: bytes) -> str:
    """`t=<unix seconds>,v1=<hex>[,v1=<hex>]`: HMAC-SHA256 over "<t>.<body>" with each current
    secret (two during a rotation's overlap). Receivers accept any v1 that matches one of theirs
    and a t within their tolerance (replays carry an old t)."""
    signed = f"{timestamp}.".encode() + body
    parts = [f"t={timestamp}"] + [f"v1={hmac.new(s.encode(), signed, hashlib.sha256).hexdigest()}" for s in secrets]
    return ",".join(parts)


def verify_webhook(header: str, body: bytes, secret: str, now: int, tolerance_s: int = 300) -> bool:
    """What a receiver does (documented in the README): parse t and v1s, check the time, compare."""
    fields = [p.split("=", 1) for p in header.split(",") if "=" in p]
    timestamps = [v for k, v in fields if k == "t"]
    if len(timestamps) != 1 or not timestamps[0].isdigit() or abs(now - int(timestamps[0])) > tolerance_s:
        return False
    expected = hmac.new(secret.encode(), f"{timestamps[0]}.".encode() + body, hashlib.sha256).hexdigest()
    return any(k == "v1" and hmac.compare_digest(v, expected) for k, v in fields)


def internal_address(address: str) -> bool:
    """Loopback, private, link-local (cloud metadata), multicast, reserved: not for webhooks."""
    ip = ipaddress.ip_address(address)
    return ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_multicast or ip.is_reserved or ip.is_unspecified


def subscription_matches(event_types: list[str], event_type: str, subscriber: str, agencies: set[str]) -> bool:
    return ("*" in event_types or event_type in event_types) and (subscriber == "agency:*" or subscriber in agencies)


# --- the national portal ---------------------------------------------------------------------------
def portal_time(value: Any) -> str | None:
    if value is None:
        return None
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment.astimezone(VIETNAM_TZ).strftime("%Y%m%d%H%M%S")


EVENT_TITLES = {
    "dossier.submitted.v1": "Nộp hồ sơ", "dossier.accepted.v1": "Tiếp nhận hồ sơ",
    "dossier.rejected.v1": "Từ chối tiếp nhận", "dossier.supplement_requested.v1": "Yêu cầu bổ sung hồ sơ",
    "dossier.supplemented.v1": "Công dân bổ sung hồ sơ", "dossier.withdrawn.v1": "Công dân rút hồ sơ",
    "dossier.processing_started.v1": "Chuyển xử lý", "task.assigned.v1": "Giao xử lý",
    "dossier.transferred.v1": "Chuyển cơ quan khác", "dossier.paused.v1": "Tạm dừng chờ bổ sung",
    "dossier.resumed.v1": "Tiếp tục xử lý", "dossier.extended.v1": "Gia hạn, xin lỗi",
    "dossier.stopped.v1": "Dừng xử lý", "dossier.decided.v1": "Có kết quả giải quyết",
    "payment.requested.v1": "Yêu cầu thực hiện nghĩa vụ tài chính", "payment.succeeded.v1": "Đã thanh toán",
    "result.issued.v1": "Đã xử lý xong", "result.returned.v1": "Đã trả kết quả",
}


# Events that change the portal's dossier record even when the national status stays (dates, payment, result).
RECORD_FIELD_EVENTS = frozenset({"dossier.submitted.v1", "dossier.accepted.v1", "dossier.resumed.v1",
                                 "dossier.due_date_set.v1", "dossier.extended.v1", "payment.succeeded.v1",
                                 "result.issued.v1", "result.returned.v1"})


def portal_messages(event_type: str, data: dict[str, Any], status: int | None, dossier: dict[str, Any],
                    occurred_at: datetime) -> list[tuple[str, dict[str, Any]]]:
    """The portal messages one lifecycle event makes: the dossier record (created on submission,
    updated on every status change) and a process-history entry."""
    out: list[tuple[str, dict[str, Any]]] = []
    code = dossier["dossier_code"]
    if event_type in RECORD_FIELD_EVENTS or status is not None:
        record: dict[str, Any] = {"MaHoSo": code}
        if status is not None:
            record.update(TrangThaiHoSo=status, TenTrangThai=NATIONAL_STATUS_NAMES.get(status))
        if event_type == "dossier.submitted.v1":
            record.update(MaTTHC=dossier["procedure_code"], TenTTHC=dossier.get("procedure_name"),
                          KenhThucHien=NATIONAL_CHANNEL_CODES.get(dossier["channel"]),
                          LoaiDoiTuong=2 if dossier.get("applicant_kind") == "organisation" else 1,
                          ChuHoSo=dossier.get("applicant_name"), NgayNopHoSo=portal_time(occurred_at),
                          DonViXuLy=dossier.get("competent_agency") or dossier["receiving_agency"])
        if event_type == "dossier.accepted.v1":
            record.update(NgayTiepNhan=portal_time(data.get("accepted_at")), NgayHenTra=portal_time(data.get("due_at")),
                          DuocSoHoa=1 if data.get("digitised") else 0,
                          PhiLePhi=[{"TenPhiLePhi": f["name"], "SoTien": f["amount"], "LoaiPhiLePhi": f["kind"]}
                                    for f in data.get("fee_lines", [])])
        if event_type in ("dossier.resumed.v1", "dossier.due_date_set.v1"):
            record["NgayHenTra"] = portal_time(data.get("due_at"))
        if event_type == "dossier.extended.v1":
            record["NgayHenTra"] = portal_time(data.get("new_due_at"))
        if event_type == "payment.succeeded.v1":
            record["ThanhToanTrucTuyen"] = 1 if data.get("method") == "online" else 0
        if event_type == "result.issued.v1":
            record.update(NgayCoKetQua=portal_time(data.get("issued_at")),
                          KetQua=[{"SoKyHieu": data.get("document_number"), "DuongDan": data.get("verify_url")}])
        if event_type == "result.returned.v1":
            record["NgayTraKetQua"] = portal_time(data.get("returned_at"))
        out.append(("dossier", record))
    if event_type in EVENT_TITLES:
        out.append(("history", {"MaHoSo": code, "QuaTrinhXuLy": [{
            "NguoiXuLy": data.get("agency") or data.get("decided_by_agency") or dossier["receiving_agency"],
            "TieuDe": EVENT_TITLES[event_type], "ThoiDiem": portal_time(occurred_at),
            "DonVi": data.get("unit") or data.get("agency") or dossier.get("competent_agency") or dossier["receiving_agency"],
            "NoiDung": data.get("reason") or data.get("step_name") or data.get("step") or "",
            "TrangThai": status, "HanXuLy": portal_time(data.get("due_at"))}]}))
    return out
