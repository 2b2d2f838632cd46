"""The one place that wires intake: its tables, migrations, event handlers and routes."""
from pathlib import Path

from services.intake.consumers import HANDLERS
from services.intake.models import backbone, metadata
from shared.probe import publish_router, receipt_router
from shared.service import ServiceDefinition


def definition() -> ServiceDefinition:
    return ServiceDefinition(
        name="intake",
        title="One-stop intake service",
        description="Intake: procedure catalogue, dossier submission, desk reception, tracking and KPIs.",
        metadata=metadata,
        tables=backbone,
        migrations_dir=Path(__file__).parent / "migrations",
        handlers=HANDLERS,
        routers=[publish_router(), receipt_router("intake")],
    )
