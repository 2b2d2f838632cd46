"""Intake's pure rules: catalogue loading, search, applicant checks, forms, fees, codes, reception."""
import shutil
from datetime import UTC, date, datetime, timedelta

import pytest

from services.intake.catalogue import CATALOGUE_DIR, CatalogueError, fold, load_catalogue
from services.intake.domain import fees, kpis
from services.intake.domain.applicant import check_applicant, citizen_id_errors, normalise_phone, tax_code_errors
from services.intake.domain.dossier_code import dossier_code
from services.intake.domain.forms import form_errors
from services.intake.domain.reception import TRANSITIONS, Action, DossierFacts, IllegalTransition, Status, transition

CATALOGUE = load_catalogue()


# --- catalogue ----------------------------------------------------------------------------------
def test_catalogue_ships_real_procedures_with_vietnamese_names():
    assert len(CATALOGUE.procedures) >= 8
    assert {"1.001193", "1.001612", "3.000333", "1.013274", "1.013225"} <= set(CATALOGUE.procedures)
    assert CATALOGUE.procedure("1.001193").name == "Đăng ký khai sinh"
    crossing = {p.competent_agency for p in CATALOGUE.procedures.values()}
    assert len(crossing) >= 3   # commune, provincial police, provincial department


@pytest.mark.parametrize("query,expected", [("dang ky khai sinh", "1.001193"), ("LÝ LỊCH tư pháp", "3.000333"),
                                            ("via he", "1.013274"), ("ho kinh doanh", "1.001612"),
                                            ("1.004122", "1.004122")])
def test_search_ignores_accents_and_case(query, expected):
    assert expected in [p.code for p in CATALOGUE.search(query)]


def test_fold_handles_the_letter_d_with_stroke():
    assert fold("  Đường  bộ ") == "duong bo"


def _broken_copy(tmp_path, filename, old, new):
    target = tmp_path / "procedures"
    shutil.copytree(CATALOGUE_DIR, target)
    path = target / filename
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return target


@pytest.mark.parametrize("filename,old,new,names", [
    ("1.001193.yaml", 'code: "1.001193"', 'code: "1001193"', ["1.001193.yaml", "code"]),
    ("1.001612.yaml", "amount: 100000", "amount: -5", ["1.001612.yaml", "fees.0.amount"]),
    ("3.000333.yaml", "kind: working_days, days: 10", "kind: working_days", ["3.000333.yaml", "processing_time"]),
    ("2.000908.yaml", "type: object", "type: objekt", ["2.000908.yaml", "form"]),
    ("1.013225.yaml", "competent_agency: 000.17.22.H56", "competent_agency: 000.99.99.H56",
     ["1.013225.yaml", "competent_agency", "unknown agency"]),
])
def test_a_bad_file_stops_loading_naming_file_and_field(tmp_path, filename, old, new, names):
    with pytest.raises(CatalogueError) as raised:
        load_catalogue(_broken_copy(tmp_path, filename, old, new))
    assert all(name in str(raised.value) for name in names), str(raised.value)


def test_newest_version_is_current_and_old_versions_stay_readable(tmp_path):
    target = tmp_path / "procedures"
    shutil.copytree(CATALOGUE_DIR, target)
    text = (target / "1.001612.yaml").read_text(encoding="utf-8")
    (target / "1.001612@2027.1.yaml").write_text(text.replace('version: "2026.1"', 'version: "2027.1"')
                                                 .replace("amount: 100000", "amount: 120000"), encoding="utf-8")
    catalogue = load_catalogue(target)
    assert catalogue.procedure("1.001612").version == "2027.1"
    assert catalogue.procedure("1.001612", "2026.1").fees[0].amount == 100000
    assert catalogue.etag != CATALOGUE.etag


# --- applicant ----------------------------------------------------------------------------------
@pytest.mark.parametrize("value,code", [("07920300123", "citizen-id-format"), ("07920300123x", "citizen-id-format"),
                                        ("003203001234", "citizen-id-province"),
                                        ("079399001234", "citizen-id-birth-year")])
def test_invalid_citizen_ids_are_named(value, code):
    assert [e.code for e in citizen_id_errors(value, "applicant.citizen_id", today=date(2026, 11, 23))] == [code]


def test_valid_citizen_id_passes():
    assert citizen_id_errors("079203001234", "f") == []


def test_tax_code_check_digit():
    assert tax_code_errors("0100109106", "f") == []              # a real enterprise code
    assert tax_code_errors("0100109106-001", "f") == []          # a branch
    assert [e.code for e in tax_code_errors("0100109107", "f")] == ["tax-code-checksum"]


@pytest.mark.parametrize("raw", ["0912 345 678", "+84 912345678", "84912345678", "0912.345.678"])
def test_phones_normalise_to_e164(raw):
    assert normalise_phone(raw, "p") == ("+84912345678", [])


def test_applicant_collects_every_error():
    applicant, errors = check_applicant("person", "A", None, None, "12", "not-an-email", None)
    assert applicant is None
    assert {e.field for e in errors} == {"applicant.citizen_id", "applicant.phone", "applicant.email"}
    assert all(e.message and e.message_vi for e in errors)


# --- forms --------------------------------------------------------------------------------------
def test_form_errors_name_each_field_in_both_languages():
    schema = CATALOGUE.procedure("1.001193").form
    errors = form_errors(schema, {"child_full_name": "K", "child_sex": "X", "child_date_of_birth": "20/11/2026",
                                  "surprise": 1})
    by_field = {e.field: e.code for e in errors}
    assert by_field == {"form.child_full_name": "too-short", "form.child_sex": "enum",
                        "form.child_date_of_birth": "format", "form.place_of_birth": "required",
                        "form.mother_full_name": "required", "form.surprise": "unknown-field"}
    assert all(e.message_vi for e in errors)


# --- fees ---------------------------------------------------------------------------------------
def _amounts(code, form, **kwargs):
    return [f.amount for f in fees.assess(CATALOGUE.procedure(code), form, **kwargs)]


def test_fixed_fee_with_online_discount():
    assert _amounts("1.001612", {}, online=False) == [100000]
    assert _amounts("1.001612", {}, online=True) == [50000]


def test_tiered_fee_per_page_with_cap():
    assert _amounts("2.000815", {"pages": 1}, online=False) == [2000]
    assert _amounts("2.000815", {"pages": 5}, online=False) == [2 * 2000 + 3 * 1000]
    assert _amounts("2.000815", {"pages": 1000}, online=False) == [200000]


def test_conditional_line_and_online_price():
    assert _amounts("1.001193", {"late_registration": False}, online=False) == []
    assert _amounts("1.001193", {"late_registration": True}, online=False) == [5000]
    assert _amounts("1.001193", {"late_registration": True}, online=True) == [4000]


def test_exemptions_by_group():
    assert _amounts("3.000333", {}, online=False) == [200000]
    assert _amounts("3.000333", {}, online=False, exemption_group="student") == [100000]
    assert _amounts("3.000333", {}, online=False, exemption_group="child") == [0]


def test_exemption_needs_a_known_group_and_a_proof():
    procedure = CATALOGUE.procedure("3.000333")
    assert [e.code for e in fees.exemption_errors(procedure, "student", None)] == ["required"]
    assert [e.code for e in fees.exemption_errors(procedure, "astronaut", "x")] == ["exemption-unknown"]
    assert fees.exemption_errors(procedure, "student", "Thẻ sinh viên số 123") == []


# --- codes --------------------------------------------------------------------------------------
def test_dossier_code_format():
    assert dossier_code("000.17.22.H56", date(2021, 5, 31), 1) == "000.17.22.H56-210531-0001"
    assert dossier_code("000.17.22.H56", date(2026, 11, 23), 12345) == "000.17.22.H56-261123-12345"
    assert dossier_code("000.00.00.G22", date(2026, 1, 2), 7, width=6, system_prefix="DV") == "000.00.00.G22-260102-DV000007"


# --- reception ----------------------------------------------------------------------------------
def facts(status, requests=0, open_supplement=False, result=False):
    return DossierFacts(Status(status), requests, open_supplement, result)


def test_every_transition_publishes_an_intake_event():
    from shared.events.catalogue import CATALOGUE as EVENTS
    assert all(EVENTS[t.event].producer == "intake" for t in TRANSITIONS.values())


def test_one_supplement_request_only():
    assert transition(facts("submitted"), Action.REQUEST_SUPPLEMENT).to is Status.SUPPLEMENT_REQUESTED
    with pytest.raises(IllegalTransition):
        transition(facts("submitted", requests=1), Action.REQUEST_SUPPLEMENT)


def test_supplement_during_processing_only_when_asked():
    with pytest.raises(IllegalTransition):
        transition(facts("accepted"), Action.SUPPLEMENT)
    assert transition(facts("accepted", open_supplement=True), Action.SUPPLEMENT).to is Status.ACCEPTED


def test_withdrawal_until_the_result_is_issued():
    assert transition(facts("accepted"), Action.WITHDRAW).to is Status.WITHDRAWN
    with pytest.raises(IllegalTransition):
        transition(facts("accepted", result=True), Action.WITHDRAW)


@pytest.mark.parametrize("status", ["rejected", "withdrawn"])
@pytest.mark.parametrize("action", list(Action))
def test_final_statuses_allow_nothing(status, action):
    with pytest.raises(IllegalTransition):
        transition(facts(status), action)


# --- KPIs ---------------------------------------------------------------------------------------
def test_kpis_by_hand():
    t0 = datetime(2026, 11, 2, tzinfo=UTC)
    day = timedelta(days=1)

    def f(channel="online", fee=False, accepted=True, refused=False, supplement=False, digitised=True, paid_online=False,
          due=5, finished=None, status=None, rating=None, extended=None):
        return kpis.Facts(channel, True, fee, t0, t0 if accepted else None, refused, supplement, digitised, paid_online,
                          t0 + due * day, t0 + extended * day if extended else None,
                          t0 + finished * day if finished is not None else None, status,
                          status in (9, 10), rating)
    data = [
        f(finished=3, status=10, rating=5),                    # early
        f(finished=5, status=9, fee=True, paid_online=True),   # on time (due day 5)
        f(finished=7, status=10, extended=8, rating=2),        # late on the original date, on time if extended
        f(channel="desk", fee=True, digitised=False),          # in progress
        f(accepted=False, refused=True),                       # refused at reception
        f(accepted=False, supplement=True, channel="postal"),  # waiting for a supplement
        f(finished=1, status=7),                               # withdrawn
    ]
    result = kpis.compute(data, t0, t0 + 30 * day)
    assert result["submitted"] == 7 and result["received"] == 5 and result["finished"] == 4
    assert result["on_time_rate"] == 0.75                       # 3 of 4 (withdrawn has a due date it met)
    assert kpis.compute(data, t0, t0 + 30 * day, due_basis="extended")["on_time_rate"] == 1.0
    assert result["online_rate"] == round(5 / 7, 4)
    assert result["online_payment_rate"] == 0.5                 # 1 of the 2 fee-bearing received
    assert result["digitisation_input_rate"] == 0.8             # 4 of 5 received
    assert result["digitisation_output_rate"] == 1.0            # 3 results, all electronic
    assert result["rejection_rate"] == round(1 / 7, 4) and result["supplement_rate"] == round(1 / 7, 4)
    assert result["rejection_or_supplement_rate"] == round(2 / 7, 4)
    assert result["average_processing_days"] == 5.0             # (3 + 5 + 7) / 3
    assert result["average_rating"] == 3.5 and result["satisfaction_rate"] == 0.5


def test_rates_of_nothing_are_none_not_zero():
    result = kpis.compute([], datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 2, 1, tzinfo=UTC))
    assert result["on_time_rate"] is None and result["online_rate"] is None and result["submitted"] == 0


def test_checked_in_procedure_schema_matches_the_models():
    from services.intake.catalogue import SCHEMA_FILE, procedure_json_schema
    assert SCHEMA_FILE.read_text(encoding="utf-8") == procedure_json_schema(), \
        "run: python -m services.intake.catalogue"


def test_every_citizen_visible_event_has_a_vietnamese_title():
    from services.intake.domain.tracking import OFFICER_ONLY, TITLES_VI
    from shared.events.catalogue import CATALOGUE
    untitled = [name for name in CATALOGUE if name not in TITLES_VI and name not in OFFICER_ONLY]
    assert untitled == []
