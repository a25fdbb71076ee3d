"""Repositories and migrations, on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.script import ScriptDirectory
from sqlalchemy.exc import IntegrityError

import omniroute.store
from omniroute.settings import normalize_database_url
from omniroute.store import tables as t
from omniroute.store.engine import create_engine, current_revision, migrate
from omniroute.store.repos import AuditRepo, ConnectionsRepo, KeysRepo, SettingsRepo, UsageRepo

HEAD = ScriptDirectory(str(Path(omniroute.store.__file__).parent / "migrations")).get_current_head()


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request, tmp_path) -> str:
    """An async driver URL for an empty database of each kind."""
    if request.param == "sqlite":
        return normalize_database_url(f"sqlite:///{tmp_path / 'store.sqlite'}")
    return normalize_database_url(request.getfixturevalue("pg_url"))


@pytest.fixture
async def engine(db_url):
    eng = create_engine(db_url)
    await migrate(eng)
    yield eng
    await eng.dispose()


# -- migrations ---------------------------------------------------------------------------------


async def test_migrate_reaches_head_and_is_idempotent(db_url):
    assert HEAD is not None
    eng = create_engine(db_url)
    try:
        assert await current_revision(eng) is None
        await migrate(eng)
        assert await current_revision(eng) == HEAD
        await migrate(eng)
        await migrate(eng)
        assert await current_revision(eng) == HEAD
        async with eng.connect() as conn:
            names = set(await conn.run_sync(lambda c: sa.inspect(c).get_table_names()))
        assert {"connections", "provider_nodes", "api_keys", "settings", "usage", "audit_log"} <= names
    finally:
        await eng.dispose()


async def test_data_survives_a_second_migrate(db_url):
    eng = create_engine(db_url)
    try:
        await migrate(eng)
        await SettingsRepo(eng).set("theme", {"dark": True})
        created = await ConnectionsRepo(eng).create({"provider": "openai", "name": "main"})
    finally:
        await eng.dispose()
    eng = create_engine(db_url)  # as after a restart
    try:
        await migrate(eng)
        assert await SettingsRepo(eng).get("theme") == {"dark": True}
        assert (await ConnectionsRepo(eng).get(created["id"]))["name"] == "main"
    finally:
        await eng.dispose()


async def test_sqlite_uses_wal(tmp_path):
    eng = create_engine(normalize_database_url(f"sqlite:///{tmp_path / 'wal.sqlite'}"))
    try:
        await migrate(eng)
        async with eng.connect() as conn:
            assert (await conn.exec_driver_sql("PRAGMA journal_mode")).scalar_one().lower() == "wal"
            assert (await conn.exec_driver_sql("PRAGMA foreign_keys")).scalar_one() == 1
        assert (tmp_path / "wal.sqlite").exists()
    finally:
        await eng.dispose()


# -- settings -----------------------------------------------------------------------------------


async def test_settings_get_default_set_overwrite(engine):
    repo = SettingsRepo(engine)
    assert await repo.get("missing") is None
    assert await repo.get("missing", {"fallback": 1}) == {"fallback": 1}
    value = {"nested": {"list": [1, 2.5, "three", None, True]}, "unicode": "\u00e9\u6f22"}
    await repo.set("complex", value)
    assert await repo.get("complex") == value
    await repo.set("complex", [1, 2])
    assert await repo.get("complex") == [1, 2]
    for key, scalar in (("int", 7), ("float", 0.25), ("str", "x"), ("bool", False)):
        await repo.set(key, scalar)
        assert await repo.get(key, "default") == scalar
    async with engine.connect() as conn:
        rows = (await conn.execute(sa.select(sa.func.count()).select_from(t.settings))).scalar_one()
    assert rows == 5  # overwriting did not add rows


async def test_settings_concurrent_first_writes_of_one_key(engine):
    # Two requests saving the same new setting at once: both must succeed, one value wins.
    repo = SettingsRepo(engine)
    for i in range(5):
        results = await asyncio.gather(repo.set(f"race-{i}", "a"), repo.set(f"race-{i}", "b"),
                                       return_exceptions=True)
        assert [r for r in results if isinstance(r, BaseException)] == []
        assert await repo.get(f"race-{i}") in ("a", "b")


# -- connections --------------------------------------------------------------------------------


async def test_connections_create_get(engine):
    repo = ConnectionsRepo(engine)
    before = time.time()
    created = await repo.create({
        "provider": "openai", "name": "work", "apiKeyEnc": "enc:v1:abc", "baseUrl": "https://api.example/v1",
        "priority": 2, "defaultModel": "gpt-4o", "headersEnc": "enc:v1:opaque-1",
    })
    assert len(created["id"]) == 36
    assert created["provider"] == "openai"
    assert created["name"] == "work"
    assert created["authType"] == "apikey"
    assert created["apiKeyEnc"] == "enc:v1:abc"
    assert created["baseUrl"] == "https://api.example/v1"
    assert created["priority"] == 2
    assert created["isActive"] is True
    assert created["status"] == "active"
    assert created["defaultModel"] == "gpt-4o"
    assert created["headersEnc"] == "enc:v1:opaque-1"
    assert created["rateLimitedUntil"] is None
    assert before <= created["createdAt"] == created["updatedAt"] <= time.time()
    assert await repo.get(created["id"]) == created


async def test_connections_defaults_and_unknown_ids(engine):
    repo = ConnectionsRepo(engine)
    created = await repo.create({"provider": "groq", "name": "free"})
    assert created["headersEnc"] is None
    assert created["apiKeyEnc"] is None
    assert created["priority"] == 1
    assert await repo.get("00000000-0000-0000-0000-000000000000") is None
    assert await repo.update("00000000-0000-0000-0000-000000000000", {"name": "x"}) is None
    assert await repo.delete("00000000-0000-0000-0000-000000000000") is False


async def test_connections_list_ordered_by_provider_then_priority(engine):
    repo = ConnectionsRepo(engine)
    for provider, name, priority in [("openai", "c", 3), ("openai", "a", 1), ("anthropic", "z", 5),
                                     ("openai", "b", 2), ("anthropic", "y", 1)]:
        await repo.create({"provider": provider, "name": name, "priority": priority})
    listed = await repo.list()
    assert [(c["provider"], c["name"]) for c in listed] == [
        ("anthropic", "y"), ("anthropic", "z"), ("openai", "a"), ("openai", "b"), ("openai", "c"),
    ]


async def test_connections_update(engine):
    repo = ConnectionsRepo(engine)
    created = await repo.create({"provider": "openai", "name": "old", "headersEnc": "enc:v1:a"})
    await asyncio.sleep(0.01)
    until = time.time() + 60
    updated = await repo.update(created["id"], {
        "name": "new", "isActive": False, "status": "rate_limited", "rateLimitedUntil": until,
        "lastError": "429 Too Many Requests", "headersEnc": "enc:v1:b", "unknownField": "ignored",
    })
    assert updated["name"] == "new"
    assert updated["isActive"] is False
    assert updated["status"] == "rate_limited"
    assert updated["rateLimitedUntil"] == pytest.approx(until)
    assert updated["lastError"] == "429 Too Many Requests"
    assert updated["headersEnc"] == "enc:v1:b"
    assert updated["provider"] == "openai"
    assert updated["updatedAt"] > created["updatedAt"]
    assert updated["createdAt"] == created["createdAt"]
    assert await repo.get(created["id"]) == updated
    # Clearing headers and an update with nothing to change.
    cleared = await repo.update(created["id"], {"headersEnc": None})
    assert cleared["headersEnc"] is None
    assert await repo.update(created["id"], {}) == cleared


async def test_connections_delete(engine):
    repo = ConnectionsRepo(engine)
    keep = await repo.create({"provider": "openai", "name": "keep"})
    gone = await repo.create({"provider": "openai", "name": "gone"})
    assert await repo.delete(gone["id"]) is True
    assert await repo.get(gone["id"]) is None
    assert await repo.delete(gone["id"]) is False
    assert [c["id"] for c in await repo.list()] == [keep["id"]]


# -- api keys -----------------------------------------------------------------------------------


async def test_keys_create_list_update_revoke(engine):
    repo = KeysRepo(engine)
    first = await repo.create(name="ci", key_hash="a" * 64, key_hint="sk-omni-abcd…wxyz", scopes=["chat"],
                              allowed_models=["gpt-*"], expires_at=None)
    await asyncio.sleep(0.01)
    second = await repo.create(name="dev", key_hash="b" * 64, key_hint="sk-omni-efgh…1234", scopes=[],
                               allowed_models=None, expires_at=2_000_000_000.0)
    assert first["name"] == "ci"
    assert first["keyHash"] == "a" * 64
    assert first["key"] == "sk-omni-abcd…wxyz"
    assert first["scopes"] == ["chat"]
    assert first["allowedModels"] == ["gpt-*"]
    assert first["expiresAt"] is None
    assert first["revokedAt"] is None
    assert second["allowedModels"] is None
    assert second["expiresAt"] == 2_000_000_000.0
    assert [k["id"] for k in await repo.list()] == [first["id"], second["id"]]

    updated = await repo.update(first["id"], {"name": "ci-2", "scopes": ["chat", "models"],
                                              "allowedModels": None, "expiresAt": 1_900_000_000.0})
    assert updated["name"] == "ci-2"
    assert updated["scopes"] == ["chat", "models"]
    assert updated["allowedModels"] is None
    assert updated["expiresAt"] == 1_900_000_000.0
    assert updated["keyHash"] == "a" * 64

    revoked_at = time.time()
    revoked = await repo.update(first["id"], {"revokedAt": revoked_at})
    assert revoked["revokedAt"] == pytest.approx(revoked_at)
    assert (await repo.get(first["id"]))["revokedAt"] == pytest.approx(revoked_at)
    assert (await repo.get(second["id"]))["revokedAt"] is None
    assert await repo.get("missing") is None
    assert await repo.update("missing", {"name": "x"}) is None


async def test_keys_hash_is_unique(engine):
    repo = KeysRepo(engine)
    await repo.create(name="a", key_hash="c" * 64, key_hint="h", scopes=[], allowed_models=None, expires_at=None)
    with pytest.raises(IntegrityError):
        await repo.create(name="b", key_hash="c" * 64, key_hint="h", scopes=[], allowed_models=None,
                          expires_at=None)
    assert len(await repo.list()) == 1


# -- usage --------------------------------------------------------------------------------------


def usage_row(i: int, base: float) -> dict:
    return {
        "id": f"00000000-0000-0000-0000-{i:012d}",
        "timestamp": base + i,
        "apiKeyId": f"key-{i % 4}",
        "provider": "openai" if i % 2 == 0 else "anthropic",
        "connectionId": f"conn-{i % 5}",
        "model": "gpt-4o-mini",
        "requestedModel": "openai/gpt-4o-mini",
        "combo": None,
        "clientFormat": "openai",
        "upstreamFormat": "openai",
        "promptTokens": i,
        "completionTokens": 2 * i,
        "cachedTokens": 0,
        "reasoningTokens": 0,
        "cost": i / 1000,
        "latencyMs": 100 + i,
        "ttftMs": 10,
        "status": 200 if i % 10 else 429,
        "cache": None,
        "error": None if i % 10 else "rate limited",
        "cacheWriteTokens": i % 3,
        "estimated": i % 7 == 0,
        "idempotent": i % 11 == 0,
        "attempts": i % 3,
        "images": i % 4,
        "audioSeconds": float(i % 5) / 2,
    }


async def test_usage_insert_many_and_list(engine):
    repo = UsageRepo(engine)
    base = 1_700_000_000.0
    rows = [usage_row(i, base) for i in range(1000)]
    assert await repo.insert_many(iter(rows)) == 1000
    assert await repo.insert_many([]) == 0

    page, total = await repo.list(limit=10)
    assert total == 1000
    assert [r["id"] for r in page] == [rows[i]["id"] for i in range(999, 989, -1)]
    assert page[0] == rows[999]

    page, total = await repo.list(limit=25, offset=990)
    assert total == 1000
    assert [r["timestamp"] for r in page] == [base + i for i in range(9, -1, -1)]

    page, total = await repo.list(limit=1000, api_key_id="key-1")
    assert total == 250
    assert len(page) == 250
    assert all(r["apiKeyId"] == "key-1" for r in page)
    assert [r["timestamp"] for r in page] == sorted((r["timestamp"] for r in page), reverse=True)

    page, total = await repo.list(limit=5, provider="anthropic")
    assert total == 500
    assert [r["promptTokens"] for r in page] == [999, 997, 995, 993, 991]

    page, total = await repo.list(limit=3, offset=2, api_key_id="key-0", provider="openai")
    assert total == 250
    assert [r["promptTokens"] for r in page] == [988, 984, 980]

    page, total = await repo.list(limit=100, connection_id="conn-3")
    assert total == 200
    assert all(r["connectionId"] == "conn-3" for r in page)

    page, total = await repo.list(api_key_id="nobody")
    assert (page, total) == ([], 0)


async def test_usage_rows_keep_every_field(engine):
    repo = UsageRepo(engine)
    row = usage_row(0, 1_700_000_123.5)
    row.update(combo="fast", cache="hit", reasoningTokens=7, cachedTokens=3)
    await repo.insert_many([row])
    page, total = await repo.list()
    assert total == 1
    assert page == [row]


# -- audit --------------------------------------------------------------------------------------


async def test_audit_add(engine):
    repo = AuditRepo(engine)
    before = time.time()
    await repo.add(action="login", status="failed", ip="10.0.0.1")
    await repo.add(action="connection.create", status="ok", actor="admin", target="conn-1", ip="127.0.0.1")
    async with engine.connect() as conn:
        rows = (await conn.execute(sa.select(t.audit_log).order_by(t.audit_log.c.id))).mappings().all()
    assert len(rows) == 2
    assert rows[0]["id"] < rows[1]["id"]
    assert (rows[0]["action"], rows[0]["status"], rows[0]["actor"], rows[0]["target"], rows[0]["ip"]) == (
        "login", "failed", None, None, "10.0.0.1")
    assert (rows[1]["action"], rows[1]["status"], rows[1]["actor"], rows[1]["target"]) == (
        "connection.create", "ok", "admin", "conn-1")
    assert before <= rows[0]["timestamp"] <= rows[1]["timestamp"] <= time.time()


@pytest.mark.parametrize("count", [1, 3, 255, 256, 257, 437, 700])
async def test_usage_batches_of_any_size_use_few_statement_shapes(engine, count):
    repo = UsageRepo(engine)
    rows = [{"timestamp": time.time(), "status": 200, "provider": "openai", "promptTokens": i} for i in range(count)]
    assert await repo.insert_many(rows) == count
    listed, total = await repo.list(limit=1000)
    assert total == count and sorted(r["promptTokens"] for r in listed) == list(range(count))
    assert all(n & (n - 1) == 0 and n <= 256 for _, n in repo._statements), sorted(repo._statements)


async def test_eval_runs_keep_the_newest_finished_per_suite(engine):
    from omniroute.store.eval_repos import EvalRepo

    repo = EvalRepo(engine, keep_runs=3)
    suite = await repo.create_suite(name="kept", description=None, cases=[{"prompt": "hi"}])
    other = await repo.create_suite(name="other", description=None, cases=[{"prompt": "hi"}])
    running = await repo.start_run(suite_id=suite["id"], target="openai/gpt-4o-mini", total=1)
    elsewhere = await repo.start_run(suite_id=other["id"], target="openai/gpt-4o-mini", total=1)
    await repo.finish_run(elsewhere["id"], status="done", passed=1, total=1, score=1.0, p50_ms=5, max_ms=5,
                          results=[])
    done = []
    for _ in range(5):
        await asyncio.sleep(0.002)
        run = await repo.start_run(suite_id=suite["id"], target="openai/gpt-4o-mini", total=1)
        await repo.finish_run(run["id"], status="done", passed=1, total=1, score=1.0, p50_ms=5, max_ms=5,
                              results=[{"ok": True}])
        done.append(run["id"])
    listed = [r["id"] for r in await repo.list_runs(suite_id=suite["id"])]
    # The three newest finished runs, and the one still going however old it is.
    assert listed == [done[4], done[3], done[2], running["id"]]
    assert await repo.get_run(done[0]) is None
    assert [r["id"] for r in await repo.list_runs(suite_id=other["id"])] == [elsewhere["id"]]
