"""Workflow definitions as data: services/routing/workflows/*.yaml, one per workflow (and version),
validated at load. A bad file stops start-up with a message naming the file and the field.

A workflow is a graph of steps. Each step is owned by an agency ("competent" = the dossier's
competent agency, or an agency identifier), a unit and a role, has a time limit in working days
or hours, and lists the actions allowed there, who may take them and where they lead:
forward / return / transfer (to another step), request_supplement (pauses the clock, stays),
consult (several steps in parallel, all must answer, then the join step), answer (a consulted
step replies), approve / refuse (the decision, which ends the workflow). Pure: no I/O but reading
the files."""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from shared.datafiles import newest_versions, read_model

WORKFLOW_DIR = Path(__file__).parent / "workflows"
AGENCY = r"^(competent|[0-9A-Z]{3}(\.[0-9A-Z]{2,3}){3})$"
MOVES = ("forward", "return", "transfer")
DECISIONS = ("approve", "refuse")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TimeLimit(Strict):
    working_days: float | None = Field(default=None, gt=0, le=365)
    working_hours: float | None = Field(default=None, gt=0, le=365 * 8)

    @model_validator(mode="after")
    def _one_unit(self) -> "TimeLimit":
        if (self.working_days is None) == (self.working_hours is None):
            raise ValueError("give either working_days or working_hours")
        return self

    @property
    def hours(self) -> float:
        return self.working_hours if self.working_hours is not None else (self.working_days or 0) * 8


class StepAction(Strict):
    action: Literal["forward", "return", "transfer", "request_supplement", "consult", "answer", "approve", "refuse"]
    roles: list[str] = Field(min_length=1)
    to: str | list[str] | None = None
    join: str | None = Field(default=None, description="consult: the step that continues once all have answered")

    @model_validator(mode="after")
    def _targets(self) -> "StepAction":
        if self.action in MOVES and not isinstance(self.to, str):
            raise ValueError(f"{self.action} needs one target step (to)")
        if self.action == "consult" and (not isinstance(self.to, list) or len(self.to) < 2 or not self.join):
            raise ValueError("consult needs two or more steps (to) and a join step")
        if self.action in ("request_supplement", "answer", *DECISIONS) and self.to is not None:
            raise ValueError(f"{self.action} takes no target step")
        return self

    @property
    def targets(self) -> list[str]:
        if self.to is None:
            return []
        return [self.to] if isinstance(self.to, str) else list(self.to)


class Step(Strict):
    id: str = Field(pattern=r"^[a-z0-9-]+$")
    name: str = Field(min_length=3)
    agency: str = Field(pattern=AGENCY)
    unit: str | None = None
    role: str = Field(pattern=r"^[a-z0-9-]+$")
    time_limit: TimeLimit
    actions: list[StepAction] = Field(min_length=1)


class Workflow(Strict):
    id: str = Field(pattern=r"^[a-z0-9-]+$")
    version: str = Field(pattern=r"^\d{4}\.\d+$", description="YYYY.N; an instance pins the version it started with")
    name: str = Field(min_length=5)
    procedures: list[str] = Field(min_length=1)
    start: str
    steps: list[Step] = Field(min_length=1)

    @model_validator(mode="after")
    def _graph(self) -> "Workflow":
        ids = [s.id for s in self.steps]
        if len(ids) != len(set(ids)):
            raise ValueError("step ids must be unique")
        steps = {s.id: s for s in self.steps}
        if self.start not in steps:
            raise ValueError(f"start: no step {self.start!r}")
        for step in self.steps:
            for action in step.actions:
                for target in [*action.targets, *([action.join] if action.join else [])]:
                    if target not in steps:
                        raise ValueError(f"steps.{step.id}: {action.action} leads to unknown step {target!r}")
                if action.action == "consult":
                    for target in action.targets:
                        if not any(a.action == "answer" for a in steps[target].actions):
                            raise ValueError(f"steps.{target}: a consulted step must be able to answer")
                if action.action == "transfer" and steps[action.targets[0]].agency == step.agency:
                    raise ValueError(f"steps.{step.id}: transfer must go to another agency's step")
        reachable = self._reachable(steps)
        unreachable = [i for i in ids if i not in reachable]
        if unreachable:
            raise ValueError(f"steps not reachable from start: {', '.join(unreachable)}")
        if not any(a.action in DECISIONS for i in reachable for a in steps[i].actions):
            raise ValueError("no step can approve or refuse")
        return self

    def _reachable(self, steps: dict[str, Step]) -> set[str]:
        seen, todo = set(), [self.start]
        while todo:
            current = todo.pop()
            if current in seen:
                continue
            seen.add(current)
            for action in steps[current].actions:
                todo += action.targets + ([action.join] if action.join else [])
        return seen

    def step(self, step_id: str) -> Step:
        return next(s for s in self.steps if s.id == step_id)

    def agencies(self, competent_agency: str) -> set[str]:
        return {competent_agency if s.agency == "competent" else s.agency for s in self.steps}

    def longest_path_hours(self) -> float:
        """Working hours along the longest forward path (returns excluded): what the steps'
        limits add up to, to compare with the procedure's statutory time."""
        steps = {s.id: s for s in self.steps}

        def longest(step_id: str, seen: frozenset[str]) -> float:
            step = steps[step_id]
            nexts: list[float] = []
            for action in step.actions:
                if action.action in ("forward", "transfer"):
                    if action.targets[0] not in seen:
                        nexts.append(longest(action.targets[0], seen | {step_id}))
                elif action.action == "consult":
                    branch = max(steps[t].time_limit.hours for t in action.targets)
                    if action.join and action.join not in seen:
                        nexts.append(branch + longest(action.join, seen | {step_id}))
            return step.time_limit.hours + max(nexts, default=0.0)
        return longest(self.start, frozenset())


class WorkflowError(Exception):
    """A workflow file is invalid; the message names the file and the field."""


@dataclass(frozen=True)
class Workflows:
    current: dict[str, Workflow]                  # by id, the highest version
    versions: dict[tuple[str, str], Workflow]     # every version on file
    etag: str

    def get(self, workflow_id: str, version: str | None = None) -> Workflow | None:
        return self.current.get(workflow_id) if version is None else self.versions.get((workflow_id, version))


def load_workflows(directory: Path = WORKFLOW_DIR) -> Workflows:
    digest = hashlib.sha256()
    versions: dict[tuple[str, str], Workflow] = {}
    for path in sorted(directory.glob("*.yaml")):
        digest.update(path.name.encode() + path.read_bytes())
        workflow = read_model(path, Workflow, WorkflowError)
        if (workflow.id, workflow.version) in versions:
            raise WorkflowError(f"{path.name}: version: {workflow.id} {workflow.version} is defined twice")
        versions[(workflow.id, workflow.version)] = workflow
    if not versions:
        raise WorkflowError(f"{directory.name}: no workflow files")
    return Workflows(newest_versions(versions.values(), key=lambda w: w.id), versions,
                     etag=f'"{digest.hexdigest()[:32]}"')


SCHEMA_FILE = WORKFLOW_DIR / "schema" / "workflow.schema.json"


def workflow_json_schema() -> str:
    """The schema of a workflow file, for editors and reviewers (checked in; a test keeps it current)."""
    return json.dumps(Workflow.model_json_schema(), ensure_ascii=False, indent=2) + "\n"


if __name__ == "__main__":   # python -m services.routing.workflow: rewrite the checked-in schema
    SCHEMA_FILE.parent.mkdir(exist_ok=True)
    SCHEMA_FILE.write_text(workflow_json_schema(), encoding="utf-8")
    print(f"wrote {SCHEMA_FILE.name}")
