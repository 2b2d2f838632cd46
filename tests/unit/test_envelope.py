from datetime import UTC, datetime

import pytest

from shared.events import Envelope, MalformedEvent, make_event, national_status, parse_data
from shared.events.catalogue import CATALOGUE, DossierAccepted, NationalStatus


def accepted(dossier_id: str = "d-1") -> DossierAccepted:
    return DossierAccepted(
        dossier_id=dossier_id, dossier_code="000.17.22.H56-210531-0001", procedure_code="1.001612",
        procedure_version="2026.1", channel="online", receiving_agency="000.17.22.H56",
        competent_agency="000.17.22.H56", accepted_at=datetime(2026, 11, 23, 9, 0, tzinfo=UTC),
        due_at=datetime(2026, 11, 26, 9, 0, tzinfo=UTC))


def test_binary_mode_round_trip_keeps_every_attribute():
    event = make_event(accepted(), source_service="intake", correlation_id="corr-1",
                       traceparent="00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
    headers = event.to_headers()
    names = {k for k, _ in headers}
    assert {"ce_id", "ce_type", "ce_source", "ce_subject", "ce_time", "ce_specversion",
            "ce_correlationid", "ce_traceparent", "ce_dataschema", "content-type"} <= names
    assert "ce_causationid" not in names  # absent attributes are not sent as empty headers
    back = Envelope.from_record(headers, event.value_bytes())
    assert back == event
    assert back.subject == "d-1"
    assert parse_data(back) == accepted()


def test_caused_event_carries_correlation_and_causation():
    first = make_event(accepted(), source_service="intake", correlation_id="corr-1")
    second = first.caused(type="dossier.processing_started.v1", source="/onestop/routing", data={"dossier_id": "d-1"})
    assert second.correlationid == "corr-1" and second.causationid == first.id and second.id != first.id


def test_vietnamese_text_travels_as_utf8():
    event = make_event(accepted(), source_service="intake", correlation_id="c")
    event = event.model_copy(update={"data": {**event.data, "note": "Đăng ký thành lập hộ kinh doanh"}})
    assert "Đăng ký".encode() in event.value_bytes()


@pytest.mark.parametrize("headers,value", [
    ([("ce_type", b"dossier.accepted.v1")], b"{}"),                   # missing id/source/subject
    ([], b"not json"),
    (Envelope(source="/x", type="a.b.v1", subject="s", correlationid="c", data={}).to_headers(), b"[1,2]"),
])
def test_unreadable_records_are_malformed(headers, value):
    with pytest.raises(MalformedEvent):
        Envelope.from_record(headers, value)


def test_a_service_cannot_emit_another_services_event():
    with pytest.raises(ValueError, match="owned by intake"):
        make_event(accepted(), source_service="routing", correlation_id="c")


def test_every_lifecycle_event_of_the_design_is_catalogued_and_versioned():
    expected = {
        "dossier.submitted", "dossier.accepted", "dossier.supplement_requested", "dossier.supplemented",
        "dossier.rejected", "dossier.withdrawn", "dossier.processing_started", "task.assigned",
        "task.completed", "dossier.transferred", "dossier.paused", "dossier.resumed", "dossier.overdue",
        "dossier.extended", "dossier.stopped", "dossier.decided", "payment.requested", "payment.succeeded",
        "payment.failed", "payment.expired", "payment.refunded", "notification.sent", "notification.failed",
        "result.issued", "result.returned"}
    assert {name.rsplit(".", 1)[0] for name in CATALOGUE} >= expected
    assert all(name.endswith(".v1") for name in CATALOGUE)


def test_national_status_mapping_covers_the_statuses_reached_by_events():
    assert national_status("dossier.submitted.v1") is NationalStatus.SUBMITTED
    assert national_status("dossier.accepted.v1") == 2
    assert national_status("payment.requested.v1") == 6
    assert national_status("result.returned.v1") == 10
    assert national_status("notification.sent.v1") is None
    reached = {t.national_status for t in CATALOGUE.values() if t.national_status}
    assert reached == set(NationalStatus)
