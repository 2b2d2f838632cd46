"""Results on real Kafka and PostgreSQL: an approved dossier yields one signed PDF that pyHanko
validates against the test CA as intact and trusted, editing one byte makes verification fail, a
refused dossier yields a signed refusal letter - and delivering every dossier.decided twice
still makes one document each."""
from __future__ import annotations

import uuid
from dataclasses import dataclass

import pytest

from services.results.adapters.signing import verify
from tests.integration.results.conftest import ResultsHarness, running_results
from tests.integration.results.test_results import pyhanko_cli_accepts
from tests.system.kafka_harness import OnKafka

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]


@dataclass
class KafkaResultsHarness(OnKafka, ResultsHarness):
    bootstrap: str = ""


async def test_signed_results_on_kafka_once_each_even_when_decisions_arrive_twice(postgres_url, kafka_broker, tmp_path):
    async with running_results(postgres_url, tmp_path, None, kafka_bootstrap_servers=kafka_broker.bootstrap_servers,
                               lifecycle_topic=f"lifecycle-{uuid.uuid4().hex[:8]}") as parts:
        harness = KafkaResultsHarness(**parts, bootstrap=kafka_broker.bootstrap_servers)
        approved = await harness.decided()
        refused = await harness.decided("refused", reason="Địa điểm kinh doanh không phù hợp quy hoạch")
        await harness.deliver_every_record_again()
        await harness.settle()
        ca = harness.ctx.signer.trust_roots_pem()
        [result] = await harness.results_of(approved)
        [letter] = await harness.results_of(refused)
        assert (result["kind"], letter["kind"]) == ("approval", "refusal")
        for document in (result, letter):
            pdf = await harness.pdf(document)
            checked = await verify(pdf, ca)
            assert checked.intact and checked.trusted and checked.ok
            assert pyhanko_cli_accepts(pdf, ca, tmp_path)
            broken = bytearray(pdf)
            broken[len(pdf) // 2] ^= 0x20
            assert not (await verify(bytes(broken), ca)).ok
        issued = await harness.events("result.issued.v1")     # the originals and the test's copies of them
        assert {e["result_id"] for e in issued} == {result["id"], letter["id"]}
