"""Payments against the running payment-platform simulator: bills from acceptance, the happy
path with receipts, failure then retry, duplicate and late confirmations, forged ones, a timeout
during INIT and a crash after the platform took the money (both settled by reconciliation, never
charged twice), many parallel pay calls, refunds, expiry."""
from __future__ import annotations

import asyncio
import io
import uuid
from datetime import UTC, datetime, timedelta

from pypdf import PdfReader
from sqlalchemy import func, select

from services.payments.adapters.platform import sign, timestamp
from services.payments.models import attempts, gateway_messages
from shared.calendar import VIETNAM_TZ
from shared.events.catalogue import DossierDecided, DossierProcessingStarted, DossierWithdrawn
from tests.integration.payments.conftest import COMMUNE, OLD_SECRET, POLICE, REGISTRATION_CHARGE, SECRET, \
    SECURITY_FEE


async def paid_bill(payments, **accept) -> tuple[str, dict, dict]:
    dossier_id = await payments.accept(**accept)
    bill = await payments.bill(dossier_id)
    started = await payments.start(bill["id"])
    assert started.status_code == 201, started.text
    await payments.payer(started.json()["payment_url"])
    await payments.settle()
    return dossier_id, bill, started.json()


async def test_a_bill_on_acceptance_none_when_nothing_is_due_and_on_result_only_when_approved(payments):
    dossier_id = await payments.accept()
    [requested] = await payments.events("payment.requested.v1", dossier_id)
    assert requested["amount"] == 400_000 and [line["amount"] for line in requested["lines"]] == [300_000, 100_000]
    assert requested["pay_url"].startswith(payments.settings.public_base_url + "/v1/bills/")
    bill = await payments.bill(dossier_id)
    assert bill["state"] == "open" and bill["amount"] == 400_000 and isinstance(bill["amount"], int)
    free = await payments.accept(lines=[SECURITY_FEE.model_copy(update={"amount": 0})])
    assert await payments.events("payment.requested.v1", free) == []
    assert (await payments.client.get("/v1/bills", params={"dossier_id": free}, headers=payments.officer())).json() == \
        {"items": []}
    on_result = await payments.accept(timing="on_result")
    assert await payments.events("payment.requested.v1", on_result) == []
    refused = await payments.accept(timing="on_result")
    for dossier, outcome in ((on_result, "approved"), (refused, "refused")):
        await payments.emit(DossierDecided(dossier_id=dossier, outcome=outcome, decided_by_agency=POLICE,
                                           decided_at=datetime.now(UTC), payment_timing="on_result"), "routing")
    await payments.settle()
    assert len(await payments.events("payment.requested.v1", on_result)) == 1
    assert await payments.events("payment.requested.v1", refused) == []


async def test_happy_path_confirmed_by_query_with_receipts_per_agency_and_kind(payments):
    dossier_id, bill, attempt = await paid_bill(payments)
    [succeeded] = await payments.events("payment.succeeded.v1", dossier_id)
    assert succeeded["amount"] == 400_000 and succeeded["method"] == "online"
    detail = (await payments.client.get(f"/v1/bills/{bill['id']}", headers=payments.officer())).json()
    assert detail["state"] == "paid" and [a["state"] for a in detail["attempts"]] == ["succeeded"]
    assert sorted((r["agency"], r["kind"], r["amount"]) for r in detail["receipts"]) == \
        [(POLICE, "phi", 300_000), (COMMUNE, "le_phi", 100_000)]
    assert all(r["number"] == f"0000001/{datetime.now(VIETNAM_TZ).year}" for r in detail["receipts"])  # a series each
    pdf = await payments.client.get(detail["receipts"][0]["url"], headers=payments.officer())
    text = PdfReader(io.BytesIO(pdf.content)).pages[0].extract_text()
    assert "BIÊN LAI THU TIỀN" in text and bill["dossier_code"] in text
    # The platform was asked before anything changed; every message is kept.
    kinds = [e["kind"] for e in await payments.sim_log() if e["direction"] == "in"]
    assert kinds.index("QUERY") > kinds.index("INIT")
    async with payments.kit.uow() as uow:
        audited = (await uow.conn.execute(select(gateway_messages.c.kind, gateway_messages.c.verdict))).all()
    assert ("CONFIRM", "checked") in audited and ("QUERY_RESPONSE", "confirmation") in audited
    again = await payments.start(bill["id"])
    assert again.status_code == 409 and again.json()["type"].endswith("bill-already-paid")
    shown = await payments.client.get("/v1/payments/return", params={"reference": attempt["reference"],
                                                                      "result": "fail"})   # the browser's word is ignored
    assert shown.json()["state"] == "succeeded"
    platform_receipt = await payments.client.get(f"/v1/bills/{bill['id']}/platform-receipt", headers=payments.officer())
    assert platform_receipt.status_code == 200 and platform_receipt.content.startswith(b"%PDF")


async def test_failure_then_retry_with_a_new_attempt(payments):
    dossier_id = await payments.accept()
    bill = await payments.bill(dossier_id)
    first = (await payments.start(bill["id"])).json()
    await payments.payer(first["payment_url"], "fail")
    await payments.settle()
    [failed] = await payments.events("payment.failed.v1", dossier_id)
    assert failed["bill_id"] == bill["id"]
    second = await payments.start(bill["id"])
    assert second.status_code == 201 and second.json()["id"] != first["id"]
    assert second.json()["reference"] != first["reference"]
    await payments.payer(second.json()["payment_url"])
    await payments.settle()
    assert len(await payments.events("payment.succeeded.v1", dossier_id)) == 1


async def test_duplicate_and_late_confirmations_make_one_success(payments):
    await payments.behave(duplicate_callback=True)
    dossier_id, bill, attempt = await paid_bill(payments)
    confirms = [e for e in await payments.sim_log("CONFIRM") if e["direction"] == "out"]
    assert len(confirms) == 2
    late = confirms[0]["message"]
    response = await payments.client.post("/v1/payments/callbacks/platform", json=late)   # a day later, say
    assert response.status_code == 200
    await payments.settle()
    assert len(await payments.events("payment.succeeded.v1", dossier_id)) == 1


async def test_a_confirmation_after_the_redirect_still_settles_once(payments):
    await payments.behave(callback_before_redirect=False, callback_delay_s=0.3)
    dossier_id = await payments.accept()
    bill = await payments.bill(dossier_id)
    attempt = (await payments.start(bill["id"])).json()
    await payments.payer(attempt["payment_url"])
    # The payer is back before the confirmation: the return page asks the platform itself.
    shown = await payments.client.get("/v1/payments/return", params={"reference": attempt["reference"]})
    assert shown.json()["state"] == "succeeded"
    await asyncio.sleep(0.6)
    await payments.settle()
    assert len(await payments.events("payment.succeeded.v1", dossier_id)) == 1


def confirm(attempt: dict, *, amount: int | None = None, at: datetime | None = None, secret: str = SECRET) -> dict:
    return sign("CONFIRM", {"message_type": "CONFIRM", "merchant_code": "ONESTOP-KH", "reference": attempt["reference"],
                            "transaction_id": attempt["transaction_id"], "amount": attempt["amount"] if amount is None
                            else amount, "currency": "VND", "error_code": "00",
                            "timestamp": timestamp(at or datetime.now(UTC))}, secret)


async def test_forged_stale_and_wrong_amount_confirmations_are_rejected_logged_and_change_nothing(payments):
    dossier_id = await payments.accept()
    bill = await payments.bill(dossier_id)
    attempt = (await payments.start(bill["id"])).json()            # the payer has NOT paid
    forged = {**confirm(attempt), "checksum": "f" * 64}
    stale = confirm(attempt, at=datetime.now(UTC) - timedelta(hours=2))
    wrong_amount = confirm(attempt, amount=1_000)
    for message, verdict in ((forged, "bad-checksum"), (stale, "stale"), (wrong_amount, "wrong-amount"),
                             ({"reference": attempt["reference"]}, "bad-checksum")):
        response = await payments.client.post("/v1/payments/callbacks/platform", json=message)
        assert response.status_code == 400 and response.json()["error_code"] == "97", verdict
    not_json = await payments.client.post("/v1/payments/callbacks/platform", content=b"<xml/>")
    assert not_json.status_code == 400
    # Well signed, in time, right amount - but the platform says the payer has not paid: nothing happens.
    claimed = await payments.client.post("/v1/payments/callbacks/platform", json=confirm(attempt))
    assert claimed.status_code == 200
    await payments.settle()
    assert await payments.events("payment.succeeded.v1", dossier_id) == []
    assert (await payments.bill(dossier_id))["state"] == "open"
    async with payments.kit.uow() as uow:
        verdicts = (await uow.conn.execute(select(gateway_messages.c.verdict).where(
            gateway_messages.c.kind == "CONFIRM"))).scalars().all()
    assert sorted(verdicts) == sorted(["rejected:bad-checksum", "rejected:stale", "rejected:wrong-amount",
                                       "rejected:bad-checksum", "checked"])


async def test_the_platform_claiming_another_amount_never_advances_the_dossier(payments):
    await payments.behave(wrong_amount=True)
    dossier_id = await payments.accept()
    bill = await payments.bill(dossier_id)
    attempt = (await payments.start(bill["id"])).json()
    await payments.payer(attempt["payment_url"])
    await payments.settle()
    assert await payments.events("payment.succeeded.v1", dossier_id) == []
    payments.clock[0] = datetime.now(UTC) + timedelta(minutes=16)
    flagged = await payments.reconcile()
    assert [d["action"] for d in flagged["differences"]] == ["flagged:amount-mismatch"]
    await payments.behave(wrong_amount=False)
    report = await payments.reconcile()      # the QUERY now says the right amount: settled
    assert any(d["action"] == "settled:succeeded" for d in report["differences"])
    assert len(await payments.events("payment.succeeded.v1", dossier_id)) == 1


async def test_a_confirmation_signed_with_the_previous_secret_is_accepted_during_rotation(payments):
    dossier_id = await payments.accept()
    bill = await payments.bill(dossier_id)
    attempt = (await payments.start(bill["id"])).json()
    await payments.behave(no_callback=True)
    await payments.payer(attempt["payment_url"])
    response = await payments.client.post("/v1/payments/callbacks/platform", json=confirm(attempt, secret=OLD_SECRET))
    assert response.status_code == 200
    await payments.settle()
    assert len(await payments.events("payment.succeeded.v1", dossier_id)) == 1


async def test_a_timeout_during_init_is_settled_by_reconciliation_without_a_second_transaction(payments):
    await payments.behave(init_delay_s=1.5)             # longer than the 1 s client timeout, every retry
    dossier_id = await payments.accept()
    bill = await payments.bill(dossier_id)
    unanswered = await payments.start(bill["id"])
    assert unanswered.status_code == 202 and unanswered.json()["state"] == "created"
    await payments.behave(init_delay_s=0)
    payments.clock[0] = datetime.now(UTC) + timedelta(minutes=16)
    report = await payments.reconcile("early")
    assert [d["action"] for d in report["differences"]] == ["settled:pending"]
    payments.clock[0] = None
    again = await payments.start(bill["id"])
    assert again.status_code == 200 and again.json()["id"] == unanswered.json()["id"]
    assert len(await payments.transactions()) == 1         # the platform has one transaction, not two
    await payments.payer(again.json()["payment_url"])
    await payments.settle()
    assert len(await payments.events("payment.succeeded.v1", dossier_id)) == 1


async def test_money_taken_but_never_confirmed_is_settled_by_reconciliation_and_never_charged_twice(payments):
    await payments.behave(no_callback=True)              # we crashed: the confirmation never arrived
    dossier_id = await payments.accept()
    bill = await payments.bill(dossier_id)
    attempt = (await payments.start(bill["id"])).json()
    await payments.payer(attempt["payment_url"])
    await payments.settle()
    assert await payments.events("payment.succeeded.v1", dossier_id) == []
    retry = await payments.start(bill["id"])             # the citizen tries again: the same attempt, no new charge
    assert retry.json()["id"] == attempt["id"] and len(await payments.transactions()) == 1
    payments.clock[0] = datetime.now(UTC) + timedelta(minutes=20)
    report = await payments.reconcile("early")
    assert [d["action"] for d in report["differences"]] == ["settled:succeeded"] and report["settled"] == 1
    payments.clock[0] = None
    assert len(await payments.events("payment.succeeded.v1", dossier_id)) == 1
    assert (await payments.reconcile("daily"))["differences"] == []
    reports = (await payments.client.get("/v1/payments/reconciliation", headers=payments.officer())).json()["items"]
    assert report in reports


async def test_many_parallel_pay_calls_make_one_live_attempt(payments):
    dossier_id = await payments.accept()
    bill = await payments.bill(dossier_id)
    answers = await asyncio.gather(*(payments.start(bill["id"]) for _ in range(12)))
    assert all(a.status_code in (200, 201, 202) for a in answers), [a.text for a in answers]
    assert len({a.json()["id"] for a in answers}) == 1
    async with payments.kit.uow() as uow:
        count = (await uow.conn.execute(select(func.count()).select_from(attempts)
                                        .where(attempts.c.bill_id == bill["id"]))).scalar_one()
    assert count == 1 and len(await payments.transactions()) == 1
    same_key = [await payments.start(bill["id"], key="k-1") for _ in range(2)]
    assert same_key[1].headers["Idempotent-Replayed"] == "true" and same_key[0].json() == same_key[1].json()


async def test_refunds_follow_the_rules_and_refuse_a_stale_amount(payments):
    dossier_id, bill, _ = await paid_bill(payments)
    path = f"/v1/bills/{bill['id']}/refunds"
    headers = {**payments.officer(), "Idempotency-Key": str(uuid.uuid4())}
    nothing = await payments.client.post(path, json={"amount": 400_000, "reason": "Công dân đề nghị"}, headers=headers)
    assert nothing.status_code == 409 and nothing.json()["type"].endswith("nothing-refundable")
    await payments.emit(DossierWithdrawn(dossier_id=dossier_id, withdrawn_at=datetime.now(UTC)), "intake")
    await payments.settle()
    assert (await payments.bill(dossier_id))["refundable_amount"] == 400_000
    stale = await payments.client.post(path, json={"amount": 300_000, "reason": "Rút hồ sơ trước khi xử lý"},
                                       headers={**payments.officer(), "Idempotency-Key": str(uuid.uuid4())})
    assert stale.status_code == 409 and stale.json()["errors"][0]["refundable_amount"] == 400_000
    done = await payments.client.post(path, json={"amount": 400_000, "reason": "Rút hồ sơ trước khi xử lý"},
                                      headers={**payments.officer(), "Idempotency-Key": str(uuid.uuid4())})
    assert done.status_code == 201 and done.json()["state"] == "succeeded", done.text
    await payments.settle()
    [refunded] = await payments.events("payment.refunded.v1", dossier_id)
    assert refunded["amount"] == 400_000
    assert [t["status"] for t in await payments.transactions()] == ["03"]
    assert (await payments.bill(dossier_id))["refundable_amount"] == 0


async def test_on_refusal_only_the_lines_the_rules_name_are_refunded_and_not_after_processing_started(payments):
    dossier_id, bill, _ = await paid_bill(payments)
    await payments.emit(DossierProcessingStarted(dossier_id=dossier_id, workflow_id="w", workflow_version="2026.1",
                                                 started_at=datetime.now(UTC), due_at=None), "routing")
    await payments.emit(DossierWithdrawn(dossier_id=dossier_id, withdrawn_at=datetime.now(UTC) + timedelta(hours=1)),
                        "intake")
    await payments.settle()
    assert (await payments.bill(dossier_id))["refundable_amount"] == 0      # withdrawn after processing started
    refused_id, _, _ = await paid_bill(payments)
    await payments.emit(DossierDecided(dossier_id=refused_id, outcome="refused", decided_by_agency=POLICE,
                                       decided_at=datetime.now(UTC)), "routing")
    await payments.settle()
    assert (await payments.bill(refused_id))["refundable_amount"] == REGISTRATION_CHARGE.amount


async def test_an_unpaid_bill_expires_and_a_withdrawn_one_is_cancelled(payments):
    dossier_id = await payments.accept()
    bill = await payments.bill(dossier_id)
    await payments.start(bill["id"])                                          # started, never paid
    payments.clock[0] = datetime.now(UTC) + timedelta(hours=80)
    from services.payments.handlers import expire_bills
    assert await expire_bills(payments.ctx, payments.kit.uow) == 1
    assert await expire_bills(payments.ctx, payments.kit.uow) == 0
    await payments.settle()
    assert len(await payments.events("payment.expired.v1", dossier_id)) == 1
    late = await payments.start(bill["id"])
    assert late.status_code == 409 and late.json()["type"].endswith("bill-expired")
    payments.clock[0] = None
    withdrawn = await payments.accept()
    await payments.emit(DossierWithdrawn(dossier_id=withdrawn, withdrawn_at=datetime.now(UTC)), "intake")
    await payments.settle()
    assert (await payments.bill(withdrawn))["state"] == "cancelled"


async def test_the_pay_link_opens_the_platform_page_and_a_forged_link_does_not(payments):
    dossier_id = await payments.accept()
    [requested] = await payments.events("payment.requested.v1", dossier_id)
    opened = await payments.client.get(requested["pay_url"].removeprefix(payments.settings.public_base_url))
    assert opened.status_code == 303 and opened.headers["location"].startswith(payments.platform_url + "/pay/")
    page = await payments.platform.get(opened.headers["location"].removeprefix(payments.platform_url))
    assert "Thanh toán phí, lệ phí" in page.text and "400.000 đồng" in page.text
    bill_id = requested["bill_id"]
    forged = await payments.client.get(f"/v1/bills/{bill_id}/pay", params={"sig": "0" * 32})
    assert forged.status_code == 404


async def test_replaying_every_event_twice_changes_nothing(payments):
    payments.bus.duplicate_delivery = True
    paid, _, _ = await paid_bill(payments)
    await payments.emit(DossierWithdrawn(dossier_id=paid, withdrawn_at=datetime.now(UTC)), "intake")
    later = await payments.accept(timing="on_result")
    await payments.emit(DossierDecided(dossier_id=later, outcome="approved", decided_by_agency=POLICE,
                                       decided_at=datetime.now(UTC)), "routing")
    await payments.settle()

    async def state() -> dict:
        from services.payments.models import bills, dossier_facts, receipts
        async with payments.kit.uow() as uow:
            return {t.name: sorted(tuple(r) for r in (await uow.conn.execute(select(t))).all())
                    for t in (bills, attempts, receipts, dossier_facts)}
    before = await state()
    published = len(payments.bus.records(payments.settings.lifecycle_topic))
    await payments.replay_from_start("payments")
    await payments.replay_from_start("payments")
    assert await state() == before
    assert len(payments.bus.records(payments.settings.lifecycle_topic)) == published
