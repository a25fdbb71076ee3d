"""Backups, restore, export and import of the database (/api/db-backups), on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import io
import os
import sqlite3
import tarfile
import time
from contextlib import closing

import httpx
import pytest

from omniroute.store.migrations import head_revision

REQUIRED = {"REQUIRE_API_KEY": "true"}
MAGIC = b"SQLite format 3\x00"


def _key(admin: httpx.Client, name: str) -> dict:
    resp = admin.post("/api/keys", json={"name": name})
    assert resp.status_code == 201, resp.text
    return resp.json()


def _key_names(admin: httpx.Client) -> set[str]:
    return {k["name"] for k in admin.get("/api/keys").json()["keys"]}


def _models_status(gw, key: dict) -> int:
    return httpx.get(gw.url + "/v1/models", headers={"Authorization": f"Bearer {key['key']}"}).status_code


def _backups(admin: httpx.Client) -> list[dict]:
    resp = admin.get("/api/db-backups")
    assert resp.status_code == 200, resp.text
    return resp.json()["backups"]


def _rows(path, query: str) -> list[tuple]:
    with closing(sqlite3.connect(path)) as conn:
        return conn.execute(query).fetchall()


def _error(resp: httpx.Response, status: int, *words: str) -> str:
    assert resp.status_code == status, resp.text
    message = resp.json()["error"]
    for word in words:
        assert word in message, message
    return message


def test_backup_then_restore_brings_back_the_state_live_with_a_pre_restore_backup(make_gateway):
    gw = make_gateway(REQUIRED)
    admin = gw.admin()
    key_a = _key(admin, "key-a")
    made = admin.put("/api/db-backups")
    assert made.status_code == 200, made.text
    backup = made.json()["backup"]
    assert set(backup) == {"id", "createdAt", "size", "reason"} and backup["reason"] == "manual"
    assert backup["size"] > 0 and abs(backup["createdAt"] - time.time()) < 120
    assert [b["id"] for b in _backups(admin)] == [backup["id"]]

    key_b = _key(admin, "key-b")
    assert _models_status(gw, key_b) == 200

    restored = admin.post("/api/db-backups", json={"backupId": backup["id"]})
    assert restored.status_code == 200, restored.text
    assert _key_names(admin) == {"key-a"}
    # live without a restart: the key ring no longer knows B, still knows A
    assert _models_status(gw, key_b) == 401
    assert _models_status(gw, key_a) == 200

    listed = _backups(admin)
    assert [b["reason"] for b in listed] == ["pre-restore", "manual"], listed
    pre = listed[0]
    assert restored.json()["backup"]["id"] == pre["id"]
    pre_file = gw.data_dir / "backups" / f"{pre['id']}.sqlite"
    assert {r[0] for r in _rows(pre_file, "SELECT name FROM api_keys")} == {"key-a", "key-b"}
    assert _rows(pre_file, "PRAGMA integrity_check") == [("ok",)]
    assert not list((gw.data_dir / "backups").glob("*-wal")), "a backup is one self-contained file"

    # restoring the pre-restore backup brings B back (and B works again)
    again = admin.post("/api/db-backups", json={"backupId": pre["id"]})
    assert again.status_code == 200, again.text
    assert _key_names(admin) == {"key-a", "key-b"}
    assert _models_status(gw, key_b) == 200


@pytest.mark.parametrize("backup_id", ["../storage", "../../etc/passwd", "20261205T101500Z-manual-abcdef/../x",
                                       "20261205T101500Z-manual-abcdef.sqlite", "..", "", "a" * 300])
def test_malformed_backup_ids_are_400(admin, backup_id):
    _error(admin.post("/api/db-backups", json={"backupId": backup_id}), 400, "backupId" if not backup_id
           or len(backup_id) > 200 else "malformed backup id")


def test_unknown_backup_and_bad_restore_bodies(admin):
    _error(admin.post("/api/db-backups", json={"backupId": "20201205T101500Z-manual-abcdef"}), 404, "no backup")
    _error(admin.post("/api/db-backups", json={"backupId": 5}), 400, "backupId")
    _error(admin.post("/api/db-backups", content=b"not json"), 400, "JSON")
    _error(admin.post("/api/db-backups", json={}), 400, "backupId")


def test_export_all_is_a_tar_gz_with_a_consistent_database_snapshot(gateway, admin):
    _key(admin, "in-the-archive")
    resp = admin.get("/api/db-backups/exportAll")
    assert resp.status_code == 200, resp.text
    assert "attachment" in resp.headers["content-disposition"] and ".tar.gz" in resp.headers["content-disposition"]
    with tarfile.open(fileobj=io.BytesIO(resp.content), mode="r:gz") as tar:
        names = tar.getnames()
        assert names.count("storage.sqlite") == 1, names
        assert not [n for n in names if n.endswith(("-wal", "-shm")) or ".tmp-" in n], names
        data = tar.extractfile("storage.sqlite").read()
    assert ".storage_encryption_key" in names, "the archive restores a working data directory"
    path = gateway.data_dir.parent / f"extracted-{os.getpid()}.sqlite"
    path.write_bytes(data)
    try:
        assert _rows(path, "PRAGMA integrity_check") == [("ok",)]
        assert ("in-the-archive",) in _rows(path, "SELECT name FROM api_keys")
        assert _rows(path, "SELECT version_num FROM alembic_version") == [(head_revision(),)]
    finally:
        path.unlink()


def _old_schema_file(path) -> None:
    """A database at revision 0008 (before api_keys.updated_at) holding one key."""
    from sqlalchemy.ext.asyncio import create_async_engine

    from omniroute.store.engine import migrate

    async def build():
        engine = create_async_engine(f"sqlite+aiosqlite:///{path}")
        try:
            await migrate(engine, "0008")
        finally:
            await engine.dispose()

    asyncio.run(build())
    with closing(sqlite3.connect(path)) as conn:
        assert "updated_at" not in {r[1] for r in conn.execute("PRAGMA table_info(api_keys)")}
        conn.execute("INSERT INTO api_keys (id, name, key_hash, key_hint, scopes_json, created_at) "
                     "VALUES ('old-1', 'old-schema-key', :h, 'sk-...old', '[]', 1700000000)", {"h": "0" * 64})
        conn.commit()


def test_export_then_import_into_another_gateway_and_bad_uploads_change_nothing(make_gateway, tmp_path):
    one, two = make_gateway(REQUIRED), make_gateway(REQUIRED)
    admin_one, admin_two = one.admin(), two.admin()
    exported_key = _key(admin_one, "from-one")
    _key(admin_two, "two-only")

    resp = admin_one.get("/api/db-backups/export")
    assert resp.status_code == 200, resp.text
    disposition = resp.headers["content-disposition"]
    assert disposition.startswith("attachment") and ".sqlite" in disposition
    exported = resp.content
    assert exported.startswith(MAGIC)

    good = tmp_path / "good.sqlite"
    good.write_bytes(exported)
    foreign = tmp_path / "foreign.sqlite"
    with closing(sqlite3.connect(foreign)) as conn:
        conn.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)")
        conn.execute("INSERT INTO notes (body) VALUES ('not omniroute')")
        conn.commit()
    newer = tmp_path / "newer.sqlite"
    newer.write_bytes(exported)
    with closing(sqlite3.connect(newer)) as conn:
        conn.execute("UPDATE alembic_version SET version_num = '9999'")
        conn.commit()
    stripped = tmp_path / "stripped.sqlite"
    stripped.write_bytes(exported)
    with closing(sqlite3.connect(stripped)) as conn:
        conn.execute("DROP TABLE combos")
        conn.commit()

    bad = [
        (os.urandom(64 * 1024), "not a SQLite database"),
        (exported[: len(exported) // 2], "SQLite"),
        (foreign.read_bytes(), "not an OmniRoute database"),
        (newer.read_bytes(), "newer OmniRoute"),
        (stripped.read_bytes(), "combos"),
        (b"", "no file uploaded"),
    ]
    for body, words in bad:
        resp = admin_two.post("/api/db-backups/import", content=body,
                              headers={"Content-Type": "application/octet-stream"})
        _error(resp, 400, words)
    _error(admin_two.post("/api/db-backups/import", files={"other": ("x.sqlite", exported)}), 400, "'file'")
    assert _key_names(admin_two) == {"two-only"}, "a refused upload changes nothing"
    assert _backups(admin_two) == [], "a refused upload takes no backup"
    assert not [p for p in (two.data_dir / "backups").iterdir()], "no temporary file is left"

    # multipart upload, field "file"
    resp = admin_two.post("/api/db-backups/import", files={"file": ("export.sqlite", exported)})
    assert resp.status_code == 200, resp.text
    assert resp.json()["backup"]["reason"] == "pre-import"
    assert _key_names(admin_two) == {"from-one"}
    assert _models_status(two, exported_key) == 200, "the imported key is live without a restart"
    pre_import = two.data_dir / "backups" / f"{resp.json()['backup']['id']}.sqlite"
    assert ("two-only",) in _rows(pre_import, "SELECT name FROM api_keys")

    # an older schema is migrated on a copy and accepted (raw body, any content type)
    old = tmp_path / "old.sqlite"
    _old_schema_file(old)
    resp = admin_two.post("/api/db-backups/import", content=old.read_bytes(),
                          headers={"Content-Type": "text/plain"})
    assert resp.status_code == 200, resp.text
    assert resp.json()["migratedFrom"] == "0008"
    assert _key_names(admin_two) == {"old-schema-key"}
    assert _rows(old, "SELECT version_num FROM alembic_version") == [("0008",)], "the upload itself is untouched"
    assert [b["reason"] for b in _backups(admin_two)] == ["pre-import", "pre-import"]


def test_scheduled_backups_and_keeping_the_newest(make_gateway):
    gw = make_gateway({"OMNIROUTE_BACKUP_CHECK_S": "0.2"})
    admin = gw.admin()
    deadline = time.monotonic() + 10
    while not _backups(admin) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert [b["reason"] for b in _backups(admin)] == ["scheduled"], "no backup yet: one is taken on schedule"
    time.sleep(0.5)
    assert len(_backups(admin)) == 1, "the newest is younger than the interval: no second one"

    assert admin.get("/api/settings").json()["backups"] == {"enabled": True, "intervalHours": 24, "keep": 10}
    _error(admin.put("/api/settings", json={"backups": {"keep": 0}}), 400, "backups.keep")
    _error(admin.put("/api/settings", json={"backups": {"intervalHours": 721}}), 400, "backups.intervalHours")
    resp = admin.put("/api/settings", json={"backups": {"enabled": True, "intervalHours": 1, "keep": 2}})
    assert resp.status_code == 200, resp.text
    assert resp.json()["backups"]["keep"] == 2

    made = [admin.put("/api/db-backups").json()["backup"]["id"] for _ in range(3)]
    listed = _backups(admin)
    assert [b["id"] for b in listed] == made[::-1][:2], (made, listed)
    assert sorted(p.stem for p in (gw.data_dir / "backups").glob("*.sqlite")) == sorted(made[1:])


def _age(gw, backup_id: str, days: float) -> str:
    """Move a backup back in time (its id carries its creation time), as if it were ``days`` old."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(time.time() - days * 86400))
    old_id = f"{stamp}{backup_id[16:]}"
    folder = gw.data_dir / "backups"
    (folder / f"{backup_id}.sqlite").rename(folder / f"{old_id}.sqlite")
    return old_id


def test_scheduled_backups_skip_a_database_that_looks_wiped(make_gateway):
    gw = make_gateway({"OMNIROUTE_BACKUP_CHECK_S": "0.2"})
    admin = gw.admin()
    deadline = time.monotonic() + 10
    while not _backups(admin) and time.monotonic() < deadline:
        time.sleep(0.1)
    [first] = _backups(admin)
    assert first["reason"] == "scheduled"
    for n in range(6):
        _key(admin, f"guarded-{n}")
    good = admin.put("/api/db-backups").json()["backup"]["id"]

    # Something wipes the configuration behind the gateway's back; days later the next backup is due.
    with closing(sqlite3.connect(gw.data_dir / "storage.sqlite")) as db:
        db.execute("DELETE FROM api_keys")
        db.commit()
    oldest = _age(gw, first["id"], 3)
    good = _age(gw, good, 2)
    deadline = time.monotonic() + 10
    while admin.get("/api/db-backups").json()["lastSkipped"] is None and time.monotonic() < deadline:
        time.sleep(0.1)
    answer = admin.get("/api/db-backups").json()
    skipped = answer["lastSkipped"]
    assert skipped and skipped["reason"] == "scheduled" and "less than half" in skipped["why"], answer
    assert good in skipped["why"] and "1 rows against 7" in skipped["why"], skipped
    assert [b["id"] for b in answer["backups"]] == [good, oldest], "no backup of the wiped state was added"
    assert len(_rows(gw.data_dir / "backups" / f"{good}.sqlite",
                     "SELECT id FROM api_keys WHERE name LIKE 'guarded-%'")) == 6

    # A manual backup accepts the new state; from then on scheduled backups compare against it.
    manual = _age(gw, admin.put("/api/db-backups").json()["backup"]["id"], 1)
    deadline = time.monotonic() + 10
    while len(_backups(admin)) < 4 and time.monotonic() < deadline:
        time.sleep(0.1)
    listed = _backups(admin)
    assert [b["reason"] for b in listed] == ["scheduled", "manual", "manual", "scheduled"], listed
    assert [b["id"] for b in listed[1:]] == [manual, good, oldest]


def test_uploads_are_bounded_and_malformed_ones_refused(make_gateway):
    gw = make_gateway({"OMNIROUTE_IMPORT_MAX_BYTES": "100000"})
    admin = gw.admin()
    big = MAGIC + b"\0" * 200_000
    _error(admin.post("/api/db-backups/import", content=big), 413, "100000 bytes")

    def chunked():  # no Content-Length: counted as it arrives
        for _ in range(20):
            yield b"\0" * 10_000

    _error(admin.post("/api/db-backups/import", content=chunked()), 413, "100000 bytes")
    _error(admin.post("/api/db-backups/import", files={"file": ("big.sqlite", big)}), 413)
    _error(admin.post("/api/db-backups/import", content=b"--x\r\nbroken",
                      headers={"Content-Type": "multipart/form-data"}), 400)
    for body in (b"null", b"[]", b'"x"', b'{"backupId": null}', b'{"backupId": "x", "more": 1}'):
        _error(admin.post("/api/db-backups", content=body, headers={"Content-Type": "application/json"}), 400)
    assert _backups(admin) == []
    assert not list((gw.data_dir / "backups").iterdir())


def test_postgresql_export_backup_and_restore(pg_url, make_gateway, tmp_path):
    gw = make_gateway({"DATABASE_URL": pg_url, **REQUIRED})
    admin = gw.admin()
    key_a = _key(admin, "pg-key-a")

    resp = admin.get("/api/db-backups/export")
    assert resp.status_code == 200, resp.text
    assert "attachment" in resp.headers["content-disposition"]
    path = tmp_path / "pg.sqlite"
    path.write_bytes(resp.content)
    assert _rows(path, "PRAGMA integrity_check") == [("ok",)]
    assert _rows(path, "SELECT version_num FROM alembic_version") == [(head_revision(),)]
    assert ("pg-key-a",) in _rows(path, "SELECT name FROM api_keys")
    assert _rows(path, "SELECT COUNT(*) FROM audit_log")[0][0] > 0

    backup = admin.put("/api/db-backups").json()["backup"]
    key_b = _key(admin, "pg-key-b")
    resp = admin.post("/api/db-backups", json={"backupId": backup["id"]})
    assert resp.status_code == 200, resp.text
    assert _key_names(admin) == {"pg-key-a"}
    assert _models_status(gw, key_b) == 401 and _models_status(gw, key_a) == 200
    # new rows after the restore (audit ids continue past the restored ones)
    assert admin.put("/api/db-backups").status_code == 200
    assert _key(admin, "pg-key-c")["name"] == "pg-key-c"
    assert [b["reason"] for b in _backups(admin)] == ["manual", "pre-restore", "manual"]
