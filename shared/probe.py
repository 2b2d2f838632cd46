"""Operational probe: a synthetic event that intake publishes and every service records.

Operators use it after a deployment to prove the whole path (outbox -> relay -> bus -> each
consumer's inbox) works; tests use it to prove the same on real Kafka and PostgreSQL."""
from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Body, Depends, Request
from pydantic import BaseModel, Field
from sqlalchemy import insert, select

from shared.auth import Principal, require_scopes
from shared.events.catalogue import BackboneProbe, EventData, make_event
from shared.events.envelope import Envelope
from shared.idempotency import Created, require_idempotency_key
from shared.observability import correlation_id_var
from shared.problems import ProblemError
from shared.uow import UnitOfWork

PROBE_SCOPE = "backbone:probe"


async def record_probe(envelope: Envelope, data: EventData, uow: UnitOfWork) -> None:
    assert isinstance(data, BackboneProbe)
    await uow.conn.execute(insert(uow.tables.probe_receipts).values(
        probe_id=data.probe_id, event_id=envelope.id, dossier_id=data.dossier_id, received_at=datetime.now(UTC)))


class ProbeRequest(BaseModel):
    dossier_id: str | None = Field(default=None, max_length=64, description="Key to route the probe by; random if absent")
    note: str | None = Field(default=None, max_length=200)


class ProbeAccepted(BaseModel):
    probe_id: str
    event_id: str
    dossier_id: str


class ProbeReceipt(BaseModel):
    service: str
    probe_id: str
    event_id: str
    dossier_id: str
    received_at: datetime


def publish_router() -> APIRouter:
    router = APIRouter(tags=["backbone"])

    @router.post("/v1/intake/probes", status_code=202, response_model=ProbeAccepted,
                 summary="Send an operational probe event through the backbone")
    async def send_probe(request: Request, body: Annotated[ProbeRequest, Body()],
                         key: Annotated[str, Depends(require_idempotency_key)],
                         principal: Annotated[Principal, require_scopes(PROBE_SCOPE)]):
        kit = request.app.state.kit

        async def action(uow: UnitOfWork) -> Created:
            probe_id = str(uuid.uuid4())
            data = BackboneProbe(dossier_id=body.dossier_id or f"probe-{probe_id}", probe_id=probe_id, note=body.note)
            event = make_event(data, source_service="intake", correlation_id=correlation_id_var.get() or probe_id)
            uow.publish(event)
            return Created(202, ProbeAccepted(probe_id=probe_id, event_id=event.id, dossier_id=data.dossier_id).model_dump(),
                           location=f"/v1/intake/probes/{probe_id}")

        return await kit.idempotency.run(scope=principal.scope_id, key=key, request_body=await request.body(),
                                         action=action)
    return router


def receipt_router(service: str) -> APIRouter:
    router = APIRouter(tags=["backbone"])

    @router.get(f"/v1/{service}/probes/{{probe_id}}", response_model=ProbeReceipt,
                summary="Whether this service has consumed a probe")
    async def get_receipt(request: Request, probe_id: str,
                          _: Annotated[Principal, require_scopes(PROBE_SCOPE)]):
        async with request.app.state.kit.uow() as uow:
            t = uow.tables.probe_receipts
            row = (await uow.conn.execute(select(t).where(t.c.probe_id == probe_id))).first()
        if row is None:
            raise ProblemError(404, "probe-not-found", "This service has not seen that probe (yet)")
        return ProbeReceipt(service=service, probe_id=row.probe_id, event_id=row.event_id,
                            dossier_id=row.dossier_id, received_at=row.received_at)
    return router
