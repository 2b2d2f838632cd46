"""The reception forms of Circular 03/2025 (annex) as PDF, composed from the dossier's stored facts:
01 receipt and appointment, 02 supplement request, 03 refusal, 05 stop notice (withdrawal).

Rendered on request from the rows, so a form always matches the dossier and nothing is stored
twice; the same row gives the same form."""
from __future__ import annotations

from typing import Any

from services.intake.catalogue import Catalogue
from shared.pdf import Document, render, vn_date, vn_datetime

FORMS = {
    "01": ("GIẤY TIẾP NHẬN HỒ SƠ VÀ HẸN TRẢ KẾT QUẢ", ("accepted", "withdrawn")),
    "02": ("PHIẾU YÊU CẦU BỔ SUNG, HOÀN THIỆN HỒ SƠ", ("supplement_requested", "submitted", "accepted", "rejected", "withdrawn")),
    "03": ("PHIẾU TỪ CHỐI TIẾP NHẬN GIẢI QUYẾT HỒ SƠ", ("rejected",)),
    "05": ("THÔNG BÁO VỀ VIỆC DỪNG GIẢI QUYẾT HỒ SƠ", ("withdrawn",)),
}


def form_available(form: str, row) -> bool:
    if form not in FORMS:
        return False
    if form == "02" and not row.supplement_requests:
        return False
    return row.status in FORMS[form][1]


def render_form(form: str, row, personal: dict[str, Any], documents: list, catalogue: Catalogue, tz,
                tracking_url: str) -> bytes:
    title, _ = FORMS[form]
    procedure = catalogue.procedure(row.procedure_code, row.procedure_version)
    agency = catalogue.agencies.get(row.receiving_agency)
    applicant = personal["applicant"]
    common = [("Mã hồ sơ", row.code), ("Thủ tục", f"{procedure.name if procedure else row.procedure_code} ({row.procedure_code})"),
              ("Người nộp hồ sơ", applicant["full_name"]), ("Địa chỉ", applicant.get("address") or "—"),
              ("Điện thoại", applicant.get("phone") or "—"), ("Thư điện tử", applicant.get("email") or "—")]
    stamp = row.updated_at if form != "01" else row.accepted_at
    doc = Document(agency=agency.name if agency else row.receiving_agency, title=title, number=row.code,
                   place_date=vn_date(stamp, tz).capitalize(), qr_url=tracking_url,
                   qr_caption="Quét mã để tra cứu tình trạng hồ sơ", signer="NGƯỜI TIẾP NHẬN HỒ SƠ")
    if form == "01":
        doc.paragraphs = [f"{doc.agency} tiếp nhận hồ sơ của:"]
        doc.table = common + [("Thời điểm tiếp nhận", vn_datetime(row.accepted_at, tz)),
                              ("Ngày hẹn trả kết quả", vn_datetime(row.due_at, tz) if row.due_at or not (procedure and procedure.fee_first)
                               else "Tính từ khi hoàn thành nghĩa vụ tài chính"),
                              ("Hình thức nhận kết quả", {"online": "Trực tuyến", "desk": "Tại bộ phận một cửa",
                                                          "postal": "Qua dịch vụ bưu chính công ích"}[row.channel])]
        doc.items = [f"{d.document_code}: {d.filename} (SHA-256 {d.sha256[:12]}…)" for d in documents] or \
                    ([d.name for d in procedure.documents if d.requirement == "mandatory"] if procedure else [])
        doc.paragraphs.append("Thành phần hồ sơ đã nhận:")
    elif form == "02":
        doc.paragraphs = [f"{doc.agency} đã nhận hồ sơ của Ông/Bà {applicant['full_name']}. "
                          "Hồ sơ chưa đầy đủ, đề nghị bổ sung, hoàn thiện các nội dung sau (một lần, đầy đủ):"]
        doc.table = common[:3] + [("Hạn bổ sung", vn_datetime(row.supplement_due_at, tz) if row.supplement_due_at else "—")]
        doc.items = [item["description"] for item in (row.missing_items or [])]
    elif form == "03":
        doc.paragraphs = [f"{doc.agency} không tiếp nhận hồ sơ của Ông/Bà {applicant['full_name']} với lý do:",
                          row.decision_reason or "—"]
        doc.table = common[:3]
    elif form == "05":
        doc.paragraphs = [f"Theo đề nghị của Ông/Bà {applicant['full_name']}, {doc.agency} dừng giải quyết hồ sơ "
                          f"mã {row.code}.", f"Lý do: {row.decision_reason or 'Công dân rút hồ sơ'}."]
        doc.table = common[:3]
    return render(doc)
