"""Database backups, export and import, usable by the server and by the command line alike.

A backup is one self-contained SQLite file (journal mode DELETE) in ``DATA_DIR/backups/``, named
``<id>.sqlite`` with ids like ``20261205T101500Z-manual-3fa9c1``. On SQLite it is made with the
online backup API (a consistent snapshot, never a file copy); on PostgreSQL every table is copied
into a fresh SQLite file with the current schema. The same format is what export gives and what
import and restore take, so a backup of one backend can be restored on the other.

Restoring or importing checks the file first (header, integrity, an OmniRoute schema revision this
code knows, migrating an older one on a temporary copy), takes a backup of the current state, then
replaces the data: on SQLite by copying the file into the live database with the backup API, on
PostgreSQL in one transaction. ``on_replaced`` then lets a running server reload what it keeps in
memory. Every file is written under a temporary name and renamed into place.
"""

from __future__ import annotations

import asyncio
import calendar
import contextlib
import logging
import os
import re
import secrets
import sqlite3
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from sqlalchemy import delete, insert, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from omniroute.store.migrations import head_revision
from omniroute.store.tables import metadata

log = logging.getLogger("omniroute.backups")

DEFAULTS = {"enabled": True, "intervalHours": 24, "keep": 10}
PRE_WRITE_GAP_S = 3600.0  # backups before risky writes (a sync merge): at most one an hour
# The operator's configuration, whose rows the shrink guard counts. Usage, logs and the cache are left
# out: retention and purges shrink them by design.
CONFIG_TABLES = ("connections", "provider_nodes", "provider_models", "model_aliases", "combos", "api_keys",
                 "settings", "eval_suites")
SHRINK_FLOOR = 4  # below this many configuration rows in the newest backup, halving is not suspicious
CHECK_S = 300.0  # seconds between checks of the schedule (OMNIROUTE_BACKUP_CHECK_S)
MAGIC = b"SQLite format 3\x00"
TMP = ".tmp-"  # the prefix of files being written; never listed, swept when stale
STALE_TMP_S = 3600.0
CHUNK_ROWS = 1000
_ID = re.compile(r"^(\d{8}T\d{6}Z)-([a-z](?:[a-z0-9-]{0,30}[a-z0-9])?)-([0-9a-f]{6})$")
_REASON = re.compile(r"^[a-z](?:[a-z0-9-]{0,30}[a-z0-9])?$")
_VERSIONS = Path(__file__).parent / "migrations" / "versions"
_REV = re.compile(r'^revision\s*=\s*["\']([^"\']+)["\']', re.M)


class BackupError(Exception):
    """A refused backup operation: ``status`` is the HTTP status the API answers with."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


def known_revisions() -> set[str]:
    return {m.group(1) for p in _VERSIONS.glob("*.py") if (m := _REV.search(p.read_text()))}


def check_id(backup_id: object) -> str:
    """The id when well-formed; 400 otherwise (nothing else ever becomes part of a path)."""
    if not isinstance(backup_id, str) or not _ID.match(backup_id):
        raise BackupError(400, f"malformed backup id {str(backup_id)[:80]!r}: expected one like "
                          "'20261205T101500Z-manual-3fa9c1' from GET /api/db-backups")
    return backup_id


# --- file-level work, run in threads ---------------------------------------------------------------

def _ro_uri(path: Path) -> str:
    """Opens a file read-only and without locks, journals or side files (it is not live)."""
    return path.resolve().as_uri() + "?immutable=1"


def _copy_db(src: str, dst: Path, uri: bool = False) -> None:
    """A consistent copy with the online backup API, left in journal mode DELETE (one file)."""
    source = sqlite3.connect(src, uri=uri, timeout=30)
    try:
        target = sqlite3.connect(dst)
        try:
            source.backup(target)
            target.execute("PRAGMA journal_mode=DELETE")
        finally:
            target.close()
    finally:
        source.close()
    _fsync(dst)


def _snapshot_live(live: str, dest: Path) -> None:
    if not Path(live).is_file():
        raise BackupError(409, "there is no database to back up yet")
    _copy_db(live, dest)


def _copy_into_live(src: Path, live: str) -> None:
    """Replace the live database's content: atomic for its other readers, its journal mode kept."""
    source = sqlite3.connect(_ro_uri(src), uri=True)
    try:
        target = sqlite3.connect(live, timeout=30)
        try:
            source.backup(target)
        finally:
            target.close()
    finally:
        source.close()


def _config_rows(path: Path) -> int:
    """How many rows of the configuration tables a SQLite file holds (a missing table counts 0)."""
    conn = sqlite3.connect(_ro_uri(path), uri=True)
    try:
        total = 0
        for table in CONFIG_TABLES:
            with contextlib.suppress(sqlite3.DatabaseError):
                total += conn.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0]
        return total
    finally:
        conn.close()


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _inspect(path: Path) -> str:
    """Check an uploaded or stored file; its schema revision. Raises BackupError(400) naming the problem."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(100)
    except OSError as exc:
        raise BackupError(400, f"the file cannot be read: {exc.strerror}") from None
    if len(head) < 100 or not head.startswith(MAGIC):
        raise BackupError(400, "not a SQLite database: the file does not start with the SQLite header")
    try:
        conn = sqlite3.connect(_ro_uri(path), uri=True)
        try:
            problems = [r[0] for r in conn.execute("PRAGMA integrity_check(10)").fetchall()]
            if problems != ["ok"]:
                raise BackupError(400, "the database is damaged (integrity check: "
                                  f"{'; '.join(map(str, problems[:3]))[:300]})")
            names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            if "alembic_version" not in names:
                raise BackupError(400, "not an OmniRoute database: it has no alembic_version table")
            versions = [r[0] for r in conn.execute("SELECT version_num FROM alembic_version")]
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        raise BackupError(400, f"not a readable SQLite database: {exc}") from None
    if len(versions) != 1 or not isinstance(versions[0], str):
        raise BackupError(400, f"not an OmniRoute database: alembic_version holds {versions[:3]!r}")
    revision, head = versions[0], head_revision()
    if revision not in known_revisions():
        if revision.isdigit() and head.isdigit() and int(revision) > int(head):
            raise BackupError(400, f"the database was written by a newer OmniRoute (schema revision "
                              f"{revision!r}; this version knows up to {head!r}): upgrade OmniRoute first")
        raise BackupError(400, f"not an OmniRoute database: unknown schema revision {revision[:40]!r}")
    return revision


def _check_schema(path: Path) -> None:
    """Every table and column of the current schema is present (after any migration)."""
    conn = sqlite3.connect(_ro_uri(path), uri=True)
    try:
        for table in metadata.sorted_tables:
            columns = {r[1] for r in conn.execute(f'PRAGMA table_info("{table.name}")')}
            if not columns:
                raise BackupError(400, f"not an OmniRoute database: table {table.name!r} is missing")
            missing = sorted(c.name for c in table.columns if c.name not in columns)
            if missing:
                raise BackupError(400, f"not an OmniRoute database: table {table.name!r} lacks "
                                  f"column(s) {', '.join(missing)}")
    finally:
        conn.close()


def _remove(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


# --- the manager -----------------------------------------------------------------------------------

class BackupManager:
    """Backups of one database (``engine``) kept in ``settings.data_dir / "backups"``.

    ``on_replaced`` is awaited after a restore or import replaced the data (a server reloads its
    in-memory state there). ``configure`` takes the "backups" settings section; ``start`` runs the
    schedule in the background and ``close`` stops it.
    """

    def __init__(self, settings, engine: AsyncEngine,
                 on_replaced: Callable[[], Awaitable[None]] | None = None):
        self.settings = settings
        self.engine = engine
        self.on_replaced = on_replaced
        self.data_dir = Path(settings.data_dir)
        self.dir = self.data_dir / "backups"
        self.config = dict(DEFAULTS)
        self.check_s = float(os.environ.get("OMNIROUTE_BACKUP_CHECK_S") or CHECK_S)
        self._lock = asyncio.Lock()
        self._task: asyncio.Task | None = None
        self.last_skipped: dict | None = None  # the latest automatic backup the shrink guard refused

    # --- configuration and schedule --------------------------------------------------------------
    def configure(self, value: dict) -> None:
        config = {**DEFAULTS, **(value or {})}
        if not 1 <= int(config["intervalHours"]) <= 720 or not 1 <= int(config["keep"]) <= 1000:
            raise ValueError("backups: intervalHours must be 1..720 and keep 1..1000")
        self.config = {"enabled": bool(config["enabled"]), "intervalHours": int(config["intervalHours"]),
                       "keep": int(config["keep"])}

    def start(self) -> None:
        if self._task is None and self.check_s > 0:
            self._task = asyncio.create_task(self._run(), name="db-backups")

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.check_s)
            try:
                await self.run_scheduled()
            except asyncio.CancelledError:
                raise
            except Exception:  # a busy database or a full disk: try again at the next check
                log.exception("scheduled backup failed")

    async def run_scheduled(self) -> dict | None:
        """A "scheduled" backup when enabled and the newest is older than the interval; else None."""
        if not self.config["enabled"]:
            return None
        newest = self.list()[:1]
        if newest and time.time() - newest[0]["createdAt"] < self.config["intervalHours"] * 3600:
            return None
        return await self.create("scheduled", guarded=True)

    async def before_risky_write(self, reason: str) -> dict | None:
        """A backup before a write that replaces configuration (``reason`` like "pre-sync"), at most one
        an hour and under the shrink guard. It never stops the write: no backup possible here (an
        in-memory database) or a failure (a full disk) is logged and the write goes on."""
        newest = self.list()[:1]
        if newest and time.time() - newest[0]["createdAt"] < PRE_WRITE_GAP_S:
            return None
        try:
            return await self.create(reason, guarded=True)
        except BackupError as exc:
            log.info("no %s backup: %s", reason, exc.message)
        except Exception:
            log.exception("the %s backup failed; the write goes on without it", reason)
        return None

    # --- listing -----------------------------------------------------------------------------------
    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    def _live_path(self) -> str:
        database = self.engine.url.database
        if not database or database == ":memory:" or database.startswith("file:"):
            raise BackupError(409, "backups need a SQLite database file or PostgreSQL")
        return database

    def list(self) -> list[dict]:
        """Every backup, newest first: ``{"id", "createdAt", "size", "reason"}``."""
        found = []
        with contextlib.suppress(FileNotFoundError):
            for path in self.dir.iterdir():
                match = _ID.match(path.stem) if path.suffix == ".sqlite" else None
                if match is None:
                    continue
                try:
                    stat = path.stat()
                except FileNotFoundError:
                    continue
                stamp = float(calendar.timegm(time.strptime(match.group(1), "%Y%m%dT%H%M%SZ")))
                found.append(((match.group(1), stat.st_mtime_ns),
                              {"id": path.stem, "createdAt": stamp, "size": stat.st_size,
                               "reason": match.group(2)}))
        found.sort(key=lambda item: item[0], reverse=True)
        return [info for _, info in found]

    def _path(self, backup_id: str) -> Path:
        path = self.dir / f"{check_id(backup_id)}.sqlite"
        if not path.is_file():
            raise BackupError(404, f"no backup {backup_id!r}")
        return path

    def _info(self, backup_id: str) -> dict:
        return next(b for b in self.list() if b["id"] == backup_id)

    def _tmp(self, kind: str) -> Path:
        self.dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        return self.dir / f"{TMP}{kind}-{secrets.token_hex(6)}.sqlite"

    # --- backups -----------------------------------------------------------------------------------
    async def create(self, reason: str = "manual", *, guarded: bool = False) -> dict | None:
        """Take a backup now; the oldest beyond ``keep`` are removed afterwards.

        ``guarded`` (automatic backups) applies the shrink guard: when the configuration (providers,
        nodes, combos, aliases, keys, settings) holds less than half the rows of the newest backup's,
        the database looks wiped, and rotating good backups out for it would lose them; the backup is
        skipped (None, logged, kept in ``last_skipped``) until a manual one accepts the new state."""
        if not isinstance(reason, str) or not _REASON.match(reason):
            raise BackupError(400, f"invalid backup reason {str(reason)[:40]!r}: lower-case letters, digits, '-'")
        async with self._lock:
            info = await self._create(reason, guarded)
            if info is not None:
                self._prune()
        return info

    async def _create(self, reason: str, guarded: bool = False) -> dict | None:
        backup_id = f"{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}-{reason}-{secrets.token_hex(3)}"
        tmp = self._tmp("backup")
        try:
            await self._snapshot(tmp)
            if guarded and (why := await asyncio.to_thread(self._shrunk, tmp)):
                log.warning("%s backup skipped: %s", reason, why)
                self.last_skipped = {"at": time.time(), "reason": reason, "why": why}
                return None
            os.replace(tmp, self.dir / f"{backup_id}.sqlite")
        finally:
            _remove(tmp)
        log.info("database backup %s written", backup_id)
        return self._info(backup_id)

    def _shrunk(self, snapshot: Path) -> str | None:
        """Why ``snapshot`` must not rotate out the newest backup, or None when it may."""
        newest = self.list()[:1]
        if not newest:
            return None
        before = _config_rows(self.dir / f"{newest[0]['id']}.sqlite")
        now = _config_rows(snapshot)
        if before < SHRINK_FLOOR or now * 2 >= before:
            return None
        return (f"the configuration holds {now} rows against {before} in backup {newest[0]['id']}, less than "
                "half: a database that looks wiped is not backed up over good ones (take a manual backup "
                "to accept the new state)")

    async def _snapshot(self, dest: Path) -> None:
        """The whole database as a SQLite file at ``dest`` (a temporary name of the caller's)."""
        if self.is_sqlite:
            await asyncio.to_thread(_snapshot_live, self._live_path(), dest)
        else:
            await self._export_rows(dest)

    def _prune(self) -> list[str]:
        removed = [b["id"] for b in self.list()[self.config["keep"]:]]
        for backup_id in removed:
            _remove(self.dir / f"{backup_id}.sqlite")
        now = time.time()
        with contextlib.suppress(FileNotFoundError):
            for path in self.dir.glob(f"{TMP}*"):
                with contextlib.suppress(FileNotFoundError):
                    if now - path.stat().st_mtime > STALE_TMP_S:  # left by a crash
                        path.unlink()
        return removed

    async def prune(self) -> list[str]:
        """Keep only the newest ``keep`` backups; the ids removed."""
        async with self._lock:
            return self._prune()

    async def restore(self, backup_id: str) -> dict:
        """Replace the data with a backup's, after backing up the current state ("pre-restore")."""
        path = self._path(backup_id)
        async with self._lock:
            restored = self._info(backup_id)
            work, revision = await self._prepare(path)
            try:
                before = await self._create("pre-restore")
                await self._replace(work)
            finally:
                _remove(work)
            self._prune()
        return {"restored": restored, "backup": before, "migratedFrom": None if revision == head_revision()
                else revision}

    # --- export and import -------------------------------------------------------------------------
    async def export_sqlite(self, dest_path) -> None:
        """The database as one SQLite file at ``dest_path`` (replaced atomically), from any backend."""
        dest = Path(dest_path)
        tmp = dest.with_name(f"{TMP}{dest.name}-{secrets.token_hex(4)}")
        try:
            await self._snapshot(tmp)
            os.replace(tmp, dest)
        finally:
            _remove(tmp)

    async def export_temp(self) -> Path:
        """A snapshot in a temporary file of the backups directory; the caller removes it."""
        tmp = self._tmp("export")
        try:
            await self._snapshot(tmp)
        except BaseException:
            _remove(tmp)
            raise
        return tmp

    async def import_sqlite(self, src_path) -> dict:
        """Replace the data with a SQLite file's, once it passed every check; a "pre-import" backup first."""
        async with self._lock:
            work, revision = await self._prepare(Path(src_path))
            try:
                before = await self._create("pre-import")
                await self._replace(work)
            finally:
                _remove(work)
            self._prune()
        return {"imported": True, "backup": before,
                "migratedFrom": None if revision == head_revision() else revision}

    async def _prepare(self, src: Path) -> tuple[Path, str]:
        """A checked working copy at the current schema, and the revision the file was at."""
        from omniroute.store.engine import migrate

        revision = await asyncio.to_thread(_inspect, src)
        work = self._tmp("work")
        try:
            try:
                await asyncio.to_thread(_copy_db, _ro_uri(src), work, True)
            except sqlite3.DatabaseError as exc:
                raise BackupError(400, f"not a readable SQLite database: {exc}") from None
            if revision != head_revision():
                engine = create_async_engine(f"sqlite+aiosqlite:///{work}")
                try:
                    await migrate(engine)
                except Exception as exc:
                    raise BackupError(400, f"the database could not be migrated from schema revision "
                                      f"{revision!r}: {str(exc)[:300]}") from None
                finally:
                    await engine.dispose()
            await asyncio.to_thread(_check_schema, work)
        except BaseException:
            _remove(work)
            raise
        return work, revision

    async def _replace(self, work: Path) -> None:
        if self.is_sqlite:
            await asyncio.to_thread(_copy_into_live, work, self._live_path())
            await self.engine.dispose()  # no pooled connection keeps pages of the old content
        else:
            await self._import_rows(work)
        if self.on_replaced is not None:
            try:
                await self.on_replaced()
            except Exception:
                log.exception("reloading the in-memory state after replacing the database failed")

    async def _export_rows(self, dest: Path) -> None:
        """Every table of a non-SQLite database into a fresh SQLite file, read in one snapshot."""
        target = create_async_engine(f"sqlite+aiosqlite:///{dest}")
        try:
            async with target.begin() as out, self.engine.connect() as conn:
                conn = await conn.execution_options(isolation_level="REPEATABLE READ")
                async with conn.begin():
                    try:
                        revision = (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalar()
                    except Exception:
                        revision = None
                    if revision != head_revision():
                        raise BackupError(409, f"the database is at schema revision {revision!r}, not "
                                          f"{head_revision()!r}: start OmniRoute once to migrate it")
                    await out.run_sync(metadata.create_all)
                    await out.execute(text("CREATE TABLE alembic_version "
                                           "(version_num VARCHAR(32) NOT NULL PRIMARY KEY)"))
                    await out.execute(text("INSERT INTO alembic_version (version_num) VALUES (:v)"),
                                      {"v": revision})
                    for table in metadata.sorted_tables:
                        result = await conn.stream(select(table))
                        async for rows in result.mappings().partitions(CHUNK_ROWS):
                            await out.execute(insert(table), [dict(r) for r in rows])
        finally:
            await target.dispose()
        await asyncio.to_thread(_fsync, dest)

    async def _import_rows(self, work: Path) -> None:
        """Replace every app table's rows with the file's, in one transaction (non-SQLite backends)."""
        source = create_async_engine(f"sqlite+aiosqlite:///{work}")
        try:
            async with self.engine.begin() as conn, source.connect() as src:
                for table in reversed(metadata.sorted_tables):
                    await conn.execute(delete(table))
                for table in metadata.sorted_tables:
                    result = await src.stream(select(table))
                    async for rows in result.mappings().partitions(CHUNK_ROWS):
                        await conn.execute(insert(table), [dict(r) for r in rows])
                    column = table.autoincrement_column
                    if column is not None and conn.dialect.name == "postgresql":
                        # explicit ids were inserted: move the sequence past them
                        await conn.execute(text(
                            f"SELECT setval(pg_get_serial_sequence('{table.name}', '{column.name}'), "
                            f"COALESCE((SELECT MAX({column.name}) FROM {table.name}), 1), "
                            f"(SELECT MAX({column.name}) FROM {table.name}) IS NOT NULL)"))
        finally:
            await source.dispose()

    # --- the whole data directory ------------------------------------------------------------------
    async def export_all(self, fileobj) -> None:
        """The data directory as a .tar.gz written to ``fileobj``, the database as a snapshot."""
        snapshot = await self.export_temp()
        try:
            await asyncio.to_thread(self.write_archive, fileobj, snapshot)
        finally:
            _remove(snapshot)

    def write_archive(self, fileobj, snapshot: Path) -> None:
        """Blocking: the tar.gz stream of the data directory with ``snapshot`` as storage.sqlite."""
        import tarfile

        live = Path(self._live_path()).resolve() if self.is_sqlite else None
        skip = set() if live is None else {live, *(live.with_name(live.name + s) for s in
                                                    ("-wal", "-shm", "-journal"))}
        root = self.data_dir.resolve()
        with tarfile.open(fileobj=fileobj, mode="w|gz") as tar:
            tar.add(snapshot, arcname="storage.sqlite")
            for folder, dirs, files in os.walk(root):
                dirs.sort()
                for name in sorted(files):
                    path = Path(folder) / name
                    arcname = path.relative_to(root).as_posix()
                    if path in skip or name.startswith(TMP) or arcname == "storage.sqlite":
                        continue
                    try:
                        if path.is_file() and not path.is_symlink():
                            tar.add(path, arcname=arcname, recursive=False)
                    except (FileNotFoundError, PermissionError):  # gone or unreadable meanwhile
                        continue
