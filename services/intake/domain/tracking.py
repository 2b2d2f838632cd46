"""What the citizen's timeline says about each lifecycle event: a Vietnamese title, and the few
fields of the event that are safe and useful to show (never identifiers or contact data)."""
from __future__ import annotations

from typing import Any

TITLES_VI: dict[str, str] = {
    "dossier.submitted.v1": "Hồ sơ đã được nộp",
    "dossier.accepted.v1": "Hồ sơ đã được tiếp nhận, có ngày hẹn trả kết quả",
    "dossier.supplement_requested.v1": "Yêu cầu bổ sung, hoàn thiện hồ sơ",
    "dossier.supplemented.v1": "Hồ sơ đã được bổ sung",
    "dossier.rejected.v1": "Hồ sơ không được tiếp nhận",
    "dossier.withdrawn.v1": "Công dân rút hồ sơ",
    "dossier.due_date_set.v1": "Đã nộp phí, bắt đầu tính thời hạn giải quyết",
    "dossier.reception_overdue.v1": "Hồ sơ trực tuyến chưa được phản hồi đúng hạn, đã nhắc bộ phận tiếp nhận",
    "dossier.processing_started.v1": "Cơ quan có thẩm quyền bắt đầu giải quyết",
    "task.assigned.v1": "Hồ sơ được chuyển đến bộ phận xử lý",
    "task.completed.v1": "Một bước xử lý đã hoàn thành",
    "dossier.transferred.v1": "Hồ sơ được chuyển liên thông sang cơ quan khác",
    "dossier.paused.v1": "Tạm dừng tính thời hạn (chờ bổ sung)",
    "dossier.resumed.v1": "Tiếp tục giải quyết",
    "dossier.overdue.v1": "Hồ sơ quá hạn giải quyết",
    "dossier.extended.v1": "Cơ quan xin lỗi và hẹn lại ngày trả kết quả",
    "dossier.stopped.v1": "Dừng giải quyết hồ sơ",
    "dossier.decided.v1": "Đã có quyết định giải quyết",
    "payment.requested.v1": "Đề nghị thực hiện nghĩa vụ tài chính (nộp phí, lệ phí)",
    "payment.succeeded.v1": "Đã thanh toán phí, lệ phí",
    "payment.failed.v1": "Thanh toán không thành công",
    "payment.expired.v1": "Đề nghị thanh toán đã hết hạn",
    "payment.refunded.v1": "Đã hoàn trả phí, lệ phí",
    "notification.sent.v1": "Đã gửi thông báo",
    "notification.failed.v1": "Gửi thông báo không thành công",
    "result.issued.v1": "Đã có kết quả điện tử (đã ký số)",
    "result.returned.v1": "Đã trả kết quả",
    "result.reused.v1": "Cơ quan khác đã khai thác, sử dụng lại kết quả (có căn cứ pháp lý)",
    "task.due_soon.v1": "Một bước xử lý sắp đến hạn",
}

PUBLIC_FIELDS = frozenset({
    "dossier_code", "channel", "due_at", "answer_due_at", "new_due_at", "original_due_at", "reason", "cause",
    "missing_items", "complete_by", "amount", "currency", "pay_url", "expires_at", "method", "agency", "step",
    "from_agency", "to_agency", "outcome", "document_number", "verify_url", "stage",
    "accessing_agency", "legal_basis", "accessed_at",   # the citizen sees who reused their result, and why
})
# Operational chatter that belongs in the officers' view, not in the citizen's timeline.
OFFICER_ONLY = frozenset({"notification.sent.v1", "notification.failed.v1", "task.completed.v1",
                          "dossier.reception_overdue.v1", "task.due_soon.v1", "backbone.probe.v1"})


def title(event_type: str) -> str:
    return TITLES_VI.get(event_type, event_type)


def public_details(data: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if k in PUBLIC_FIELDS}
