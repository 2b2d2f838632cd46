"""The one place that wires routing: its tables, migrations, event handlers and routes."""
from pathlib import Path

from services.routing.consumers import HANDLERS
from services.routing.models import backbone, metadata
from shared.probe import receipt_router
from shared.service import ServiceDefinition
from shared.settings import ServiceSettings


def definition(settings: ServiceSettings | None = None) -> ServiceDefinition:
    return ServiceDefinition(
        name="routing",
        title="One-stop routing service",
        description="Routing: inter-agency workflow, tasks, the working-day SLA clock and decisions.",
        metadata=metadata,
        tables=backbone,
        migrations_dir=Path(__file__).parent / "migrations",
        handlers=HANDLERS,
        routers=[receipt_router("routing")],
    )
