"""Request and response models of intake's HTTP API (what partners and officers send and get)."""
from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --- submission ----------------------------------------------------------------------------------
class ApplicantIn(Model):
    kind: Literal["person", "organisation"]
    full_name: str = Field(min_length=2, max_length=200, examples=["Nguyễn Văn An"])
    citizen_id: str | None = Field(default=None, max_length=32, description="12-digit personal identifier (persons)",
                                   examples=["079203001234"])
    tax_code: str | None = Field(default=None, max_length=32, description="Enterprise tax code (organisations)")
    phone: str | None = Field(default=None, max_length=32, examples=["0912 345 678"])
    email: str | None = Field(default=None, max_length=254)
    address: str | None = Field(default=None, max_length=300)
    channels: list[Literal["sms", "email", "zalo"]] = Field(default_factory=list, max_length=3)
    non_essential: bool = True


class DocumentRef(Model):
    code: str = Field(min_length=1, max_length=64, description="The procedure's document code")
    upload_id: str = Field(min_length=1, max_length=64, description="From POST /v1/dossiers/uploads")


class FeeExemptionIn(Model):
    group: str = Field(min_length=1, max_length=32)
    proof_reference: str | None = Field(default=None, max_length=200)


class SubmitDossier(Model):
    procedure_code: str = Field(min_length=1, max_length=32, examples=["1.001193"])
    channel: Literal["online", "desk", "postal"]
    receiving_agency: str | None = Field(default=None, max_length=32,
                                         description="The desk that receives it; default the competent agency's")
    applicant: ApplicantIn
    form: dict[str, Any] = Field(default_factory=dict)
    documents: list[DocumentRef] = Field(default_factory=list, max_length=50)
    fee_exemption: FeeExemptionIn | None = None

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "procedure_code": "1.001193", "channel": "online",
        "applicant": {"kind": "person", "full_name": "Nguyễn Thị Mai", "citizen_id": "079203001234",
                      "phone": "0912345678", "email": "mai@example.vn", "channels": ["sms", "email"]},
        "form": {"child_full_name": "Trần Minh Khôi", "child_sex": "Nam", "child_date_of_birth": "2026-11-20",
                 "place_of_birth": "Bệnh viện Đa khoa tỉnh", "mother_full_name": "Nguyễn Thị Mai"},
        "documents": [{"code": "to_khai", "upload_id": "…"}, {"code": "giay_chung_sinh", "upload_id": "…"}],
    }]})


class Prefill(Model):
    citizen_id: str = Field(min_length=1, max_length=32)
    purpose: str = Field(min_length=3, max_length=255, examples=["Khai hồ sơ đăng ký khai sinh"])
    procedure_code: str | None = Field(default=None, max_length=32)


# --- reception -----------------------------------------------------------------------------------
class AcceptDossier(Model):
    note: str | None = Field(default=None, max_length=1000)
    documents: list[DocumentRef] = Field(default_factory=list, max_length=50,
                                         description="Paper documents scanned at the desk")


class MissingItem(Model):
    document_code: str | None = Field(default=None, max_length=64)
    description: str = Field(min_length=3, max_length=500)


class RequestSupplement(Model):
    items: list[MissingItem] = Field(min_length=1, max_length=50, description="EVERYTHING missing, in one request")
    note: str | None = Field(default=None, max_length=1000)


class RejectDossier(Model):
    reason: str = Field(min_length=5, max_length=2000)


class SupplementDossier(Model):
    documents: list[DocumentRef] = Field(default_factory=list, max_length=50)
    form: dict[str, Any] | None = Field(default=None, description="Corrected form, if the request asked for it")
    note: str | None = Field(default=None, max_length=1000)


class WithdrawDossier(Model):
    reason: str | None = Field(default=None, max_length=1000)


class RateDossier(Model):
    phone_last4: str = Field(pattern=r"^\d{4}$", description="Second factor: last 4 digits of the applicant's phone")
    score: int = Field(ge=1, le=5)
    comment: str | None = Field(default=None, max_length=1000)


# --- responses -----------------------------------------------------------------------------------
class TimelineEntry(BaseModel):
    at: datetime
    event: str
    national_status: int | None
    national_status_name: str | None
    title: str
    details: dict[str, Any]


class PublicTracking(BaseModel):
    dossier_code: str
    procedure_code: str
    procedure_name: str
    applicant: str
    national_status: int | None
    national_status_name: str | None
    submitted_at: datetime
    due_at: datetime | None
    timeline: list[TimelineEntry]
