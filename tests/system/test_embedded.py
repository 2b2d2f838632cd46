"""The embedded default: five services, one process, SQLite files, the in-memory bus, one port."""
from __future__ import annotations

import asyncio
import uuid

import httpx
from sqlalchemy import func, select

from services.embedded import EmbeddedBackbone
from shared.settings import SERVICE_NAMES


async def receipts(backbone: EmbeddedBackbone, name: str) -> int:
    kit = backbone.kit(name)
    async with kit.uow() as uow:
        return (await uow.conn.execute(select(func.count()).select_from(kit.tables.probe_receipts))).scalar_one()


async def test_embedded_backbone_serves_all_five_and_replaying_everything_twice_changes_nothing(tmp_path):
    async with EmbeddedBackbone(tmp_path) as backbone:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=backbone.gateway), base_url="http://e") as http:
            assert (await http.get("/readyz")).status_code == 200
            for name in SERVICE_NAMES:
                assert (await http.get(f"/v1/{name}/healthz")).json()["service"] == name
                ready = await http.get(f"/v1/{name}/readyz")
                assert ready.status_code == 200 and all(ready.json()["checks"].values())
                assert (await http.get(f"/v1/{name}/openapi.json")).status_code == 200
            assert (await http.get("/v1/nowhere")).headers["content-type"] == "application/problem+json"

            headers = {"X-API-Key": backbone.dev_api_key}
            sent = []
            for n in range(10):
                r = await http.post("/v1/intake/probes", json={"dossier_id": f"d{n % 3}"},
                                    headers={**headers, "Idempotency-Key": str(uuid.uuid4())})
                assert r.status_code == 202
                sent.append(r.json())
            for _ in range(50):
                await backbone.bus.wait_idle()
                if await backbone.kit("intake").relay.pending_count() == 0:
                    break
            await backbone.bus.wait_idle()
            assert [await receipts(backbone, n) for n in SERVICE_NAMES] == [10] * 5
            r = await http.get(f"/v1/results/probes/{sent[0]['probe_id']}", headers=headers)
            assert r.status_code == 200

            # Replay the whole topic to every group, twice over, with every record delivered twice.
            backbone.bus.duplicate_delivery = True
            topic = "dossier.lifecycle"
            for _ in range(2):
                for name in SERVICE_NAMES:
                    for partition in range(backbone.bus.partitions):
                        await backbone.bus.seek(name, topic, partition, 0)
                await backbone.bus.wait_idle()
            assert [await receipts(backbone, n) for n in SERVICE_NAMES] == [10] * 5
        key = backbone.dev_api_key

    async with EmbeddedBackbone(tmp_path) as restarted:  # same files: data and dev key survive
        assert restarted.dev_api_key == key
        assert await receipts(restarted, "routing") == 10


async def test_missing_or_wrong_api_key_is_a_problem(tmp_path):
    async with EmbeddedBackbone(tmp_path) as backbone:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=backbone.gateway), base_url="http://e") as http:
            r = await http.post("/v1/intake/probes", json={}, headers={"Idempotency-Key": "x"})
            assert r.status_code == 401 and r.json()["type"] == "urn:onestop:problem:unauthorized"
            r = await http.post("/v1/intake/probes", json={}, headers={"Idempotency-Key": "x", "X-API-Key": "osk_nope"})
            assert r.status_code == 401
            r = await http.post("/v1/intake/probes", content=b"{broken", headers={
                "Idempotency-Key": "x", "X-API-Key": backbone.dev_api_key, "Content-Type": "application/json"})
            assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json"


async def test_demo_data_loads_once_through_the_api_on_the_embedded_default(tmp_path):
    from services.demo import load_embedded_demo
    async with EmbeddedBackbone(tmp_path) as backbone:
        dossiers = await load_embedded_demo(backbone, "http://embedded")
        assert {d.status for d in dossiers} == {"accepted", "supplement_requested", "rejected", "submitted", "withdrawn"}
        assert await load_embedded_demo(backbone, "http://embedded") == []      # already there: nothing twice
        transport = httpx.ASGITransport(backbone.gateway)
        async with httpx.AsyncClient(transport=transport, base_url="http://embedded") as client:
            # Routing starts processing an accepted dossier (status 4) as soon as it sees the acceptance.
            expected = {"accepted": 4, "supplement_requested": 5, "rejected": 3, "submitted": 1, "withdrawn": 7}
            for dossier in dossiers:
                for _ in range(100):
                    view = await client.get(f"/v1/tracking/{dossier.code}", params={"phone_last4": dossier.phone_last4})
                    assert view.status_code == 200, view.text
                    if view.json()["national_status"] == expected[dossier.status]:
                        break
                    await asyncio.sleep(0.05)
                assert view.json()["national_status"] == expected[dossier.status], dossier.status
