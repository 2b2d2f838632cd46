"""The one place that wires results: the signer, storage, sealer, postal service, tables,
migrations, event handlers and routes."""
from __future__ import annotations

from pathlib import Path

from services.results.adapters.postal import PostalClient
from services.results.adapters.signing import LocalTestCaSigner
from services.results.api import exchange_router, results_router
from services.results.consumers import build_handlers
from services.results.handlers import Results
from services.results.models import backbone, metadata
from services.results.settings import ResultsSettings
from shared.observability import get_logger
from shared.pii import sealer_from_settings
from shared.probe import receipt_router
from shared.service import ServiceDefinition
from shared.settings import ServiceSettings
from shared.storage import storage_from_url

log = get_logger(__name__)


def build_results(settings: ResultsSettings) -> Results:
    postal = PostalClient(settings.postal_url, settings.postal_token.get_secret_value(),
                          settings.postal_customer_code) if settings.postal_url else None
    return Results(settings=settings, signer=LocalTestCaSigner(settings.signing_dir, settings.province_name),
                   storage=storage_from_url(settings.storage_url), sealer=sealer_from_settings(settings, log),
                   postal=postal)


def definition(settings: ServiceSettings | None = None, results: Results | None = None) -> ServiceDefinition:
    settings = settings if isinstance(settings, ResultsSettings) else \
        ResultsSettings(**settings.model_dump()) if settings else ResultsSettings()
    ctx = results or build_results(settings)
    return ServiceDefinition(
        name="results",
        title="One-stop results service",
        description="Results: digitally signed (PAdES) electronic results anyone can verify, returned online, at "
                    "the desk or by post, reused by other agencies on a recorded legal basis.",
        metadata=metadata,
        tables=backbone,
        migrations_dir=Path(__file__).parent / "migrations",
        handlers=build_handlers(ctx),
        routers=[receipt_router("results"), results_router(), exchange_router()],
        state={"results": ctx},
        on_stop=[ctx.postal.close] if ctx.postal else [],
    )
