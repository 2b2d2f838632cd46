"""create_app(settings): the results service as an ASGI app (`onestop serve results`)."""
from fastapi import FastAPI

from services.results.bootstrap import definition
from shared.bus.ports import Bus
from shared.observability import configure_logging
from shared.service import create_service_app
from services.results.settings import ResultsSettings
from shared.settings import ServiceSettings


def create_app(settings: ServiceSettings | None = None, *, bus: Bus | None = None,
               migrate_on_start: bool = False) -> FastAPI:
    settings = settings or ResultsSettings()
    configure_logging(settings.log_level, settings.log_json)
    return create_service_app(definition(settings), settings, bus=bus, migrate_on_start=migrate_on_start)
