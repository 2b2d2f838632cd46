"""Replaying every consumed event twice changes nothing: not the instances, tasks or history, and
no event is published again. Also without the inbox (a restored backup, a new replica): each
handler checks the workflow's state before it acts."""
from __future__ import annotations

from sqlalchemy import delete

from tests.integration.routing.conftest import play_scripted_dossiers, routing_state


async def test_replaying_every_event_twice_changes_nothing(routing):
    routing.bus.duplicate_delivery = True      # every event handled twice from the start, too
    await play_scripted_dossiers(routing)
    before = await routing_state(routing)
    published = len(routing.bus.records(routing.settings.lifecycle_topic))
    assert len(before["instances"]) == 5 and len(before["tasks"]) >= 10
    await routing.replay_from_start("routing")
    await routing.replay_from_start("routing")
    assert await routing_state(routing) == before
    async with routing.kit.uow() as uow:
        await uow.conn.execute(delete(routing.kit.tables.inbox))
        await uow.commit()
    await routing.replay_from_start("routing")
    assert await routing_state(routing) == before
    assert len(routing.bus.records(routing.settings.lifecycle_topic)) == published
