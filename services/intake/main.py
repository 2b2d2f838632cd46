"""create_app(settings): the intake service as an ASGI app (`onestop serve intake`)."""
from fastapi import FastAPI

from services.intake.bootstrap import definition
from services.intake.settings import IntakeSettings
from shared.bus.ports import Bus
from shared.observability import configure_logging
from shared.service import create_service_app
from shared.settings import ServiceSettings


def create_app(settings: ServiceSettings | None = None, *, bus: Bus | None = None,
               migrate_on_start: bool = False) -> FastAPI:
    # Common settings given by a runner are kept; intake's own come from the environment.
    intake_settings = settings if isinstance(settings, IntakeSettings) else \
        IntakeSettings(**settings.model_dump()) if settings else IntakeSettings()
    configure_logging(intake_settings.log_level, intake_settings.log_json)
    return create_service_app(definition(intake_settings), intake_settings, bus=bus, migrate_on_start=migrate_on_start)
