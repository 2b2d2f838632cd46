"""The e-receipt (biên lai điện tử) for the citizen, composed from the stored receipt row: one per
collecting agency and kind (fee or charge), numbered in the agency's series for the year."""
from __future__ import annotations

from shared.pdf import Document, render, vn_date

KIND_NAMES = {"phi": "phí", "le_phi": "lệ phí"}


def vnd(amount: int) -> str:
    return f"{amount:,}".replace(",", ".") + " đồng"


def render_receipt(row, tz, verify_url: str) -> bytes:
    doc = Document(
        agency=f"Cơ quan thu: {row.agency}", title=f"BIÊN LAI THU TIỀN {KIND_NAMES[row.kind].upper()} ĐIỆN TỬ",
        number=f"{row.number} (ký hiệu {row.agency}-{row.year})", place_date=vn_date(row.issued_at, tz).capitalize(),
        paragraphs=[f"Thu tiền {KIND_NAMES[row.kind]} của hồ sơ mã số {row.dossier_code}:"],
        table=[("Hình thức nộp", {"online": "Trực tuyến qua nền tảng thanh toán", "cash": "Tiền mặt",
                                  "transfer": "Chuyển khoản"}[row.method]),
               ("Mã giao dịch", row.transaction_id or "—"), ("Tổng số tiền", vnd(row.amount))],
        items=[f"{line['name']}: {vnd(line['amount'])}" for line in row.lines],
        qr_url=verify_url, qr_caption="Quét mã để kiểm tra biên lai", signer="NGƯỜI THU TIỀN")
    return render(doc)
