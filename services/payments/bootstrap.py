"""The one place that wires payments: the payment platform client, tables, migrations, event
handlers, routes and the sweeps (early and daily reconciliation, bill expiry)."""
from __future__ import annotations

from pathlib import Path

from services.payments import handlers
from services.payments.adapters.platform import PaymentPlatform
from services.payments.api import PATH_PREFIXES, bills_router, payments_router
from services.payments.consumers import build_handlers
from services.payments.handlers import Payments
from services.payments.models import backbone, metadata
from services.payments.settings import PaymentsSettings
from shared.probe import receipt_router
from shared.service import PeriodicTask, ServiceDefinition, ServiceKit
from shared.settings import ServiceSettings


def build_payments(settings: PaymentsSettings) -> Payments:
    platform = PaymentPlatform(settings.payment_platform_url, settings.payment_platform_merchant,
                               settings.platform_secrets, timeout_s=settings.payment_platform_timeout_s) \
        if settings.payment_platform_url else None
    return Payments(settings=settings, platform=platform)


def definition(settings: ServiceSettings | None = None, payments: Payments | None = None) -> ServiceDefinition:
    settings = settings if isinstance(settings, PaymentsSettings) else \
        PaymentsSettings(**settings.model_dump()) if settings else PaymentsSettings()
    ctx = payments or build_payments(settings)

    def sweep(kind: str):
        async def run(kit: ServiceKit) -> int:
            if ctx.platform is None:
                return 0
            return len((await handlers.reconcile(ctx, kit.uow, kind))["differences"])
        return run

    async def expiry(kit: ServiceKit) -> int:
        return await handlers.expire_bills(ctx, kit.uow)

    return ServiceDefinition(
        name="payments",
        title="One-stop payments service",
        description="Payments: bills from the assessed fees, online payment through the national payment platform "
                    "(callbacks that cannot be forged, confirmed server to server), reconciliation, refunds and "
                    "e-receipts.",
        metadata=metadata,
        tables=backbone,
        migrations_dir=Path(__file__).parent / "migrations",
        handlers=build_handlers(ctx),
        routers=[receipt_router("payments"), bills_router(), payments_router()],
        path_prefixes=PATH_PREFIXES,
        periodic=[PeriodicTask("reconcile-early", settings.reconcile_early_interval_s, sweep("early")),
                  PeriodicTask("reconcile-daily", settings.reconcile_daily_interval_s, sweep("daily")),
                  PeriodicTask("bill-expiry", settings.expiry_sweep_interval_s, expiry)],
        state={"payments": ctx},
        on_stop=[ctx.platform.close] if ctx.platform else [],
    )
