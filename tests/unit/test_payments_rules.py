"""Payments' pure rules and the fee assessment they bill: properties over generated schedules
(amounts stay non-negative VND integers, caps and exemptions hold, tiers never decrease, an
online discount never raises the price), the attempt state machine, confirmation checks, refund
rules, receipt grouping, and the platform protocol's checksums."""
from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.intake.catalogue import Exemption, FeeSchedule, Tier
from services.intake.domain.fees import assess_line
from services.payments.adapters.platform import checksum, sign, verify
from services.payments.domain import (ATTEMPT_TRANSITIONS, AttemptState, DossierOutcome, IllegalTransition,
                                      check_confirmation, next_attempt_state, receipt_groups, refundable_amount, total)
from shared.calendar import VIETNAM_TZ

AGENCY = "000.17.22.H56"
money = st.integers(min_value=0, max_value=50_000_000)


@st.composite
def schedules(draw) -> FeeSchedule:
    tiered = draw(st.booleans())
    tiers = []
    if tiered:
        bounds = sorted(draw(st.lists(st.integers(1, 500), min_size=0, max_size=3, unique=True)))
        tiers = [Tier(up_to=b, amount=draw(money)) for b in bounds] + [Tier(up_to=None, amount=draw(money))]
    return FeeSchedule(
        code="phi", name="Phí", kind=draw(st.sampled_from(["phi", "le_phi"])), collecting_agency=AGENCY,
        amount=None if tiered else draw(money), unit_field="units" if tiered else None, tiers=tiers,
        maximum=draw(st.none() | money), online_discount_percent=draw(st.integers(0, 100)),
        online_amount=None if tiered else draw(st.none() | money),
        exemptions=[Exemption(group="student", name="Học sinh", amount=draw(money))])


@given(schedules(), st.integers(0, 2_000), st.booleans(), st.sampled_from([None, "student", "other"]))
def test_assessment_is_a_non_negative_integer_within_its_cap_and_exemption(schedule, units, online, group):
    amount = assess_line(schedule, {"units": units}, online=online, exemption_group=group)
    assert isinstance(amount, int) and amount >= 0
    if schedule.maximum is not None:
        assert amount <= schedule.maximum
    if group == "student":
        assert amount <= schedule.exemptions[0].amount
    if online and schedule.online_amount is None:
        assert amount <= assess_line(schedule, {"units": units}, online=False, exemption_group=group)


@given(schedules(), st.integers(0, 1_000), st.integers(0, 1_000))
def test_more_units_never_cost_less(schedule, a, b):
    low, high = sorted((a, b))
    assert assess_line(schedule, {"units": low}, online=False, exemption_group=None) <= \
        assess_line(schedule, {"units": high}, online=False, exemption_group=None)


def test_totals_refuse_anything_but_vnd_integers():
    assert total([{"code": "a", "amount": 300_000}, {"code": "b", "amount": 100_000}]) == 400_000
    for bad in (1.5, -1, True, "100"):
        with pytest.raises(ValueError):
            total([{"code": "x", "amount": bad}])


def test_the_attempt_state_machine():
    assert next_attempt_state("created", "initiated") == AttemptState.PENDING
    assert next_attempt_state("pending", "paid") == AttemptState.SUCCEEDED
    for state, event in (("succeeded", "failed"), ("failed", "paid"), ("refunded", "paid"), ("expired", "paid")):
        with pytest.raises(IllegalTransition):
            next_attempt_state(state, event)
    # Nothing leaves a final state except a refund of a success.
    finals = {AttemptState.FAILED, AttemptState.EXPIRED, AttemptState.REFUNDED}
    assert not [key for key in ATTEMPT_TRANSITIONS if key[0] in finals]


def test_confirmation_checks_in_order():
    now = datetime(2026, 11, 23, 10, 0, tzinfo=VIETNAM_TZ)
    good = {"amount": 400_000, "currency": "VND"}
    tolerance = timedelta(minutes=15)

    def code(message=good, authentic=True, sent=now, expected=400_000):
        found = check_confirmation(message, authentic=authentic, sent_at=sent, now=now, tolerance=tolerance,
                                   expected_amount=expected)
        return found.code if found else None
    assert code() is None
    assert code(authentic=False) == "bad-checksum"
    assert code(sent=None) == "bad-timestamp"
    assert code(sent=now - timedelta(minutes=16)) == "stale"
    assert code(sent=now + timedelta(minutes=16)) == "stale"
    assert code(expected=None) == "unknown-reference"
    assert code({**good, "currency": "USD"}) == "wrong-currency"
    assert code({**good, "amount": 399_999}) == "wrong-amount"
    assert code({**good, "amount": "400000"}) == "wrong-amount"


def test_refund_rules():
    lines = [{"amount": 300_000}, {"amount": 100_000, "refundable_on": ["withdrawal", "refusal"]},
             {"amount": 50_000, "refundable_on": []}]
    assert refundable_amount(lines, DossierOutcome(withdrawn_before_processing=True), 0) == 400_000
    assert refundable_amount(lines, DossierOutcome(refused=True), 0) == 100_000
    assert refundable_amount(lines, DossierOutcome(), 0) == 0
    assert refundable_amount(lines, DossierOutcome(withdrawn_before_processing=True), 400_000) == 0


def test_receipts_are_grouped_by_agency_and_kind_and_skip_free_lines():
    lines = [{"collecting_agency": "A", "kind": "phi", "amount": 1}, {"collecting_agency": "A", "kind": "le_phi", "amount": 2},
             {"collecting_agency": "A", "kind": "phi", "amount": 3}, {"collecting_agency": "B", "kind": "phi", "amount": 0}]
    groups = receipt_groups(lines)
    assert {k: [line["amount"] for line in v] for k, v in groups.items()} == {("A", "phi"): [1, 3], ("A", "le_phi"): [2]}


def test_protocol_checksums_cover_the_fields_and_rotate():
    message = sign("QUERY", {"message_type": "QUERY", "merchant_code": "M", "reference": "R", "timestamp": "20261123100000"},
                   "new")
    assert verify("QUERY", message, ["new"]) and verify("QUERY", message, ["old", "new"])
    assert not verify("QUERY", message, ["old"])
    assert not verify("QUERY", {**message, "reference": "R2"}, ["new"])
    assert checksum("QUERY", message, "new") == message["checksum"] and len(message["checksum"]) == 64
