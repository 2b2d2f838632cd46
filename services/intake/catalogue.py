"""The procedure catalogue: versioned data files (procedures/*.yaml, agencies.yaml) validated at load.

A file that does not match the schema stops start-up with a message naming the file and the field
(`CatalogueError`). The pydantic models below ARE the schema; `procedure_json_schema()` exports it
for the people who write the files. Pure: loading reads files, nothing else."""
from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError
from pydantic import BaseModel, ConfigDict, Field, RootModel, field_validator, model_validator

from shared.datafiles import newest_versions, read_model

CATALOGUE_DIR = Path(__file__).parent / "procedures"
PROCEDURE_CODE = r"^\d\.\d{6}(\.[A-Z0-9]+)?$"
AGENCY_ID = r"^[0-9A-Z]{3}(\.[0-9A-Z]{2,3}){3}$"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Agency(Strict):
    id: str = Field(pattern=AGENCY_ID, description="Electronic identifier, e.g. 000.17.22.H56")
    name: str = Field(min_length=3)
    level: Literal["province", "commune"]
    contact_email: str | None = None


class Field_(Strict):
    code: str = Field(min_length=1)
    name: str = Field(min_length=1)


class RequiredDocument(Strict):
    code: str = Field(pattern=r"^[a-z0-9_]+$")
    name: str = Field(min_length=3)
    originals: int = Field(default=0, ge=0)
    copies: int = Field(default=0, ge=0)
    requirement: Literal["mandatory", "conditional"] = "mandatory"
    condition: str | None = Field(default=None, description="When a conditional document is needed")
    accepted_types: list[str] = Field(default_factory=lambda: ["application/pdf", "image/jpeg", "image/png"],
                                      min_length=1)
    max_size_mb: float = Field(default=10, gt=0, le=100)

    @model_validator(mode="after")
    def _condition_named(self) -> "RequiredDocument":
        if self.requirement == "conditional" and not self.condition:
            raise ValueError("a conditional document must say when it is needed (condition)")
        if self.originals + self.copies == 0:
            raise ValueError("originals + copies must be at least 1")
        return self

    @property
    def max_size_bytes(self) -> int:
        return int(self.max_size_mb * 1024 * 1024)


class Tier(Strict):
    up_to: int | None = Field(default=None, ge=1, description="Units up to and including; null = the rest")
    amount: int = Field(ge=0, description="VND per unit in this tier")


class Exemption(Strict):
    group: str = Field(pattern=r"^[a-z_]+$")
    name: str
    amount: int = Field(ge=0, description="The reduced amount; 0 = exempt")


class FeeSchedule(Strict):
    """One fee line (phí or lệ phí) and how its amount is assessed; VND integers only."""
    code: str = Field(pattern=r"^[a-z0-9_]+$")
    name: str
    kind: Literal["phi", "le_phi"]
    collecting_agency: str = Field(pattern=AGENCY_ID)
    amount: int | None = Field(default=None, ge=0, description="Fixed amount")
    unit_field: str | None = Field(default=None, description="Form field holding the number of units")
    tiers: list[Tier] = Field(default_factory=list)
    maximum: int | None = Field(default=None, ge=0)
    applies_when: str | None = Field(default=None, description="Form field that must be true for the line to apply")
    online_amount: int | None = Field(default=None, ge=0, description="Amount when submitted online, if different")
    online_discount_percent: int = Field(default=0, ge=0, le=100)
    exemptions: list[Exemption] = Field(default_factory=list)
    refundable_on: list[Literal["withdrawal", "refusal"]] = Field(
        default_factory=lambda: ["withdrawal"], description="Paid back on withdrawal before processing, and on "
        "refusal only where the rules say so (registration fees are not)")

    @model_validator(mode="after")
    def _one_way_to_assess(self) -> "FeeSchedule":
        if (self.amount is None) == (not self.tiers):
            raise ValueError("a fee line has either a fixed amount or tiers (with unit_field)")
        if self.tiers and not self.unit_field:
            raise ValueError("tiers need unit_field (the form field that counts the units)")
        if self.tiers and self.tiers[-1].up_to is not None:
            raise ValueError("the last tier must be open-ended (up_to: null)")
        return self


class ProcessingTime(Strict):
    kind: Literal["working_days", "calendar_days", "same_day", "none"]
    days: float | None = Field(default=None, gt=0, le=365)
    same_day_cutoff: str = Field(default="15:00", pattern=r"^\d{2}:\d{2}$")

    @model_validator(mode="after")
    def _days_when_counted(self) -> "ProcessingTime":
        if self.kind in ("working_days", "calendar_days") and self.days is None:
            raise ValueError(f"{self.kind} needs days")
        return self


class Payment(Strict):
    timing: Literal["none", "at_acceptance", "before_processing", "on_result"] = "none"
    # Fee-first procedures start the legal clock when the fee is paid (DOMAIN.md).
    clock_starts: Literal["acceptance", "payment"] = "acceptance"


class Procedure(Strict):
    code: str = Field(pattern=PROCEDURE_CODE)
    version: str = Field(pattern=r"^\d{4}\.\d+$", description="YYYY.N; a dossier pins the version it was submitted with")
    name: str = Field(min_length=5)
    field: Field_
    competent_agency: str = Field(pattern=AGENCY_ID)
    level: Literal["province", "commune"]
    online_level: Literal["full", "partial"]
    applicant_types: list[Literal["person", "organisation"]] = Field(min_length=1)
    documents: list[RequiredDocument] = Field(min_length=1)
    form: dict[str, Any] = Field(description="JSON Schema (2020-12) of the applicant form")
    fees: list[FeeSchedule] = Field(default_factory=list)
    processing_time: ProcessingTime
    supplement_deadline_working_days: int = Field(default=15, ge=1, le=90)
    payment: Payment = Payment()
    workflow: str = Field(pattern=r"^[a-z0-9-]+$")
    result_template: str = Field(pattern=r"^[a-z0-9-]+$")
    legal_basis: list[str] = Field(default_factory=list)

    @field_validator("form")
    @classmethod
    def _form_is_json_schema(cls, form: dict[str, Any]) -> dict[str, Any]:
        try:
            Draft202012Validator.check_schema(form)
        except SchemaError as exc:
            raise ValueError(f"form is not a valid JSON Schema: {exc.message}") from None
        if form.get("type") != "object":
            raise ValueError("form must be a JSON Schema of type object")
        return form

    @model_validator(mode="after")
    def _payment_consistent(self) -> "Procedure":
        if self.fees and self.payment.timing == "none":
            raise ValueError("payment.timing must say when the fees are due")
        if self.payment.clock_starts == "payment" and self.payment.timing not in ("at_acceptance", "before_processing"):
            raise ValueError("a clock that starts at payment needs payment before processing")
        codes = [d.code for d in self.documents]
        if len(codes) != len(set(codes)):
            raise ValueError("document codes must be unique")
        return self

    @property
    def has_fees(self) -> bool:
        return bool(self.fees)

    @property
    def fee_first(self) -> bool:
        return self.payment.clock_starts == "payment"

    def document(self, code: str) -> RequiredDocument | None:
        return next((d for d in self.documents if d.code == code), None)


class CatalogueError(Exception):
    """A catalogue file is invalid; the message names the file and the field."""


def fold(text: str) -> str:
    """Lower-case, accent-free Vietnamese for search: 'Đăng ký khai sinh' -> 'dang ky khai sinh'."""
    decomposed = unicodedata.normalize("NFD", text.replace("Đ", "D").replace("đ", "d"))
    return re.sub(r"\s+", " ", "".join(c for c in decomposed if not unicodedata.combining(c))).lower().strip()


@dataclass(frozen=True)
class Catalogue:
    procedures: dict[str, Procedure]   # by code, the current (highest) version
    versions: dict[tuple[str, str], Procedure]  # every version still on file, for pinned dossiers
    agencies: dict[str, Agency]
    etag: str                           # changes when any file changes

    def procedure(self, code: str, version: str | None = None) -> Procedure | None:
        if version is None:
            return self.procedures.get(code)
        return self.versions.get((code, version))

    def agency_name(self, agency_id: str) -> str | None:
        agency = self.agencies.get(agency_id)
        return agency.name if agency else None

    def search(self, query: str | None = None, *, field: str | None = None, agency: str | None = None,
               level: str | None = None) -> list[Procedure]:
        terms = fold(query).split() if query else []
        found = []
        for procedure in self.procedures.values():
            haystack = fold(f"{procedure.code} {procedure.name} {procedure.field.name}")
            if all(t in haystack for t in terms) and (field is None or procedure.field.code == field) \
                    and (agency is None or procedure.competent_agency == agency) \
                    and (level is None or procedure.level == level):
                found.append(procedure)
        return sorted(found, key=lambda p: p.code)


class AgencyList(RootModel[list[Agency]]):
    pass


def load_catalogue(directory: Path = CATALOGUE_DIR) -> Catalogue:
    digest = hashlib.sha256()
    agencies_file = directory / "agencies.yaml"
    agencies = {agency.id: agency for agency in read_model(agencies_file, AgencyList, CatalogueError).root}
    digest.update(agencies_file.read_bytes())

    versions: dict[tuple[str, str], Procedure] = {}
    for path in sorted(directory.glob("*.yaml")):
        if path.name == "agencies.yaml":
            continue
        digest.update(path.name.encode() + path.read_bytes())
        procedure = read_model(path, Procedure, CatalogueError)
        for agency_field, agency_id in [("competent_agency", procedure.competent_agency),
                                        *((f"fees.{f.code}.collecting_agency", f.collecting_agency) for f in procedure.fees)]:
            if agency_id not in agencies:
                raise CatalogueError(f"{path.name}: {agency_field}: unknown agency {agency_id} (not in agencies.yaml)")
        if (procedure.code, procedure.version) in versions:
            raise CatalogueError(f"{path.name}: version: {procedure.code} version {procedure.version} is defined twice")
        versions[(procedure.code, procedure.version)] = procedure
    if not versions:
        raise CatalogueError(f"{directory.name}: no procedure files")
    return Catalogue(newest_versions(versions.values(), key=lambda p: p.code), versions, agencies,
                     etag=f'"{digest.hexdigest()[:32]}"')


SCHEMA_FILE = CATALOGUE_DIR / "schema" / "procedure.schema.json"


def procedure_json_schema() -> str:
    """The schema of a procedure file, for editors and reviewers (checked in; a test keeps it current)."""
    return json.dumps(Procedure.model_json_schema(), ensure_ascii=False, indent=2) + "\n"


if __name__ == "__main__":   # python -m services.intake.catalogue: rewrite the checked-in schema
    SCHEMA_FILE.parent.mkdir(exist_ok=True)
    SCHEMA_FILE.write_text(procedure_json_schema(), encoding="utf-8")
    print(f"wrote {SCHEMA_FILE.name}")
