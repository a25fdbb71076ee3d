"""The database engine: SQLite (WAL) by default, PostgreSQL when configured; migrations at start-up."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import event, inspect, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from omniroute.store.migrations import head_revision
from omniroute.store.tables import metadata

_MIGRATIONS = Path(__file__).parent / "migrations"


def create_engine(url: str) -> AsyncEngine:
    """An async engine with the pragmas and pool limits this project relies on."""
    if url.startswith("sqlite"):
        engine = create_async_engine(url, connect_args={"timeout": 2.0})

        @event.listens_for(engine.sync_engine, "connect")
        def _pragmas(dbapi_conn, _record):  # pragma: no cover - exercised by every SQLite run
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA busy_timeout=2000")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        return engine
    return create_async_engine(url, pool_size=10, max_overflow=10, pool_pre_ping=True)


def _upgrade(sync_conn, revision: str) -> None:
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(_MIGRATIONS))
    cfg.attributes["connection"] = sync_conn
    command.upgrade(cfg, revision)


async def migrate(engine: AsyncEngine, revision: str = "head") -> None:
    """Bring the schema to ``revision``; never drops data (migrations only add).

    When the database is already at the head, Alembic is not even imported:
    that keeps restarts fast and the resident memory small.
    """
    if revision == "head":
        stamped = await _stamped_revision(engine)
        if stamped == head_revision():
            return
        if stamped is None and await _is_empty(engine):
            await _create_at_head(engine)
            return
    async with engine.begin() as conn:
        await conn.run_sync(_upgrade, revision)


async def _is_empty(engine: AsyncEngine) -> bool:
    async with engine.connect() as conn:
        return not await conn.run_sync(lambda c: inspect(c).get_table_names())


async def _create_at_head(engine: AsyncEngine) -> None:
    """A new database: create the current schema and stamp it, as Alembic's cookbook does.

    tests/store/test_migrations.py proves the result equals running every migration.
    """
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
        await conn.execute(text("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL PRIMARY KEY)"))
        await conn.execute(text("INSERT INTO alembic_version (version_num) VALUES (:v)"), {"v": head_revision()})


async def _stamped_revision(engine: AsyncEngine) -> str | None:
    try:
        async with engine.connect() as conn:
            return (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalar()
    except DBAPIError:
        return None


async def current_revision(engine: AsyncEngine) -> str | None:
    """The revision the database is at, or None before the first migration."""
    from alembic.runtime.migration import MigrationContext

    async with engine.connect() as conn:
        return await conn.run_sync(lambda c: MigrationContext.configure(c).get_current_revision())
