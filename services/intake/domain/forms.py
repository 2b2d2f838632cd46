"""The applicant form, checked against the procedure's JSON Schema; every error names its field."""
from __future__ import annotations

from typing import Any

from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import ValidationError

from services.intake.domain.errors import FieldError

_FORMAT_CHECKER = FormatChecker()
_VALIDATORS: dict[int, Draft202012Validator] = {}


def _validator(schema: dict[str, Any]) -> Draft202012Validator:
    # Schemas come from the catalogue and live as long as the process: compile each once.
    key = id(schema)
    if key not in _VALIDATORS:
        _VALIDATORS[key] = Draft202012Validator(schema, format_checker=_FORMAT_CHECKER)
    return _VALIDATORS[key]


def _messages(error: ValidationError, schema: dict[str, Any]) -> tuple[str, str, str]:
    """(code, English, Vietnamese) for one JSON Schema failure."""
    kind, expected = error.validator, error.validator_value
    match kind:
        case "required":
            return "required", "is required", "Trường này là bắt buộc"
        case "type":
            return "type", f"must be of type {expected}", f"Sai kiểu dữ liệu (cần {expected})"
        case "enum":
            options = ", ".join(map(str, expected))
            return "enum", f"must be one of: {options}", f"Chỉ được chọn một trong: {options}"
        case "minLength":
            return "too-short", f"must have at least {expected} characters", f"Cần ít nhất {expected} ký tự"
        case "maxLength":
            return "too-long", f"must have at most {expected} characters", f"Không được quá {expected} ký tự"
        case "minimum" | "exclusiveMinimum":
            return "too-small", f"must be at least {expected}", f"Giá trị phải từ {expected} trở lên"
        case "maximum" | "exclusiveMaximum":
            return "too-large", f"must be at most {expected}", f"Giá trị không được lớn hơn {expected}"
        case "format":
            return "format", f"must be a valid {expected}", f"Không đúng định dạng {expected}"
        case "minItems":
            return "too-few", f"needs at least {expected} item(s)", f"Cần ít nhất {expected} mục"
        case "additionalProperties":
            return "unknown-field", "is not a field of this form", "Trường này không có trong tờ khai"
        case "pattern":
            return "pattern", "has the wrong format", "Không đúng định dạng"
    return kind, error.message, "Giá trị không hợp lệ"


def _field_of(error: ValidationError) -> str:
    path = [str(p) for p in error.absolute_path]
    if error.validator == "required":
        # "'x' is a required property": the missing field is the one to name.
        path.append(error.message.split("'")[1])
    elif error.validator == "additionalProperties":
        extra = set(error.instance) - set(error.schema.get("properties", {}))
        path.append(sorted(extra)[0] if extra else "")
    return ".".join(["form", *path]) if path else "form"


def form_errors(schema: dict[str, Any], data: Any) -> list[FieldError]:
    errors = []
    for error in sorted(_validator(schema).iter_errors(data), key=lambda e: list(map(str, e.absolute_path))):
        code, message, message_vi = _messages(error, schema)
        errors.append(FieldError(_field_of(error), code, message, message_vi))
    return errors
