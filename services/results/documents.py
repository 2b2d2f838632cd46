"""The result documents, composed per procedure's result template: the national header, the
issuing agency, the document number, the holder, the decision, and a QR code to the public
verification page. Vietnamese in a font with the glyphs (shared.pdf)."""
from __future__ import annotations

from datetime import datetime

from shared.pdf import Document, render, vn_date

TITLES = {
    "giay-khai-sinh": "GIẤY KHAI SINH",
    "giay-chung-nhan-ho-kinh-doanh": "GIẤY CHỨNG NHẬN ĐĂNG KÝ HỘ KINH DOANH",
    "giay-chung-nhan-antt": "GIẤY CHỨNG NHẬN ĐỦ ĐIỀU KIỆN VỀ AN NINH, TRẬT TỰ",
    "giay-phep-xay-dung": "GIẤY PHÉP XÂY DỰNG",
    "giay-phep-via-he": "GIẤY PHÉP SỬ DỤNG TẠM THỜI MỘT PHẦN LÒNG ĐƯỜNG, HÈ PHỐ",
    "phieu-ly-lich-tu-phap": "PHIẾU LÝ LỊCH TƯ PHÁP",
    "ban-sao-chung-thuc": "BẢN SAO ĐIỆN TỬ ĐƯỢC CHỨNG THỰC TỪ BẢN CHÍNH",
    "giay-phep-khoan-nuoc": "GIẤY PHÉP HÀNH NGHỀ KHOAN NƯỚC DƯỚI ĐẤT",
}
REFUSAL_TITLE = "THÔNG BÁO TỪ CHỐI GIẢI QUYẾT HỒ SƠ"
DEFAULT_TITLE = "KẾT QUẢ GIẢI QUYẾT THỦ TỤC HÀNH CHÍNH"


def render_result(*, kind: str, template: str | None, number: str, agency_name: str, holder_name: str,
                  dossier_code: str, procedure_name: str, decided_at: datetime, reason: str | None, province: str,
                  verify_url: str, tz) -> bytes:
    place = f"{province}, {vn_date(decided_at, tz)}"
    table = [("Mã hồ sơ", dossier_code), ("Thủ tục", procedure_name), ("Người đề nghị", holder_name)]
    if kind == "refusal":
        doc = Document(agency=agency_name, title=REFUSAL_TITLE, number=number, place_date=place, table=table,
                       paragraphs=[f"{agency_name} thông báo không giải quyết hồ sơ của Ông/Bà {holder_name}.",
                                   f"Lý do: {reason or 'Hồ sơ không đủ điều kiện theo quy định.'}",
                                   "Ông/Bà có quyền khiếu nại theo quy định của pháp luật."],
                       qr_url=verify_url, qr_caption="Quét mã để kiểm tra văn bản điện tử",
                       signer="THỦ TRƯỞNG CƠ QUAN\n(đã ký số)")
    else:
        doc = Document(agency=agency_name, title=TITLES.get(template or "", DEFAULT_TITLE), number=number,
                       place_date=place, table=table,
                       paragraphs=[f"Căn cứ hồ sơ {dossier_code} đã được giải quyết theo quy định, {agency_name} "
                                   f"cấp kết quả này cho Ông/Bà {holder_name}.",
                                   "Kết quả điện tử được ký số, có giá trị pháp lý như bản giấy và được dùng lại "
                                   "cho các thủ tục khác mà không phải nộp lại."],
                       qr_url=verify_url, qr_caption="Quét mã để kiểm tra tính xác thực",
                       signer="THỦ TRƯỞNG CƠ QUAN\n(đã ký số)")
    return render(doc)
