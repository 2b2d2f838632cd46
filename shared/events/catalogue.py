"""Every event type that crosses a service boundary, its data model and its national status code.

Desk systems build against the JSON Schema and AsyncAPI files generated from this module
(`python -m shared.events.generate`); a test fails when those files drift from the models.
Payloads carry no citizen identifiers: a consumer that needs contact data owns its own copy."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import IntEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.events.envelope import Envelope


class NationalStatus(IntEnum):
    """The ten statuses of the National Public Service Portal (DOMAIN.md)."""
    SUBMITTED = 1            # Mới đăng ký
    ACCEPTED = 2             # Được tiếp nhận
    REFUSED = 3              # Không được tiếp nhận
    PROCESSING = 4           # Đang xử lý
    SUPPLEMENT_REQUIRED = 5  # Yêu cầu bổ sung giấy tờ
    AWAITING_PAYMENT = 6     # Yêu cầu thực hiện nghĩa vụ tài chính
    WITHDRAWN = 7            # Công dân yêu cầu rút hồ sơ
    STOPPED = 8              # Dừng xử lý
    FINISHED = 9             # Đã xử lý xong
    RETURNED = 10            # Đã trả kết quả


NATIONAL_STATUS_NAMES: dict[int, str] = {
    1: "Mới đăng ký", 2: "Được tiếp nhận", 3: "Không được tiếp nhận", 4: "Đang xử lý",
    5: "Yêu cầu bổ sung giấy tờ", 6: "Yêu cầu thực hiện nghĩa vụ tài chính", 7: "Công dân yêu cầu rút hồ sơ",
    8: "Dừng xử lý", 9: "Đã xử lý xong", 10: "Đã trả kết quả",
}
# Statuses that end a dossier: a later event (another service's, processed after) never replaces them.
FINAL_NATIONAL_STATUSES = frozenset({NationalStatus.REFUSED, NationalStatus.WITHDRAWN, NationalStatus.STOPPED,
                                     NationalStatus.RETURNED})
NATIONAL_CHANNEL_CODES = {"desk": 1, "online": 2, "postal": 3}

Channel = Literal["desk", "online", "postal"]
Money = int  # VND, always an integer


class EventData(BaseModel):
    model_config = ConfigDict(extra="allow")  # additive evolution within a version
    dossier_id: str = Field(min_length=1)


class FeeLine(BaseModel):
    code: str
    name: str
    kind: Literal["phi", "le_phi"]
    amount: Money = Field(ge=0)
    collecting_agency: str
    refundable_on: list[Literal["withdrawal", "refusal"]] = Field(
        default_factory=lambda: ["withdrawal"], description="When this line is paid back (withdrawal before "
        "processing; refusal only where the rules say so)")


# --- intake -------------------------------------------------------------------------------------
class ApplicantContact(BaseModel):
    """What notifications needs to reach the applicant, and nothing more (no ID numbers)."""
    kind: Literal["person", "organisation"]
    name: str
    phone: str | None = Field(default=None, description="E.164")
    email: str | None = None
    channels: list[Literal["sms", "email", "zalo"]] = Field(default_factory=list,
                                                            description="Preferred channels, in order")
    non_essential: bool = Field(default=True, description="False: only messages the law requires")


class DossierSubmitted(EventData):
    dossier_code: str = Field(examples=["000.17.22.H56-261123-0001"])
    procedure_code: str
    procedure_version: str
    procedure_name: str | None = None
    channel: Channel
    receiving_agency: str
    competent_agency: str | None = None
    submitted_at: datetime
    answer_due_at: datetime | None = Field(default=None, description="Online: the desk must answer by then")
    contact: ApplicantContact | None = None
    documents: int = Field(default=0, ge=0, description="Electronic documents attached")
    applicant_ref: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$", description=(
        "A keyed hash of the applicant's personal identifier (or tax code), never the number itself: other "
        "agencies find a citizen's results by it"))


class DossierAccepted(EventData):
    dossier_code: str = Field(examples=["000.17.22.H56-210531-0001"])
    procedure_code: str
    procedure_version: str
    channel: Channel
    receiving_agency: str
    competent_agency: str
    competent_agency_name: str | None = None
    procedure_name: str | None = None
    accepted_at: datetime
    due_at: datetime | None = Field(description="Appointment date; null for procedures without one")
    fee_lines: list[FeeLine] = Field(default_factory=list)
    payment_timing: Literal["none", "at_acceptance", "before_processing", "on_result"] = "none"
    clock_starts: Literal["acceptance", "payment"] = "acceptance"
    workflow: str | None = None
    result_template: str | None = None
    online_level: Literal["full", "partial"] | None = None
    digitised: bool = Field(default=False, description="The dossier's components are electronic")


class DossierDueDateSet(EventData):
    """A fee-first procedure's clock started when the fee was paid: the appointment date is fixed."""
    clock_started_at: datetime
    due_at: datetime | None


class DossierReceptionOverdue(EventData):
    """An online submission was not answered within the regulated working hours: alert the desk."""
    receiving_agency: str
    submitted_at: datetime
    answer_due_at: datetime


class DossierSupplementRequested(EventData):
    missing_items: list[str] = Field(min_length=1)
    requested_at: datetime
    complete_by: datetime | None = None


class DossierSupplemented(EventData):
    supplemented_at: datetime
    stage: Literal["reception", "processing"] = "reception"


class DossierRejected(EventData):
    reason: str = Field(min_length=1)
    rejected_at: datetime
    cause: Literal["refused", "supplement_not_received"] = "refused"


class DossierWithdrawn(EventData):
    reason: str | None = None
    withdrawn_at: datetime


# --- routing ------------------------------------------------------------------------------------
class DossierProcessingStarted(EventData):
    dossier_code: str | None = None
    workflow_id: str
    workflow_version: str
    competent_agency: str | None = None
    started_at: datetime
    due_at: datetime | None


class TaskAssigned(EventData):
    task_id: str
    step: str
    step_name: str | None = None
    agency: str
    unit: str | None = None
    role: str | None = None
    due_at: datetime | None
    dossier_code: str | None = None


class TaskDueSoon(EventData):
    """A step's deadline is near (configurable warning, e.g. one working day): remind its agency."""
    task_id: str
    step: str
    agency: str
    unit: str | None = None
    due_at: datetime
    remaining_working_hours: float


class TaskCompleted(EventData):
    task_id: str
    step: str
    agency: str
    action: str = Field(description="The workflow action taken, or 'cancelled' (withdrawal, decision elsewhere)")
    completed_at: datetime
    on_time: bool | None = None


class DossierTransferred(EventData):
    from_agency: str
    to_agency: str
    transferred_at: datetime


class DossierPaused(EventData):
    reason: Literal["supplement", "payment", "other"]
    paused_at: datetime
    step: str | None = None
    agency: str | None = None
    missing_items: list[str] = Field(default_factory=list, description="Supplement: everything the applicant must send")


class DossierResumed(EventData):
    resumed_at: datetime
    due_at: datetime | None
    paused_working_hours: float = Field(default=0, ge=0, description="The due date moved by this much working time")


class DossierOverdue(EventData):
    scope: Literal["step", "dossier"] = Field(default="step", description="A step's deadline or the dossier's due date")
    step: str
    agency: str
    task_id: str | None = None
    due_at: datetime
    detected_at: datetime


class DossierExtended(EventData):
    reason: str = Field(min_length=1)
    original_due_at: datetime
    new_due_at: datetime
    agency: str | None = None
    apology_url: str | None = Field(default=None, description="Form 04: the apology and extension letter")


class DossierStopped(EventData):
    reason: str = Field(min_length=1)
    stopped_at: datetime


class DossierDecided(EventData):
    outcome: Literal["approved", "refused"]
    decided_by_agency: str
    decided_at: datetime
    reason: str | None = None
    dossier_code: str | None = None
    procedure_code: str | None = None
    procedure_version: str | None = None
    channel: Channel | None = None
    result_template: str | None = Field(default=None, description="Which result document to issue")
    payment_timing: Literal["none", "at_acceptance", "before_processing", "on_result"] | None = None
    due_at: datetime | None = None
    on_time: bool | None = None


# --- payments -----------------------------------------------------------------------------------
class PaymentRequested(EventData):
    bill_id: str
    amount: Money = Field(ge=0)
    currency: Literal["VND"] = "VND"
    lines: list[FeeLine]
    pay_url: str
    expires_at: datetime


class PaymentSucceeded(EventData):
    bill_id: str
    amount: Money = Field(ge=0)
    currency: Literal["VND"] = "VND"
    method: Literal["online", "cash", "transfer"]
    paid_at: datetime


class PaymentFailed(EventData):
    bill_id: str
    reason: str
    failed_at: datetime
    pay_url: str | None = Field(default=None, description="The citizen's link to try again while the bill is open")


class PaymentExpired(EventData):
    bill_id: str
    expired_at: datetime


class PaymentRefunded(EventData):
    bill_id: str
    amount: Money = Field(ge=0)
    reason: str
    refunded_at: datetime


# --- notifications ------------------------------------------------------------------------------
class NotificationSent(EventData):
    notification_id: str
    channel: Literal["sms", "email", "zalo", "webhook", "portal"]
    template: str
    template_version: str
    sent_at: datetime


class NotificationFailed(EventData):
    notification_id: str
    channel: Literal["sms", "email", "zalo", "webhook", "portal"]
    template: str
    reason: str
    failed_at: datetime


# --- results ------------------------------------------------------------------------------------
class ResultIssued(EventData):
    result_id: str
    document_number: str
    issuing_agency: str
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    verify_url: str
    issued_at: datetime
    kind: Literal["approval", "refusal", "digitised"] = "approval"


class ResultReused(EventData):
    """Another agency read a citizen's result (e-results exchange): the citizen sees who and why."""
    result_id: str
    accessing_agency: str
    legal_basis: str
    accessed_at: datetime


class ResultReturned(EventData):
    result_id: str
    channel: Literal["online", "desk", "postal"]
    returned_at: datetime


# --- backbone -----------------------------------------------------------------------------------
class BackboneProbe(EventData):
    """A synthetic event an operator sends through the backbone to prove every service consumes."""
    probe_id: str
    note: str | None = None


@dataclass(frozen=True)
class EventType:
    name: str                       # e.g. "dossier.accepted.v1"
    model: type[EventData]
    producer: str                   # the one service allowed to emit it
    summary: str
    national_status: NationalStatus | None = None

    @property
    def dataschema(self) -> str:
        return f"schemas/{self.name}.json"


CATALOGUE: dict[str, EventType] = {
    t.name: t
    for t in (
        EventType("dossier.submitted.v1", DossierSubmitted, "intake", "A dossier was submitted (online, desk or postal).", NationalStatus.SUBMITTED),
        EventType("dossier.accepted.v1", DossierAccepted, "intake", "The desk accepted the dossier: code issued, appointment fixed.", NationalStatus.ACCEPTED),
        EventType("dossier.supplement_requested.v1", DossierSupplementRequested, "intake", "The desk asked for everything missing, once.", NationalStatus.SUPPLEMENT_REQUIRED),
        EventType("dossier.supplemented.v1", DossierSupplemented, "intake", "The applicant supplied what was missing."),
        EventType("dossier.rejected.v1", DossierRejected, "intake", "The desk refused the dossier at reception.", NationalStatus.REFUSED),
        EventType("dossier.withdrawn.v1", DossierWithdrawn, "intake", "The applicant withdrew the dossier.", NationalStatus.WITHDRAWN),
        EventType("dossier.due_date_set.v1", DossierDueDateSet, "intake", "A fee-first dossier's clock started at payment; appointment fixed."),
        EventType("dossier.reception_overdue.v1", DossierReceptionOverdue, "intake", "An online submission was not answered in time; the desk is alerted."),
        EventType("dossier.processing_started.v1", DossierProcessingStarted, "routing", "The competent agency started processing.", NationalStatus.PROCESSING),
        EventType("task.assigned.v1", TaskAssigned, "routing", "A workflow step was assigned to an agency/unit.", NationalStatus.PROCESSING),
        EventType("task.due_soon.v1", TaskDueSoon, "routing", "A step's deadline is near: its agency is reminded."),
        EventType("task.completed.v1", TaskCompleted, "routing", "A workflow step was completed."),
        EventType("dossier.transferred.v1", DossierTransferred, "routing", "The dossier moved to another agency.", NationalStatus.PROCESSING),
        EventType("dossier.paused.v1", DossierPaused, "routing", "The SLA clock paused (waiting on the applicant).", NationalStatus.SUPPLEMENT_REQUIRED),
        EventType("dossier.resumed.v1", DossierResumed, "routing", "The SLA clock resumed.", NationalStatus.PROCESSING),
        EventType("dossier.overdue.v1", DossierOverdue, "routing", "A step passed its due date."),
        EventType("dossier.extended.v1", DossierExtended, "routing", "An apology was issued and the due date moved, once."),
        EventType("dossier.stopped.v1", DossierStopped, "routing", "The agency stopped processing.", NationalStatus.STOPPED),
        EventType("dossier.decided.v1", DossierDecided, "routing", "The competent agency decided (approved or refused)."),
        EventType("payment.requested.v1", PaymentRequested, "payments", "A bill was issued; the applicant is asked to pay.", NationalStatus.AWAITING_PAYMENT),
        EventType("payment.succeeded.v1", PaymentSucceeded, "payments", "A payment was confirmed with the gateway."),
        EventType("payment.failed.v1", PaymentFailed, "payments", "A payment attempt failed."),
        EventType("payment.expired.v1", PaymentExpired, "payments", "A bill expired unpaid."),
        EventType("payment.refunded.v1", PaymentRefunded, "payments", "A payment was refunded."),
        EventType("notification.sent.v1", NotificationSent, "notifications", "A message was delivered to a recipient."),
        EventType("notification.failed.v1", NotificationFailed, "notifications", "A message could not be delivered."),
        EventType("result.issued.v1", ResultIssued, "results", "A signed electronic result was issued.", NationalStatus.FINISHED),
        EventType("result.reused.v1", ResultReused, "results", "Another agency reused a result (legal basis recorded)."),
        EventType("result.returned.v1", ResultReturned, "results", "The result reached the applicant; the dossier ends.", NationalStatus.RETURNED),
        EventType("backbone.probe.v1", BackboneProbe, "intake", "Operational probe: every service records it."),
    )
}


class UnknownEventType(KeyError):
    pass


def event_type(name: str) -> EventType:
    try:
        return CATALOGUE[name]
    except KeyError:
        raise UnknownEventType(name) from None


def national_status(name: str) -> NationalStatus | None:
    """The portal status an event type moves a dossier to, if any: the one mapping for all views."""
    return event_type(name).national_status


def make_event(data: EventData, *, source_service: str, correlation_id: str,
               causation: Envelope | None = None, traceparent: str | None = None) -> Envelope:
    """Wrap validated data in an envelope; the type is found from the data's model."""
    matches = [t for t in CATALOGUE.values() if t.model is type(data)]
    if len(matches) != 1:
        raise UnknownEventType(type(data).__name__)
    etype = matches[0]
    if etype.producer != source_service:
        raise ValueError(f"{source_service} may not emit {etype.name} (owned by {etype.producer})")
    return Envelope(
        type=etype.name, source=f"/onestop/{source_service}", subject=data.dossier_id,
        dataschema=etype.dataschema, data=data.model_dump(mode="json"),
        correlationid=causation.correlationid if causation else correlation_id,
        causationid=causation.id if causation else None,
        traceparent=traceparent or (causation.traceparent if causation else None),
    )


def parse_data(envelope: Envelope) -> EventData:
    """Validate an envelope's data against its type's model."""
    return event_type(envelope.type).model.model_validate(envelope.data)
