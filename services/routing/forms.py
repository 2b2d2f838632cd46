"""Form 04 of Circular 03/2025 (annex): "Văn bản xin lỗi và đề nghị gia hạn thời gian giải quyết",
composed from the instance's stored extension, so the letter always matches what was decided."""
from __future__ import annotations

from datetime import datetime

from shared.pdf import Document, render, vn_date, vn_datetime

TITLE = "VĂN BẢN XIN LỖI VÀ ĐỀ NGHỊ GIA HẠN THỜI GIAN GIẢI QUYẾT HỒ SƠ"


def render_apology(instance, tz, url: str) -> bytes:
    letter = instance.extension
    agency = instance.competent_agency_name or instance.competent_agency
    issued = datetime.fromisoformat(letter["issued_at"])
    doc = Document(
        agency=agency, title=TITLE, number=instance.dossier_code, place_date=vn_date(issued, tz).capitalize(),
        paragraphs=[
            f"Kính gửi: Ông/Bà là người nộp hồ sơ mã số {instance.dossier_code}.",
            f"{agency} đã tiếp nhận và đang giải quyết hồ sơ của Ông/Bà. Hồ sơ chưa giải quyết được đúng "
            "thời hạn đã hẹn với lý do sau:",
            letter["reason"],
            f"{agency} xin lỗi Ông/Bà vì sự chậm trễ này và xin gia hạn thời gian giải quyết hồ sơ như sau:",
        ],
        table=[("Mã hồ sơ", instance.dossier_code), ("Thủ tục", instance.procedure_code),
               ("Ngày hẹn trả kết quả cũ", vn_datetime(datetime.fromisoformat(letter["original_due_at"]), tz)),
               ("Ngày hẹn trả kết quả mới", vn_datetime(datetime.fromisoformat(letter["new_due_at"]), tz))],
        qr_url=url, qr_caption="Quét mã để xem văn bản điện tử",
        signer=f"THỦ TRƯỞNG CƠ QUAN\n{letter.get('signer_name') or ''}".strip())
    return render(doc)
