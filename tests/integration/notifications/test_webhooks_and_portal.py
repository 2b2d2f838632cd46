"""Desk systems' webhooks (subscriptions, allowlist, signed deliveries with retries and a log,
secret rotation, the documented verification) and the national portal sync (in order, through
an outage, re-sync)."""
from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime, timedelta

from services.notifications.domain import verify_webhook
from shared.events.catalogue import DossierAccepted, TaskAssigned
from tests.integration.notifications.conftest import COMMUNE

POLICE = "000.00.31.H56"


async def subscribe(notifications, url: str | None = None, event_types=("*",), headers=None) -> dict:
    response = await notifications.client.post("/v1/notifications/subscriptions", json={
        "url": url or f"{notifications.receiver_url}/hooks", "event_types": list(event_types)},
        headers={**(headers or notifications.officer()), "Idempotency-Key": str(uuid.uuid4())})
    assert response.status_code == 201, response.text
    return response.json()


def accepted(dossier_id: str) -> DossierAccepted:
    now = datetime.now(UTC)
    return DossierAccepted(dossier_id=dossier_id, dossier_code="x", procedure_code="1.001612", procedure_version="2026.1",
                           channel="online", receiving_agency=COMMUNE, competent_agency=COMMUNE, accepted_at=now,
                           due_at=now + timedelta(days=3))


async def test_a_receiver_failing_three_times_gets_the_event_once_verified(notifications):
    subscription = await subscribe(notifications, event_types=["dossier.accepted.v1"])
    assert subscription["secret"].startswith("whsec_")
    notifications.receiver["fail_next"] = 3
    dossier_id = await notifications.submitted(channels=())
    await notifications.emit(accepted(dossier_id), "intake")
    for _ in range(4):
        await notifications.deliver(rounds=1)
        notifications.later(3600)        # past any backoff
    requests = notifications.receiver["requests"]
    assert len(requests) == 4                                          # 3 failures, then delivered; nothing after
    last = requests[-1]
    now = int(time.time()) + 4 * 3600
    assert verify_webhook(last["headers"]["x-onestop-signature"], last["body"], subscription["secret"], now=now,
                          tolerance_s=5 * 3600)
    event = json.loads(last["body"])
    assert event["type"] == "dossier.accepted.v1" and event["subject"] == dossier_id
    assert len({r["headers"]["x-onestop-event-id"] for r in requests}) == 1
    log = (await notifications.client.get(f"/v1/notifications/subscriptions/{subscription['id']}/deliveries",
                                          headers=notifications.officer())).json()["items"]
    assert [d["state"] for d in log] == ["delivered"] and [a["status"] for a in log[0]["attempts"]] == [503] * 3 + [200]
    # What the documented verification rejects: another secret, a tampered body, a replay of an old delivery.
    header = last["headers"]["x-onestop-signature"]
    assert not verify_webhook(header, last["body"], "whsec_wrong", now=now, tolerance_s=5 * 3600)
    assert not verify_webhook(header, last["body"] + b" ", subscription["secret"], now=now, tolerance_s=5 * 3600)
    assert not verify_webhook(header, last["body"], subscription["secret"], now=now + 86400)


async def test_subscriptions_reach_only_allowed_addresses_and_only_their_agencys_events(notifications):
    for url in ("http://169.254.169.254/latest/meta-data", "http://10.0.0.8/hooks", "ftp://example.vn/x",
                "http://localhost:9/hooks"):
        response = await notifications.client.post("/v1/notifications/subscriptions", json={
            "url": url, "event_types": ["*"]}, headers={**notifications.officer(), "Idempotency-Key": str(uuid.uuid4())})
        assert response.status_code == 422, url
    unknown = await notifications.client.post("/v1/notifications/subscriptions", json={
        "url": f"{notifications.receiver_url}/hooks", "event_types": ["dossier.exploded.v1"]},
        headers={**notifications.officer(), "Idempotency-Key": str(uuid.uuid4())})
    assert unknown.status_code == 422
    await subscribe(notifications, event_types=["task.assigned.v1"],
                    headers=notifications.officer("webhooks:manage", agency=POLICE))
    dossier_id = await notifications.submitted(channels=())
    await notifications.emit(TaskAssigned(dossier_id=dossier_id, task_id="t1", step="tham-dinh", agency=COMMUNE,
                                          due_at=None), "routing")
    await notifications.emit(TaskAssigned(dossier_id=dossier_id, task_id="t2", step="cong-an", agency=POLICE,
                                          due_at=None), "routing")
    await notifications.deliver()
    bodies = [json.loads(r["body"]) for r in notifications.receiver["requests"]]
    assert [b["data"]["task_id"] for b in bodies] == ["t2"]            # the police see their task, not the commune's
    others = await notifications.client.get("/v1/notifications/subscriptions", headers=notifications.officer())
    assert others.json()["items"] == []                               # and the commune does not see their subscription


async def test_a_rotated_secret_overlaps_with_the_old_one(notifications):
    subscription = await subscribe(notifications, event_types=["dossier.accepted.v1"])
    rotated = await notifications.client.post(
        f"/v1/notifications/subscriptions/{subscription['id']}/secret-rotation",
        headers={**notifications.officer(), "Idempotency-Key": str(uuid.uuid4())})
    assert rotated.status_code == 201
    dossier_id = await notifications.submitted(channels=())
    await notifications.emit(accepted(dossier_id), "intake")
    await notifications.deliver()
    [request] = notifications.receiver["requests"]
    header, body, now = request["headers"]["x-onestop-signature"], request["body"], int(time.time())
    assert verify_webhook(header, body, subscription["secret"], now=now)
    assert verify_webhook(header, body, rotated.json()["secret"], now=now)
    notifications.later(25 * 3600)                                    # after the overlap only the new one signs
    second = await notifications.submitted(channels=())
    await notifications.emit(accepted(second), "intake")
    await notifications.deliver()
    header, body = notifications.receiver["requests"][-1]["headers"]["x-onestop-signature"], \
        notifications.receiver["requests"][-1]["body"]
    assert header.count("v1=") == 1


async def test_the_portal_is_synced_in_order_and_catches_up_after_an_outage(notifications):
    await notifications.sims["portal"].post("/_sim/mode", json={"mode": "down"})
    dossier_id = await notifications.submitted(channels=())
    await notifications.emit(accepted(dossier_id), "intake")
    await notifications.emit(TaskAssigned(dossier_id=dossier_id, task_id="t1", step="tham-dinh", agency=COMMUNE,
                                          due_at=None), "routing")
    await notifications.deliver()
    log = (await notifications.client.get("/v1/notifications/portal-sync", params={"dossier_id": dossier_id},
                                          headers=notifications.officer())).json()["items"]
    assert {r["state"] for r in log} == {"pending"} and log[0]["attempts"] == 1 and log[1]["attempts"] == 0
    await notifications.sims["portal"].post("/_sim/mode", json={"mode": "normal"})
    notifications.later(3600)
    await notifications.deliver()
    sent = (await notifications.sims["portal"].get("/_sim/log")).json()
    codes = [(e["kind"], e["body"].get("TrangThaiHoSo")) for e in sent]
    assert codes[0] == ("dossier", 1)                                 # created first, then updated, in order
    assert ("dossier", 2) in codes and ("dossier", 4) in codes
    portal = (await notifications.sims["portal"].get("/_sim/dossiers")).json()
    [record] = portal.values()
    assert record["TrangThaiHoSo"] == 4 and [h["TieuDe"] for h in record["history"]] == \
        ["Nộp hồ sơ", "Tiếp nhận hồ sơ", "Giao xử lý"]
    # A re-sync sends it all again under new idempotency keys.
    resync = await notifications.client.post("/v1/notifications/portal-sync/resync", json={"dossier_id": dossier_id},
                                             headers=notifications.officer())
    assert resync.json()["requeued"] == len(log)
    await notifications.deliver()
    assert len((await notifications.sims["portal"].get("/_sim/log")).json()) == 2 * len(sent)


async def test_replaying_every_event_twice_plans_nothing_new(notifications):
    await subscribe(notifications)
    dossier_id = await notifications.submitted()
    await notifications.emit(accepted(dossier_id), "intake")
    await notifications.deliver()
    from sqlalchemy import func, select

    from services.notifications.models import messages, portal_sync, webhook_deliveries

    async def counts() -> tuple:
        async with notifications.kit.uow() as uow:
            return tuple([(await uow.conn.execute(select(func.count()).select_from(t))).scalar_one()
                          for t in (messages, webhook_deliveries, portal_sync)])
    before = await counts()
    assert all(before)
    await notifications.replay_from_start("notifications")
    await notifications.replay_from_start("notifications")
    await notifications.deliver()
    assert await counts() == before
    assert len(notifications.receiver["requests"]) == before[1]
