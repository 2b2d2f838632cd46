"""Submitting dossiers through every channel, with uploads, pre-fill and every kind of bad input."""
import asyncio
import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from services.intake.models import dossiers, population_lookups, uploads
from tests.integration.intake.conftest import COMMUNE, PDF, PNG, POLICE, make_key
from tests.integration.intake.samples import MAI, birth, construction_permit, household_business, judicial_record

CODE = re.compile(r"^(?P<agency>\d{3}\.\d{2}\.\d{2}\.H56)-(?P<day>\d{6})-(?P<seq>\d{4,})$")


async def birth_uploads(intake) -> dict[str, str]:
    return {"to_khai": await intake.upload(), "giay_chung_sinh": await intake.upload(PNG, "chung-sinh.png", "image/png")}


async def test_every_channel_and_several_procedures(intake):
    desk = intake.officer(COMMUNE, roles=("dossiers:submit", "dossiers:receive", "dossiers:read"))
    responses = {
        "online birth": await intake.submit(birth(await birth_uploads(intake))),
        "desk household business": await intake.submit(household_business("desk"), headers=desk),
        "postal judicial record": await intake.submit(judicial_record("postal")),
        "postal construction permit (organisation)": await intake.submit(construction_permit("postal")),
    }
    for what, response in responses.items():
        assert response.status_code == 201, (what, response.text)
        body = response.json()
        assert CODE.match(body["code"]), body["code"]
        assert body["tracking_url"] == f"https://dichvucong.example/v1/tracking/{body['code']}"
        assert response.headers["Location"] == f"/v1/dossiers/{body['id']}"
    commune_codes = [responses[k].json()["code"] for k in ("online birth", "desk household business",
                                                           "postal construction permit (organisation)")]
    assert [CODE.match(c)["seq"] for c in commune_codes] == ["0001", "0002", "0003"]   # per agency per day
    assert CODE.match(responses["postal judicial record"].json()["code"])["agency"] == POLICE
    assert responses["online birth"].json()["answer_due_at"] is not None   # online: answer in 8 working hours
    assert responses["desk household business"].json()["answer_due_at"] is None

    await intake.settle()
    submitted = await intake.events("dossier.submitted.v1")
    assert len(submitted) == 4
    online = next(e for e in submitted if e["channel"] == "online")
    assert online["contact"] == {"kind": "person", "name": "Nguyễn Thị Mai", "phone": "+84912345678",
                                 "email": "Mai.Nguyen@example.vn", "channels": ["sms", "email"], "non_essential": True}
    assert online["documents"] == 2
    raw = b"".join(r.value for r in intake.bus.records(intake.settings.lifecycle_topic))
    assert b"079203001234" not in raw and b"056090004321" not in raw   # no ID numbers in events


async def test_personal_data_is_encrypted_at_rest(intake):
    response = await intake.submit(birth(await birth_uploads(intake)))
    async with intake.kit.uow() as uow:
        row = (await uow.conn.execute(select(dossiers).where(dossiers.c.id == response.json()["id"]))).one()
    assert b"079203001234" not in row.sealed and b"0912" not in row.sealed
    assert row.applicant_name_masked == "N***** T** Mai"
    assert intake.ctx.sealer.open(row.sealed)["applicant"]["citizen_id"] == "079203001234"


async def test_idempotency_key_replays_and_refuses_another_body(intake):
    body = household_business("postal")
    first = await intake.submit(body, key="same-key")
    again = await intake.submit(body, key="same-key")
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json() and again.headers["Idempotent-Replayed"] == "true"
    other = await intake.submit(household_business("online"), key="same-key")
    assert other.status_code == 409 and other.json()["type"].endswith("idempotency-key-reused")
    missing = await intake.client.post("/v1/dossiers", json=body, headers=intake.partner())
    assert missing.status_code == 400 and missing.json()["errors"][0]["field"] == "header.Idempotency-Key"
    async with intake.kit.uow() as uow:
        assert (await uow.conn.execute(select(func.count()).select_from(dossiers))).scalar_one() == 1


async def test_concurrent_submissions_get_unique_codes(intake):
    responses = await asyncio.gather(*[intake.submit(household_business("postal")) for _ in range(20)])
    assert all(r.status_code == 201 for r in responses), [r.text for r in responses if r.status_code != 201]
    sequences = sorted(int(CODE.match(r.json()["code"])["seq"]) for r in responses)
    assert sequences == list(range(1, 21))


async def counts(intake) -> tuple[int, int, int]:
    async with intake.kit.uow() as uow:
        t = intake.kit.tables.outbox
        return tuple([(await uow.conn.execute(select(func.count()).select_from(table))).scalar_one()
                      for table in (dossiers, t, uploads)])  # type: ignore[return-value]


BAD_BODIES = {
    "missing applicant": ({"procedure_code": "1.001612", "channel": "postal", "form": {}}, 422, "applicant"),
    "unknown channel": ({**household_business(), "channel": "fax"}, 422, "channel"),
    "unknown procedure": ({**household_business(), "procedure_code": "9.999999"}, 422, "procedure_code"),
    "wrong form data": ({**household_business("postal"), "form": {"business_name": "X", "capital_vnd": "nhiều"}},
                        422, "form.capital_vnd"),
    "invalid citizen ID": ({**household_business("postal"), "applicant": {**MAI, "citizen_id": "003203001234"}},
                           422, "applicant.citizen_id"),
    "invalid phone": ({**household_business("postal"), "applicant": {**MAI, "phone": "12345"}}, 422, "applicant.phone"),
    "organisation for a person-only procedure": (
        {**birth({}), "applicant": {"kind": "organisation", "full_name": "Công ty A", "tax_code": "0100109106",
                                    "email": "a@b.vn"}}, 422, "applicant.kind"),
    "online without mandatory documents": (birth({}), 422, "documents.to_khai"),
    "unknown upload": ({**household_business("postal"),
                        "documents": [{"code": "giay_de_nghi", "upload_id": "nope"}]}, 422, "documents[0].upload_id"),
    "exemption without proof": ({**judicial_record(), "fee_exemption": {"group": "student"}}, 422,
                                "fee_exemption.proof_reference"),
    "unknown receiving agency": ({**household_business("postal"), "receiving_agency": "000.99.99.H56"}, 422,
                                 "receiving_agency"),
    "extra field": ({**household_business("postal"), "surprise": True}, 422, "surprise"),
}


@pytest.mark.parametrize("case", BAD_BODIES, ids=list(BAD_BODIES))
async def test_bad_input_is_a_named_4xx_and_stores_nothing(intake, case):
    body, status, field = BAD_BODIES[case]
    before = await counts(intake)
    response = await intake.submit(body)
    assert response.status_code == status, response.text
    problem = response.json()
    assert response.headers["content-type"].startswith("application/problem+json")
    assert any(e["field"] == field for e in problem["errors"]), problem["errors"]
    assert problem.get("detail_vi")
    assert await counts(intake) == before


async def test_desk_submission_only_at_your_own_desk(intake):
    police_officer = intake.officer(POLICE, roles=("dossiers:submit",))
    response = await intake.submit(household_business("desk"), headers=police_officer)
    assert response.status_code == 422 and response.json()["errors"][0]["field"] == "receiving_agency"


async def test_uploads_check_size_type_and_hash(intake):
    key = {"Idempotency-Key": "u1"}
    big = PDF + b"0" * (1024 * 1024)
    too_big = await intake.client.post("/v1/dossiers/uploads", files={"file": ("big.pdf", big, "application/pdf")},
                                       headers=intake.partner(**key))
    assert too_big.status_code == 413
    text = await intake.client.post("/v1/dossiers/uploads", files={"file": ("a.pdf", b"hello", "application/pdf")},
                                    headers=intake.partner(**{"Idempotency-Key": "u2"}))
    assert text.status_code == 415
    disguised = await intake.client.post("/v1/dossiers/uploads", files={"file": ("a.pdf", PNG, "application/pdf")},
                                         headers=intake.partner(**{"Idempotency-Key": "u3"}))
    assert disguised.status_code == 415
    ok = await intake.client.post("/v1/dossiers/uploads", files={"file": ("to khai.pdf", PDF, "application/pdf")},
                                  headers=intake.partner(**{"Idempotency-Key": "u4"}))
    assert ok.status_code == 201
    import hashlib
    assert ok.json()["sha256"] == hashlib.sha256(PDF).hexdigest()
    async with intake.kit.uow() as uow:
        key = (await uow.conn.execute(select(uploads.c.storage_key).where(uploads.c.id == ok.json()["upload_id"]))).scalar()
    assert await intake.ctx.storage.get(key) == PDF


async def test_uploads_no_dossier_used_are_deleted_after_the_retention(intake):
    kept, stale = await intake.upload(), await intake.upload()
    assert (await intake.submit({**household_business("postal"),
                                 "documents": [{"code": "giay_de_nghi", "upload_id": kept}]})).status_code == 201
    async with intake.kit.uow() as uow:
        keys = dict((await uow.conn.execute(select(uploads.c.id, uploads.c.storage_key))).all())
    purge = intake.kit.definition.periodic[1].run
    assert await purge(intake.kit) == 0                       # within the retention
    intake.clock[0] = datetime.now(UTC) + timedelta(hours=intake.settings.upload_retention_hours, minutes=1)
    assert await purge(intake.kit) == 1
    async with intake.kit.uow() as uow:
        left = (await uow.conn.execute(select(uploads.c.id))).scalars().all()
    assert left == [kept]
    assert not await intake.ctx.storage.exists(keys[stale]) and await intake.ctx.storage.exists(keys[kept])


async def test_an_upload_serves_one_dossier_and_only_its_owner(intake):
    upload = await intake.upload()
    other_partner = await make_key(intake, ["dossiers:submit"])
    stolen = await intake.submit({**household_business("postal"),
                                  "documents": [{"code": "giay_de_nghi", "upload_id": upload}]},
                                 headers={"X-API-Key": other_partner})
    assert stolen.status_code == 422
    body = {**household_business("postal"), "documents": [{"code": "giay_de_nghi", "upload_id": upload}]}
    assert (await intake.submit(body)).status_code == 201
    assert (await intake.submit(body)).status_code == 422   # already attached


async def test_credentials_and_permissions(intake):
    body = household_business("postal")
    assert (await intake.client.post("/v1/dossiers", json=body, headers={"Idempotency-Key": "x"})).status_code == 401
    reader = await make_key(intake, ["dossiers:read"])
    forbidden = await intake.submit(body, headers={"X-API-Key": reader})
    assert forbidden.status_code == 403
    bad_token = await intake.submit(body, headers={"Authorization": "Bearer not.a.token"})
    assert bad_token.status_code == 401
    from shared.auth import issue_officer_token
    from tests.integration.intake.conftest import JWT_SECRET
    common = {"subject": "x", "name": "x", "agency": COMMUNE, "roles": ["dossiers:submit"]}
    forged = issue_officer_token("another-secret-0123456789abcdefgh", issuer=intake.settings.officer_jwt_issuer,
                                 audience=intake.settings.officer_jwt_audience, **common)
    expired = issue_officer_token(JWT_SECRET, issuer=intake.settings.officer_jwt_issuer,
                                  audience=intake.settings.officer_jwt_audience, ttl_s=-60, **common)
    other_audience = issue_officer_token(JWT_SECRET, issuer=intake.settings.officer_jwt_issuer, audience="elsewhere",
                                         **common)
    for token in (forged, expired, other_audience):
        assert (await intake.submit(body, headers={"Authorization": f"Bearer {token}"})).status_code == 401


async def test_prefill_from_the_population_database(intake, population_server):
    answer = await intake.client.post("/v1/dossiers/prefill", headers=intake.partner(), json={
        "citizen_id": "079203001234", "purpose": "Khai hồ sơ đăng ký khai sinh", "procedure_code": "1.001193"})
    assert answer.status_code == 200
    assert answer.json()["outcome"] == "found"
    assert answer.json()["applicant"]["full_name"] == "Nguyễn Thị Mai"
    assert answer.json()["applicant"]["address"] == "12 Trần Phú, phường Nha Trang"
    unknown = await intake.client.post("/v1/dossiers/prefill", headers=intake.partner(), json={
        "citizen_id": "079203009999", "purpose": "Khai hồ sơ"})
    assert unknown.json()["outcome"] == "not_found" and unknown.json()["applicant"] is None
    import httpx
    async with httpx.AsyncClient(base_url=population_server) as sim:
        await sim.post("/_sim/mode", json={"mode": "down"})
        try:
            down = await intake.client.post("/v1/dossiers/prefill", headers=intake.partner(), json={
                "citizen_id": "079203001234", "purpose": "Khai hồ sơ"})
        finally:
            await sim.post("/_sim/mode", json={"mode": "normal"})
        seen = (await sim.get("/_sim/lookups")).json()
    assert down.status_code == 200 and down.json()["outcome"] == "unavailable"
    assert seen[0]["personal_id"] == "079203001234" and seen[0]["purpose"] == "Khai hồ sơ đăng ký khai sinh"
    async with intake.kit.uow() as uow:
        logged = (await uow.conn.execute(select(population_lookups).order_by(population_lookups.c.id))).all()
    assert [r.outcome for r in logged] == ["found", "not_found", "unavailable"]
    assert all(r.subject_masked.endswith(("234", "999")) and "0792" not in r.subject_masked for r in logged)
    assert logged[0].requested_by.startswith("partner:") and logged[0].purpose == "Khai hồ sơ đăng ký khai sinh"
    invalid = await intake.client.post("/v1/dossiers/prefill", headers=intake.partner(), json={
        "citizen_id": "12", "purpose": "Khai hồ sơ"})
    assert invalid.status_code == 422 and invalid.json()["errors"][0]["field"] == "citizen_id"
