"""The tasks API as desk systems and officers use it: the agency's list ordered by deadline with
cursor pages and filters, claim and assignment, comments, optimistic locking (one of two racing
officers wins, the other gets 409 with the current state), and who may act at all."""
from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import func, select

from services.routing.models import history
from tests.integration.routing.conftest import COMMUNE, MONDAY_9, POLICE


async def test_the_agency_list_is_ordered_by_deadline_with_cursor_pages_and_filters(routing):
    ids = [await routing.accept(p, accepted_at=MONDAY_9 + timedelta(minutes=i))
           for i, p in enumerate(["1.001612", "1.001193", "2.000815", "1.013274", "1.001612"])]
    headers = routing.officer(COMMUNE)
    seen, cursor = [], None
    while True:
        response = await routing.client.get("/v1/tasks", params={"limit": 2, **({"cursor": cursor} if cursor else {})},
                                            headers=headers)
        assert response.status_code == 200, response.text
        page = response.json()
        assert len(page["items"]) <= 2
        seen += page["items"]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert sorted(t["dossier_id"] for t in seen) == sorted(ids)
    dues = [t["due_at"] for t in seen]
    assert dues == sorted(dues)                        # earliest deadline first
    assert all(t["dossier_code"].startswith(COMMUNE) for t in seen)
    leaders = await routing.client.get("/v1/tasks", params={"role": "lanh-dao"}, headers=headers)
    assert {t["step"] for t in leaders.json()["items"]} == {"chung-thuc"}
    police = await routing.client.get("/v1/tasks", params={"agency": POLICE}, headers=headers)
    assert police.status_code == 403
    bad_cursor = await routing.client.get("/v1/tasks", params={"cursor": "not-a-cursor"}, headers=headers)
    assert bad_cursor.status_code == 400 and bad_cursor.headers["content-type"] == "application/problem+json"


async def test_claim_assign_and_comment(routing):
    dossier_id = await routing.accept("1.001612")
    [task] = await routing.open_tasks(dossier_id)
    first = routing.officer(COMMUNE, "chuyen-vien", subject="can-bo-1")
    second = routing.officer(COMMUNE, "chuyen-vien", subject="can-bo-2")
    claimed = await routing.client.post(f"/v1/tasks/{task['id']}/claim", headers={**first, "If-Match": '"1"'})
    assert claimed.status_code == 200 and claimed.json()["assignee"] == "officer:can-bo-1"
    assert claimed.headers["ETag"] == '"2"'
    taken = await routing.client.post(f"/v1/tasks/{task['id']}/claim", headers=second)
    assert taken.status_code == 409 and taken.json()["errors"][0]["current"]["assignee"] == "officer:can-bo-1"
    # The other officer cannot act on a task claimed by a colleague; the unit leader may reassign it.
    blocked = await routing.act(task, "forward", headers=second)
    assert blocked.status_code == 409
    not_leader = await routing.client.post(f"/v1/tasks/{task['id']}/assignment", json={"assignee": "officer:can-bo-2"},
                                           headers=second)
    assert not_leader.status_code == 403
    leader = routing.officer(COMMUNE, "lanh-dao", subject="truong-phong")
    assigned = await routing.client.post(f"/v1/tasks/{task['id']}/assignment", json={"assignee": "officer:can-bo-2"},
                                         headers=leader)
    assert assigned.status_code == 200 and assigned.json()["assignee"] == "officer:can-bo-2"
    mine = await routing.client.get("/v1/tasks", params={"assignee": "me"}, headers=second)
    assert [t["id"] for t in mine.json()["items"]] == [task["id"]]
    comment = await routing.client.post(f"/v1/tasks/{task['id']}/comments", headers={**second, "Idempotency-Key": "c-1"},
                                        json={"text": "Đã đối chiếu bản gốc", "attachments": [
                                            {"name": "bien-ban.pdf", "url": "https://desk.example/files/1",
                                             "sha256": "a" * 64}]})
    again = await routing.client.post(f"/v1/tasks/{task['id']}/comments", headers={**second, "Idempotency-Key": "c-1"},
                                      json={"text": "Đã đối chiếu bản gốc", "attachments": [
                                          {"name": "bien-ban.pdf", "url": "https://desk.example/files/1",
                                           "sha256": "a" * 64}]})
    assert comment.status_code == again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    assert (await routing.act(task, "forward", headers=second)).status_code == 200
    actions = [(h["action"], h["actor"]) for h in await routing.history(dossier_id)]
    assert actions[1:] == [("claimed", "officer:can-bo-1"), ("assigned", "officer:truong-phong"),
                           ("comment", "officer:can-bo-2"), ("forward", "officer:can-bo-2")]


async def test_two_officers_racing_on_one_task_one_wins_the_other_gets_409_with_the_current_state(routing):
    dossier_id = await routing.accept("1.001612")
    [review] = await routing.open_tasks(dossier_id)
    await routing.act(review, "forward", "chuyen-vien")
    [approval] = await routing.open_tasks(dossier_id)
    officers = [routing.officer(COMMUNE, "lanh-dao", subject=s) for s in ("lanh-dao-1", "lanh-dao-2")]
    bodies = [{"action": "approve"}, {"action": "refuse", "reason": "Ngành nghề không được kinh doanh"}]
    responses = await asyncio.gather(*(routing.client.post(
        f"/v1/tasks/{approval['id']}/actions", json=body, headers={**headers, "If-Match": f'"{approval["version"]}"'})
        for body, headers in zip(bodies, officers, strict=True)))
    await routing.settle()
    assert sorted(r.status_code for r in responses) == [200, 409]
    loser = next(r for r in responses if r.status_code == 409).json()
    assert loser["type"].endswith("task-changed") and loser["errors"][0]["current"]["state"] == "completed"
    assert len(await routing.events("dossier.decided.v1", dossier_id)) == 1
    # A stale If-Match is refused the same way, before anything is tried.
    stale = await routing.client.post(f"/v1/tasks/{approval['id']}/actions", json={"action": "approve"},
                                      headers={**officers[0], "If-Match": '"1"'})
    assert stale.status_code == 409


async def snapshot(routing, dossier_id: str) -> tuple:
    process = await routing.process(dossier_id)
    async with routing.kit.uow() as uow:
        entries = (await uow.conn.execute(select(func.count()).select_from(history)
                                          .where(history.c.dossier_id == dossier_id))).scalar_one()
    return process, entries, len(routing.bus.records(routing.settings.lifecycle_topic))


async def test_unauthorized_and_unknown_actions_are_refused_and_change_nothing(routing):
    dossier_id = await routing.accept("1.001612")
    [task] = await routing.open_tasks(dossier_id)
    before = await snapshot(routing, dossier_id)
    path = f"/v1/tasks/{task['id']}/actions"
    cases = {
        "wrong role": (routing.officer(COMMUNE, "lanh-dao"), {"action": "forward"}, 403),
        "wrong agency": (routing.officer(POLICE, "chuyen-vien"), {"action": "forward"}, 403),
        "citizen token": ({"Authorization": "Bearer " + routing.token(agency=COMMUNE, roles=["citizen"])},
                          {"action": "forward"}, 403),
        "no credentials": ({}, {"action": "forward"}, 401),
        "unknown action": (routing.officer(COMMUNE, "chuyen-vien"), {"action": "teleport"}, 422),
        "action the step lacks": (routing.officer(COMMUNE, "chuyen-vien"), {"action": "approve"}, 422),
        "target the action lacks": (routing.officer(COMMUNE, "chuyen-vien"), {"action": "forward", "to": "tham-dinh"}, 422),
        "supplement without items": (routing.officer(COMMUNE, "chuyen-vien"), {"action": "request_supplement"}, 422),
        "bad If-Match": ({**routing.officer(COMMUNE, "chuyen-vien"), "If-Match": "abc"}, {"action": "forward"}, 400),
    }
    for name, (headers, body, status) in cases.items():
        response = await routing.client.post(path, json=body, headers=headers)
        assert response.status_code == status, (name, response.text)
        assert response.headers["content-type"] == "application/problem+json", name
    await routing.settle()
    assert await snapshot(routing, dossier_id) == before
    assert (await routing.client.get("/v1/tasks/nope", headers=routing.officer(COMMUNE))).status_code == 404
    assert (await routing.client.get(f"/v1/processes/{dossier_id}", headers=routing.officer(POLICE))).status_code == 403
