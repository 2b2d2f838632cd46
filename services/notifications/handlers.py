"""Notifications' use cases.

From every lifecycle event, in the consumer's transaction: remember the dossier and its
applicant's contact (sealed), plan the messages its templates call for (one row per event,
recipient and channel: a redelivered event finds them and plans nothing), queue a delivery for
each matching webhook subscription, and queue the national portal's messages.

Then dispatchers (periodic, safe on several replicas: each row is claimed by a conditional
update) send what is due, outside any transaction, and record the outcome: delivered, sent and
awaiting the provider's receipt, a temporary failure retried with backoff, a permanent one not."""
from __future__ import annotations

import asyncio
import json
import secrets
import socket
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, ClassVar
from urllib.parse import urlsplit

from sqlalchemy import and_, or_, select, update

from services.notifications.adapters.channels import (EmailSender, Outcome, PortalClient, SmsGateway, WebhookSender,
                                                      ZaloClient)
from services.notifications.domain import (FINAL_STATES, SIGNATURE_HEADER, DeliveryState, applicant_channels, backoff,
                                           internal_address, mask_address, may_move, portal_messages,
                                           subscription_matches, wants, webhook_signature)
from services.notifications.models import (dossiers, messages, portal_sync, subscriptions, webhook_attempts,
                                           webhook_deliveries)
from services.notifications.settings import NotificationsSettings
from services.notifications.templates import MissingVariables, Template, Templates, fit_sms, render
from shared.db import insert_if_absent
from shared.events.catalogue import NotificationFailed, NotificationSent, national_status
from shared.context import ServiceContext
from shared.events.emit import Emitter
from shared.events.envelope import Envelope
from shared.observability import get_logger
from shared.pii import Sealer
from shared.problems import ProblemError
from shared.uow import UnitOfWork

log = get_logger(__name__)
UowFactory = Callable[[], UnitOfWork]


@dataclass
class Notifications(ServiceContext):
    """What notifications' handlers are wired with (see bootstrap.py)."""
    settings: NotificationsSettings
    templates: Templates
    sealer: Sealer
    sms: SmsGateway | None
    email: EmailSender | None
    zalo: ZaloClient | None
    webhooks: WebhookSender
    portal: PortalClient | None

    event: ClassVar[Emitter] = Emitter("notifications")


# --- planning, in the consumer's transaction ----------------------------------------------------------
async def on_event(ctx: Notifications, uow: UnitOfWork, envelope: Envelope) -> None:
    payload = envelope.data
    dossier_id = envelope.subject
    if envelope.type == "dossier.submitted.v1":
        await insert_if_absent(uow.conn, dossiers, dict(
            dossier_id=dossier_id, dossier_code=payload["dossier_code"], procedure_code=payload["procedure_code"],
            procedure_name=payload.get("procedure_name"), channel=payload["channel"],
            receiving_agency=payload["receiving_agency"], competent_agency=payload.get("competent_agency"),
            applicant_kind=(payload.get("contact") or {}).get("kind"),
            contact=ctx.sealer.seal(payload["contact"]) if payload.get("contact") else None,
            submitted_at=datetime.fromisoformat(payload["submitted_at"])))
    elif envelope.type == "dossier.accepted.v1":
        await uow.conn.execute(update(dossiers).where(dossiers.c.dossier_id == dossier_id).values(
            competent_agency=payload["competent_agency"],
            procedure_name=payload.get("procedure_name") or dossiers.c.procedure_name))
    dossier = (await uow.conn.execute(select(dossiers).where(dossiers.c.dossier_id == dossier_id))).first()
    contact = ctx.sealer.open(dossier.contact) if dossier is not None and dossier.contact else None
    for template in ctx.templates.for_event(envelope.type, payload):
        await _plan_messages(ctx, uow, envelope, template, dossier, contact)
    await _plan_webhooks(ctx, uow, envelope, dossier)
    if dossier is not None:
        await _plan_portal(ctx, uow, envelope, dossier, contact)


def message_context(ctx: Notifications, envelope: Envelope, dossier, contact: dict[str, Any] | None) -> dict[str, Any]:
    code = dossier.dossier_code if dossier is not None else envelope.data.get("dossier_code", envelope.subject)
    context = dict(envelope.data)
    context.update(dossier_code=code, tracking_url=ctx.url(f"/v1/tracking/{code}"),
                   receipt_url=ctx.url(f"/v1/tracking/{code}/receipt"))
    if dossier is not None:
        context["procedure_name"] = dossier.procedure_name or dossier.procedure_code
    if contact is not None:
        context["applicant_name"] = contact.get("name")
    return context


async def _plan_messages(ctx: Notifications, uow: UnitOfWork, envelope: Envelope, template: Template, dossier,
                         contact: dict[str, Any] | None) -> None:
    if template.audience == "applicant":
        if contact is None or not wants(contact, template.essential):
            return
        targets = applicant_channels(contact, template.available())
    else:
        agency = envelope.data.get(template.agency_field or "")
        targets = [("email", address) for address in ctx.templates.agency_contacts.get(agency, [])] \
            if "email" in template.available() else []
    context = message_context(ctx, envelope, dossier, contact)
    now = ctx.now()
    for channel, address in targets:
        state, error, subject, body = DeliveryState.CREATED.value, None, None, ""
        try:
            rendered = render(template, channel, context)
            subject, body = rendered.subject, rendered.body
        except MissingVariables as exc:   # never send a message with holes: visible as a technical failure
            state, error = DeliveryState.TECHNICAL_FAILURE.value, str(exc)
            log.error("template_variables_missing", template=template.id, channel=channel, missing=exc.names)
        await insert_if_absent(uow.conn, messages, dict(
            id=str(uuid.uuid4()), event_id=envelope.id, event_type=envelope.type, dossier_id=envelope.subject,
            audience=template.audience, recipient_key=ctx.sealer.lookup_hash("recipient", channel, address),
            recipient_masked=mask_address(channel, address), channel=channel, template_id=template.id,
            template_version=template.version,
            sealed=ctx.sealer.seal({"address": address, "subject": subject, "body": body}), state=state, version=1,
            attempts=0, last_error=error, created_at=now, updated_at=now,
            final_at=now if state == DeliveryState.TECHNICAL_FAILURE.value else None))


def _agencies_of(envelope: Envelope, dossier) -> set[str]:
    data = envelope.data
    found = {data.get(k) for k in ("agency", "from_agency", "to_agency", "decided_by_agency", "receiving_agency",
                                   "competent_agency", "issuing_agency")}
    if dossier is not None:
        found |= {dossier.receiving_agency, dossier.competent_agency}
    return {a for a in found if a}


async def _plan_webhooks(ctx: Notifications, uow: UnitOfWork, envelope: Envelope, dossier) -> None:
    agencies = _agencies_of(envelope, dossier)
    rows = (await uow.conn.execute(select(subscriptions).where(subscriptions.c.active.is_(True)))).all()
    body = None
    for row in rows:
        if not subscription_matches(row.event_types, envelope.type, row.agency, agencies):
            continue
        body = body or json.dumps(envelope.model_dump(mode="json", exclude_none=True), ensure_ascii=False,
                                 separators=(",", ":"))
        await insert_if_absent(uow.conn, webhook_deliveries, dict(
            id=str(uuid.uuid4()), subscription_id=row.id, event_id=envelope.id, event_type=envelope.type,
            dossier_id=envelope.subject, body=body, state="pending", attempts=0, created_at=ctx.now()))


async def _plan_portal(ctx: Notifications, uow: UnitOfWork, envelope: Envelope, dossier,
                       contact: dict[str, Any] | None) -> None:
    status = national_status(envelope.type)
    facts = {"dossier_code": dossier.dossier_code, "procedure_code": dossier.procedure_code,
             "procedure_name": dossier.procedure_name, "channel": dossier.channel,
             "receiving_agency": dossier.receiving_agency, "competent_agency": dossier.competent_agency,
             "applicant_kind": dossier.applicant_kind, "applicant_name": (contact or {}).get("name")}
    for kind, payload in portal_messages(envelope.type, envelope.data, int(status) if status else None, facts,
                                         envelope.time):
        await insert_if_absent(uow.conn, portal_sync, dict(
            dossier_id=envelope.subject, dossier_code=dossier.dossier_code, event_id=envelope.id, kind=kind,
            payload=payload, state="pending", generation=0, attempts=0, created_at=ctx.now()))


# --- sending messages ---------------------------------------------------------------------------------
def _due_messages(now: datetime, stuck_before: datetime):
    return or_(messages.c.state == DeliveryState.CREATED.value,
               and_(messages.c.state == DeliveryState.TEMPORARY_FAILURE.value, messages.c.next_attempt_at <= now),
               and_(messages.c.state == DeliveryState.SENDING.value, messages.c.updated_at < stuck_before))


async def dispatch_messages(ctx: Notifications, uow_factory: UowFactory) -> int:
    now = ctx.now()
    async with uow_factory() as uow:
        rows = (await uow.conn.execute(select(messages).where(_due_messages(
            now, now - timedelta(seconds=ctx.settings.stuck_after_s))).order_by(messages.c.created_at)
            .limit(ctx.settings.dispatch_batch))).all()
    done = 0
    for row in rows:
        async with uow_factory() as uow:   # claim: one replica wins each message
            claimed = await uow.conn.execute(update(messages).where(
                messages.c.id == row.id, messages.c.version == row.version).values(
                state=DeliveryState.SENDING.value, attempts=row.attempts + 1, version=row.version + 1,
                updated_at=ctx.now()))
            await uow.commit()
        if claimed.rowcount != 1:
            continue
        outcome = await _send(ctx, row)
        async with uow_factory() as uow:
            await _record(ctx, uow, row.id, row.version + 1, row.attempts + 1, outcome)
            await uow.commit()
        done += 1
    return done


async def _send(ctx: Notifications, row) -> Outcome:
    sealed = ctx.sealer.open(row.sealed)
    address, body = sealed["address"], sealed["body"]
    if row.channel == "sms":
        if ctx.sms is None or not ctx.sms.providers:
            return Outcome("temporary", "sms", error="no SMS provider configured")
        return await ctx.sms.send(row.id, address, lambda unicode: fit_sms(body, ctx.settings.sms_max_segments, unicode))
    if row.channel == "email":
        if ctx.email is None:
            return Outcome("temporary", "smtp", error="no SMTP server configured")
        return await ctx.email.send(row.id, address, sealed["subject"], body)
    if ctx.zalo is None:
        return Outcome("temporary", "zalo", error="Zalo OA not configured")
    return await ctx.zalo.send(row.id, address, body)


async def _record(ctx: Notifications, uow: UnitOfWork, message_id: str, version: int, attempts: int,
                  outcome: Outcome) -> None:
    now = ctx.now()
    values: dict[str, Any] = {"provider": outcome.provider, "updated_at": now, "last_error": outcome.error,
                              "version": version + 1}
    if outcome.provider_message_id:
        values["provider_message_id"] = outcome.provider_message_id
    if outcome.result == "sent":
        values.update(state=DeliveryState.SENT.value, sent_at=now)
    elif outcome.result == "delivered":
        values.update(state=DeliveryState.DELIVERED.value, sent_at=now, final_at=now)
    elif outcome.result == "temporary" and attempts < ctx.settings.max_attempts:
        values.update(state=DeliveryState.TEMPORARY_FAILURE.value,
                      next_attempt_at=now + backoff(attempts, ctx.settings.retry_base_s))
    else:   # permanent, or out of attempts
        values.update(state=DeliveryState.PERMANENT_FAILURE.value, final_at=now)
    await uow.conn.execute(update(messages).where(messages.c.id == message_id, messages.c.version == version)
                           .values(**values))
    await _announce(ctx, uow, message_id, values["state"], outcome.error)


async def _announce(ctx: Notifications, uow: UnitOfWork, message_id: str, state: str, error: str | None) -> None:
    if state not in (DeliveryState.DELIVERED.value, DeliveryState.PERMANENT_FAILURE.value):
        return
    row = (await uow.conn.execute(select(messages).where(messages.c.id == message_id))).first()
    now = ctx.now()
    if state == DeliveryState.DELIVERED.value:
        uow.publish(ctx.event(NotificationSent(dossier_id=row.dossier_id, notification_id=row.id, channel=row.channel,
                                               template=row.template_id, template_version=row.template_version,
                                               sent_at=now)))
    else:
        uow.publish(ctx.event(NotificationFailed(dossier_id=row.dossier_id, notification_id=row.id,
                                                 channel=row.channel, template=row.template_id,
                                                 reason=error or "undeliverable", failed_at=now)))


async def apply_receipt(ctx: Notifications, uow: UnitOfWork, provider: str, receipt: dict[str, Any]) -> str:
    """A provider's delivery receipt, applied only while the message is not final."""
    row = (await uow.conn.execute(select(messages).where(
        messages.c.provider == provider, messages.c.provider_message_id == str(receipt.get("message_id"))))).first()
    if row is None:
        return "unknown"
    if row.state in FINAL_STATES:
        return "ignored"
    delivered = receipt.get("status") == "delivered"
    target = DeliveryState.DELIVERED.value if delivered else DeliveryState.TEMPORARY_FAILURE.value
    if not may_move(row.state, target):
        return "ignored"
    now = ctx.now()
    values: dict[str, Any] = {"state": target, "updated_at": now, "version": row.version + 1}
    if delivered:
        values["final_at"] = now
    elif row.attempts >= ctx.settings.max_attempts:
        values.update(state=DeliveryState.PERMANENT_FAILURE.value, final_at=now)
    else:
        values.update(next_attempt_at=now + backoff(row.attempts, ctx.settings.retry_base_s),
                      last_error=f"receipt: {receipt.get('reason') or receipt.get('status')}")
    result = await uow.conn.execute(update(messages).where(messages.c.id == row.id, messages.c.version == row.version)
                                    .values(**values))
    if result.rowcount == 1:
        await _announce(ctx, uow, row.id, values["state"], values.get("last_error"))
    return values["state"]


# --- webhooks -----------------------------------------------------------------------------------------
async def check_webhook_target(ctx: Notifications, url: str) -> str | None:
    """None if the URL may be called; else why not (scheme, or an internal address not allowed)."""
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        return "the URL must be http(s) with a host"
    if parts.scheme != "https" and ctx.settings.webhook_require_https:
        return "the URL must use https"
    if parts.hostname in ctx.settings.webhook_allowed_hosts:
        return None
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(parts.hostname, parts.port or 443, type=socket.SOCK_STREAM)
    except OSError:
        return f"the host {parts.hostname} cannot be resolved"
    if any(internal_address(info[4][0]) for info in infos):
        return f"the host {parts.hostname} is an internal address"
    return None


def current_secrets(ctx: Notifications, sealed: bytes) -> list[str]:
    now = ctx.now()
    return [s["secret"] for s in ctx.sealer.open(sealed)["secrets"]
            if s.get("retire_at") is None or datetime.fromisoformat(s["retire_at"]) > now]


def new_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


async def dispatch_webhooks(ctx: Notifications, uow_factory: UowFactory) -> int:
    now = ctx.now()
    async with uow_factory() as uow:
        rows = (await uow.conn.execute(select(webhook_deliveries).where(
            webhook_deliveries.c.state == "pending",
            or_(webhook_deliveries.c.next_attempt_at.is_(None), webhook_deliveries.c.next_attempt_at <= now))
            .order_by(webhook_deliveries.c.created_at).limit(ctx.settings.dispatch_batch))).all()
    done = 0
    for row in rows:
        async with uow_factory() as uow:
            claimed = await uow.conn.execute(update(webhook_deliveries).where(
                webhook_deliveries.c.id == row.id, webhook_deliveries.c.state == "pending",
                webhook_deliveries.c.attempts == row.attempts).values(state="sending", attempts=row.attempts + 1))
            subscription = (await uow.conn.execute(select(subscriptions).where(
                subscriptions.c.id == row.subscription_id))).first()
            await uow.commit()
        if claimed.rowcount != 1:
            continue
        attempt = row.attempts + 1
        refusal = await check_webhook_target(ctx, subscription.url) if subscription and subscription.active else \
            "the subscription is no longer active"
        if refusal:
            status, error, took = None, refusal, 0
        else:
            body = row.body.encode()
            stamp = int(ctx.now().timestamp())
            status, error, took = await ctx.webhooks.post(subscription.url, body, {
                "Content-Type": "application/cloudevents+json; charset=utf-8",
                SIGNATURE_HEADER: webhook_signature(current_secrets(ctx, subscription.secrets), stamp, body),
                "X-Onestop-Delivery": row.id, "X-Onestop-Event-Id": row.event_id})
        async with uow_factory() as uow:
            now = ctx.now()
            await uow.conn.execute(webhook_attempts.insert(), dict(delivery_id=row.id, at=now, status=status,
                                                                   error=error, duration_ms=took))
            ok = status is not None and 200 <= status < 300
            values: dict[str, Any] = {"last_status": status, "last_error": error}
            if ok:
                values.update(state="delivered", delivered_at=now)
            elif attempt >= ctx.settings.webhook_max_attempts or refusal:
                values.update(state="failed")
            else:
                values.update(state="pending", next_attempt_at=now + backoff(attempt, ctx.settings.retry_base_s))
            await uow.conn.execute(update(webhook_deliveries).where(webhook_deliveries.c.id == row.id).values(**values))
            await uow.commit()
        done += 1
    return done


# --- the national portal ----------------------------------------------------------------------------
async def dispatch_portal(ctx: Notifications, uow_factory: UowFactory) -> int:
    """Per dossier, in order: the oldest pending message first; a failure stops that dossier
    until its retry time, so the portal never sees a history entry before its dossier."""
    if ctx.portal is None:
        return 0
    now = ctx.now()
    async with uow_factory() as uow:
        waiting = (await uow.conn.execute(select(portal_sync.c.dossier_id).where(portal_sync.c.state == "pending")
                                          .group_by(portal_sync.c.dossier_id).limit(ctx.settings.dispatch_batch))
                   ).scalars().all()
    sent = 0
    for dossier_id in waiting:
        async with uow_factory() as uow:
            rows = (await uow.conn.execute(select(portal_sync).where(
                portal_sync.c.dossier_id == dossier_id, portal_sync.c.state == "pending").order_by(portal_sync.c.id))).all()
        for row in rows:
            if row.next_attempt_at is not None and row.next_attempt_at > now:
                break
            error = await ctx.portal.push(row.kind, row.dossier_code, row.payload, key=f"onestop-{row.id}-{row.generation}")
            async with uow_factory() as uow:
                if error is None:
                    await uow.conn.execute(update(portal_sync).where(portal_sync.c.id == row.id).values(
                        state="sent", sent_at=ctx.now(), last_error=None))
                else:
                    await uow.conn.execute(update(portal_sync).where(portal_sync.c.id == row.id).values(
                        attempts=row.attempts + 1, last_error=error,
                        next_attempt_at=ctx.now() + backoff(row.attempts + 1, ctx.settings.retry_base_s, cap_s=900)))
                await uow.commit()
            if error is not None:
                break
            sent += 1
    return sent


async def resync_portal(ctx: Notifications, uow: UnitOfWork, *, dossier_id: str | None, since: datetime | None,
                        until: datetime | None) -> int:
    """Send a dossier's (or a period's) portal messages again, in order, under new idempotency keys."""
    if dossier_id is None and since is None:
        raise ProblemError(422, "resync-scope-required", "Name a dossier or a period",
                           errors=[{"field": "dossier_id", "message": "or from/to"}])
    where = [portal_sync.c.dossier_id == dossier_id] if dossier_id else []
    if since is not None:
        where.append(portal_sync.c.created_at >= since)
    if until is not None:
        where.append(portal_sync.c.created_at < until)
    result = await uow.conn.execute(update(portal_sync).where(*where).values(
        state="pending", generation=portal_sync.c.generation + 1, attempts=0, next_attempt_at=None, last_error=None))
    return result.rowcount or 0
