"""Engines and the tables every service carries: outbox, inbox, idempotency keys, API keys.

The same models run on PostgreSQL (asyncpg, production) and SQLite (aiosqlite, embedded)."""
from __future__ import annotations

from dataclasses import dataclass

from datetime import UTC, datetime

from sqlalchemy import (JSON, BigInteger, Column, DateTime, Index, Integer, LargeBinary, MetaData, SmallInteger,
                        String, Table, Text, TypeDecorator, event)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from shared.settings import ServiceSettings

# BIGINT ids on PostgreSQL; SQLite only autoincrements an INTEGER PRIMARY KEY.
BigId = BigInteger().with_variant(Integer(), "sqlite")
OUTBOX_LANES = 16  # per-key order is kept by giving each key one lane and each lane one relay at a time

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC datetimes on both databases (SQLite keeps no offset: restore it)."""
    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        if value is not None:
            if value.tzinfo is None:
                raise ValueError("naive datetime: use timezone-aware datetimes")
            value = value.astimezone(UTC)
        return value

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value


def utc_datetime() -> UTCDateTime:
    return UTCDateTime()


@dataclass(frozen=True)
class BackboneTables:
    outbox: Table
    outbox_lanes: Table
    inbox: Table
    idempotency_keys: Table
    api_keys: Table
    probe_receipts: Table


def add_backbone_tables(metadata: MetaData) -> BackboneTables:
    """Declare the backbone's tables in a service's own metadata (each service owns its copy)."""
    outbox = Table(
        "outbox", metadata,
        Column("id", BigId, primary_key=True, autoincrement=True),
        Column("event_id", String(64), nullable=False, unique=True),
        Column("topic", String(255), nullable=False),
        Column("key", String(255), nullable=False),
        Column("lane", SmallInteger, nullable=False),
        Column("event_type", String(128), nullable=False),
        Column("headers", JSON, nullable=False),
        Column("payload", LargeBinary, nullable=False),
        Column("created_at", utc_datetime(), nullable=False),
        Column("published_at", utc_datetime(), nullable=True),
    )
    Index("ix_outbox_pending", outbox.c.lane, outbox.c.id,
          postgresql_where=outbox.c.published_at.is_(None), sqlite_where=outbox.c.published_at.is_(None))
    Index("ix_outbox_published_at", outbox.c.published_at)
    outbox_lanes = Table("outbox_lanes", metadata, Column("lane", SmallInteger, primary_key=True, autoincrement=False))
    inbox = Table(
        "inbox", metadata,
        Column("consumer", String(128), primary_key=True),
        Column("event_id", String(64), primary_key=True),
        Column("event_type", String(128), nullable=False),
        Column("processed_at", utc_datetime(), nullable=False),
    )
    idempotency_keys = Table(
        "idempotency_keys", metadata,
        Column("scope", String(128), primary_key=True),   # who asked (API key id / officer), so keys never collide
        Column("key", String(255), primary_key=True),
        Column("request_hash", String(64), nullable=False),
        Column("status_code", SmallInteger, nullable=False),
        Column("response_body", JSON, nullable=False),
        Column("location", Text, nullable=True),
        Column("created_at", utc_datetime(), nullable=False),
        Column("expires_at", utc_datetime(), nullable=False, index=True),
    )
    api_keys = Table(
        "api_keys", metadata,
        Column("key_id", String(16), primary_key=True),
        Column("secret_hash", String(64), nullable=False),
        Column("name", String(255), nullable=False),
        Column("agency", String(64), nullable=False),
        Column("scopes", JSON, nullable=False),
        Column("created_at", utc_datetime(), nullable=False),
        Column("revoked_at", utc_datetime(), nullable=True),
    )
    probe_receipts = Table(  # one row per operational probe seen by this service (shared.probe)
        "probe_receipts", metadata,
        Column("probe_id", String(64), primary_key=True),
        Column("event_id", String(64), nullable=False),
        Column("dossier_id", String(64), nullable=False),
        Column("received_at", utc_datetime(), nullable=False),
    )
    return BackboneTables(outbox, outbox_lanes, inbox, idempotency_keys, api_keys, probe_receipts)


def dialect_insert(conn: AsyncConnection, table: Table):
    """INSERT with the dialect's ON CONFLICT support (PostgreSQL or SQLite)."""
    dialect = conn.dialect.name
    return (pg_insert if dialect == "postgresql" else sqlite_insert)(table)


_STATEMENTS: dict[tuple, object] = {}


def cached_statement(key: tuple, build):
    """Build a statement once per key (its shape) and reuse it with new parameters: building
    SQLAlchemy expressions costs more than running them on a hot path."""
    stmt = _STATEMENTS.get(key)
    if stmt is None:
        stmt = _STATEMENTS[key] = build()
    return stmt


async def insert_if_absent(conn: AsyncConnection, table: Table, values: dict) -> bool:
    """INSERT ... ON CONFLICT DO NOTHING; True if the row was inserted. On PostgreSQL a concurrent
    insert of the same key waits for the other transaction and then does nothing if it committed."""
    stmt = cached_statement(("insert-if-absent", conn.dialect.name, table),
                            lambda: dialect_insert(conn, table).on_conflict_do_nothing())
    result = await conn.execute(stmt, values)
    return result.rowcount == 1


async def insert_many_if_absent(conn: AsyncConnection, table: Table, rows: list[dict], key: str) -> set:
    """The same for many rows in one statement; returns the `key` values of the rows inserted."""
    if not rows:
        return set()
    stmt = (dialect_insert(conn, table).values(rows).on_conflict_do_nothing()
            .returning(table.c[key]))
    return set((await conn.execute(stmt)).scalars())


def new_metadata() -> MetaData:
    return MetaData(naming_convention=NAMING_CONVENTION)


def create_engine(settings: ServiceSettings) -> AsyncEngine:
    if settings.uses_sqlite:
        engine = create_async_engine(settings.database_url, connect_args={"timeout": 30})

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record) -> None:  # WAL: readers do not block the writer
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()
        return engine
    # No pre-ping (a round trip per checkout on the hot path): connections are recycled, and a
    # connection broken by a database restart fails one transaction, which callers retry.
    return create_async_engine(settings.database_url, pool_size=settings.database_pool_size,
                               max_overflow=settings.database_pool_size, pool_recycle=1800)
