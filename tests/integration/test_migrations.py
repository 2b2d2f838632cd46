"""Each service's Alembic migrations produce exactly the tables its models declare."""
import importlib

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from shared.db import create_engine
from shared.migrate import upgrade_to_head
from shared.settings import SERVICE_NAMES, ServiceSettings


@pytest.mark.parametrize("service", SERVICE_NAMES)
async def test_migrations_match_models(service, database_url):
    bootstrap = importlib.import_module(f"services.{service}.bootstrap")
    settings = ServiceSettings(service_name=service, database_url=database_url)
    definition = bootstrap.definition(settings)
    engine = create_engine(settings)
    try:
        await upgrade_to_head(engine, definition.migrations_dir)
        await upgrade_to_head(engine, definition.migrations_dir)  # idempotent: a second run is a no-op
        async with engine.connect() as conn:
            diff = await conn.run_sync(lambda c: compare_metadata(MigrationContext.configure(c), definition.metadata))
        assert diff == []
    finally:
        await engine.dispose()
