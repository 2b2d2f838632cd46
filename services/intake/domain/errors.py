"""A rule broken by what a caller sent: names the field, in Vietnamese and English."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FieldError:
    field: str      # dotted path, e.g. "applicant.citizen_id" or "form.child_date_of_birth"
    code: str       # stable machine code, e.g. "citizen-id-checksum"
    message: str    # English
    message_vi: str

    def as_problem_item(self) -> dict[str, str]:
        return {"field": self.field, "code": self.code, "message": self.message, "message_vi": self.message_vi}

