"""The one place that wires results: its tables, migrations, event handlers and routes."""
from pathlib import Path

from services.results.consumers import HANDLERS
from services.results.models import backbone, metadata
from shared.probe import receipt_router
from shared.service import ServiceDefinition
from shared.settings import ServiceSettings


def definition(settings: ServiceSettings | None = None) -> ServiceDefinition:
    return ServiceDefinition(
        name="results",
        title="One-stop results service",
        description="Results: signed electronic results, verification, return and reuse.",
        metadata=metadata,
        tables=backbone,
        migrations_dir=Path(__file__).parent / "migrations",
        handlers=HANDLERS,
        routers=[receipt_router("results")],
    )
