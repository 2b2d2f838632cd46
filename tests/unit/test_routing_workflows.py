"""Routing's workflow definitions: every catalogued procedure has a valid one, and a bad file stops
loading naming the file and the field."""
import shutil

import pytest

from services.intake.catalogue import load_catalogue
from services.routing.workflow import WORKFLOW_DIR, WorkflowError, load_workflows

WORKFLOWS = load_workflows()
CATALOGUE = load_catalogue()


@pytest.mark.parametrize("code", sorted(CATALOGUE.procedures))
def test_every_procedure_has_its_workflow_and_fits_its_time_limit(code):
    procedure = CATALOGUE.procedure(code)
    workflow = WORKFLOWS.get(procedure.workflow)
    assert workflow is not None, f"{code} names workflow {procedure.workflow}, which is not on file"
    assert code in workflow.procedures
    limit = procedure.processing_time
    days = workflow.longest_path_hours() / 8
    if limit.kind == "working_days":
        assert days <= limit.days, f"{workflow.id}: steps add up to {days} working days, the law allows {limit.days}"
    elif limit.kind == "same_day":
        assert days <= 1
    elif limit.kind == "calendar_days":
        assert days <= limit.days * 5 / 7


def test_some_workflows_cross_agencies_and_one_consults_in_parallel():
    crossing = [w.id for w in WORKFLOWS.current.values()
                if len(w.agencies(CATALOGUE.procedure(w.procedures[0]).competent_agency)) > 1]
    assert len(crossing) >= 2
    consult = [a for w in WORKFLOWS.current.values() for s in w.steps for a in s.actions if a.action == "consult"]
    assert consult and all(len(a.targets) >= 2 for a in consult)


def _broken(tmp_path, filename, old, new):
    target = tmp_path / "workflows"
    shutil.copytree(WORKFLOW_DIR, target)
    text = (target / filename).read_text(encoding="utf-8")
    assert old in text
    (target / filename).write_text(text.replace(old, new, 1), encoding="utf-8")
    return target


@pytest.mark.parametrize("filename,old,new,names", [
    ("ho-kinh-doanh.yaml", "{action: forward, to: phe-duyet,", "{action: forward, to: phe-duyet-x,",
     ["ho-kinh-doanh.yaml", "tham-dinh", "phe-duyet-x"]),
    ("ho-kinh-doanh.yaml", "start: tham-dinh", "start: nowhere", ["ho-kinh-doanh.yaml", "start"]),
    ("lien-thong-khai-sinh.yaml", "      - {action: answer, roles: [chuyen-vien]}\n  - id: bhxh-the-bhyt",
     "      - {action: approve, roles: [chuyen-vien]}\n  - id: bhxh-the-bhyt",
     ["lien-thong-khai-sinh.yaml", "cong-an-thuong-tru", "answer"]),
    ("ly-lich-tu-phap.yaml", "agency: 000.17.22.H56", "agency: competent", ["ly-lich-tu-phap.yaml", "transfer"]),
    ("via-he.yaml", "time_limit: {working_days: 4}", "time_limit: {}", ["via-he.yaml", "time_limit"]),
    ("khoan-nuoc.yaml", "{action: forward, to: phe-duyet, roles: [chuyen-vien]}",
     "{action: request_supplement, roles: [chuyen-vien]}", ["khoan-nuoc.yaml", "not reachable", "phe-duyet"]),
])
def test_a_bad_workflow_file_names_file_and_field(tmp_path, filename, old, new, names):
    with pytest.raises(WorkflowError) as raised:
        load_workflows(_broken(tmp_path, filename, old, new))
    assert all(name in str(raised.value) for name in names), str(raised.value)


def test_the_checked_in_schema_of_workflow_files_is_current():
    from services.routing.workflow import SCHEMA_FILE, workflow_json_schema
    assert SCHEMA_FILE.read_text(encoding="utf-8") == workflow_json_schema(), \
        "run: python -m services.routing.workflow"
