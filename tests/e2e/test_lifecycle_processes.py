"""End to end: all five services as separate processes on real Kafka and PostgreSQL, the outside
systems as real servers. Every catalogue life (services/lives.py) plays at once through the
gateway, undisturbed; then again while each service in turn is killed (SIGKILL) at a random moment
and restarted, then the broker is restarted and every event on the topic delivered a second time.
The outcome is the same for every dossier: its final status, the timeline's facts, the platform's
charges (never two), one valid signed result, and each message once - in the notifications log,
at the SMS providers and Zalo, and in the mailbox."""
from __future__ import annotations

import asyncio
import random

import httpx
import pytest
from aiokafka import AIOKafkaProducer

from services.lives import OFFICER_ROLES as ROLES
from services.lives import Player, catalogue_lives
from services.payments.adapters.platform import PAID, REFUNDED
from shared.settings import SERVICE_NAMES
from tests.e2e.backbone import Backbone, get_json, running_backbone
from tests.system.kafka_harness import read_topic

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]


async def outcome(backbone: Backbone, client: httpx.AsyncClient, played) -> dict:
    """What the citizen, the bank, the postman and the message providers see, per dossier (ids aside)."""
    seen = {}
    transactions = await get_json(client, f"{backbone.sims['payment-platform']}/_sim/transactions")
    texts = [m["text"] for name in ("sms-a", "sms-b", "zalo")
             for m in await get_json(client, f"{backbone.sims[name]}/_sim/messages")]
    partner = {"X-API-Key": backbone.api_key}
    for life in played:
        code = life.dossier["code"]
        view = await get_json(client, f"{backbone.base}/v1/tracking/{code}", params={"phone_last4": life.last4})
        results = (await get_json(client, f"{backbone.base}/v1/results", params={"dossier_id": life.dossier["id"]},
                              headers=partner))["items"]
        verdicts = [(await get_json(client, f"{backbone.base}/v1/results/verify",
                                params={"number": r["document_number"]}))["verdict"] for r in results]
        messages = (await get_json(client, f"{backbone.base}/v1/notifications/dossiers/{life.dossier['id']}/messages",
                               headers=partner))["items"]
        charged = [t["status"] for t in transactions if t["reference"].startswith(code)]
        events = sorted(e["event"] for e in view["timeline"] if e["event"] not in ("task.assigned.v1",))
        seen[life.story] = {
            "status": view["national_status"], "results": verdicts, "charged": sorted(charged), "events": events,
            "messages": sorted((m["template"], m["channel"], m["state"]) for m in messages),
            "received": sum(code in text for text in texts),
            "mails": sum(code in m["subject"] for m in backbone.mailbox.messages)}
    return seen



async def play_all(backbone: Backbone, client: httpx.AsyncClient, chaos=None):
    """Every catalogue life at once, as dossiers arrive; `chaos` runs alongside."""
    player = Player(client, backbone.api_key, lambda agency: backbone.token(agency, ROLES), say=lambda _: None,
                    timeout_s=120)
    played = catalogue_lives()
    await asyncio.gather(*(player.play(life) for life in played), *([chaos()] if chaos else []))
    return played


async def settle(backbone: Backbone, client: httpx.AsyncClient, played) -> None:
    """Until every dossier has ended and what the providers and the mailbox received stops changing."""
    for _ in range(240):
        done = [(await get_json(client, f"{backbone.base}/v1/tracking/{life.dossier['code']}",
                            params={"phone_last4": life.last4}))["national_status"] for life in played]
        if done == [life.ends_at for life in played]:
            break
        await asyncio.sleep(0.5)
    before = None
    while True:
        now = [len(backbone.mailbox.messages)] + [
            len(await get_json(client, f"{backbone.sims[name]}/_sim/messages")) for name in ("sms-a", "sms-b", "zalo")]
        if now == before:
            return
        before = now
        await asyncio.sleep(2)


async def test_whole_lives_and_the_same_outcome_through_kills_a_broker_restart_and_duplicates(
        postgres_server, kafka_broker, tmp_path):
    async with httpx.AsyncClient(timeout=60) as client:
        async with running_backbone(postgres_server, kafka_broker, tmp_path / "calm") as calm:
            client.base_url = calm.base
            played = await play_all(calm, client)
            await settle(calm, client, played)
            undisturbed = await outcome(calm, client, played)
        for life in played:
            seen = undisturbed[life.story]
            assert seen["status"] == life.ends_at, seen
            assert seen["results"] == ([] if life.withdraw_when else ["valid"]), seen
            assert len([c for c in seen["charged"] if c in (PAID, REFUNDED)]) <= 1, seen
            assert seen["received"] and seen["messages"], seen

        async with running_backbone(postgres_server, kafka_broker, tmp_path / "storm") as storm:
            client.base_url = storm.base
            victims = list(SERVICE_NAMES)
            random.Random(7).shuffle(victims)

            async def chaos() -> None:   # kill -9 each service in turn at a random moment, then bring it back
                rng = random.Random(11)
                for victim in victims:
                    await asyncio.sleep(rng.uniform(0.5, 3.0))
                    storm.kill(victim)
                    await asyncio.sleep(0.5)
                    storm.start(victim)
                    await storm.ready(victim)
            played = await play_all(storm, client, chaos)
            kafka_broker.restart()
            for name in SERVICE_NAMES:
                await storm.ready(name, timeout=120)
            # Every event on the topic delivered a second time.
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
