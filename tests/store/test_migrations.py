"""A new database created at the head equals one built by running every migration."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from omniroute.settings import normalize_database_url
from omniroute.store.engine import create_engine, current_revision, migrate
from omniroute.store.migrations import head_revision


@pytest.fixture(params=["sqlite", "postgres"])
def two_urls(request, tmp_path):
    if request.param == "sqlite":
        return [normalize_database_url(f"sqlite:///{tmp_path / n}") for n in ("a.sqlite", "b.sqlite")]
    first = normalize_database_url(request.getfixturevalue("pg_url"))
    # A second empty database: the fixture is per test, so create the other one by hand.
    import asyncio

    import asyncpg

    name = first.rsplit("/", 1)[1] + "_b"

    async def run(statement):
        conn = await asyncpg.connect(host="127.0.0.1", port=5432, user="postgres", database="postgres")
        try:
            await conn.execute(statement)
        finally:
            await conn.close()

    asyncio.run(run(f'CREATE DATABASE "{name}"'))
    request.addfinalizer(lambda: asyncio.run(run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')))
    return [first, first.rsplit("/", 1)[0] + "/" + name]


def _schema(sync_conn) -> dict:
    insp = sa.inspect(sync_conn)
    out = {}
    for table in sorted(insp.get_table_names()):
        out[table] = {
            "columns": sorted((c["name"], str(c["type"]).split("(")[0].upper(), c["nullable"])
                              for c in insp.get_columns(table)),
            "pk": sorted(insp.get_pk_constraint(table)["constrained_columns"]),
            "indexes": sorted((tuple(i["column_names"]), bool(i["unique"])) for i in insp.get_indexes(table)),
            "unique": sorted(tuple(u["column_names"]) for u in insp.get_unique_constraints(table)),
        }
    return out


async def test_create_at_head_matches_the_migrations(two_urls):
    migrated, created = (create_engine(u) for u in two_urls)
    try:
        await migrate(migrated, revision=head_revision())  # forces Alembic to run every migration
        await migrate(created)  # an empty database takes the create-and-stamp path
        assert await current_revision(migrated) == await current_revision(created) == head_revision()
        async with migrated.connect() as a, created.connect() as b:
            schema_a, schema_b = await a.run_sync(_schema), await b.run_sync(_schema)
        assert schema_a == schema_b
        assert {"connections", "api_keys", "usage", "settings", "provider_nodes", "audit_log"} <= set(schema_a)
    finally:
        await migrated.dispose()
        await created.dispose()
