"""Alembic, per service: each service has services/<name>/migrations; this module runs them
(programmatically on the service's async engine, or from the alembic CLI via env.py)."""
from __future__ import annotations

import asyncio
import os
from pathlib import Path

import sqlalchemy as sa
from alembic import command, context, op
from alembic.config import Config
from sqlalchemy import MetaData
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from shared.db import OUTBOX_LANES


def alembic_config(migrations_dir: Path, url: str | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(migrations_dir))
    if url:
        cfg.set_main_option("sqlalchemy.url", url)
    return cfg


async def upgrade_to_head(engine: AsyncEngine, migrations_dir: Path) -> None:
    def _upgrade(sync_connection) -> None:
        cfg = alembic_config(migrations_dir)
        cfg.attributes["connection"] = sync_connection
        command.upgrade(cfg, "head")

    async with engine.begin() as conn:
        await conn.run_sync(_upgrade)


def _configure_and_run(connection, target_metadata: MetaData) -> None:
    context.configure(connection=connection, target_metadata=target_metadata, compare_type=True,
                      render_as_batch=connection.dialect.name == "sqlite")
    with context.begin_transaction():
        context.run_migrations()


def run_env(target_metadata: MetaData) -> None:
    """Body of every service's migrations/env.py."""
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _configure_and_run(connection, target_metadata)
        return
    url = context.config.get_main_option("sqlalchemy.url") or os.environ["DATABASE_URL"]

    async def _run() -> None:
        engine = create_async_engine(url)
        async with engine.begin() as conn:
            await conn.run_sync(_configure_and_run, target_metadata)
        await engine.dispose()

    asyncio.run(_run())


def _ts(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def create_backbone_tables_v1() -> None:
    """The backbone tables as of version 1, for each service's first migration (frozen: later
    changes to these tables get their own migration step)."""
    big_id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
    op.create_table(
        "outbox",
        sa.Column("id", big_id, primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.String(64), nullable=False),
        sa.Column("topic", sa.String(255), nullable=False),
        sa.Column("key", sa.String(255), nullable=False),
        sa.Column("lane", sa.SmallInteger, nullable=False),
        sa.Column("event_type", sa.String(128), nullable=False),
        sa.Column("headers", sa.JSON, nullable=False),
        sa.Column("payload", sa.LargeBinary, nullable=False),
        _ts("created_at"), _ts("published_at", nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_outbox"),
        sa.UniqueConstraint("event_id", name="uq_outbox_event_id"),
    )
    pending = sa.text("published_at IS NULL")
    op.create_index("ix_outbox_pending", "outbox", ["lane", "id"], postgresql_where=pending, sqlite_where=pending)
    op.create_index("ix_outbox_published_at", "outbox", ["published_at"])
    lanes = op.create_table("outbox_lanes", sa.Column("lane", sa.SmallInteger, autoincrement=False),
                            sa.PrimaryKeyConstraint("lane", name="pk_outbox_lanes"))
    op.bulk_insert(lanes, [{"lane": n} for n in range(OUTBOX_LANES)])
    op.create_table(
        "inbox",
        sa.Column("consumer", sa.String(128), nullable=False),
        sa.Column("event_id", sa.String(64), nullable=False),
        sa.Column("event_type", sa.String(128), nullable=False),
        _ts("processed_at"),
        sa.PrimaryKeyConstraint("consumer", "event_id", name="pk_inbox"),
    )
    op.create_table(
        "idempotency_keys",
        sa.Column("scope", sa.String(128), nullable=False),
        sa.Column("key", sa.String(255), nullable=False),
        sa.Column("request_hash", sa.String(64), nullable=False),
        sa.Column("status_code", sa.SmallInteger, nullable=False),
        sa.Column("response_body", sa.JSON, nullable=False),
        sa.Column("location", sa.Text, nullable=True),
        _ts("created_at"), _ts("expires_at"),
        sa.PrimaryKeyConstraint("scope", "key", name="pk_idempotency_keys"),
    )
    op.create_index("ix_idempotency_keys_expires_at", "idempotency_keys", ["expires_at"])
    op.create_table(
        "api_keys",
        sa.Column("key_id", sa.String(16), nullable=False),
        sa.Column("secret_hash", sa.String(64), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("agency", sa.String(64), nullable=False),
        sa.Column("scopes", sa.JSON, nullable=False),
        _ts("created_at"), _ts("revoked_at", nullable=True),
        sa.PrimaryKeyConstraint("key_id", name="pk_api_keys"),
    )
    op.create_table(
        "probe_receipts",
        sa.Column("probe_id", sa.String(64), nullable=False),
        sa.Column("event_id", sa.String(64), nullable=False),
        sa.Column("dossier_id", sa.String(64), nullable=False),
        _ts("received_at"),
        sa.PrimaryKeyConstraint("probe_id", name="pk_probe_receipts"),
    )
