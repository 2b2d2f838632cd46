"""The one place that wires intake: catalogue, calendar, sealer, storage, population database,
its tables, migrations, event handlers, routes and sweeps."""
from __future__ import annotations

from pathlib import Path

from services.intake import handlers
from services.intake.adapters.code_numbers import CodeNumbers
from services.intake.adapters.population import PopulationClient
from services.intake.api import PATH_PREFIXES, SecondFactorGuard, catalogue_router, dossiers_router, kpi_router, \
    tracking_router
from services.intake.catalogue import CATALOGUE_DIR, load_catalogue
from services.intake.consumers import build_handlers
from services.intake.handlers import Intake
from services.intake.models import backbone, metadata
from services.intake.settings import IntakeSettings
from shared.db import create_engine
from shared.observability import get_logger
from shared.pii import sealer_from_settings
from shared.probe import publish_router, receipt_router
from shared.service import PeriodicTask, ServiceDefinition, ServiceKit, working_calendar
from shared.settings import ServiceSettings
from shared.storage import storage_from_url

log = get_logger(__name__)


def build_intake(settings: IntakeSettings, catalogue_dir: Path = CATALOGUE_DIR) -> Intake:
    population = PopulationClient(settings.population_db_url, settings.population_db_token.get_secret_value(),
                                  timeout_s=settings.population_db_timeout_s) if settings.population_db_url else None
    return Intake(settings=settings, catalogue=load_catalogue(catalogue_dir), calendar=working_calendar(settings),
                  sealer=sealer_from_settings(settings, log),
                  storage=storage_from_url(settings.storage_url), population=population,
                  code_numbers=CodeNumbers(create_engine(settings.model_copy(update={"database_pool_size": 2})),
                                           settings.dossier_code_block))


def definition(settings: ServiceSettings | None = None, intake: Intake | None = None) -> ServiceDefinition:
    settings = settings if isinstance(settings, IntakeSettings) else \
        IntakeSettings(**settings.model_dump()) if settings else IntakeSettings()
    ctx = intake or build_intake(settings)

    async def sweep_reception(kit: ServiceKit) -> int:
        async with kit.uow() as uow:
            done = await handlers.alert_unanswered_online(ctx, uow)
            done += await handlers.close_unsupplemented(ctx, uow)
            await uow.commit()
        return done

    async def retention(kit: ServiceKit) -> int:
        async with kit.uow() as uow:
            stale_files = await handlers.purge_unattached_uploads(ctx, uow)
            await handlers.purge_tracking_failures(ctx, uow)
            await uow.commit()
        for key in stale_files:
            await ctx.storage.delete(key)
        return len(stale_files)

    return ServiceDefinition(
        name="intake",
        title="One-stop intake service",
        description="Intake: procedure catalogue, dossier submission (online, desk, postal), desk reception, "
                    "citizen tracking and the province's KPIs.",
        metadata=metadata,
        tables=backbone,
        migrations_dir=Path(__file__).parent / "migrations",
        handlers=build_handlers(ctx),
        routers=[publish_router(), receipt_router("intake"), catalogue_router(), dossiers_router(),
                 tracking_router(SecondFactorGuard(settings.tracking_max_failures)), kpi_router()],
        path_prefixes=PATH_PREFIXES,
        periodic=[PeriodicTask("reception-sweep", settings.sweep_interval_s, sweep_reception),
                  PeriodicTask("retention", max(settings.sweep_interval_s, 600), retention)],
        state={"intake": ctx},
        on_stop=[ctx.code_numbers.close, *([ctx.population.close] if ctx.population else [])],
    )
