"""Idempotency-Key on a real database: replays, conflicts, concurrency, expiry."""
from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, insert, select

from shared.idempotency import Created, IdempotentExecutor
from shared.problems import ProblemError


def creating_action(kit, calls: list):
    async def action(uow) -> Created:
        calls.append(1)
        n = len(calls)
        await uow.conn.execute(insert(kit.tables.probe_receipts).values(
            probe_id=f"p{n}", event_id=f"e{n}", dossier_id="d", received_at=datetime.now(UTC)))
        return Created(201, {"id": f"p{n}"}, location=f"/things/p{n}")
    return action


async def rows(kit) -> int:
    async with kit.uow() as uow:
        return (await uow.conn.execute(select(func.count()).select_from(kit.tables.probe_receipts))).scalar_one()


async def test_same_key_same_body_answers_the_first_response(kit):
    calls: list = []
    first = await kit.idempotency.run(scope="apikey:a", key="k1", request_body=b'{"x":1}',
                                      action=creating_action(kit, calls))
    again = await kit.idempotency.run(scope="apikey:a", key="k1", request_body=b'{"x":1}',
                                      action=creating_action(kit, calls))
    assert first.status_code == again.status_code == 201
    assert first.body == again.body and again.headers["Idempotent-Replayed"] == "true"
    assert again.headers["Location"] == "/things/p1"
    assert len(calls) == 1 and await rows(kit) == 1


async def test_same_key_other_body_is_a_conflict_and_scopes_do_not_collide(kit):
    calls: list = []
    await kit.idempotency.run(scope="apikey:a", key="k1", request_body=b"1", action=creating_action(kit, calls))
    try:
        await kit.idempotency.run(scope="apikey:a", key="k1", request_body=b"2", action=creating_action(kit, calls))
        raise AssertionError("expected a 409")
    except ProblemError as problem:
        assert problem.status == 409 and problem.slug == "idempotency-key-reused"
    other = await kit.idempotency.run(scope="apikey:b", key="k1", request_body=b"2", action=creating_action(kit, calls))
    assert other.status_code == 201 and len(calls) == 2


async def test_concurrent_requests_with_one_key_create_once(kit):
    calls: list = []
    responses = await asyncio.gather(*(kit.idempotency.run(
        scope="apikey:a", key="race", request_body=b"{}", action=creating_action(kit, calls)) for _ in range(4)))
    assert {r.body for r in responses} == {responses[0].body}
    assert await rows(kit) == 1


async def test_an_expired_key_can_be_used_again(kit):
    executor = IdempotentExecutor(kit.uow, ttl=timedelta(seconds=-1))  # already expired when stored
    calls: list = []
    await executor.run(scope="s", key="k", request_body=b"1", action=creating_action(kit, calls))
    second = await executor.run(scope="s", key="k", request_body=b"2", action=creating_action(kit, calls))
    assert second.status_code == 201 and len(calls) == 2
    assert await executor.purge_expired() == 1
