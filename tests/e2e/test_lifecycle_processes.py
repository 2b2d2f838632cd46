"""End to end: all five services as separate processes on real Kafka and PostgreSQL, the outside
systems as real servers. The demo lives (services/lives.py) play through the gateway: submission,
acceptance, online payment on the platform's page, the workflow, the signed result, its return
online and by post. Then the same with faults: every service killed (SIGKILL) and restarted in
turn, the broker restarted, every event delivered a second time - and the outcome is the same:
each dossier returned once, one payment each, one signed result each, each message once."""
from __future__ import annotations

import asyncio
import random

import httpx
import pytest

from services.lives import OFFICER_ROLES as ROLES
from services.lives import Player, lives
from shared.settings import SERVICE_NAMES
from tests.e2e.backbone import Backbone, running_backbone
from tests.system.kafka_harness import read_topic

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]


async def outcome(backbone: Backbone, client: httpx.AsyncClient, played) -> dict:
    """What the citizen, the bank, the postman and the mailbox see, per dossier (ids aside)."""
    seen = {}
    response = await client.get(f"{backbone.sims['payment-platform']}/_sim/transactions")
    assert response.status_code == 200, response.text[:500]
    transactions = response.json()
    for life in played:
        view = (await client.get(f"{backbone.base}/v1/tracking/{life.dossier['code']}",
                                 params={"phone_last4": life.last4})).json()
        results = (await client.get(f"{backbone.base}/v1/results", params={"dossier_id": life.dossier["id"]},
                                    headers={"X-API-Key": backbone.api_key})).json()["items"]
        verdicts = [(await client.get(f"{backbone.base}/v1/results/verify",
                                      params={"number": r["document_number"]})).json()["verdict"] for r in results]
        paid = [t for t in transactions if t["reference"].startswith(life.dossier["code"]) and t["status"] == "00"]
        events = sorted(e["event"] for e in view["timeline"] if e["event"] not in ("task.assigned.v1",))
        seen[life.story] = {"status": view["national_status"], "results": verdicts, "charged": len(paid),
                            "events": events}
    seen["mails"] = sorted(m["subject"].split(" ", 2)[0] + " " + m["subject"][-20:] for m in backbone.mailbox.messages)
    return seen


async def play_all(backbone: Backbone, client: httpx.AsyncClient, chaos=None):
    player = Player(client, backbone.api_key, lambda agency: backbone.token(agency, ROLES), say=lambda _: None,
                    timeout_s=90)
    played = []
    for life in lives():
        task = asyncio.create_task(player.play(life))
        if chaos:
            await chaos()
        played.append(await task)
    return played


async def settle(backbone: Backbone, client: httpx.AsyncClient, played) -> None:
    """Until every dossier has ended and the messages stop changing."""
    for _ in range(120):
        done = [(await client.get(f"{backbone.base}/v1/tracking/{life.dossier['code']}",
                                  params={"phone_last4": life.last4})).json()["national_status"] for life in played]
        if all(status == 10 for status in done):
            break
        await asyncio.sleep(0.5)
    before = -1
    while before != len(backbone.mailbox.messages):
        before = len(backbone.mailbox.messages)
        await asyncio.sleep(2)


async def test_whole_lives_and_the_same_outcome_through_kills_a_broker_restart_and_duplicates(
        postgres_server, kafka_broker, tmp_path):
    async with httpx.AsyncClient(timeout=60) as client:
        async with running_backbone(postgres_server, kafka_broker, tmp_path / "calm") as calm:
            client.base_url = calm.base
            played = await play_all(calm, client)
            await settle(calm, client, played)
            undisturbed = await outcome(calm, client, played)
        for story, life in undisturbed.items():
            if story != "mails":
                assert life["status"] == 10 and life["results"] == ["valid"] and life["charged"] == 1, life
                assert {"payment.succeeded.v1", "dossier.decided.v1", "result.issued.v1", "result.returned.v1",
                        "dossier.processing_started.v1"} <= set(life["events"]), life["events"]
        assert len(undisturbed["mails"]) >= 4     # the e-mail applicant's messages, each once

        async with running_backbone(postgres_server, kafka_broker, tmp_path / "storm") as storm:
            client.base_url = storm.base
            victims = list(SERVICE_NAMES)
            random.Random(7).shuffle(victims)

            async def chaos() -> None:   # kill -9 a service at a random moment, then bring it back
                await asyncio.sleep(random.uniform(0.2, 1.5))
                victim = victims.pop() if victims else None
                if victim:
                    storm.kill(victim)
                    await asyncio.sleep(0.5)
                    storm.start(victim)
                    await storm.ready(victim)
            played = await play_all(storm, client, chaos)
            for victim in list(victims):   # the rest of the services, each killed once after the lives
                storm.kill(victim)
                storm.start(victim)
                await storm.ready(victim)
            kafka_broker.restart()
            for name in SERVICE_NAMES:
                await storm.ready(name, timeout=120)
            # Every event on the topic delivered a second time.
            from aiokafka import AIOKafkaProducer
            records = await read_topic(kafka_broker.bootstrap_servers, storm.env["intake"]["LIFECYCLE_TOPIC"])
            producer = AIOKafkaProducer(bootstrap_servers=kafka_broker.bootstrap_servers)
            await producer.start()
            try:
                for r in records:
                    await producer.send(r.topic, r.value, key=r.key, headers=list(r.headers))
                await producer.flush()
            finally:
                await producer.stop()
            await settle(storm, client, played)
            disturbed = await outcome(storm, client, played)
        assert disturbed == undisturbed
