"""The one place that wires payments: its tables, migrations, event handlers and routes."""
from pathlib import Path

from services.payments.consumers import HANDLERS
from services.payments.models import backbone, metadata
from shared.probe import receipt_router
from shared.service import ServiceDefinition
from shared.settings import ServiceSettings


def definition(settings: ServiceSettings | None = None) -> ServiceDefinition:
    return ServiceDefinition(
        name="payments",
        title="One-stop payments service",
        description="Payments: fee assessment, bills, online payment, reconciliation and refunds.",
        metadata=metadata,
        tables=backbone,
        migrations_dir=Path(__file__).parent / "migrations",
        handlers=HANDLERS,
        routers=[receipt_router("payments")],
    )
