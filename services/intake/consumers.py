"""Event type -> handler: what intake does with each lifecycle event it consumes.

Every lifecycle event, from every service (intake's own included), is projected into the
citizen's timeline and the KPI facts; a few also change intake's write model (a fee-first clock
starts at payment, a supplement requested during processing opens, a result closes withdrawal).
Each projection step sets values rather than adding to them, so it is safe to apply twice; the
inbox already makes it apply once."""
from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import and_, case, func, or_, update

from services.intake import handlers
from services.intake.handlers import Intake
from services.intake.models import dossiers, kpi_facts, tracking_entries, tracking_status
from shared.db import cached_statement, dialect_insert, insert_if_absent
from shared.events.catalogue import CATALOGUE, FINAL_NATIONAL_STATUSES, EventData, national_status
from shared.events.envelope import Envelope
from shared.inbox import EventHandler
from shared.probe import record_probe
from shared.uow import UnitOfWork


# Events that fix the dossier's overall appointment date (a task's own deadline is not one).
DUE_DATE_EVENTS = frozenset({"dossier.accepted.v1", "dossier.due_date_set.v1", "dossier.processing_started.v1",
                             "dossier.resumed.v1", "dossier.extended.v1"})


# How a fact already on file combines with the event's (the rest: the event's value wins).
KPI_MERGE = {
    "digitised_input": lambda t, new: or_(t.c.digitised_input, new.digitised_input),
    # A supplement request counts "at reception" only before the dossier was accepted.
    "supplement_at_reception": lambda t, new: case((t.c.accepted_at.is_(None), new.supplement_at_reception),
                                                   else_=t.c.supplement_at_reception),
    "finished_at": lambda t, new: func.coalesce(t.c.finished_at, new.finished_at),   # the first finish counts
}


def _kpi_changes(event_type: str, data: dict[str, Any]) -> dict[str, Any]:
    """The KPI facts an event establishes (set or merged, never incremented)."""
    match event_type:
        case "dossier.submitted.v1":
            return {"agency": data.get("competent_agency") or data["receiving_agency"],
                    "procedure_code": data["procedure_code"], "channel": data["channel"],
                    "submitted_at": data["submitted_at"], "digitised_input": data.get("documents", 0) > 0}
        case "dossier.accepted.v1":
            return {"accepted_at": data["accepted_at"], "due_at": data.get("due_at"),
                    "fee_bearing": any(line["amount"] > 0 for line in data.get("fee_lines", [])),
                    "digitised_input": bool(data.get("digitised"))}
        case "dossier.due_date_set.v1" | "dossier.resumed.v1":
            return {"due_at": data.get("due_at")}
        case "dossier.supplement_requested.v1":
            return {"supplement_at_reception": True}
        case "dossier.rejected.v1":
            return {"refused_at_reception": True}
        case "dossier.withdrawn.v1":
            return {"finished_at": data["withdrawn_at"], "finish_status": 7}
        case "dossier.extended.v1":
            return {"extended_due_at": data["new_due_at"]}
        case "payment.succeeded.v1":
            return {"paid_online": True} if data.get("method") == "online" else {}
        case "result.issued.v1":
            return {"finished_at": data["issued_at"], "finish_status": 9, "electronic_result": True}
        case "result.returned.v1":
            return {"finished_at": data["returned_at"], "finish_status": 10}
    return {}


def _status_upsert(conn):
    t = tracking_status
    stmt = dialect_insert(conn, t)
    new = stmt.excluded
    finals = [int(s) for s in FINAL_NATIONAL_STATUSES]
    # A final status (refused, withdrawn, stopped, returned) ends the dossier whenever it arrives:
    # another service may have stamped a later time on an event it made before it saw the end.
    newer = and_(new.national_status.is_not(None),
                 or_(t.c.national_status.is_(None), t.c.national_status.not_in(finals)),
                 or_(t.c.status_at.is_(None), new.status_at >= t.c.status_at, new.national_status.in_(finals)))
    return stmt.on_conflict_do_update(index_elements=["dossier_id"], set_={
        "national_status": case((newer, new.national_status), else_=t.c.national_status),
        "status_at": case((newer, new.status_at), else_=t.c.status_at),
        "due_at": func.coalesce(new.due_at, t.c.due_at)})


def _kpi_upsert(conn, columns: tuple[str, ...]):
    stmt = dialect_insert(conn, kpi_facts)
    return stmt.on_conflict_do_update(index_elements=["dossier_id"], set_={
        column: KPI_MERGE[column](kpi_facts, stmt.excluded) if column in KPI_MERGE else stmt.excluded[column]
        for column in columns})


def _as_datetime(value: Any) -> Any:
    return datetime.fromisoformat(value) if isinstance(value, str) else value


class Projection:
    def __init__(self, ctx: Intake) -> None:
        self.ctx = ctx

    async def project(self, envelope: Envelope, data: EventData, uow: UnitOfWork) -> None:
        dossier_id = data.dossier_id
        payload = envelope.data
        occurred_at = envelope.time
        status = national_status(envelope.type)
        inserted = await insert_if_absent(uow.conn, tracking_entries, {
            "dossier_id": dossier_id, "event_id": envelope.id, "event_type": envelope.type, "occurred_at": occurred_at,
            "national_status": int(status) if status else None, "source": envelope.source.rsplit("/", 1)[-1],
            "details": payload})
        if not inserted:
            return
        await self._status(uow, envelope.type, dossier_id, status, occurred_at, payload)
        await self._kpis(uow, envelope.type, dossier_id, payload)

    async def _status(self, uow: UnitOfWork, event_type: str, dossier_id: str, status, occurred_at: datetime,
                      payload: dict) -> None:
        """One upsert: per-dossier order is the partition's; an older status never wins, a final one always does."""
        due = payload.get("new_due_at") or payload.get("due_at") if event_type in DUE_DATE_EVENTS else None
        stmt = cached_statement(("tracking-status", uow.conn.dialect.name), lambda: _status_upsert(uow.conn))
        await uow.conn.execute(stmt, {"dossier_id": dossier_id, "national_status": int(status) if status else None,
                                      "status_at": occurred_at if status else None, "due_at": _as_datetime(due)})

    async def _kpis(self, uow: UnitOfWork, event_type: str, dossier_id: str, payload: dict) -> None:
        changes = {k: _as_datetime(v) if k.endswith("_at") else v for k, v in _kpi_changes(event_type, payload).items()}
        if event_type == "dossier.submitted.v1":
            procedure = self.ctx.catalogue.procedure(payload["procedure_code"], payload["procedure_version"])
            changes["online_enabled"] = procedure is not None   # every catalogued procedure is offered online
        if not changes:
            return
        columns = tuple(sorted(changes))
        stmt = cached_statement(("kpi-facts", uow.conn.dialect.name, columns), lambda: _kpi_upsert(uow.conn, columns))
        await uow.conn.execute(stmt, {"dossier_id": dossier_id, **changes})


def build_handlers(ctx: Intake) -> Mapping[str, EventHandler]:
    projection = Projection(ctx)

    async def on_payment_succeeded(envelope: Envelope, data: EventData, uow: UnitOfWork) -> None:
        await projection.project(envelope, data, uow)
        await handlers.start_clock_on_payment(ctx, uow, data.dossier_id, _as_datetime(envelope.data["paid_at"]), envelope)

    async def on_paused(envelope: Envelope, data: EventData, uow: UnitOfWork) -> None:
        await projection.project(envelope, data, uow)
        if envelope.data.get("reason") == "supplement":
            await uow.conn.execute(update(dossiers).where(dossiers.c.id == data.dossier_id)
                                      .values(processing_supplement_open=True))

    async def on_supplemented(envelope: Envelope, data: EventData, uow: UnitOfWork) -> None:
        # Also cleared by the supplement itself; repeated here so a full replay ends in the same state.
        await projection.project(envelope, data, uow)
        if envelope.data.get("stage") == "processing":
            await uow.conn.execute(update(dossiers).where(dossiers.c.id == data.dossier_id)
                                      .values(processing_supplement_open=False))

    async def on_result_issued(envelope: Envelope, data: EventData, uow: UnitOfWork) -> None:
        await projection.project(envelope, data, uow)
        await uow.conn.execute(update(dossiers).where(dossiers.c.id == data.dossier_id).values(result_issued=True))

    table: dict[str, EventHandler] = {name: projection.project for name in CATALOGUE if name != "backbone.probe.v1"}
    table.update({
        "payment.succeeded.v1": on_payment_succeeded,
        "dossier.paused.v1": on_paused,
        "dossier.supplemented.v1": on_supplemented,
        "result.issued.v1": on_result_issued,
        "backbone.probe.v1": record_probe,
    })
    return table
