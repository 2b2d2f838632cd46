"""Notifications' HTTP API: a dossier's message history and a message's status, templates (list,
preview with missing-variable detection), provider health, delivery receipts from SMS providers,
webhook subscriptions for desk systems (CRUD, secret rotation, delivery log), and the national
portal sync log with re-sync.

Webhook receivers verify each delivery: the `X-Onestop-Signature` header is
`t=<unix seconds>,v1=<hex>[,v1=<hex>]`, where v1 = HMAC-SHA256(secret, "<t>." + raw body). Accept
the delivery if any v1 matches your secret (two appear while a rotated secret overlaps) and t is
within 5 minutes of your clock (an old t is a replay); dedupe by `X-Onestop-Event-Id`. See
README ("Verifying a webhook") for code."""
import hashlib
import hmac
import json
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, Path, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import delete, select, update

from services.notifications import handlers
from services.notifications.handlers import Notifications, check_webhook_target, new_secret
from services.notifications.models import messages, portal_sync, subscriptions, webhook_attempts, webhook_deliveries
from services.notifications.templates import MissingVariables, fit_sms, render, sms_segments, variables
from shared.auth import ALL_AGENCIES, Actor, require_actor
from shared.calendar import VIETNAM_TZ
from shared.events.catalogue import CATALOGUE
from shared.idempotency import Created, require_idempotency_key
from shared.problems import ProblemError, period_bounds

READ, MANAGE, PORTAL = "notifications:read", "webhooks:manage", "portal:sync"
NOTIFICATIONS_PERMISSIONS = (READ, MANAGE, PORTAL)


def _ctx(request: Request) -> Notifications:
    return request.app.state.notifications


Ctx = Annotated[Notifications, Depends(_ctx)]
Key = Annotated[str, Depends(require_idempotency_key)]


def message_view(row, ctx: Notifications, *, content: bool) -> dict[str, Any]:
    view = {"id": row.id, "dossier_id": row.dossier_id, "event_type": row.event_type, "audience": row.audience,
            "channel": row.channel, "recipient": row.recipient_masked, "template": row.template_id,
            "template_version": row.template_version, "state": row.state, "attempts": row.attempts,
            "provider": row.provider, "last_error": row.last_error, "created_at": row.created_at.isoformat(),
            "sent_at": row.sent_at.isoformat() if row.sent_at else None,
            "final_at": row.final_at.isoformat() if row.final_at else None}
    if content:
        sealed = ctx.sealer.open(row.sealed)
        view.update(subject=sealed["subject"], body=sealed["body"])
    return view


def messages_router() -> APIRouter:
    router = APIRouter(tags=["messages"])

    @router.get("/v1/notifications/dossiers/{dossier_id}/messages", summary="Every message about a dossier")
    async def history(request: Request, ctx: Ctx, dossier_id: str,
                      actor: Annotated[Actor, require_actor(READ)]) -> dict[str, Any]:
        async with request.app.state.kit.uow() as uow:
            rows = (await uow.conn.execute(select(messages).where(messages.c.dossier_id == dossier_id)
                                           .order_by(messages.c.created_at, messages.c.id))).all()
        return {"dossier_id": dossier_id, "items": [message_view(r, ctx, content=True) for r in rows]}

    @router.get("/v1/notifications/messages/{message_id}", summary="A message's delivery status")
    async def status(request: Request, ctx: Ctx, message_id: str,
                     actor: Annotated[Actor, require_actor(READ)]) -> dict[str, Any]:
        async with request.app.state.kit.uow() as uow:
            row = (await uow.conn.execute(select(messages).where(messages.c.id == message_id))).first()
        if row is None:
            raise ProblemError(404, "message-not-found", "No such message", detail_vi="Không tìm thấy tin nhắn.")
        return message_view(row, ctx, content=False)

    @router.post("/v1/notifications/receipts/sms/{provider}", include_in_schema=True,
                 summary="A delivery receipt from an SMS provider (signed X-Signature: HMAC-SHA256 of the body)")
    async def receipt(request: Request, ctx: Ctx,
                      provider: Annotated[str, Path(pattern=r"^[a-z0-9-]{1,32}$")]) -> JSONResponse:
        body = await request.body()
        expected = hmac.new(ctx.settings.receipt_secret.get_secret_value().encode(), body, hashlib.sha256).hexdigest()
        given = request.headers.get("x-signature", "")
        if not hmac.compare_digest(given.encode(), expected.encode()):
            raise ProblemError(401, "receipt-signature-invalid", "The receipt's signature does not verify")
        try:
            data = json.loads(body)
        except ValueError:
            data = None
        if not isinstance(data, dict) or "message_id" not in data:
            raise ProblemError(422, "receipt-invalid", "A receipt is a JSON object with message_id and status")
        async with request.app.state.kit.uow() as uow:
            outcome = await handlers.apply_receipt(ctx, uow, provider, data)
            await uow.commit()
        return JSONResponse({"result": outcome})

    @router.get("/v1/notifications/providers", summary="Provider health: sent, failed, failing now")
    async def providers(ctx: Ctx, actor: Annotated[Actor, require_actor(READ)]) -> dict[str, Any]:
        found = []
        if ctx.sms:
            found += [{"channel": "sms", **h.view()} for h in ctx.sms.health.values()]
        for channel, adapter in (("email", ctx.email), ("zalo", ctx.zalo), ("portal", ctx.portal)):
            if adapter is not None:
                found.append({"channel": channel, **adapter.health.view()})
        return {"items": found}

    return router


class Preview(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"channel": "sms", "variables": {
        "dossier_code": "000.17.22.H56-261123-0001", "due_at": "2026-11-26T10:00:00+00:00",
        "tracking_url": "https://dichvucong.khanhhoa.gov.vn/v1/tracking/000.17.22.H56-261123-0001"}}]})
    channel: Literal["sms", "email", "zalo"]
    variables: dict[str, Any] = Field(default_factory=dict)
    unicode: bool = True


def templates_router() -> APIRouter:
    router = APIRouter(tags=["templates"])

    @router.get("/v1/notifications/templates", summary="Templates: event, audience, channels, version, variables")
    async def list_templates(ctx: Ctx) -> dict[str, Any]:
        return {"items": [{"id": t.id, "version": t.version, "event": t.event, "audience": t.audience,
                           "essential": t.essential, "channels": t.available(),
                           "variables": {c: sorted(variables(t, c)) for c in t.available()}}
                          for t in ctx.templates.current.values()]}

    @router.get("/v1/notifications/templates/{template_id}", summary="A template's text per channel")
    async def get_template(ctx: Ctx, template_id: str, version: Annotated[str | None, Query(max_length=16)] = None):
        template = ctx.templates.versions.get((template_id, version)) if version else ctx.templates.current.get(template_id)
        if template is None:
            raise ProblemError(404, "template-not-found", "No such template (version)")
        return template.model_dump()

    @router.post("/v1/notifications/templates/{template_id}/preview",
                 summary="Render a template with your variables; 422 names any that are missing")
    async def preview(ctx: Ctx, template_id: str, body: Annotated[Preview, Body()]) -> dict[str, Any]:
        template = ctx.templates.current.get(template_id)
        if template is None:
            raise ProblemError(404, "template-not-found", "No such template")
        if body.channel not in template.available():
            raise ProblemError(422, "channel-not-available", f"{template_id} has no {body.channel} text",
                               errors=[{"field": "channel", "message": f"available: {template.available()}"}])
        try:
            rendered = render(template, body.channel, body.variables)
        except MissingVariables as exc:
            raise ProblemError(422, "variables-missing", "The template needs variables you did not give",
                               errors=[{"field": f"variables.{name}", "message": "missing"} for name in exc.names]) from None
        except (TypeError, ValueError) as exc:
            raise ProblemError(422, "variables-invalid", f"A variable has the wrong type: {exc}") from None
        text = rendered.body
        answer: dict[str, Any] = {"template": template.id, "version": template.version, "channel": body.channel,
                                  "subject": rendered.subject, "body": text}
        if body.channel == "sms":
            sent = fit_sms(text, ctx.settings.sms_max_segments, body.unicode)
            segments, encoding = sms_segments(sent)
            answer.update(body=sent, segments=segments, encoding=encoding)
        return answer

    return router


# --- webhook subscriptions ---------------------------------------------------------------------------------
class SubscriptionIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "url": "https://motcua.vinhhoa.example/onestop/events", "event_types": ["task.assigned.v1", "dossier.decided.v1"]}]})
    url: str = Field(min_length=8, max_length=2000)
    event_types: list[str] = Field(min_length=1, max_length=50, description='Type names, or ["*"] for all')
    agency: str | None = Field(default=None, max_length=32, description="Default: your agency")


class SubscriptionPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: str | None = Field(default=None, min_length=8, max_length=2000)
    event_types: list[str] | None = Field(default=None, min_length=1, max_length=50)
    active: bool | None = None


def _subscription_view(row) -> dict[str, Any]:
    return {"id": row.id, "agency": row.agency, "url": row.url, "event_types": row.event_types, "active": row.active,
            "created_at": row.created_at.isoformat(), "version": row.version}


def subscriptions_router() -> APIRouter:
    router = APIRouter(tags=["webhooks"])

    async def validated(ctx: Notifications, url: str | None, event_types: list[str] | None) -> None:
        errors = []
        if event_types is not None:
            unknown = [t for t in event_types if t != "*" and t not in CATALOGUE]
            errors += [{"field": "event_types", "message": f"unknown event type {t}"} for t in unknown]
        if url is not None and (why := await check_webhook_target(ctx, url)):
            errors.append({"field": "url", "message": why})
        if errors:
            raise ProblemError(422, "subscription-invalid", "The subscription is invalid", errors=errors)

    async def owned(request: Request, actor: Actor, subscription_id: str):
        async with request.app.state.kit.uow() as uow:
            row = (await uow.conn.execute(select(subscriptions).where(subscriptions.c.id == subscription_id))).first()
        if row is None or not actor.may_act_for(row.agency):
            raise ProblemError(404, "subscription-not-found", "No such subscription")
        return row

    @router.post("/v1/notifications/subscriptions", status_code=201,
                 summary="Subscribe a desk system to an agency's events; the answer holds the secret, once")
    async def create(request: Request, ctx: Ctx, body: Annotated[SubscriptionIn, Body()], key: Key,
                     actor: Annotated[Actor, require_actor(MANAGE)]) -> Response:
        agency = body.agency or actor.agency
        if agency != ALL_AGENCIES and not actor.may_act_for(agency):
            raise ProblemError(403, "not-your-agency", "You may subscribe only to your agency's events")
        await validated(ctx, body.url, body.event_types)

        async def run(uow) -> Created:
            import uuid
            now, secret = ctx.now(), new_secret()
            subscription_id = str(uuid.uuid4())
            await uow.conn.execute(subscriptions.insert(), dict(
                id=subscription_id, agency=agency, url=body.url, event_types=body.event_types,
                secrets=ctx.sealer.seal({"secrets": [{"secret": secret, "created_at": now.isoformat(), "retire_at": None}]}),
                active=True, created_by=actor.label, created_at=now, updated_at=now, version=1))
            row = (await uow.conn.execute(select(subscriptions).where(subscriptions.c.id == subscription_id))).first()
            return Created(201, {**_subscription_view(row), "secret": secret},
                           f"/v1/notifications/subscriptions/{subscription_id}")
        return await request.app.state.kit.idempotency.run(scope=actor.label, key=key,
                                                           request_body=await request.body(), action=run)

    @router.get("/v1/notifications/subscriptions", summary="Your agency's subscriptions")
    async def list_subscriptions(request: Request, actor: Annotated[Actor, require_actor(MANAGE)]) -> dict[str, Any]:
        query = select(subscriptions).order_by(subscriptions.c.created_at)
        if ALL_AGENCIES not in actor.permissions:
            query = query.where(subscriptions.c.agency == actor.agency)
        async with request.app.state.kit.uow() as uow:
            rows = (await uow.conn.execute(query)).all()
        return {"items": [_subscription_view(r) for r in rows]}

    @router.get("/v1/notifications/subscriptions/{subscription_id}", summary="A subscription")
    async def get_subscription(request: Request, subscription_id: str,
                               actor: Annotated[Actor, require_actor(MANAGE)]) -> dict[str, Any]:
        return _subscription_view(await owned(request, actor, subscription_id))

    @router.patch("/v1/notifications/subscriptions/{subscription_id}", summary="Change the URL, event types or pause it")
    async def change(request: Request, ctx: Ctx, subscription_id: str, body: Annotated[SubscriptionPatch, Body()],
                     actor: Annotated[Actor, require_actor(MANAGE)]) -> dict[str, Any]:
        await owned(request, actor, subscription_id)
        await validated(ctx, body.url, body.event_types)
        changes = {k: v for k, v in body.model_dump().items() if v is not None}
        async with request.app.state.kit.uow() as uow:
            await uow.conn.execute(update(subscriptions).where(subscriptions.c.id == subscription_id).values(
                **changes, updated_at=ctx.now(), version=subscriptions.c.version + 1))
            await uow.commit()
        return _subscription_view(await owned(request, actor, subscription_id))

    @router.delete("/v1/notifications/subscriptions/{subscription_id}", status_code=204, summary="Unsubscribe")
    async def remove(request: Request, subscription_id: str, actor: Annotated[Actor, require_actor(MANAGE)]) -> Response:
        await owned(request, actor, subscription_id)
        async with request.app.state.kit.uow() as uow:
            await uow.conn.execute(update(subscriptions).where(subscriptions.c.id == subscription_id)
                                   .values(active=False, version=subscriptions.c.version + 1))
            await uow.conn.execute(delete(webhook_deliveries).where(
                webhook_deliveries.c.subscription_id == subscription_id, webhook_deliveries.c.state == "pending"))
            await uow.commit()
        return Response(status_code=204)

    @router.post("/v1/notifications/subscriptions/{subscription_id}/secret-rotation", status_code=201,
                 summary="A new secret; the old one keeps signing alongside for the overlap period")
    async def rotate(request: Request, ctx: Ctx, subscription_id: str, key: Key,
                     actor: Annotated[Actor, require_actor(MANAGE)]) -> Response:
        await owned(request, actor, subscription_id)

        async def run(uow) -> Created:
            row = (await uow.conn.execute(select(subscriptions).where(subscriptions.c.id == subscription_id))).first()
            now, secret = ctx.now(), new_secret()
            retire = (now + timedelta(hours=ctx.settings.webhook_secret_overlap_hours)).isoformat()
            kept = [dict(s, retire_at=s.get("retire_at") or retire) for s in ctx.sealer.open(row.secrets)["secrets"]
                    if s.get("retire_at") is None or datetime.fromisoformat(s["retire_at"]) > now]
            await uow.conn.execute(update(subscriptions).where(subscriptions.c.id == subscription_id).values(
                secrets=ctx.sealer.seal({"secrets": [{"secret": secret, "created_at": now.isoformat(),
                                                      "retire_at": None}, *kept]}),
                updated_at=now, version=row.version + 1))
            return Created(201, {"id": subscription_id, "secret": secret, "previous_secrets_retire_at": retire})
        return await request.app.state.kit.idempotency.run(scope=actor.label, key=key,
                                                           request_body=await request.body(), action=run)

    @router.get("/v1/notifications/subscriptions/{subscription_id}/deliveries",
                summary="Delivery log: each event sent, its attempts, status codes and errors")
    async def deliveries(request: Request, subscription_id: str, actor: Annotated[Actor, require_actor(MANAGE)],
                         limit: Annotated[int, Query(ge=1, le=500)] = 100) -> dict[str, Any]:
        await owned(request, actor, subscription_id)
        async with request.app.state.kit.uow() as uow:
            rows = (await uow.conn.execute(select(webhook_deliveries).where(
                webhook_deliveries.c.subscription_id == subscription_id).order_by(
                webhook_deliveries.c.created_at.desc()).limit(limit))).all()
            tries = (await uow.conn.execute(select(webhook_attempts).where(
                webhook_attempts.c.delivery_id.in_([r.id for r in rows])).order_by(webhook_attempts.c.id))).all()
        by_delivery: dict[str, list] = {}
        for t in tries:
            by_delivery.setdefault(t.delivery_id, []).append({"at": t.at.isoformat(), "status": t.status,
                                                              "error": t.error, "duration_ms": t.duration_ms})
        return {"items": [{"id": r.id, "event_id": r.event_id, "event_type": r.event_type, "dossier_id": r.dossier_id,
                           "state": r.state, "attempts": by_delivery.get(r.id, []),
                           "delivered_at": r.delivered_at.isoformat() if r.delivered_at else None} for r in rows]}

    return router


# --- the national portal ------------------------------------------------------------------------------------
class Resync(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"dossier_id": "3f0c..."},
                                                                              {"from": "2026-11-01", "to": "2026-11-30"}]})
    dossier_id: str | None = Field(default=None, max_length=36)
    since: date | None = Field(default=None, alias="from")
    until: date | None = Field(default=None, alias="to")


def portal_router() -> APIRouter:
    router = APIRouter(tags=["portal"])

    @router.get("/v1/notifications/portal-sync", summary="The portal sync log (per dossier, in send order)")
    async def sync_log(request: Request, actor: Annotated[Actor, require_actor(PORTAL)],
                       dossier_id: Annotated[str | None, Query(max_length=36)] = None,
                       state: Annotated[Literal["pending", "sent"] | None, Query()] = None,
                       limit: Annotated[int, Query(ge=1, le=1000)] = 200) -> dict[str, Any]:
        query = select(portal_sync).order_by(portal_sync.c.id).limit(limit)
        if dossier_id:
            query = query.where(portal_sync.c.dossier_id == dossier_id)
        if state:
            query = query.where(portal_sync.c.state == state)
        async with request.app.state.kit.uow() as uow:
            rows = (await uow.conn.execute(query)).all()
        return {"items": [{"id": r.id, "dossier_id": r.dossier_id, "dossier_code": r.dossier_code, "kind": r.kind,
                           "state": r.state, "attempts": r.attempts, "generation": r.generation,
                           "last_error": r.last_error, "sent_at": r.sent_at.isoformat() if r.sent_at else None,
                           "payload": r.payload} for r in rows]}

    @router.post("/v1/notifications/portal-sync/resync", summary="Send a dossier's or a period's portal messages again")
    async def resync(request: Request, ctx: Ctx, body: Annotated[Resync, Body()],
                     actor: Annotated[Actor, require_actor(PORTAL)]) -> dict[str, Any]:
        since = until = None
        if body.since or body.until:   # checked as one period; an open end stays open
            start, end = period_bounds(body.since or date(2000, 1, 1), body.until or date(2100, 12, 31), VIETNAM_TZ)
            since, until = (start if body.since else None), (end if body.until else None)
        async with request.app.state.kit.uow() as uow:
            count = await handlers.resync_portal(ctx, uow, dossier_id=body.dossier_id, since=since, until=until)
            await uow.commit()
        return {"requeued": count, "at": datetime.now(UTC).isoformat()}

    return router
