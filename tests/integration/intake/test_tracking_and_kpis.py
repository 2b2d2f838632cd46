"""The citizen's tracking view and the province's KPIs, projected from every lifecycle event;
both unchanged when every event is delivered twice or replayed from the start."""
import csv
import io
from datetime import UTC, date, datetime, timedelta

import httpx
from sqlalchemy import delete

from services.intake.main import create_app

from shared.bus.ports import OutgoingRecord
from shared.events.catalogue import PaymentSucceeded, ResultIssued, ResultReturned, TaskAssigned, make_event
from tests.integration.intake.conftest import COMMUNE, make_key
from tests.integration.intake.samples import household_business

BINH_LAST4 = "4321"


async def scripted_dossiers(intake) -> dict:
    """Five household-business dossiers with known fates (see test_kpis_equal_hand_computed_values)."""
    officer = intake.officer(COMMUNE, roles=("dossiers:submit", "dossiers:receive", "dossiers:read"))
    made = {}
    for name, channel in [("A", "online"), ("B", "desk"), ("C", "postal"), ("D", "online"), ("E", "desk")]:
        body = household_business(channel)
        if channel == "online":
            body = await intake.with_documents(body)
        response = await intake.submit(body, headers=officer if channel == "desk" else None)
        assert response.status_code == 201, response.text
        made[name] = response.json()
    accepted = {}
    for name in "ABE":
        response = await intake.act(made[name]["id"], "accept", {}, officer)
        assert response.status_code == 200, response.text
        accepted[name] = response.json()
    for name, action, body in [("C", "supplement-request", {"items": [{"description": "Thiếu giấy đề nghị"}]}),
                               ("D", "reject", {"reason": "Ngành nghề kinh doanh bị cấm"}),
                               ("E", "withdrawal", {"reason": "Đổi địa điểm"})]:   # E was filed at this desk
        response = await intake.act(made[name]["id"], action, body, officer)
        assert response.status_code == 200, response.text
    a_accepted = datetime.fromisoformat(accepted["A"]["accepted_at"])
    b_due = datetime.fromisoformat(accepted["B"]["due_at"])
    a_issued, b_issued = a_accepted + timedelta(days=1), b_due + timedelta(days=1)   # A early, B one day late
    await intake.emit(PaymentSucceeded(dossier_id=made["A"]["id"], bill_id="bA", amount=50000, method="online",
                                       paid_at=a_accepted + timedelta(hours=1)), "payments")
    await intake.emit(PaymentSucceeded(dossier_id=made["B"]["id"], bill_id="bB", amount=100000, method="cash",
                                       paid_at=a_accepted + timedelta(hours=1)), "payments")
    for name, issued in (("A", a_issued), ("B", b_issued)):
        await intake.emit(ResultIssued(dossier_id=made[name]["id"], result_id=f"r{name}", document_number=f"{name}/GCN",
                                       issuing_agency=COMMUNE, sha256="b" * 64, verify_url=f"https://v/{name}",
                                       issued_at=issued), "results")
    await intake.emit(ResultReturned(dossier_id=made["A"]["id"], result_id="rA", channel="online",
                                     returned_at=a_issued + timedelta(hours=2)), "results")
    await intake.settle()
    made["accepted"] = accepted
    made["durations"] = [(a_issued - a_accepted) / timedelta(days=1),
                         (b_issued - datetime.fromisoformat(accepted["B"]["accepted_at"])) / timedelta(days=1)]
    return made


async def kpis(intake, key: str, **params) -> dict:
    today = date.today()
    response = await intake.client.get("/v1/kpis", headers={"X-API-Key": key}, params={
        "from": str(today - timedelta(days=1)), "to": str(today + timedelta(days=90)), **params})
    assert response.status_code == 200, response.text
    return response.json()


async def test_kpis_equal_hand_computed_values(intake):
    intake.bus.duplicate_delivery = True   # every event handled twice: nothing may count twice
    made = await scripted_dossiers(intake)
    for name, score in (("A", 5), ("B", 2)):
        rated = await intake.client.post(f"/v1/tracking/{made[name]['code']}/rating",
                                         json={"phone_last4": BINH_LAST4, "score": score, "comment": "Góp ý"})
        assert rated.status_code == 201, rated.text
    again = await intake.client.post(f"/v1/tracking/{made['A']['code']}/rating", json={"phone_last4": BINH_LAST4, "score": 1})
    assert again.status_code == 409
    unfinished = await intake.client.post(f"/v1/tracking/{made['C']['code']}/rating", json={"phone_last4": BINH_LAST4, "score": 4})
    assert unfinished.status_code == 409

    key = await make_key(intake, ["kpis:read"])
    [group] = (await kpis(intake, key, agency=COMMUNE, procedure_code="1.001612"))["groups"]
    expected = {
        "submitted": 5, "received": 3, "finished": 3, "finished_on_time": 2,
        "on_time_rate": round(2 / 3, 4),                 # A early, E withdrawn in time, B late
        "online_rate": 0.4,                              # A, D of 5
        "online_payment_rate": round(1 / 3, 4),          # A of A, B, E (all fee-bearing)
        "digitisation_input_rate": round(1 / 3, 4),      # only A came with electronic documents
        "digitisation_output_rate": 1.0,                 # A and B have electronic results
        "supplement_rate": 0.2, "rejection_rate": 0.2, "rejection_or_supplement_rate": 0.4,
        "average_processing_days": round(sum(made["durations"]) / 2, 2),
        "ratings": 2, "average_rating": 3.5, "satisfaction_rate": 0.5,
    }
    assert {k: group[k] for k in expected} == expected
    extended = (await kpis(intake, key, agency=COMMUNE, due_basis="extended"))["groups"][0]
    assert extended["on_time_rate"] == expected["on_time_rate"]   # no extension was granted
    by_procedure = await kpis(intake, key, group_by="procedure")
    assert [g["group"] for g in by_procedure["groups"]] == ["1.001612"]
    exported = await intake.client.get("/v1/kpis", headers={"X-API-Key": key}, params={
        "from": str(date.today() - timedelta(days=1)), "to": str(date.today() + timedelta(days=90)), "format": "csv"})
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert exported.headers["content-type"].startswith("text/csv") and rows[0]["online_rate"] == "0.4"
    nothing = await kpis(intake, key, agency="000.00.20.H56")
    assert nothing["groups"] == []
    bad_period = await intake.client.get("/v1/kpis", headers={"X-API-Key": key}, params={"from": "2026-12-01", "to": "2026-11-01"})
    assert bad_period.status_code == 422
    assert (await intake.client.get("/v1/kpis", headers=intake.partner(), params={"from": "2026-01-01", "to": "2026-02-01"})).status_code == 403


async def test_public_tracking_is_masked_and_needs_the_second_factor(intake):
    made = await scripted_dossiers(intake)
    code = made["A"]["code"]
    view = await intake.client.get(f"/v1/tracking/{code}", params={"phone_last4": BINH_LAST4})
    assert view.status_code == 200
    body = view.json()
    assert body["applicant"] == "T*** V** Bình" and body["phone"] == "*********321"
    assert "056090004321" not in view.text and "987654321" not in view.text
    assert body["national_status"] == 10 and body["national_status_name"] == "Đã trả kết quả"
    assert [(e["event"], e["national_status"]) for e in body["timeline"]] == [
        ("dossier.submitted.v1", 1), ("dossier.accepted.v1", 2), ("payment.succeeded.v1", None),
        ("result.issued.v1", 9), ("result.returned.v1", 10)]
    assert body["timeline"][1]["title"] == "Hồ sơ đã được tiếp nhận, có ngày hẹn trả kết quả"
    assert "contact" not in str(body["timeline"])          # event details are filtered for the public
    receipt = await intake.client.get(body["receipt_url"])
    assert receipt.status_code == 200 and receipt.headers["content-type"] == "application/pdf"
    rejected = (await intake.client.get(f"/v1/tracking/{made['D']['code']}", params={"phone_last4": BINH_LAST4})).json()
    assert rejected["national_status"] == 3 and rejected["timeline"][-1]["details"]["reason"] == "Ngành nghề kinh doanh bị cấm"
    officer_view = (await intake.client.get(f"/v1/dossiers/{made['A']['id']}", headers=intake.officer())).json()
    assert officer_view["applicant"]["citizen_id"] == "056090004321"
    assert officer_view["national_status"] == 10

    wrong = await intake.client.get(f"/v1/tracking/{code}", params={"phone_last4": "0000"})
    unknown = await intake.client.get("/v1/tracking/000.17.22.H56-991231-9999", params={"phone_last4": BINH_LAST4})
    assert wrong.status_code == unknown.status_code == 404 and wrong.json()["type"] == unknown.json()["type"]
    for _ in range(intake.settings.tracking_max_failures):
        await intake.client.get(f"/v1/tracking/{code}", params={"phone_last4": "1111"})
    locked = await intake.client.get(f"/v1/tracking/{code}", params={"phone_last4": BINH_LAST4})
    assert locked.status_code == 429 and locked.headers["Retry-After"]
    # Another replica behind the gateway counts the same attempts (they are in the database).
    replica = create_app(intake.settings, bus=intake.bus)
    async with replica.router.lifespan_context(replica):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=replica), base_url="http://replica") as other:
            assert (await other.get(f"/v1/tracking/{code}", params={"phone_last4": BINH_LAST4})).status_code == 429
            other_code = made["B"]["code"]
            assert (await other.get(f"/v1/tracking/{other_code}", params={"phone_last4": BINH_LAST4})).status_code == 200


async def snapshot(intake, made, key) -> tuple:
    views = []
    for name in "ABCDE":
        response = await intake.client.get(f"/v1/tracking/{made[name]['code']}", params={"phone_last4": BINH_LAST4})
        views.append(response.json())
    metrics = await kpis(intake, key, agency=COMMUNE)
    metrics.pop("generated_at")
    officer = (await intake.client.get(f"/v1/dossiers/{made['A']['id']}", headers=intake.officer())).json()
    return views, metrics, officer


async def replay_from_start(intake) -> None:
    for partition in range(intake.settings.topic_partitions):
        await intake.bus.seek("intake", intake.settings.lifecycle_topic, partition, 0)
    await intake.settle()


async def test_replaying_every_event_twice_changes_nothing(intake):
    made = await scripted_dossiers(intake)
    key = await make_key(intake, ["kpis:read"])
    before = await snapshot(intake, made, key)
    events_before = len(intake.bus.records(intake.settings.lifecycle_topic))
    await replay_from_start(intake)
    await replay_from_start(intake)
    assert await snapshot(intake, made, key) == before
    # Even without the inbox (a restored backup, a new replica), the projection sets, never adds.
    async with intake.kit.uow() as uow:
        await uow.conn.execute(delete(intake.kit.tables.inbox))
        await uow.commit()
    await replay_from_start(intake)
    assert await snapshot(intake, made, key) == before
    assert len(intake.bus.records(intake.settings.lifecycle_topic)) == events_before   # and published nothing new


async def test_a_final_status_is_not_replaced_by_another_services_later_event(intake):
    """Routing may handle the acceptance after the applicant already withdrew: its task.assigned
    comes later on the topic, but the dossier stays withdrawn (7), not processing (4)."""
    made = await scripted_dossiers(intake)
    withdrawn = made["E"]
    await intake.emit(TaskAssigned(dossier_id=withdrawn["id"], task_id="t1", step="tham-dinh", agency=COMMUNE,
                                   due_at=None), "routing")
    await intake.settle()
    view = await intake.client.get(f"/v1/tracking/{withdrawn['code']}", params={"phone_last4": BINH_LAST4})
    assert view.status_code == 200 and view.json()["national_status"] == 7
    assert view.json()["timeline"][-1]["event"] == "task.assigned.v1"     # on the timeline, yet not the status


async def test_a_final_status_wins_even_when_another_service_stamped_a_later_time_first(intake):
    """Routing handled the acceptance before intake's withdrawal reached the topic: its event
    carries a later time but comes first. The withdrawal still ends the dossier (7)."""
    officer = intake.officer(COMMUNE, roles=("dossiers:submit", "dossiers:receive", "dossiers:read"))
    accepted = (await intake.submit(household_business("desk"), headers=officer)).json()
    assert (await intake.act(accepted["id"], "accept", {}, officer)).status_code == 200
    later = make_event(TaskAssigned(dossier_id=accepted["id"], task_id="t2", step="tham-dinh", agency=COMMUNE,
                                    due_at=None), source_service="routing", correlation_id="c")
    later = later.model_copy(update={"time": datetime.now(UTC) + timedelta(minutes=5)})
    await intake.bus.publish([OutgoingRecord(intake.settings.lifecycle_topic, later.subject, later.value_bytes(),
                                             later.to_headers())])
    await intake.settle()
    response = await intake.act(accepted["id"], "withdrawal", {"reason": "Đổi ý"}, officer)
    assert response.status_code == 200, response.text
    await intake.settle()
    view = await intake.client.get(f"/v1/tracking/{accepted['code']}", params={"phone_last4": BINH_LAST4})
    assert view.json()["national_status"] == 7
