"""The one place that wires notifications: templates, the sealer, the providers (SMS, SMTP,
Zalo), the webhook sender, the portal client, tables, migrations, event handlers, routes and
the dispatchers."""
from __future__ import annotations

from pathlib import Path

from services.notifications import handlers
from services.notifications.adapters.channels import EmailSender, PortalClient, SmsGateway, WebhookSender, ZaloClient
from services.notifications.api import messages_router, portal_router, subscriptions_router, templates_router
from services.notifications.consumers import build_handlers
from services.notifications.handlers import Notifications
from services.notifications.models import backbone, metadata
from services.notifications.settings import NotificationsSettings
from services.notifications.templates import TEMPLATE_DIR, load_templates
from shared.observability import get_logger
from shared.pii import sealer_from_settings
from shared.probe import receipt_router
from shared.service import PeriodicTask, ServiceDefinition, ServiceKit
from shared.settings import ServiceSettings

log = get_logger(__name__)


def build_notifications(settings: NotificationsSettings, template_dir: Path = TEMPLATE_DIR) -> Notifications:
    s = settings
    callback = f"{s.public_base_url}/v1/notifications/receipts/sms/{{provider}}"
    return Notifications(
        settings=s, templates=load_templates(template_dir), sealer=sealer_from_settings(s, log),
        sms=SmsGateway(s.sms_providers, s.sms_timeout_s, callback) if s.sms_providers else None,
        email=EmailSender(s.smtp_host, s.smtp_port, s.mail_from) if s.smtp_host else None,
        zalo=ZaloClient(s.zalo_url, s.zalo_token.get_secret_value()) if s.zalo_url else None,
        webhooks=WebhookSender(s.webhook_timeout_s),
        portal=PortalClient(s.portal_url, s.portal_token.get_secret_value()) if s.portal_url else None)


def definition(settings: ServiceSettings | None = None, notifications: Notifications | None = None) -> ServiceDefinition:
    settings = settings if isinstance(settings, NotificationsSettings) else \
        NotificationsSettings(**settings.model_dump()) if settings else NotificationsSettings()
    ctx = notifications or build_notifications(settings)

    def every(run):
        async def task(kit: ServiceKit) -> int:
            return await run(ctx, kit.uow)
        return task

    closers = [ctx.webhooks.close, *[c.close for c in (ctx.sms, ctx.zalo, ctx.portal) if c is not None]]
    return ServiceDefinition(
        name="notifications",
        title="One-stop notifications service",
        description="Notifications: Vietnamese messages by SMS (two providers, failover), e-mail and Zalo, exactly "
                    "once per recipient and channel; signed webhooks for desk systems; status sync to the national "
                    "public service portal.",
        metadata=metadata,
        tables=backbone,
        migrations_dir=Path(__file__).parent / "migrations",
        handlers=build_handlers(ctx),
        routers=[receipt_router("notifications"), messages_router(), templates_router(), subscriptions_router(),
                 portal_router()],
        periodic=[PeriodicTask("send-messages", settings.dispatch_interval_s, every(handlers.dispatch_messages)),
                  PeriodicTask("send-webhooks", settings.dispatch_interval_s, every(handlers.dispatch_webhooks)),
                  PeriodicTask("sync-portal", settings.dispatch_interval_s, every(handlers.dispatch_portal))],
        state={"notifications": ctx},
        on_stop=closers,
    )
