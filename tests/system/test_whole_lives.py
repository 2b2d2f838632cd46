"""Whole lives across all five services on the embedded default, served on a real port so the
simulators (payment platform, postal service, SMS providers) can call back: submission, desk
acceptance, online payment on the platform's page, the routing workflow, the signed result and its
return (online download, and by post) - every service doing its part, checked from the outside."""
from __future__ import annotations

import asyncio

import httpx
import uvicorn

from services.embedded import EmbeddedBackbone
from services.lives import OFFICER_ROLES as ROLES
from services.lives import Player, lives
from tests.conftest import wait_until
from tests.infra import free_port



async def test_dossiers_live_from_submission_to_a_returned_signed_result(tmp_path):
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    backbone = EmbeddedBackbone(tmp_path, base_url=base)
    server = uvicorn.Server(uvicorn.Config(backbone.gateway, host="127.0.0.1", port=port, lifespan="on",
                                           log_level="warning"))
    serving = asyncio.create_task(server.serve())
    try:
        while not server.started:
            await asyncio.sleep(0.05)
        said: list[str] = []
        async with httpx.AsyncClient(base_url=base, timeout=30) as client:
            player = Player(client, backbone.dev_api_key, lambda agency: backbone.officer_token(agency=agency, roles=ROLES),
                            say=said.append, timeout_s=30)
            played = [await player.play(life) for life in lives(more=True)]
            for life in played:
                view = (await client.get(f"/v1/tracking/{life.dossier['code']}",
                                         params={"phone_last4": life.last4})).json()
                events = [e["event"] for e in view["timeline"]]
                expected = ["dossier.submitted.v1", "dossier.accepted.v1", "dossier.processing_started.v1",
                            "dossier.decided.v1", "result.issued.v1", "result.returned.v1"]
                bills = (await client.get("/v1/bills", params={"dossier_id": life.dossier["id"]},
                                          headers={"X-API-Key": backbone.dev_api_key})).json()["items"]
                if bills:
                    expected += ["payment.requested.v1", "payment.succeeded.v1"]
                if life.procedure_code == "1.013225":   # paused for a supplement, resumed, then refused
                    expected += ["dossier.paused.v1", "dossier.supplemented.v1", "dossier.resumed.v1"]
                for event in expected:
                    assert events.count(event) == 1, (life.story, event, events)
                assert view["national_status"] == 10
                verdict = (await client.get("/v1/results/verify",
                                            params={"number": life.result["document_number"]})).json()
                assert verdict["verdict"] == "valid" and verdict["signature"]["trusted"]
                assert life.result["kind"] == ("refusal" if life.outcome == "refused" else "approval")
            consulted = played[2]
            transfers = [e for e in (await client.get(f"/v1/processes/{consulted.dossier['id']}", headers={
                "Authorization": f"Bearer {backbone.officer_token(agency='000.17.22.H56', roles=ROLES)}"})
            ).json()["tasks"]]
            assert {t["agency"] for t in transfers} == {"000.17.22.H56", "000.00.31.H56", "000.00.40.H56"}
            fee_first = played[1]
            assert [e for e in (await client.get(f"/v1/tracking/{fee_first.dossier['code']}", params={
                "phone_last4": fee_first.last4})).json()["timeline"] if e["event"] == "result.returned.v1"][0][
                "details"] == {"channel": "postal"}
            def mailed(phrase: str) -> bool:
                return any(phrase in m["subject"] for m in backbone.mailbox.messages)
            await wait_until(lambda: mailed("đã được tiếp nhận") and mailed("đã có kết quả") and
                             mailed("Đã trả kết quả"), timeout=15, message="the applicant's e-mails")
            assert any("bưu tá đã giao" in line for line in said) and any("tải kết quả" in line for line in said)
    finally:
        server.should_exit = True
        await serving


def test_the_newcomers_demo_command_shows_each_result_verifying(tmp_path):
    """`onestop demo`, as README tells a newcomer to try: four lives, each ending on a result that verifies."""
    import subprocess
    import sys
    done = subprocess.run([sys.executable, "-m", "services.cli", "demo", "--port", str(free_port()),
                           "--data-dir", str(tmp_path / "demo")], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("→ Kết quả hợp lệ") == 4, done.stdout[-3000:]
    assert done.stdout.count("[trạng thái 10]") == 4 and "đã hoàn trả 75.000 đồng" in done.stdout
