"""Payments' use cases.

From events: remember what a dossier owes (dossier.accepted), open a bill when the procedure says
(at acceptance, or on an approved decision for procedures that collect on result), note when
processing starts, is decided or is withdrawn (refund rules), cancel an unpaid bill on withdrawal.

Talking to the payment platform never happens inside a database transaction. Each gateway call
is bracketed: a transaction records the attempt with an in-flight marker, the call runs, a second
transaction records the answer. A crash between them leaves the marker: the reconciler QUERYs
the platform and settles the attempt, so nothing is lost and nothing is charged twice (a bill
has at most one live attempt, and INIT is idempotent by reference).

Nothing the payer's browser or an inbound confirmation says is trusted on its own: an attempt
succeeds only when a server-to-server QUERY says so, with the right amount."""
from __future__ import annotations

import base64
import hashlib
import hmac
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, ClassVar

from sqlalchemy import and_, or_, select, update

from services.payments.adapters.platform import (FAILED, PAID, PENDING, REFUNDED, PaymentPlatform,
                                                 PlatformError, PlatformUnavailable, Status, parse_timestamp,
                                                 timestamp, verify)
from services.payments.domain import (LIVE_ATTEMPT_STATES, UNSETTLED_ATTEMPT_STATES, AttemptState, BillState,
                                      DossierOutcome, IllegalTransition, check_confirmation, next_attempt_state,
                                      receipt_groups, receipt_number, refundable_amount, total)
from services.payments.models import (attempts, bills, dossier_facts, gateway_messages, receipt_sequences, receipts,
                                      reconciliation_reports, refunds)
from services.payments.settings import PaymentsSettings
from shared.auth import Actor
from shared.calendar import VIETNAM_TZ
from shared.db import insert_if_absent
from shared.events.catalogue import (DossierAccepted, DossierDecided, FeeLine, PaymentExpired,
                                     PaymentFailed, PaymentRefunded, PaymentRequested, PaymentSucceeded)
from shared.context import ServiceContext
from shared.events.emit import Emitter
from shared.events.envelope import Envelope
from shared.idempotency import Created
from shared.observability import get_logger
from shared.problems import ProblemError
from shared.uow import UnitOfWork

log = get_logger(__name__)
UowFactory = Callable[[], UnitOfWork]


@dataclass
class Payments(ServiceContext):
    """What payments' handlers are wired with (see bootstrap.py)."""
    settings: PaymentsSettings
    platform: PaymentPlatform | None

    event: ClassVar[Emitter] = Emitter("payments")

    def link_signature(self, bill_id: str) -> str:
        return hmac.new(self.settings.pay_link_secret.get_secret_value().encode(),
                        bill_id.encode("utf-8", "replace"), hashlib.sha256).hexdigest()[:32]

    def pay_link(self, bill_id: str) -> str:
        """The citizen's link (SMS, e-mail, receipt): opens the platform's page without any login."""
        return self.url(f"/v1/bills/{bill_id}/pay?sig={self.link_signature(bill_id)}")

    def require_platform(self) -> PaymentPlatform:
        if self.platform is None:
            raise ProblemError(503, "payment-platform-not-configured", "Online payment is not available here",
                               "PAYMENT_PLATFORM_URL is not set.",
                               detail_vi="Chưa kết nối nền tảng thanh toán trực tuyến; vui lòng nộp tại bộ phận một cửa.")
        return self.platform


def _problem(status: int, slug: str, title: str, detail_vi: str, **extra: Any) -> ProblemError:
    return ProblemError(status, slug, title, detail_vi=detail_vi, errors=[extra] if extra else None)


async def _audit(uow: UnitOfWork, at: datetime, direction: str, kind: str, reference: str | None,
                 payload: dict[str, Any], verdict: str | None = None) -> None:
    await uow.conn.execute(gateway_messages.insert(), dict(at=at, direction=direction, kind=kind, reference=reference,
                                                           payload=payload, verdict=verdict))


async def load_bill(uow: UnitOfWork, bill_id: str):
    row = (await uow.conn.execute(select(bills).where(bills.c.id == bill_id))).first()
    if row is None:
        raise _problem(404, "bill-not-found", "No such bill", "Không tìm thấy khoản phải nộp.")
    return row


# --- from events --------------------------------------------------------------------------------------
async def on_dossier_accepted(ctx: Payments, uow: UnitOfWork, envelope: Envelope, data: DossierAccepted) -> None:
    lines = [line.model_dump() for line in data.fee_lines]
    await insert_if_absent(uow.conn, dossier_facts, dict(
        dossier_id=data.dossier_id, dossier_code=data.dossier_code, procedure_code=data.procedure_code,
        payment_timing=data.payment_timing, fee_lines=lines, accepted_at=data.accepted_at))
    if data.payment_timing in ("at_acceptance", "before_processing"):
        await _open_bill(ctx, uow, data.dossier_id, data.dossier_code, "acceptance", lines, data.accepted_at, envelope)


async def on_dossier_decided(ctx: Payments, uow: UnitOfWork, envelope: Envelope, data: DossierDecided) -> None:
    await uow.conn.execute(update(dossier_facts).where(dossier_facts.c.dossier_id == data.dossier_id,
                                                       dossier_facts.c.decided_at.is_(None))
                           .values(decided_at=data.decided_at, outcome=data.outcome))
    facts = (await uow.conn.execute(select(dossier_facts).where(dossier_facts.c.dossier_id == data.dossier_id))).first()
    if facts is not None and facts.payment_timing == "on_result" and data.outcome == "approved":
        await _open_bill(ctx, uow, data.dossier_id, facts.dossier_code, "result", facts.fee_lines, data.decided_at, envelope)


async def on_processing_started(uow: UnitOfWork, dossier_id: str, started_at: datetime) -> None:
    await uow.conn.execute(update(dossier_facts).where(dossier_facts.c.dossier_id == dossier_id,
                                                       dossier_facts.c.processing_started_at.is_(None))
                           .values(processing_started_at=started_at))


async def on_dossier_withdrawn(ctx: Payments, uow: UnitOfWork, dossier_id: str, withdrawn_at: datetime) -> None:
    await uow.conn.execute(update(dossier_facts).where(dossier_facts.c.dossier_id == dossier_id,
                                                       dossier_facts.c.withdrawn_at.is_(None))
                           .values(withdrawn_at=withdrawn_at))
    # An unpaid bill with no payment under way is cancelled; one being paid is left to settle (then refunded).
    open_bills = (await uow.conn.execute(select(bills.c.id).where(bills.c.dossier_id == dossier_id,
                                                                  bills.c.state == BillState.OPEN.value))).scalars().all()
    for bill_id in open_bills:
        live = (await uow.conn.execute(select(attempts.c.id).where(
            attempts.c.bill_id == bill_id, attempts.c.state.in_(LIVE_ATTEMPT_STATES)))).first()
        if live is None:
            await uow.conn.execute(update(bills).where(bills.c.id == bill_id, bills.c.state == BillState.OPEN.value)
                                   .values(state=BillState.CANCELLED.value, closed_at=withdrawn_at,
                                           version=bills.c.version + 1))


async def _open_bill(ctx: Payments, uow: UnitOfWork, dossier_id: str, dossier_code: str, stage: str,
                     fee_lines: list[dict[str, Any]], at: datetime, causation: Envelope) -> None:
    lines = [line for line in fee_lines if line["amount"] > 0]
    amount = total(lines)
    if amount == 0:
        return   # nothing to pay: no bill, nothing held
    bill_id = str(uuid.uuid4())
    expires = at + timedelta(hours=ctx.settings.bill_expiry_hours)
    inserted = await insert_if_absent(uow.conn, bills, dict(
        id=bill_id, dossier_id=dossier_id, dossier_code=dossier_code, stage=stage, lines=lines, amount=amount,
        state=BillState.OPEN.value, version=1, created_at=at, expires_at=expires, refunded_amount=0))
    if inserted:
        uow.publish(ctx.event(PaymentRequested(
            dossier_id=dossier_id, bill_id=bill_id, amount=amount, lines=[FeeLine(**line) for line in lines],
            pay_url=ctx.pay_link(bill_id), expires_at=expires), causation))


# --- starting a payment -------------------------------------------------------------------------------
def attempt_view(row) -> dict[str, Any]:
    return {"id": row.id, "bill_id": row.bill_id, "reference": row.reference, "amount": row.amount, "currency": "VND",
            "state": row.state, "payment_url": row.payment_url, "transaction_id": row.transaction_id,
            "created_at": row.created_at.isoformat(), "settled_at": row.settled_at.isoformat() if row.settled_at else None,
            "failure_reason": row.failure_reason}


def _reference(dossier_code: str, now: datetime) -> str:
    """DOMAIN: reference = dossier code + timestamp (milliseconds, so retries after a failure differ)."""
    return f"{dossier_code}-{timestamp(now)}{now.microsecond // 1000:03d}"


async def _live_attempt(uow: UnitOfWork, bill_id: str):
    return (await uow.conn.execute(select(attempts).where(attempts.c.bill_id == bill_id,
                                                          attempts.c.state.in_(LIVE_ATTEMPT_STATES)))).first()


async def start_payment(ctx: Payments, uow_factory: UowFactory, bill_id: str) -> Created:
    """Create (or find) the bill's one live attempt and get its payment URL from the platform."""
    platform = ctx.require_platform()
    now = ctx.now()
    async with uow_factory() as uow:
        bill = await load_bill(uow, bill_id)
        _check_payable(bill, now)
        live = await _live_attempt(uow, bill_id)
        if live is None:
            attempt_id = str(uuid.uuid4())
            inserted = await insert_if_absent(uow.conn, attempts, dict(
                id=attempt_id, bill_id=bill_id, reference=_reference(bill.dossier_code, now), amount=bill.amount,
                state=AttemptState.CREATED.value, version=1, in_flight="init", in_flight_since=now,
                created_at=now, updated_at=now))
            await uow.commit()
            if not inserted:   # a concurrent request created the bill's live attempt first
                async with uow_factory() as again:
                    live = await _live_attempt(again, bill_id)
        else:
            attempt_id = live.id
    if live is not None:
        if live.state == AttemptState.SUCCEEDED:
            raise _problem(409, "bill-already-paid", "This bill is already paid", "Khoản này đã được thanh toán.",
                           attempt=attempt_view(live))
        if live.payment_url or live.in_flight is None or now - live.in_flight_since < timedelta(
                seconds=ctx.settings.payment_platform_timeout_s * 4):
            return Created(200, attempt_view(live), f"/v1/payments/attempts/{live.id}")
        attempt_id = live.id   # an INIT whose answer was lost long ago: ask again (same reference, same transaction)
    async with uow_factory() as uow:
        attempt = (await uow.conn.execute(select(attempts).where(attempts.c.id == attempt_id))).first()
    try:
        initiated = await platform.init(
            reference=attempt.reference, amount=attempt.amount, description=f"Nộp phí, lệ phí hồ sơ {bill.dossier_code}",
            fee_lines=[{"code": line["code"], "name": line["name"], "kind": line["kind"], "amount": line["amount"],
                        "collecting_agency": line["collecting_agency"]} for line in bill.lines],
            return_url=ctx.url("/v1/payments/return"), notify_url=ctx.url("/v1/payments/callbacks/platform"), now=now)
    except PlatformUnavailable as exc:
        log.warning("platform_init_unanswered", attempt=attempt.id, error=str(exc))
        return Created(202, {**attempt_view(attempt), "detail": "The payment platform did not answer yet; the payment "
                             "is kept and settled automatically. Try again in a moment.",
                             "detail_vi": "Nền tảng thanh toán chưa phản hồi; giao dịch được lưu và sẽ được đối soát tự động."},
                       f"/v1/payments/attempts/{attempt.id}")
    except PlatformError as exc:
        async with uow_factory() as uow:
            await _audit(uow, ctx.now(), "in", "INIT_RESPONSE", attempt.reference, {"error": str(exc), "code": exc.code})
            await _transition(ctx, uow, attempt, "failed", failure_reason=f"INIT refused: {exc}")
            await uow.commit()
        raise _problem(502, "payment-platform-refused", "The payment platform refused the payment",
                       "Nền tảng thanh toán từ chối giao dịch; vui lòng thử lại sau.", reason=str(exc)) from None
    async with uow_factory() as uow:
        await _audit(uow, ctx.now(), "in", "INIT_RESPONSE", attempt.reference, initiated.raw)
        result = await uow.conn.execute(update(attempts).where(
            attempts.c.id == attempt.id, attempts.c.state == AttemptState.CREATED.value).values(
            state=AttemptState.PENDING.value, transaction_id=initiated.transaction_id,
            payment_url=initiated.payment_url, in_flight=None, in_flight_since=None, updated_at=ctx.now(),
            version=attempts.c.version + 1))
        if result.rowcount != 1:   # the reconciler settled it meanwhile: keep what it found, add the URL
            await uow.conn.execute(update(attempts).where(attempts.c.id == attempt.id, attempts.c.payment_url.is_(None))
                                   .values(payment_url=initiated.payment_url, in_flight=None))
        await uow.commit()
    async with uow_factory() as uow:
        fresh = (await uow.conn.execute(select(attempts).where(attempts.c.id == attempt.id))).first()
    return Created(201, attempt_view(fresh), f"/v1/payments/attempts/{attempt.id}")


def _check_payable(bill, now: datetime) -> None:
    if bill.state == BillState.PAID or bill.state == BillState.REFUNDED:
        raise _problem(409, "bill-already-paid", "This bill is already paid", "Khoản này đã được thanh toán.")
    if bill.state == BillState.CANCELLED:
        raise _problem(409, "bill-cancelled", "This bill was cancelled (the dossier was withdrawn)",
                       "Khoản này đã hủy do hồ sơ đã được rút.")
    if bill.state == BillState.EXPIRED or bill.expires_at <= now:
        raise _problem(409, "bill-expired", "This bill has expired", "Khoản này đã hết hạn thanh toán.",
                       expires_at=bill.expires_at.isoformat())


async def _transition(ctx: Payments, uow: UnitOfWork, attempt, event: str, **changes: Any) -> bool:
    """Move an attempt along the state machine; False if another settlement got there first."""
    try:
        target = next_attempt_state(attempt.state, event)
    except IllegalTransition:
        return False
    now = ctx.now()
    result = await uow.conn.execute(update(attempts).where(attempts.c.id == attempt.id,
                                                           attempts.c.state == attempt.state).values(
        state=target.value, in_flight=None, in_flight_since=None, updated_at=now, version=attempts.c.version + 1,
        settled_at=now if target in (AttemptState.SUCCEEDED, AttemptState.FAILED, AttemptState.EXPIRED) else None,
        **changes))
    if result.rowcount != 1:
        return False
    bill = await load_bill(uow, attempt.bill_id)
    if target == AttemptState.SUCCEEDED:
        await _record_success(ctx, uow, bill, attempt, now)
    elif target == AttemptState.FAILED:
        uow.publish(ctx.event(PaymentFailed(dossier_id=bill.dossier_id, bill_id=bill.id,
                                            reason=changes.get("failure_reason") or "failed", failed_at=now,
                                            pay_url=ctx.pay_link(bill.id))))
    return True


async def _record_success(ctx: Payments, uow: UnitOfWork, bill, attempt, now: datetime) -> None:
    # A payment that lands after expiry or withdrawal is still money received: record it (refund rules apply).
    await uow.conn.execute(update(bills).where(bills.c.id == bill.id).values(
        state=BillState.PAID.value, paid_at=now, method="online", closed_at=now, version=bills.c.version + 1))
    await _issue_receipts(uow, bill, attempt.transaction_id, "online", now)
    uow.publish(ctx.event(PaymentSucceeded(dossier_id=bill.dossier_id, bill_id=bill.id, amount=bill.amount,
                                           method="online", paid_at=now)))


async def _issue_receipts(uow: UnitOfWork, bill, transaction_id: str | None, method: str, now: datetime) -> None:
    """E-receipts: one per collecting agency and kind, numbered in the agency's series for the year.
    The sequence row is locked until commit: numbers are gapless and never reused (payments are few)."""
    year = now.astimezone(VIETNAM_TZ).year   # the series follows the Vietnamese calendar year
    for (agency, kind), lines in sorted(receipt_groups(bill.lines).items()):
        await insert_if_absent(uow.conn, receipt_sequences, {"agency": agency, "year": year, "last": 0})
        await uow.conn.execute(update(receipt_sequences).where(receipt_sequences.c.agency == agency,
                                                               receipt_sequences.c.year == year)
                               .values(last=receipt_sequences.c.last + 1))
        sequence = (await uow.conn.execute(select(receipt_sequences.c.last).where(
            receipt_sequences.c.agency == agency, receipt_sequences.c.year == year))).scalar_one()
        await uow.conn.execute(receipts.insert(), dict(
            id=str(uuid.uuid4()), bill_id=bill.id, dossier_id=bill.dossier_id, dossier_code=bill.dossier_code,
            agency=agency, kind=kind, year=year, sequence=sequence, number=receipt_number(year, sequence),
            amount=total(lines), lines=lines, method=method, transaction_id=transaction_id, issued_at=now))


# --- settling: from a confirmation, the return page, or the reconciler ----------------------------------
async def settle(ctx: Payments, uow_factory: UowFactory, reference: str, source: str) -> dict[str, Any]:
    """Ask the platform (server to server) how the attempt stands, and record what it says.
    Returns what was found, for reports: {"reference", "local", "platform", "action"}."""
    platform = ctx.require_platform()
    async with uow_factory() as uow:
        attempt = (await uow.conn.execute(select(attempts).where(attempts.c.reference == reference))).first()
    if attempt is None:
        return {"reference": reference, "local": None, "platform": None, "action": "unknown-reference"}
    status = await platform.query(reference, ctx.now())
    async with uow_factory() as uow:
        await _audit(uow, ctx.now(), "in", "QUERY_RESPONSE", reference, status.raw, verdict=source)
        attempt = (await uow.conn.execute(select(attempts).where(attempts.c.id == attempt.id))).first()
        action = await _apply_status(ctx, uow, attempt, status)
        await uow.commit()
    return {"reference": reference, "local": attempt.state, "platform": status.code, "amount": attempt.amount,
            "platform_amount": status.amount, "action": action}


async def _apply_status(ctx: Payments, uow: UnitOfWork, attempt, status: Status) -> str:
    if status.code in (PAID, REFUNDED):
        if status.amount != attempt.amount or status.currency != "VND":
            log.error("platform_amount_mismatch", reference=attempt.reference, expected=attempt.amount,
                      platform=status.amount)
            return "flagged:amount-mismatch"   # never advance a dossier on an amount we did not ask for
        if attempt.state in UNSETTLED_ATTEMPT_STATES:
            done = await _transition(ctx, uow, attempt, "paid", transaction_id=status.transaction_id or attempt.transaction_id)
            return "settled:succeeded" if done else "unchanged"
        if attempt.state != AttemptState.SUCCEEDED and attempt.state != AttemptState.REFUNDED:
            return f"flagged:paid-but-{attempt.state}"
        return "unchanged"
    if status.code == FAILED:
        if attempt.state in UNSETTLED_ATTEMPT_STATES:
            done = await _transition(ctx, uow, attempt, "failed", failure_reason="the payer did not complete the payment")
            return "settled:failed" if done else "unchanged"
        if attempt.state == AttemptState.SUCCEEDED:
            return "flagged:succeeded-but-failed-at-platform"
        return "unchanged"
    if status.code == PENDING:
        if attempt.state == AttemptState.CREATED:   # INIT reached the platform; its answer did not reach us
            url = status.raw.get("payment_url")
            await uow.conn.execute(update(attempts).where(attempts.c.id == attempt.id,
                                                          attempts.c.state == AttemptState.CREATED.value).values(
                state=AttemptState.PENDING.value, transaction_id=status.transaction_id, payment_url=url,
                in_flight=None, in_flight_since=None, updated_at=ctx.now(), version=attempts.c.version + 1))
            return "settled:pending"
        if attempt.state == AttemptState.SUCCEEDED:
            return "flagged:succeeded-but-pending-at-platform"
        return "unchanged"
    # NOT_FOUND: INIT never reached the platform; once it cannot still be on its way, it failed.
    age = ctx.now() - attempt.created_at
    if attempt.state == AttemptState.CREATED and age > timedelta(seconds=ctx.settings.unknown_attempt_grace_s):
        done = await _transition(ctx, uow, attempt, "failed", failure_reason="the payment platform never received it")
        return "settled:failed" if done else "unchanged"
    if attempt.state == AttemptState.SUCCEEDED:
        return "flagged:succeeded-but-unknown-at-platform"
    return "unchanged"


async def handle_confirmation(ctx: Payments, uow_factory: UowFactory, message: dict[str, Any]) -> tuple[int, dict]:
    """The platform's inbound CONFIRM. Kept whatever it says (audit); checked (checksum under any
    current secret, timestamp tolerance, reference, amount and currency); then, and only then,
    the platform is QUERYed and its answer settles the attempt. Duplicates and late arrivals
    find the attempt settled and change nothing."""
    now = ctx.now()
    reference = message.get("reference") if isinstance(message.get("reference"), str) else None
    try:
        sent_at = parse_timestamp(str(message.get("timestamp")))
    except ValueError:
        sent_at = None
    async with uow_factory() as uow:
        attempt = (await uow.conn.execute(select(attempts).where(attempts.c.reference == reference))).first() \
            if reference else None
        rejection = check_confirmation(message, authentic=verify("CONFIRM", message, ctx.settings.platform_secrets),
                                       sent_at=sent_at, now=now, tolerance=timedelta(seconds=ctx.settings.callback_tolerance_s),
                                       expected_amount=attempt.amount if attempt else None)
        await _audit(uow, now, "in", "CONFIRM", reference, message,
                     verdict=f"rejected:{rejection.code}" if rejection else "checked")
        await uow.commit()
    if rejection:
        log.warning("confirmation_rejected", reference=reference, code=rejection.code, reason=rejection.reason)
        return 400, {"error_code": "97", "message": rejection.reason}
    try:
        await settle(ctx, uow_factory, reference, "confirmation")
    except (PlatformUnavailable, PlatformError) as exc:
        log.warning("confirmation_query_failed", reference=reference, error=str(exc))
        return 503, {"error_code": "99", "message": "could not confirm with the platform; send again later"}
    return 200, {"error_code": "00", "message": "received"}


# --- sweeps: reconciliation and expiry -------------------------------------------------------------------
async def reconcile(ctx: Payments, uow_factory: UowFactory, kind: str) -> dict[str, Any]:
    """early: attempts unsettled for 15-30 minutes; daily: every unsettled attempt, and yesterday's
    successes checked against the platform; manual: like daily. Each is settled from the
    platform's answer; what cannot be settled is reported as a difference."""
    now = ctx.now()
    min_age = timedelta(seconds=ctx.settings.reconcile_early_min_age_s)
    query = select(attempts.c.reference).where(attempts.c.state.in_(UNSETTLED_ATTEMPT_STATES),
                                               attempts.c.created_at <= now - min_age)
    if kind == "early":
        query = query.where(attempts.c.created_at >= now - timedelta(seconds=ctx.settings.reconcile_early_max_age_s))
    else:
        query = select(attempts.c.reference).where(or_(
            and_(attempts.c.state.in_(UNSETTLED_ATTEMPT_STATES), attempts.c.created_at <= now - min_age),
            and_(attempts.c.state == AttemptState.SUCCEEDED.value, attempts.c.settled_at >= now - timedelta(days=1))))
    async with uow_factory() as uow:
        references = (await uow.conn.execute(query.order_by(attempts.c.created_at).limit(5000))).scalars().all()
    findings, differences = [], []
    for reference in references:
        try:
            finding = await settle(ctx, uow_factory, reference, f"reconcile:{kind}")
        except (PlatformUnavailable, PlatformError) as exc:
            finding = {"reference": reference, "action": f"flagged:platform-error:{type(exc).__name__}"}
        findings.append(finding)
        if finding["action"] != "unchanged":
            differences.append(finding)
    differences += await _retry_refunds(ctx, uow_factory)
    report = dict(id=str(uuid.uuid4()), kind=kind, started_at=now, finished_at=ctx.now(), checked=len(findings),
                  settled=sum(1 for f in findings if f["action"].startswith("settled")), differences=differences)
    async with uow_factory() as uow:
        await uow.conn.execute(reconciliation_reports.insert(), report)
        await uow.commit()
    return report_view(report)


def report_view(row) -> dict[str, Any]:
    get = row.get if isinstance(row, dict) else lambda k: getattr(row, k)
    return {"id": get("id"), "kind": get("kind"), "started_at": get("started_at").isoformat(),
            "finished_at": get("finished_at").isoformat() if get("finished_at") else None,
            "checked": get("checked"), "settled": get("settled"), "differences": get("differences")}


async def expire_bills(ctx: Payments, uow_factory: UowFactory) -> int:
    """Open bills past their expiry: settle any attempt under way first (the payer may have paid),
    then expire what is still unpaid."""
    now = ctx.now()
    async with uow_factory() as uow:
        due = (await uow.conn.execute(select(bills.c.id).where(bills.c.state == BillState.OPEN.value,
                                                               bills.c.expires_at <= now).limit(500))).scalars().all()
    expired = 0
    for bill_id in due:
        async with uow_factory() as uow:
            live = await _live_attempt(uow, bill_id)
        if live is not None and live.state in UNSETTLED_ATTEMPT_STATES and ctx.platform is not None:
            try:
                await settle(ctx, uow_factory, live.reference, "expiry")
            except (PlatformUnavailable, PlatformError):
                continue   # unknown outcome: never expire a bill that may have been paid
        async with uow_factory() as uow:
            live = await _live_attempt(uow, bill_id)
            if live is not None and live.state == AttemptState.SUCCEEDED:
                continue
            if live is not None and live.state == AttemptState.CREATED and live.in_flight:
                continue   # an INIT is still unanswered: the reconciler settles it first
            if live is not None:
                await _transition(ctx, uow, live, "expired")
            result = await uow.conn.execute(update(bills).where(bills.c.id == bill_id, bills.c.state == BillState.OPEN.value)
                                            .values(state=BillState.EXPIRED.value, closed_at=now, version=bills.c.version + 1))
            if result.rowcount == 1:
                bill = await load_bill(uow, bill_id)
                uow.publish(ctx.event(PaymentExpired(dossier_id=bill.dossier_id, bill_id=bill_id, expired_at=now)))
                expired += 1
            await uow.commit()
    return expired


# --- refunds -----------------------------------------------------------------------------------------------
async def refund_facts(uow: UnitOfWork, bill) -> tuple[int, DossierOutcome]:
    facts = (await uow.conn.execute(select(dossier_facts).where(dossier_facts.c.dossier_id == bill.dossier_id))).first()
    outcome = DossierOutcome(
        withdrawn_before_processing=bool(facts and facts.withdrawn_at and (
            facts.processing_started_at is None or facts.withdrawn_at <= facts.processing_started_at)),
        refused=bool(facts and facts.outcome == "refused"))
    if bill.state not in (BillState.PAID, BillState.REFUNDED):
        return 0, outcome
    return refundable_amount(bill.lines, outcome, bill.refunded_amount), outcome


async def request_refund(ctx: Payments, uow_factory: UowFactory, actor: Actor, bill_id: str, amount_seen: int,
                         reason: str) -> Created:
    platform = ctx.require_platform()
    now = ctx.now()
    async with uow_factory() as uow:
        bill = await load_bill(uow, bill_id)
        due, _ = await refund_facts(uow, bill)
        if due == 0:
            raise _problem(409, "nothing-refundable", "Nothing on this bill is refundable now",
                           "Khoản đã nộp không thuộc trường hợp được hoàn trả.", refundable_amount=0)
        if amount_seen != due:
            raise _problem(409, "refundable-amount-changed", "The refundable amount is not what you saw",
                           "Số tiền được hoàn đã thay đổi; vui lòng tải lại và kiểm tra.", refundable_amount=due,
                           amount_seen=amount_seen)
        unfinished = (await uow.conn.execute(select(refunds.c.id).where(refunds.c.bill_id == bill_id,
                                                                        refunds.c.state == "requested"))).first()
        if unfinished:
            raise _problem(409, "refund-in-progress", "A refund of this bill is under way",
                           "Đang hoàn trả khoản này.", refund_id=unfinished.id)
        attempt = (await uow.conn.execute(select(attempts).where(attempts.c.bill_id == bill_id,
                                                                 attempts.c.state == AttemptState.SUCCEEDED.value))).first()
        if attempt is None:
            raise _problem(409, "not-paid-online", "This bill was not paid online; refund it at the desk",
                           "Khoản này không nộp trực tuyến; hoàn trả tại bộ phận một cửa.")
        refund_id = str(uuid.uuid4())
        await uow.conn.execute(refunds.insert(), dict(
            id=refund_id, bill_id=bill_id, attempt_id=attempt.id, amount=due, reason=reason, state="requested",
            in_flight="refund", requested_by=actor.label, created_at=now))
        await uow.commit()
    refund = await _send_refund(ctx, uow_factory, platform, refund_id)
    return Created(201 if refund["state"] == "succeeded" else 202, refund, f"/v1/bills/{bill_id}/refunds/{refund_id}")


async def _send_refund(ctx: Payments, uow_factory: UowFactory, platform: PaymentPlatform, refund_id: str) -> dict[str, Any]:
    async with uow_factory() as uow:
        refund = (await uow.conn.execute(select(refunds).where(refunds.c.id == refund_id))).first()
        attempt = (await uow.conn.execute(select(attempts).where(attempts.c.id == refund.attempt_id))).first()
    try:
        answer = await platform.refund(reference=attempt.reference, refund_reference=refund.id, amount=refund.amount,
                                       now=ctx.now())
    except PlatformUnavailable:
        return refund_view(refund)   # still requested, in flight: the reconciler sends it again (same reference)
    except PlatformError as exc:
        async with uow_factory() as uow:
            await uow.conn.execute(update(refunds).where(refunds.c.id == refund_id, refunds.c.state == "requested")
                                   .values(state="failed", in_flight=None, failure_reason=str(exc), settled_at=ctx.now()))
            await uow.commit()
            refund = (await uow.conn.execute(select(refunds).where(refunds.c.id == refund_id))).first()
        return refund_view(refund)
    async with uow_factory() as uow:
        now = ctx.now()
        await _audit(uow, now, "in", "REFUND_RESPONSE", attempt.reference, answer)
        result = await uow.conn.execute(update(refunds).where(refunds.c.id == refund_id, refunds.c.state == "requested")
                                        .values(state="succeeded", in_flight=None, settled_at=now))
        if result.rowcount == 1:
            bill = await load_bill(uow, refund.bill_id)
            refunded = bill.refunded_amount + refund.amount
            await uow.conn.execute(update(bills).where(bills.c.id == bill.id).values(
                state=BillState.REFUNDED.value, refunded_amount=refunded, version=bills.c.version + 1))
            if refunded >= bill.amount:
                await _transition(ctx, uow, attempt, "refunded")
            uow.publish(ctx.event(PaymentRefunded(dossier_id=bill.dossier_id, bill_id=bill.id, amount=refund.amount,
                                                  reason=refund.reason, refunded_at=now)))
        await uow.commit()
        refund = (await uow.conn.execute(select(refunds).where(refunds.c.id == refund_id))).first()
    return refund_view(refund)


async def _retry_refunds(ctx: Payments, uow_factory: UowFactory) -> list[dict[str, Any]]:
    async with uow_factory() as uow:
        pending = (await uow.conn.execute(select(refunds.c.id).where(refunds.c.state == "requested"))).scalars().all()
    found = []
    for refund_id in pending:
        view = await _send_refund(ctx, uow_factory, ctx.require_platform(), refund_id)
        found.append({"refund": refund_id, "action": f"refund:{view['state']}"})
    return found


def refund_view(row) -> dict[str, Any]:
    return {"id": row.id, "bill_id": row.bill_id, "amount": row.amount, "currency": "VND", "reason": row.reason,
            "state": row.state, "requested_by": row.requested_by, "created_at": row.created_at.isoformat(),
            "settled_at": row.settled_at.isoformat() if row.settled_at else None, "failure_reason": row.failure_reason}


async def platform_receipt(ctx: Payments, bill_id: str, uow_factory: UowFactory) -> bytes:
    """The platform's own e-receipt (GET_BILL), for a payer who asks for it."""
    platform = ctx.require_platform()
    async with uow_factory() as uow:
        attempt = (await uow.conn.execute(select(attempts).where(
            attempts.c.bill_id == bill_id, attempts.c.state.in_((AttemptState.SUCCEEDED.value,
                                                                 AttemptState.REFUNDED.value))))).first()
    if attempt is None:
        raise _problem(404, "receipt-not-available", "No online payment of this bill", "Chưa có biên lai điện tử.")
    try:
        answer = await platform.get_bill(attempt.reference, ctx.now())
    except (PlatformUnavailable, PlatformError):
        raise _problem(503, "payment-platform-unavailable", "The payment platform cannot be reached",
                       "Chưa kết nối được nền tảng thanh toán; vui lòng thử lại sau.") from None
    return base64.b64decode(answer["receipt_pdf"])

