"""Payments' pure rules: the payment-attempt state machine (as data), bill states, what a
confirmation must prove before anyone trusts it, what is refundable, and how receipts group fee
lines. No I/O; VND are integers everywhere."""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any


class AttemptState(StrEnum):
    CREATED = "created"        # row written, INIT not yet answered (in-flight marker set)
    PENDING = "pending"        # the platform has a transaction; the payer may pay
    SUCCEEDED = "succeeded"    # confirmed by a server-to-server QUERY
    FAILED = "failed"
    EXPIRED = "expired"
    REFUNDED = "refunded"


# (from, event) -> to. Anything else is an illegal transition.
ATTEMPT_TRANSITIONS: dict[tuple[AttemptState, str], AttemptState] = {
    (AttemptState.CREATED, "initiated"): AttemptState.PENDING,
    (AttemptState.CREATED, "paid"): AttemptState.SUCCEEDED,        # the reconciler found it paid
    (AttemptState.CREATED, "failed"): AttemptState.FAILED,         # INIT refused / unknown to the platform
    (AttemptState.CREATED, "expired"): AttemptState.EXPIRED,
    (AttemptState.PENDING, "paid"): AttemptState.SUCCEEDED,
    (AttemptState.PENDING, "failed"): AttemptState.FAILED,
    (AttemptState.PENDING, "expired"): AttemptState.EXPIRED,
    (AttemptState.SUCCEEDED, "refunded"): AttemptState.REFUNDED,
}
# At most one of these per bill (a partial unique index holds it in the database too).
LIVE_ATTEMPT_STATES = (AttemptState.CREATED.value, AttemptState.PENDING.value, AttemptState.SUCCEEDED.value)
UNSETTLED_ATTEMPT_STATES = (AttemptState.CREATED.value, AttemptState.PENDING.value)


class BillState(StrEnum):
    OPEN = "open"
    PAID = "paid"
    EXPIRED = "expired"
    CANCELLED = "cancelled"    # the dossier was withdrawn before anything was paid
    REFUNDED = "refunded"      # wholly or partly: see refunded_amount


class IllegalTransition(Exception):
    pass


def next_attempt_state(current: str, event: str) -> AttemptState:
    try:
        return ATTEMPT_TRANSITIONS[(AttemptState(current), event)]
    except KeyError:
        raise IllegalTransition(f"an attempt in state {current} cannot become {event}") from None


def total(lines: Iterable[dict[str, Any]]) -> int:
    amount = 0
    for line in lines:
        value = line["amount"]
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise ValueError(f"fee line {line.get('code')}: amount must be a non-negative VND integer")
        amount += value
    return amount


# --- confirmations: nothing is trusted until it proves itself ------------------------------------
@dataclass(frozen=True)
class Rejection:
    code: str
    reason: str


def check_confirmation(message: dict[str, Any], *, authentic: bool, sent_at: datetime | None, now: datetime,
                       tolerance: timedelta, expected_amount: int | None) -> Rejection | None:
    """The inbound CONFIRM, before the server-to-server QUERY that alone decides."""
    if not authentic:
        return Rejection("bad-checksum", "the checksum matches none of the current secrets")
    if sent_at is None:
        return Rejection("bad-timestamp", "the timestamp is missing or unreadable")
    if abs(now - sent_at) > tolerance:
        return Rejection("stale", f"the message is {abs(now - sent_at)} away from now (tolerance {tolerance})")
    if expected_amount is None:
        return Rejection("unknown-reference", "no payment attempt has this reference")
    if message.get("currency") != "VND":
        return Rejection("wrong-currency", f"currency {message.get('currency')!r}, expected VND")
    if message.get("amount") != expected_amount:
        return Rejection("wrong-amount", f"amount {message.get('amount')!r}, expected {expected_amount}")
    return None


# --- refunds ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class DossierOutcome:
    withdrawn_before_processing: bool = False
    refused: bool = False


def refundable_amount(lines: Iterable[dict[str, Any]], outcome: DossierOutcome, already_refunded: int) -> int:
    """What the rules return: each fee line says when it is refundable (DOMAIN: registration fees
    are not refunded on refusal; withdrawal before processing is)."""
    reasons = {reason for reason, applies in (("withdrawal", outcome.withdrawn_before_processing),
                                              ("refusal", outcome.refused)) if applies}
    due = sum(line["amount"] for line in lines if reasons & set(line.get("refundable_on", ["withdrawal"])))
    return max(0, due - already_refunded)


# --- receipts ---------------------------------------------------------------------------------------
def receipt_groups(lines: Iterable[dict[str, Any]]) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """One receipt per collecting agency and kind: fees (phí) and charges (lệ phí) are receipted apart."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for line in lines:
        if line["amount"] > 0:
            groups.setdefault((line["collecting_agency"], line["kind"]), []).append(line)
    return groups


def receipt_number(year: int, sequence: int) -> str:
    return f"{sequence:07d}/{year}"
