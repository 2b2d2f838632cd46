"""Administrative documents as PDF: Vietnamese text in a font that has the glyphs (DejaVu Serif,
bundled), the national header, and a QR code. Services compose the content; this draws it."""
from __future__ import annotations

import io
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import segno

FONTS = Path(__file__).parent / "assets" / "fonts"
NATIONAL_HEADER = ("CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", "Độc lập - Tự do - Hạnh phúc")


@dataclass
class Document:
    agency: str                                  # issuing agency, top left
    title: str                                   # e.g. GIẤY TIẾP NHẬN HỒ SƠ VÀ HẸN TRẢ KẾT QUẢ
    number: str | None = None                    # "Số: ..." under the agency
    place_date: str | None = None                # "Nha Trang, ngày 23 tháng 11 năm 2026"
    paragraphs: list[str] = field(default_factory=list)
    table: list[tuple[str, str]] = field(default_factory=list)   # label, value rows
    items: list[str] = field(default_factory=list)                # numbered list (documents, missing items)
    qr_url: str | None = None
    qr_caption: str | None = None
    signer: str | None = None


def vn_date(moment: datetime, tz) -> str:
    local = moment.astimezone(tz)
    return f"ngày {local.day:02d} tháng {local.month:02d} năm {local.year}"


def vn_datetime(moment: datetime | None, tz) -> str:
    if moment is None:
        return "Không xác định"
    local = moment.astimezone(tz)
    return f"{local:%H} giờ {local:%M} phút, ngày {local:%d/%m/%Y}"


def qr_png(url: str) -> bytes:
    buffer = io.BytesIO()
    segno.make(url, error="m").save(buffer, kind="png", scale=4, border=2)
    return buffer.getvalue()


def render(doc: Document) -> bytes:
    # fpdf (with Pillow and fontTools) weighs ~27 MiB: loaded on the first document, not at start-up.
    from fpdf import FPDF
    pdf = FPDF(format="A4")
    pdf.set_title(doc.title)
    pdf.set_creator("onestop-backbone")
    pdf.add_font("DejaVu", "", str(FONTS / "DejaVuSerif.ttf"))
    pdf.add_font("DejaVu", "B", str(FONTS / "DejaVuSerif-Bold.ttf"))
    pdf.set_margins(20, 15, 20)
    pdf.add_page()
    width = pdf.epw

    top = pdf.get_y()
    pdf.set_font("DejaVu", "B", 10)
    pdf.multi_cell(width * 0.42, 5, doc.agency.upper(), align="C")
    if doc.number:
        pdf.set_font("DejaVu", "", 10)
        pdf.multi_cell(width * 0.42, 5, f"Số: {doc.number}", align="C")
    left_bottom = pdf.get_y()
    pdf.set_xy(pdf.l_margin + width * 0.42, top)
    pdf.set_font("DejaVu", "B", 10)
    pdf.multi_cell(width * 0.58, 5, NATIONAL_HEADER[0], align="C")
    pdf.set_x(pdf.l_margin + width * 0.42)
    pdf.multi_cell(width * 0.58, 5, NATIONAL_HEADER[1], align="C")
    if doc.place_date:
        pdf.set_x(pdf.l_margin + width * 0.42)
        pdf.set_font("DejaVu", "", 10)
        pdf.multi_cell(width * 0.58, 7, doc.place_date, align="C")
    pdf.set_y(max(left_bottom, pdf.get_y()) + 6)

    pdf.set_font("DejaVu", "B", 13)
    pdf.multi_cell(width, 7, doc.title, align="C")
    pdf.ln(4)
    pdf.set_font("DejaVu", "", 11)
    for paragraph in doc.paragraphs:
        pdf.multi_cell(width, 6, paragraph)
        pdf.ln(1)
    for label, value in doc.table:
        pdf.set_font("DejaVu", "B", 11)
        pdf.multi_cell(width * 0.38, 6, label, new_x="RIGHT", new_y="TOP")
        pdf.set_font("DejaVu", "", 11)
        pdf.multi_cell(width * 0.62, 6, value)
    if doc.items:
        pdf.ln(2)
        for index, item in enumerate(doc.items, 1):
            pdf.multi_cell(width, 6, f"{index}. {item}")
    if doc.qr_url:
        pdf.ln(4)
        y = pdf.get_y()
        pdf.image(io.BytesIO(qr_png(doc.qr_url)), x=pdf.l_margin, y=y, w=32, h=32)
        pdf.set_xy(pdf.l_margin + 36, y + 4)
        pdf.set_font("DejaVu", "", 9)
        pdf.multi_cell(width - 36, 5, (doc.qr_caption + "\n" if doc.qr_caption else "") + doc.qr_url)
        pdf.set_y(y + 36)
    if doc.signer:
        pdf.ln(6)
        pdf.set_x(pdf.l_margin + width * 0.5)
        pdf.set_font("DejaVu", "B", 11)
        pdf.multi_cell(width * 0.5, 6, doc.signer, align="C")
    return bytes(pdf.output())
