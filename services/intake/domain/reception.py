"""The reception state machine as data: which action moves a dossier from which status to which,
and the event each transition publishes. Guards that depend on facts (one supplement request,
no withdrawal after the result) live here too, so the handlers only ask."""
from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Status(StrEnum):
    SUBMITTED = "submitted"                         # waiting for the desk (online / postal / desk)
    SUPPLEMENT_REQUESTED = "supplement_requested"   # at reception: form 02 sent, clock not started
    ACCEPTED = "accepted"                           # received: code and appointment date fixed
    REJECTED = "rejected"                           # refused at reception (form 03), or not supplemented in time
    WITHDRAWN = "withdrawn"                         # the applicant withdrew (form 05)


class Action(StrEnum):
    ACCEPT = "accept"
    REQUEST_SUPPLEMENT = "request_supplement"
    SUPPLEMENT = "supplement"
    REJECT = "reject"
    WITHDRAW = "withdraw"
    EXPIRE_SUPPLEMENT = "expire_supplement"


@dataclass(frozen=True)
class Transition:
    to: Status
    event: str


TRANSITIONS: dict[tuple[Status, Action], Transition] = {
    (Status.SUBMITTED, Action.ACCEPT): Transition(Status.ACCEPTED, "dossier.accepted.v1"),
    (Status.SUBMITTED, Action.REQUEST_SUPPLEMENT): Transition(Status.SUPPLEMENT_REQUESTED, "dossier.supplement_requested.v1"),
    (Status.SUBMITTED, Action.REJECT): Transition(Status.REJECTED, "dossier.rejected.v1"),
    (Status.SUBMITTED, Action.WITHDRAW): Transition(Status.WITHDRAWN, "dossier.withdrawn.v1"),
    # The supplement goes back to the desk, which reviews it again; the clock starts from zero.
    (Status.SUPPLEMENT_REQUESTED, Action.SUPPLEMENT): Transition(Status.SUBMITTED, "dossier.supplemented.v1"),
    (Status.SUPPLEMENT_REQUESTED, Action.REJECT): Transition(Status.REJECTED, "dossier.rejected.v1"),
    (Status.SUPPLEMENT_REQUESTED, Action.EXPIRE_SUPPLEMENT): Transition(Status.REJECTED, "dossier.rejected.v1"),
    (Status.SUPPLEMENT_REQUESTED, Action.WITHDRAW): Transition(Status.WITHDRAWN, "dossier.withdrawn.v1"),
    # After acceptance the agency works on it: the applicant may still withdraw, and answers
    # a supplement request made during processing (routing pauses the clock meanwhile).
    (Status.ACCEPTED, Action.WITHDRAW): Transition(Status.WITHDRAWN, "dossier.withdrawn.v1"),
    (Status.ACCEPTED, Action.SUPPLEMENT): Transition(Status.ACCEPTED, "dossier.supplemented.v1"),
}


@dataclass(frozen=True)
class DossierFacts:
    status: Status
    supplement_requests: int
    processing_supplement_open: bool
    result_issued: bool


class IllegalTransition(Exception):
    def __init__(self, status: Status, action: Action, reason: str, reason_vi: str) -> None:
        super().__init__(f"cannot {action} a dossier that is {status}: {reason}")
        self.status, self.action, self.reason, self.reason_vi = status, action, reason, reason_vi


def transition(facts: DossierFacts, action: Action) -> Transition:
    found = TRANSITIONS.get((facts.status, action))
    if found is None:
        raise IllegalTransition(facts.status, action, f"not allowed from status {facts.status}",
                                f"Không thể thực hiện khi hồ sơ đang ở trạng thái {STATUS_VI[facts.status]}")
    if action is Action.REQUEST_SUPPLEMENT and facts.supplement_requests >= 1:
        raise IllegalTransition(facts.status, action, "a dossier gets ONE supplement request listing everything missing",
                                "Mỗi hồ sơ chỉ được yêu cầu bổ sung một lần, nêu đầy đủ các nội dung còn thiếu")
    if action is Action.SUPPLEMENT and facts.status is Status.ACCEPTED and not facts.processing_supplement_open:
        raise IllegalTransition(facts.status, action, "no supplement was requested",
                                "Hồ sơ không có yêu cầu bổ sung đang chờ")
    if action is Action.WITHDRAW and facts.result_issued:
        raise IllegalTransition(facts.status, action, "the result has already been issued",
                                "Đã có kết quả giải quyết, không thể rút hồ sơ")
    return found


STATUS_VI = {
    Status.SUBMITTED: "chờ tiếp nhận",
    Status.SUPPLEMENT_REQUESTED: "chờ bổ sung",
    Status.ACCEPTED: "đã tiếp nhận",
    Status.REJECTED: "không được tiếp nhận",
    Status.WITHDRAWN: "đã rút",
}
