"""The one place that wires routing: workflow definitions, calendar, tables, migrations, event
handlers, routes and the deadline monitor."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from services.routing import handlers
from services.routing.api import PATH_PREFIXES, performance_router, processes_router, tasks_router, workflows_router
from services.routing.consumers import build_handlers
from services.routing.handlers import Routing
from services.routing.models import backbone, metadata
from services.routing.settings import RoutingSettings
from services.routing.workflow import WORKFLOW_DIR, load_workflows
from shared.probe import receipt_router
from shared.service import PeriodicTask, ServiceDefinition, ServiceKit, working_calendar
from shared.settings import ServiceSettings


def build_routing(settings: RoutingSettings, workflow_dir: Path = WORKFLOW_DIR) -> Routing:
    ctx = Routing(settings=settings, workflows=load_workflows(workflow_dir), calendar=working_calendar(settings))
    if settings.clock_offset_hours:   # training and test environments only (refused in production)
        ahead = timedelta(hours=settings.clock_offset_hours)
        ctx.now = lambda: datetime.now(UTC) + ahead
    return ctx


def definition(settings: ServiceSettings | None = None, routing: Routing | None = None) -> ServiceDefinition:
    settings = settings if isinstance(settings, RoutingSettings) else \
        RoutingSettings(**settings.model_dump()) if settings else RoutingSettings()
    ctx = routing or build_routing(settings)

    async def monitor(kit: ServiceKit) -> int:
        return await handlers.monitor_deadlines(ctx, kit.uow)

    return ServiceDefinition(
        name="routing",
        title="One-stop routing service",
        description="Routing: inter-agency workflow, tasks for desk systems and officers, the working-day SLA "
                    "clock with pauses, overdue detection, the one extension (form 04), decisions and agency "
                    "performance.",
        metadata=metadata,
        tables=backbone,
        migrations_dir=Path(__file__).parent / "migrations",
        handlers=build_handlers(ctx),
        routers=[receipt_router("routing"), workflows_router(), tasks_router(), processes_router(),
                 performance_router()],
        path_prefixes=PATH_PREFIXES,
        periodic=[PeriodicTask("deadline-monitor", settings.monitor_interval_s, monitor)],
        state={"routing": ctx},
    )
