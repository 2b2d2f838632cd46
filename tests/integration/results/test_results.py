"""Results: one signed PDF per decision that pyHanko (library and CLI) validates against the test
CA; a changed byte fails; refusal letters; issuing after the fee for procedures that collect on
result; the three return channels (online after proving ownership, desk, post via the postal
simulator); revocation; verification by number and by upload; the exchange with its audit log;
digitised paper results."""
from __future__ import annotations

import io
import subprocess
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path

from pypdf import PdfReader

from services.results.adapters.signing import verify
from shared.events.catalogue import PaymentSucceeded
from shared.pdf import Document, render
from tests.integration.results.conftest import CITIZEN_ID, POLICE

PYHANKO = Path(sys.executable).with_name("pyhanko")


def pyhanko_cli_accepts(pdf: bytes, ca: bytes, tmp_path: Path) -> bool:
    """An independent validation: pyHanko's own command line, given only the CA certificate."""
    (tmp_path / "ca.pem").write_bytes(ca)
    (tmp_path / "result.pdf").write_bytes(pdf)
    run = subprocess.run([str(PYHANKO), "sign", "validate", "--trust", str(tmp_path / "ca.pem"), "--trust-replace",
                          "--no-revocation-check", "--executive-summary", str(tmp_path / "result.pdf")],
                         capture_output=True, text=True, timeout=120)
    return run.returncode == 0 and "INVALID" not in run.stdout.upper()


async def test_an_approved_dossier_yields_one_signed_pdf_that_validates_and_breaks_when_altered(results, tmp_path):
    results.bus.duplicate_delivery = True                      # dossier.decided arrives twice
    dossier_id = await results.decided()
    [result] = await results.results_of(dossier_id)
    assert result["kind"] == "approval" and result["document_number"].startswith("00001/")
    [issued] = await results.events("result.issued.v1", dossier_id)
    assert issued["sha256"] == result["sha256"] and "/v1/results/verify?number=" in issued["verify_url"]
    pdf = await results.pdf(result)
    ca = (await results.client.get("/v1/results/ca.pem")).content
    checked = await verify(pdf, ca)
    assert checked.ok and "UBND xã Vĩnh Hòa" in checked.signer
    assert pyhanko_cli_accepts(pdf, ca, tmp_path)
    text = PdfReader(io.BytesIO(pdf)).pages[0].extract_text()
    for expected in ("CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", "GIẤY CHỨNG NHẬN ĐĂNG KÝ HỘ KINH DOANH", "Nguyễn Thị Mai",
                     result["document_number"]):
        assert expected in text, expected
    altered = bytearray(pdf)
    altered[len(pdf) // 3] ^= 0x01
    assert not (await verify(bytes(altered), ca)).ok
    assert not pyhanko_cli_accepts(bytes(altered), ca, tmp_path)
    upload = await results.client.post("/v1/results/verify", files={"file": ("x.pdf", bytes(altered), "application/pdf")})
    assert upload.json()["verdict"] == "invalid"
    genuine = await results.client.post("/v1/results/verify", files={"file": ("x.pdf", pdf, "application/pdf")})
    assert genuine.json()["verdict"] == "valid" and genuine.json()["known"]
    by_number = await results.client.get("/v1/results/verify", params={"number": result["document_number"]})
    assert by_number.json()["verdict"] == "valid" and by_number.json()["verdict_vi"] == "Kết quả hợp lệ"
    await results.replay_from_start("results")
    assert len(await results.results_of(dossier_id)) == 1
    assert len(await results.events("result.issued.v1", dossier_id)) == 1


async def test_a_refused_dossier_yields_a_signed_refusal_letter(results):
    dossier_id = await results.decided("refused", reason="Ngành nghề kinh doanh thuộc danh mục cấm")
    [letter] = await results.results_of(dossier_id)
    assert letter["kind"] == "refusal"
    pdf = await results.pdf(letter)
    assert (await verify(pdf, results.ctx.signer.trust_roots_pem())).ok
    text = PdfReader(io.BytesIO(pdf)).pages[0].extract_text()
    assert "THÔNG BÁO TỪ CHỐI GIẢI QUYẾT HỒ SƠ" in text and "danh mục cấm" in text


async def test_a_procedure_that_collects_on_result_is_issued_once_paid(results):
    dossier_id = await results.decided(payment_timing="on_result")
    assert await results.results_of(dossier_id) == []
    await results.emit(PaymentSucceeded(dossier_id=dossier_id, bill_id="b", amount=300_000, method="online",
                                        paid_at=datetime.now(UTC)), "payments")
    await results.settle()
    assert len(await results.results_of(dossier_id)) == 1


async def test_online_return_after_proving_ownership(results):
    dossier_id = await results.decided()
    [result] = await results.results_of(dossier_id)
    wrong = await results.client.post(f"/v1/results/{result['id']}/download-links", json={"citizen_id": "079203009999"})
    assert wrong.status_code == 403
    await results.pdf(result)
    await results.pdf(result)                                   # downloading again is fine, returned once
    await results.settle()
    [returned] = await results.events("result.returned.v1", dossier_id)
    assert returned["channel"] == "online"
    forged = await results.client.get("/v1/results/files/" + "A" * 40)
    assert forged.status_code == 410


async def test_desk_return_records_who_collected(results):
    dossier_id = await results.decided()
    [result] = await results.results_of(dossier_id)
    path = f"/v1/results/{result['id']}/returns"
    incomplete = await results.client.post(path, json={"channel": "desk"}, headers=results.officer())
    assert incomplete.status_code == 422
    foreign = await results.client.post(path, json={"channel": "desk", "collected_by": "Nguyễn Thị Mai",
                                                    "id_document_type": "CCCD", "id_document_number": CITIZEN_ID},
                                        headers=results.officer(agency=POLICE))
    assert foreign.status_code == 403
    done = await results.client.post(path, json={"channel": "desk", "collected_by": "Nguyễn Thị Mai",
                                                 "id_document_type": "CCCD", "id_document_number": CITIZEN_ID},
                                     headers=results.officer())
    assert done.status_code == 200 and done.json()["state"] == "returned"
    detail = done.json()["return_detail"]
    assert CITIZEN_ID not in str(detail) and detail["id_document_number"].endswith("234")
    again = await results.client.post(path, json={"channel": "desk", "collected_by": "Nguyễn Thị Mai",
                                                  "id_document_type": "CCCD", "id_document_number": CITIZEN_ID},
                                      headers=results.officer())
    assert again.status_code == 409
    await results.settle()
    assert [e["channel"] for e in await results.events("result.returned.v1", dossier_id)] == ["desk"]


async def test_postal_return_through_the_postal_simulator(results):
    dossier_id = await results.decided()
    [result] = await results.results_of(dossier_id)
    sent = await results.client.post(f"/v1/results/{result['id']}/returns", headers=results.officer(), json={
        "channel": "postal", "receiver": {"name": "Nguyễn Thị Mai", "address": "12 Trần Phú, phường Nha Trang",
                                          "phone": "+84912345678"}})
    assert sent.status_code == 200 and sent.json()["state"] == "in_transit", sent.text
    tracking = sent.json()["return_detail"]["tracking_code"]
    [order] = (await results.postal.get("/_sim/orders")).json()
    assert order["tracking_code"] == tracking and order["order_number"] == result["id"]
    forged = await results.client.post("/v1/results/postal/confirmations", json={"tracking_code": tracking,
                                                                                 "status": "delivered"},
                                       headers={"X-Signature": "0" * 64})
    assert forged.status_code == 401
    delivered = await results.postal.post(f"/_sim/deliver/{tracking}")
    assert delivered.json()["callback_status"] == 200
    await results.settle()
    [returned] = await results.events("result.returned.v1", dossier_id)
    assert returned["channel"] == "postal"
    assert (await results.results_of(dossier_id))[0]["state"] == "returned"


async def test_exchange_needs_scope_and_legal_basis_and_every_access_is_audited(results):
    dossier_id = await results.decided()
    [result] = await results.results_of(dossier_id)
    police = {"Authorization": f"Bearer {results.token(agency=POLICE, roles=['results:exchange', 'results:audit'])}"}
    params = {"citizen_id": CITIZEN_ID, "procedure_code": "1.001612",
              "legal_basis": "Điều 14 Nghị định 45/2020/NĐ-CP; công dân đồng ý", "purpose": "Cấp GCN ANTT"}
    unscoped = await results.client.get("/v1/results/exchange/search", params=params, headers=results.officer())
    assert unscoped.status_code == 403
    no_basis = await results.client.get("/v1/results/exchange/search",
                                        params={k: v for k, v in params.items() if k != "legal_basis"}, headers=police)
    assert no_basis.status_code == 422
    found = await results.client.get("/v1/results/exchange/search", params=params, headers=police)
    assert found.status_code == 200 and [r["id"] for r in found.json()["items"]] == [result["id"]]
    reused = await results.client.get(found.json()["items"][0]["download_url"].removeprefix(
        results.settings.public_base_url))
    assert reused.status_code == 200 and reused.content.startswith(b"%PDF")
    assert (await results.results_of(dossier_id))[0]["state"] == "issued"   # an agency's download is not a return
    audit = (await results.client.get("/v1/results/exchange/audit", params={"citizen_id": CITIZEN_ID},
                                      headers=police)).json()["items"]
    assert len(audit) == 1 and audit[0]["agency"] == POLICE and audit[0]["legal_basis"].startswith("Điều 14")
    await results.settle()
    [event] = await results.events("result.reused.v1", dossier_id)
    assert event["accessing_agency"] == POLICE
    # Revoked results are not offered for reuse, and verification says so.
    revoked = await results.client.post(f"/v1/results/{result['id']}/revocation", json={"reason": "Thu hồi do vi phạm"},
                                        headers=results.officer())
    assert revoked.status_code == 200
    again = await results.client.get("/v1/results/exchange/search", params=params, headers=police)
    assert again.json()["items"] == []
    check = await results.client.get("/v1/results/verify", params={"number": result["document_number"]})
    assert check.json()["verdict"] == "revoked" and check.json()["revocation_reason"] == "Thu hồi do vi phạm"
    assert len((await results.client.get("/v1/results/exchange/audit", params={"citizen_id": CITIZEN_ID},
                                         headers=police)).json()["items"]) == 2


async def test_a_digitised_paper_result_is_stamped_signed_and_reusable(results, tmp_path):
    scan = render(Document(agency="UBND HUYỆN CAM LÂM (CŨ)", title="GIẤY PHÉP KINH DOANH", number="45/GP",
                           paragraphs=["Bản giấy cấp năm 2019"]))
    response = await results.client.post("/v1/results/digitised", headers={
        **results.officer(), "Idempotency-Key": str(uuid.uuid4())}, files={"file": ("scan.pdf", scan, "application/pdf")},
        data={"holder_name": "Trần Văn Bình", "holder_id": "056090004321", "original_number": "45/GP",
              "original_date": "2019-05-06", "procedure_code": "1.001612"})
    assert response.status_code == 201, response.text
    digitised = response.json()
    assert digitised["kind"] == "digitised" and "/SH-" in digitised["document_number"]
    link = await results.client.post(f"/v1/results/{digitised['id']}/download-links", json={"citizen_id": "056090004321"})
    pdf = (await results.client.get(link.json()["url"].removeprefix(results.settings.public_base_url))).content
    ca = results.ctx.signer.trust_roots_pem()
    assert (await verify(pdf, ca)).ok and pyhanko_cli_accepts(pdf, ca, tmp_path)
    not_pdf = await results.client.post("/v1/results/digitised", headers={
        **results.officer(), "Idempotency-Key": str(uuid.uuid4())}, files={"file": ("scan.png", b"\x89PNG...", "image/png")},
        data={"holder_name": "Trần Văn Bình", "holder_id": "056090004321", "original_number": "45/GP",
              "original_date": "2019-05-06"})
    assert not_pdf.status_code == 415
