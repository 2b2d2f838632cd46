"""The one place that wires notifications: its tables, migrations, event handlers and routes."""
from pathlib import Path

from services.notifications.consumers import HANDLERS
from services.notifications.models import backbone, metadata
from shared.probe import receipt_router
from shared.service import ServiceDefinition
from shared.settings import ServiceSettings


def definition(settings: ServiceSettings | None = None) -> ServiceDefinition:
    return ServiceDefinition(
        name="notifications",
        title="One-stop notifications service",
        description="Notifications: SMS, e-mail, Zalo, signed webhooks and national-portal status sync.",
        metadata=metadata,
        tables=backbone,
        migrations_dir=Path(__file__).parent / "migrations",
        handlers=HANDLERS,
        routers=[receipt_router("notifications")],
    )
