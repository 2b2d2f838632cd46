"""End to end, every sample procedure and every turn a dossier's life can take, through all five
services as separate processes on real Kafka and PostgreSQL, the outside systems as real servers
(services/lives.py plays them; tests/e2e/backbone.py runs them).

The lives are played once, together, as they would arrive; then each test reads what every party
can see of its dossier: intake (tracking timeline with national status codes, the officers' view),
routing (the process and its history), payments (bills, receipts, the platform's transactions),
notifications (its message log; the SMS providers', Zalo's and the mailbox's own logs; the desk
system's webhook deliveries, signature checked; the portal-sync log and the portal's record) and
results (the signed result, verified). The overdue life comes last: routing is restarted with its
clock run ahead, so the new date promised in the apology passes too."""
from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from contextlib import AsyncExitStack
from typing import Any

import httpx
import pytest

from services.lives import OFFICER_ROLES, Life, Player, catalogue_lives, overdue_life
from services.notifications.domain import SIGNATURE_HEADER, portal_time, verify_webhook
from services.notifications.templates import unaccent
from services.payments.adapters.platform import FAILED, PAID, REFUNDED
from simulators import desk
from tests.conftest import serving
from tests.e2e.backbone import Backbone, get_json, running_backbone

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]
ROLES = [*OFFICER_ROLES, "notifications:read", "webhooks:manage", "portal:sync"]
CLOCK_AHEAD_HOURS = 24 * 30      # past the overdue life's new date (3 + 2 working days)
LIVES = {life.story: life for life in catalogue_lives()}
OVERDUE = overdue_life().story
STORIES = pytest.mark.parametrize("story", [*LIVES, OVERDUE], ids=lambda story: unaccent(story)[:60])
ONCE = ("dossier.submitted.v1", "dossier.accepted.v1", "dossier.processing_started.v1", "dossier.decided.v1",
        "dossier.withdrawn.v1", "dossier.extended.v1", "payment.requested.v1",
        "payment.succeeded.v1", "payment.refunded.v1", "result.issued.v1", "result.returned.v1")



async def _settle(backbone: Backbone, client: httpx.AsyncClient, officer: dict[str, str], receiver: str) -> None:
    """Until nothing is left to send: the portal caught up, and what the providers, the mailbox and
    the desk system received no longer growing."""
    before = None
    for _ in range(120):
        pending = await get_json(client, "/v1/notifications/portal-sync", params={"state": "pending"}, headers=officer)
        now = [len(await get_json(client, f"{backbone.sims[name]}/_sim/messages")) for name in ("sms-a", "sms-b", "zalo")]
        now += [len(backbone.mailbox.messages), len(await get_json(client, f"{receiver}/_sim/requests"))]
        if not pending["items"] and now == before:
            return
        before = now
        await asyncio.sleep(1.5)
    raise AssertionError("the messages did not settle")


async def _observe(backbone: Backbone, client: httpx.AsyncClient, officer: dict[str, str], partner: dict[str, str],
                   life: Life, hooks: list[dict], secret: str, sims: dict[str, Any]) -> dict[str, Any]:
    dossier_id, code = life.dossier["id"], life.dossier["code"]
    seen: dict[str, Any] = {"life": life}
    seen["tracking"] = await get_json(client, f"/v1/tracking/{code}", params={"phone_last4": life.last4})
    seen["intake"] = await get_json(client, f"/v1/dossiers/{dossier_id}", headers=officer)
    process = await client.get(f"/v1/processes/{dossier_id}", headers=officer)
    seen["process"] = process.json() if process.status_code == 200 else None
    seen["history"] = (await get_json(client, f"/v1/processes/{dossier_id}/history", headers=officer))["items"] \
        if seen["process"] else []
    bills = (await get_json(client, "/v1/bills", params={"dossier_id": dossier_id}, headers=partner))["items"]
    seen["bills"] = [await get_json(client, f"/v1/bills/{b['id']}", headers=partner) for b in bills]
    seen["charged"] = [t for t in sims["transactions"] if t["reference"].startswith(code)]
    seen["results"] = (await get_json(client, "/v1/results", params={"dossier_id": dossier_id}, headers=partner))["items"]
    seen["verdicts"] = [await get_json(client, "/v1/results/verify", params={"number": r["document_number"]})
                        for r in seen["results"]]
    seen["messages"] = (await get_json(client, f"/v1/notifications/dossiers/{dossier_id}/messages", headers=partner))["items"]
    seen["sms"] = [m for name in ("sms-a", "sms-b") for m in sims[name] if code in m["text"]]
    seen["zalo"] = [m for m in sims["zalo"] if code in m["text"]]
    seen["mail"] = [m for m in backbone.mailbox.messages if code in m["subject"]]
    seen["hooks"] = []
    for request in hooks:
        body = request["body"].encode()
        envelope = json.loads(body)
        if envelope.get("subject") == dossier_id:
            signed = verify_webhook(request["headers"][SIGNATURE_HEADER.lower()], body, secret, int(time.time()),
                                    tolerance_s=3600)
            seen["hooks"].append((envelope["type"], envelope["id"], signed, envelope["data"]))
    seen["portal_log"] = (await get_json(client, "/v1/notifications/portal-sync", params={"dossier_id": dossier_id,
                                                                                    "limit": 1000},
                                     headers=officer))["items"]
    seen["portal"] = sims["portal"].get(code)
    return seen


@pytest.fixture(scope="module")
async def world(postgres_server, kafka_broker, tmp_path_factory) -> dict[str, dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("catalogue")
    async with AsyncExitStack() as stack:
        receiver_app, _ = desk.create_app()
        receiver = await stack.enter_async_context(serving(receiver_app))
        backbone = await stack.enter_async_context(running_backbone(
            postgres_server, kafka_broker, tmp, WEBHOOK_REQUIRE_HTTPS="false", WEBHOOK_ALLOWED_HOSTS='["127.0.0.1"]',
            MONITOR_INTERVAL_S="0.5", RETRY_BASE_S="0.2"))
        client = await stack.enter_async_context(httpx.AsyncClient(base_url=backbone.base, timeout=60))
        officer = {"Authorization": f"Bearer {backbone.token('000.00.01.H56', ROLES)}"}
        partner = {"X-API-Key": backbone.api_key}
        subscribed = await client.post("/v1/notifications/subscriptions", headers={**officer, "Idempotency-Key": "e2e"},
                                       json={"url": f"{receiver}/hooks", "event_types": ["*"], "agency": "agency:*"})
        assert subscribed.status_code == 201, subscribed.text
        player = Player(client, backbone.api_key, lambda agency: backbone.token(agency, ROLES), say=lambda _: None,
                        timeout_s=120)
        late = overdue_life()
        await player.play(late)      # accepted, processing, apologised; held before the decision
        await asyncio.gather(*(player.play(life) for life in LIVES.values()))

        # Time passes: routing comes back with its clock a month ahead, and sees the new date passed.
        backbone.kill("routing")
        backbone.env["routing"]["CLOCK_OFFSET_HOURS"] = str(CLOCK_AHEAD_HOURS)
        backbone.start("routing")
        await backbone.ready("routing")

        async def overdue_reported() -> bool:
            view = await get_json(client, f"/v1/tracking/{late.dossier['code']}", params={"phone_last4": late.last4})
            return any(e["event"] == "dossier.overdue.v1" for e in view["timeline"])
        await player.until("routing to report the dossier overdue", overdue_reported)
        await player.carry_on(late)

        await _settle(backbone, client, officer, receiver)
        sims = {name: await get_json(client, f"{backbone.sims[name]}/_sim/messages") for name in ("sms-a", "sms-b", "zalo")}
        sims["transactions"] = await get_json(client, f"{backbone.sims['payment-platform']}/_sim/transactions")
        sims["portal"] = await get_json(client, f"{backbone.sims['portal']}/_sim/dossiers")
        hooks = await get_json(client, f"{receiver}/_sim/requests")
        secret = subscribed.json()["secret"]
        yield {life.story: await _observe(backbone, client, officer, partner, life, hooks, secret, sims)
               for life in [*LIVES.values(), late]}


def events_of(seen: dict[str, Any]) -> list[str]:
    return [e["event"] for e in seen["tracking"]["timeline"]]


def statuses_of(seen: dict[str, Any]) -> list[int]:
    """The national status codes the timeline went through, repeats folded."""
    codes = [e["national_status"] for e in seen["tracking"]["timeline"] if e.get("national_status")]
    return [c for i, c in enumerate(codes) if i == 0 or codes[i - 1] != c]


def templates_sent(seen: dict[str, Any]) -> Counter:
    return Counter((m["template"], m["channel"]) for m in seen["messages"] if m["audience"] == "applicant")


@STORIES
def test_every_service_agrees_on_how_the_life_ended(world, story):
    seen = world[story]
    life: Life = seen["life"]
    events = events_of(seen)
    tracking = seen["tracking"]
    assert tracking["national_status"] == life.ends_at, (events, tracking["national_status"])
    assert statuses_of(seen)[0] == 1 and statuses_of(seen)[-1] == life.ends_at
    # Each lifecycle fact happened once at most, however often its event was delivered.
    assert all(events.count(fact) <= 1 for fact in ONCE), events
    # intake: the officers' view says the same as the tracking page.
    assert seen["intake"]["status"] == ("withdrawn" if life.withdraw_when else "accepted")
    assert seen["intake"]["national_status"] == life.ends_at

    # routing: the process ended as the dossier did; nothing is left open on an officer's desk.
    assert seen["process"]["state"] == ("withdrawn" if life.withdraw_when else "decided")
    assert not [t for t in seen["process"]["tasks"] if t["state"] in ("open", "claimed")]
    if life.withdraw_when == "awaiting_payment":
        assert seen["process"]["tasks"] == [] and seen["process"]["started_at"] is None   # the fee never came
    else:
        assert seen["history"], "an append-only history of who did what"

    # payments: at most one successful charge at the platform, and the bill says so.
    paid = [t for t in seen["charged"] if t["status"] in (PAID, REFUNDED)]
    states = sorted(b["state"] for b in seen["bills"])
    if life.withdraw_when == "awaiting_payment":
        assert states == ["cancelled"] and not paid
    elif seen["bills"]:
        assert len(paid) == 1, seen["charged"]
        assert states == ["refunded" if life.outcome == "refused" else "paid"]
        assert all(b["receipts"] for b in seen["bills"]), "an e-receipt for every paid bill"
    else:
        assert not paid

    # results: one signed result (or none, withdrawn), and it verifies.
    if life.withdraw_when:
        assert seen["results"] == []
    else:
        assert [r["kind"] for r in seen["results"]] == ["refusal" if life.outcome == "refused" else "approval"]
        assert [v["verdict"] for v in seen["verdicts"]] == ["valid"]
        assert all(v["signature"]["trusted"] and v["signature"]["intact"] for v in seen["verdicts"])


@STORIES
def test_the_applicant_hears_each_thing_once_on_each_chosen_channel(world, story):
    seen = world[story]
    life: Life = seen["life"]
    sent = templates_sent(seen)
    assert sent, "the applicant was told something"
    assert all(count == 1 for count in sent.values()), sent
    channels = set(life.applicant.get("channels") or ["sms"])
    assert {channel for _, channel in sent} == channels
    assert all(m["state"] in ("delivered", "sent") for m in seen["messages"]), \
        [(m["template"], m["channel"], m["state"], m["last_error"]) for m in seen["messages"]]
    assert all(m["template_version"] for m in seen["messages"])
    assert all("*" in m["recipient"] for m in seen["messages"] if m["audience"] == "applicant"), "addresses masked"
    # What the providers and the mailbox received matches the log, message for message.
    per_channel = Counter(channel for _, channel in sent)
    assert len(seen["sms"]) == per_channel["sms"]
    assert len(seen["zalo"]) == per_channel["zalo"]
    assert len([m for m in seen["mail"] if life.applicant.get("email") in m["to"]]) == per_channel["email"]
    expected = {"received"}
    if life.withdraw_when:
        expected.add("withdrawn")
    else:
        expected |= {"result-ready"}
    if seen["bills"]:
        expected.add("payment-requested")
    if life.payment_fails_first:
        expected |= {"payment-failed", "paid"}
    if life.supplement_at_reception:
        expected.add("supplement")
    if life.supplement_during_processing:
        expected.add("processing-supplement")
    if life.outcome == "refused":
        expected.add("refunded")
    if life.apologise:
        expected.add("apology")
    assert expected <= {template for template, _ in sent}, sorted(sent)


@STORIES
def test_the_desk_system_and_the_portal_hear_every_event_once(world, story):
    seen = world[story]
    hooks = seen["hooks"]
    assert hooks and all(signed for _, _, signed, _ in hooks), "every delivery signed with the subscription's secret"
    ids = [event_id for _, event_id, _, _ in hooks]
    assert len(ids) == len(set(ids)), "each event delivered once"
    assert set(events_of(seen)) <= {t for t, _, _, _ in hooks}, "every event of the dossier reached the desk system"
    # The portal sync log: everything sent, in order; the portal's record ends where the dossier did.
    log = seen["portal_log"]
    assert log and all(entry["state"] == "sent" for entry in log)
    record = seen["portal"]
    assert record["TrangThaiHoSo"] == seen["life"].ends_at
    assert record["MaTTHC"] == seen["life"].procedure_code
    assert [h["TrangThai"] for h in record["history"] if h.get("TrangThai")][-1] == seen["life"].ends_at
    if seen["results"]:
        assert record["KetQua"][0]["SoKyHieu"] == seen["results"][0]["document_number"]


def test_reception_supplement_goes_through_status_5_before_acceptance(world):
    seen = world["Chứng thực bản sao: bộ phận một cửa yêu cầu bổ sung trước khi tiếp nhận"]
    statuses = statuses_of(seen)
    assert statuses[:2] == [1, 5] and statuses.index(5) < statuses.index(2)
    events = events_of(seen)
    assert events.index("dossier.supplement_requested.v1") < events.index("dossier.supplemented.v1") \
        < events.index("dossier.accepted.v1")
    assert seen["tracking"]["national_status"] == 10


def test_supplement_during_processing_pauses_the_clock_and_a_refusal_pays_back_the_charge(world):
    seen = world["Giấy phép xây dựng bị từ chối sau khi bổ sung trong quá trình giải quyết, hoàn lệ phí"]
    events = events_of(seen)
    assert events.index("dossier.paused.v1") < events.index("dossier.supplemented.v1") \
        < events.index("dossier.resumed.v1") < events.index("dossier.decided.v1")
    assert 5 in statuses_of(seen)
    bill = seen["bills"][0]
    assert bill["refunded_amount"] == bill["amount"] == 75_000 and bill["refundable_amount"] == 0
    assert "payment.refunded.v1" in events
    assert seen["results"][0]["kind"] == "refusal"


def test_payment_failure_then_success_charges_once(world):
    seen = world["Giấy phép khoan nước: giao dịch đầu tiên không thành công, thanh toán lại"]
    assert sorted(t["status"] for t in seen["charged"]) == sorted([PAID, FAILED])
    attempts = sorted(a["state"] for a in seen["bills"][0]["attempts"])
    assert attempts == ["failed", "succeeded"]
    assert events_of(seen).count("payment.failed.v1") == 1 and events_of(seen).count("payment.succeeded.v1") == 1
    assert seen["bills"][0]["amount"] == 700_000       # 1.400.000 đ, half online


def test_fee_first_starts_the_clock_on_payment_and_returns_by_post(world):
    seen = world["An ninh trật tự: nộp phí trước rồi mới giải quyết, trả qua bưu chính"]
    events = events_of(seen)
    assert events.index("payment.succeeded.v1") < events.index("dossier.processing_started.v1")
    returned = next(e for e in seen["tracking"]["timeline"] if e["event"] == "result.returned.v1")
    assert returned["details"] == {"channel": "postal"}


def test_pay_on_result_issues_the_result_once_paid(world):
    seen = world["Sử dụng tạm vỉa hè: phí nộp khi nhận kết quả"]
    events = events_of(seen)
    assert events.index("dossier.decided.v1") < events.index("payment.requested.v1") \
        < events.index("payment.succeeded.v1") < events.index("result.issued.v1")
    assert seen["bills"][0]["amount"] == 20 * 20_000 + 4 * 15_000     # 24 m²: graduated tiers


def test_transfer_and_parallel_consultation_cross_agencies(world):
    consulted = world["Liên thông khai sinh: hỏi ý kiến công an và bảo hiểm xã hội song song"]
    assert {t["agency"] for t in consulted["process"]["tasks"]} == {"000.17.22.H56", "000.00.31.H56", "000.00.40.H56"}
    transferred = world["Lý lịch tư pháp: chuyển xã xác minh rồi trả về tỉnh"]
    agencies = [t["agency"] for t in sorted(transferred["process"]["tasks"], key=lambda t: t["created_at"])]
    assert agencies[0] == agencies[-1] == "000.00.31.H56" and "000.17.22.H56" in agencies
    assert "dossier.transferred.v1" in events_of(transferred)


def test_withdrawal_stops_everything(world):
    during = world["Lý lịch tư pháp: công dân rút hồ sơ khi đang giải quyết"]
    assert "dossier.decided.v1" not in events_of(during)
    assert all(t["state"] in ("completed", "cancelled") for t in during["process"]["tasks"])
    # Processing had started: the fee is not paid back (DOMAIN: only withdrawal before processing).
    assert during["bills"][0]["state"] == "paid" and during["bills"][0]["refundable_amount"] == 0
    before = world["An ninh trật tự: rút hồ sơ khi chưa nộp phí (hủy đề nghị thanh toán)"]
    assert "payment.succeeded.v1" not in events_of(before) and "dossier.processing_started.v1" not in events_of(before)


def test_the_late_dossier_gets_an_apology_a_new_date_then_is_reported_overdue_and_decided_late(world):
    seen = world[OVERDUE]
    events = events_of(seen)
    assert events.index("dossier.extended.v1") < events.index("dossier.overdue.v1") < events.index("dossier.decided.v1")
    overdue = [data["scope"] for kind, _, _, data in seen["hooks"] if kind == "dossier.overdue.v1"]
    assert overdue.count("dossier") == 1, overdue      # once for the dossier (and once per late step)
    process = seen["process"]
    assert process["extended"] and process["due_at"] > process["original_due_at"]      # both dates kept
    assert process["overdue_since"] and process["outcome"] == "approved"
    assert Counter(t for t, _ in templates_sent(seen))["apology"] == len(seen["life"].applicant["channels"])
    # The competent agency's mailbox was alerted; the portal shows the new date.
    assert any(m["template"] == "overdue-alert" for m in seen["messages"] if m["audience"] != "applicant")
    assert seen["portal"]["NgayHenTra"] == portal_time(process["due_at"])
