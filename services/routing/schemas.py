"""Routing's request bodies (what desk systems and officers send)."""
from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator


class Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Attachment(Request):
    """A reference to a file the desk system keeps (or an upload in intake); routing stores the reference."""
    name: str = Field(min_length=1, max_length=255, examples=["To trinh so 12.pdf"])
    url: str | None = Field(default=None, max_length=2000, pattern=r"^https?://")
    sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")


class TaskAction(Request):
    action: Literal["forward", "return", "transfer", "request_supplement", "consult", "answer", "approve", "refuse"]
    to: str | None = Field(default=None, max_length=64, pattern=r"^[a-z0-9-]+$",
                           description="The next step, where the step offers several for this action")
    comment: str | None = Field(default=None, max_length=4000)
    reason: str | None = Field(default=None, max_length=2000,
                               description="Required to return or refuse: shown to the applicant on refusal")
    missing_items: list[str] = Field(default_factory=list, max_length=50,
                                     description="request_supplement: everything the applicant must send, at once")
    attachments: list[Attachment] = Field(default_factory=list, max_length=20)

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"action": "forward", "comment": "Hồ sơ hợp lệ, trình lãnh đạo phê duyệt"},
        {"action": "request_supplement", "missing_items": ["Bản sao giấy chứng nhận quyền sử dụng đất"]},
        {"action": "refuse", "reason": "Công trình nằm trong hành lang bảo vệ đê điều"}]})

    @model_validator(mode="after")
    def _items(self) -> "TaskAction":
        if any(not item.strip() or len(item) > 500 for item in self.missing_items):
            raise ValueError("missing_items: each item is 1-500 characters")
        return self


class Assignment(Request):
    assignee: str = Field(min_length=1, max_length=128, description="The officer's id as the SSO names it (sub)",
                          examples=["officer:can-bo-2"])


class Comment(Request):
    text: str = Field(min_length=1, max_length=4000)
    attachments: list[Attachment] = Field(default_factory=list, max_length=20)


class Extension(Request):
    """The apology and extension letter (form 04): the reason and the new date, once per dossier."""
    reason: str = Field(min_length=5, max_length=2000, examples=["Cần xác minh thực địa do có tranh chấp ranh giới"])
    new_due_at: AwareDatetime | None = Field(default=None, description="The new due date (with time zone)")
    extra_working_days: float | None = Field(default=None, gt=0, le=60,
                                             description="Or: how many working days to add to the current due date")

    @model_validator(mode="after")
    def _one_date(self) -> "Extension":
        if (self.new_due_at is None) == (self.extra_working_days is None):
            raise ValueError("give either new_due_at or extra_working_days")
        return self

