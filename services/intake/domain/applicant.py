"""The applicant: citizen ID numbers (CCCD / personal identifier), tax codes, phones and e-mails.

A 12-digit personal identifier is `PPP G YY NNNNNN`: PPP the province of birth registration
(codes 001-096 as issued), G sex and century (0/1 = 20th century male/female, 2/3 = 21st, 4/5 =
22nd...), YY the last two digits of the birth year. The last six digits are random, so the form
is all that can be checked offline; the population database confirms the rest."""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

import phonenumbers
from email_validator import EmailNotValidError, validate_email

from services.intake.domain.errors import FieldError

# Province codes of the personal identifier (Circular 59/2021/TT-BCA, annex); gaps are unissued.
PROVINCE_CODES = frozenset({
    "001", "002", "004", "006", "008", "010", "011", "012", "014", "015", "017", "019", "020", "022",
    "024", "025", "026", "027", "030", "031", "033", "034", "035", "036", "037", "038", "040", "042",
    "044", "045", "046", "048", "049", "051", "052", "054", "056", "058", "060", "062", "064", "066",
    "067", "068", "070", "072", "074", "075", "077", "079", "080", "082", "083", "084", "086", "087",
    "089", "091", "092", "093", "094", "095", "096",
})
_TAX_CODE_WEIGHTS = (31, 29, 23, 19, 17, 13, 7, 5, 3)


def citizen_id_errors(value: str, field: str, *, today: date | None = None) -> list[FieldError]:
    if not re.fullmatch(r"\d{12}", value):
        return [FieldError(field, "citizen-id-format", "must be 12 digits",
                           "Số định danh cá nhân phải gồm 12 chữ số")]
    province, century_sex, year = value[:3], int(value[3]), int(value[4:6])
    errors = []
    if province not in PROVINCE_CODES:
        errors.append(FieldError(field, "citizen-id-province", f"unknown province code {province}",
                                 f"Mã tỉnh {province} trong số định danh không tồn tại"))
    birth_year = 1900 + (century_sex // 2) * 100 + year
    if birth_year > (today or date.today()).year:
        errors.append(FieldError(field, "citizen-id-birth-year", "the birth year it encodes is in the future",
                                 "Năm sinh trong số định danh lớn hơn năm hiện tại"))
    return errors


def tax_code_errors(value: str, field: str) -> list[FieldError]:
    """Enterprise tax code (mã số doanh nghiệp): 10 digits with a check digit, optional -NNN branch."""
    match = re.fullmatch(r"(\d{10})(-\d{3})?", value)
    if not match:
        return [FieldError(field, "tax-code-format", "must be 10 digits, optionally followed by -NNN",
                           "Mã số doanh nghiệp phải gồm 10 chữ số, có thể kèm -NNN cho đơn vị phụ thuộc")]
    digits = [int(c) for c in match.group(1)]
    check = 10 - sum(d * w for d, w in zip(digits, _TAX_CODE_WEIGHTS)) % 11
    if check != digits[9]:
        return [FieldError(field, "tax-code-checksum", "the check digit does not match",
                           "Chữ số kiểm tra của mã số doanh nghiệp không đúng")]
    return []


def normalise_phone(value: str, field: str) -> tuple[str | None, list[FieldError]]:
    """E.164 (+84...) for a valid Vietnamese or international number."""
    try:
        number = phonenumbers.parse(value, "VN")
    except phonenumbers.NumberParseException:
        number = None
    if number is None or not phonenumbers.is_valid_number(number):
        return None, [FieldError(field, "phone-invalid", "is not a valid phone number",
                                 "Số điện thoại không hợp lệ")]
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164), []


def normalise_email(value: str, field: str) -> tuple[str | None, list[FieldError]]:
    try:
        return validate_email(value, check_deliverability=False).normalized, []
    except EmailNotValidError:
        return None, [FieldError(field, "email-invalid", "is not a valid e-mail address",
                                 "Địa chỉ thư điện tử không hợp lệ")]


@dataclass(frozen=True)
class Applicant:
    """The applicant as accepted: identifiers checked, contacts normalised."""
    kind: str                   # person | organisation
    full_name: str
    citizen_id: str | None      # persons (and an organisation's legal representative, if given)
    tax_code: str | None        # organisations
    phone: str | None           # E.164
    email: str | None
    address: str | None

    @property
    def national_type(self) -> int:
        """The portal's applicant type: 1 citizen, 2 business."""
        return 1 if self.kind == "person" else 2


def check_applicant(kind: str, full_name: str, citizen_id: str | None, tax_code: str | None,
                    phone: str | None, email: str | None, address: str | None) -> tuple[Applicant | None, list[FieldError]]:
    errors: list[FieldError] = []
    if kind == "person" and not citizen_id:
        errors.append(FieldError("applicant.citizen_id", "required", "is required for a person",
                                 "Cần nhập số định danh cá nhân"))
    if kind == "organisation" and not tax_code:
        errors.append(FieldError("applicant.tax_code", "required", "is required for an organisation",
                                 "Cần nhập mã số doanh nghiệp / tổ chức"))
    if citizen_id:
        errors += citizen_id_errors(citizen_id, "applicant.citizen_id")
    if tax_code:
        errors += tax_code_errors(tax_code, "applicant.tax_code")
    if not phone and not email:
        errors.append(FieldError("applicant.phone", "contact-required", "a phone number or an e-mail is required",
                                 "Cần ít nhất số điện thoại hoặc thư điện tử để liên hệ"))
    norm_phone = norm_email = None
    if phone:
        norm_phone, phone_errors = normalise_phone(phone, "applicant.phone")
        errors += phone_errors
    if email:
        norm_email, email_errors = normalise_email(email, "applicant.email")
        errors += email_errors
    if errors:
        return None, errors
    return Applicant(kind, " ".join(full_name.split()), citizen_id, tax_code, norm_phone, norm_email, address), []
