"""The sync repository: every synced row and deletion mark, and the last-writer-wins merge.

Rows travel as their table columns (minus the instance's runtime state) so a snapshot holds
exactly what the tables hold. Secret columns are still encrypted by the local SecretBox here;
``snapshot.py`` turns them into transit form and back.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from sqlalchemy import Boolean, Float, Integer, String, Table, delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from omniroute.store import tables as t


@dataclass(frozen=True)
class Kind:
    """One synced table: its id column, the columns it keeps to itself and those holding secrets."""

    name: str  # also the ``kind`` of its deletion marks
    table: Table
    key: str
    secrets: tuple[str, ...] = ()  # encrypted by the SecretBox (strings in the "enc:v1:" form)
    local: tuple[str, ...] = ()  # runtime state of this instance: never sent, never overwritten
    unique: tuple[str, ...] = ()  # columns besides the id that no two rows may share

    @property
    def columns(self) -> list[str]:
        return [c.name for c in self.table.columns if c.name not in self.local]


# In apply order: nodes before the connections that name them, settings last.
KINDS = (
    Kind("provider_nodes", t.provider_nodes, "id", secrets=("headers_json",), unique=("prefix",)),
    Kind("connections", t.connections, "id", secrets=("api_key_enc", "headers_json", "oauth_enc", "proxy_enc"),
         local=("status", "rate_limited_until", "last_error")),
    Kind("combos", t.combos, "id", unique=("name",)),
    Kind("model_aliases", t.model_aliases, "alias"),
    Kind("api_keys", t.api_keys, "id", unique=("key_hash",)),
    Kind("settings", t.settings, "key"),
)
BY_NAME = {kind.name: kind for kind in KINDS}
TOMBSTONE_KINDS = ("provider_nodes", "connections", "combos", "model_aliases")  # api keys are revoked, not deleted

# Settings that describe this instance rather than the configuration shared by a pair: its login
# (password, whether login and client keys are required), who may reach it (IP filter), its own
# sync identity and remote, budgets (counted against this instance's own usage ledger) and its
# backup schedule (of its own data directory).
LOCAL_SETTINGS = frozenset({"passwordHash", "requireLogin", "requireApiKey", "ipFilter", "budgets", "backups"})
LOCAL_SETTING_PREFIX = "sync."


def is_local_setting(key: str) -> bool:
    return key in LOCAL_SETTINGS or key.startswith(LOCAL_SETTING_PREFIX)


class SnapshotError(ValueError):
    """An incoming snapshot that is not well formed; the message names the item and the field."""


def check_row(kind: Kind, row) -> dict:
    """The synced columns of an incoming row, each of its column's type; SnapshotError otherwise."""
    if not isinstance(row, dict):
        raise SnapshotError(f"{kind.name}: every item must be an object")
    ident = row.get(kind.key)
    if not isinstance(ident, str) or not ident:
        raise SnapshotError(f"{kind.name}: an item has no '{kind.key}'")
    out = {}
    for column in kind.table.columns:
        if column.name in kind.local:
            continue
        where = f"{kind.name} '{ident[:100]}': '{column.name}'"
        value = row.get(column.name)
        if value is None:
            if not column.nullable and column.name != "updated_at":
                raise SnapshotError(f"{where} is required")
            out[column.name] = None
            continue
        kind_of = type(column.type)
        if issubclass(kind_of, Boolean):
            ok = isinstance(value, bool)
        elif issubclass(kind_of, Integer):
            ok = isinstance(value, int) and not isinstance(value, bool)
        elif issubclass(kind_of, Float):
            ok = isinstance(value, int | float) and not isinstance(value, bool) and value == value
            value = float(value) if ok else value
        else:
            ok = isinstance(value, str)
            length = getattr(column.type, "length", None) if issubclass(kind_of, String) else None
            if ok and length and len(value) > length:
                raise SnapshotError(f"{where} is longer than {length} characters")
        if not ok:
            raise SnapshotError(f"{where} has the wrong type ({type(value).__name__})")
        out[column.name] = value
    if out.get("updated_at") is None:
        raise SnapshotError(f"{kind.name} '{ident[:100]}': 'updated_at' is required")
    return out


@dataclass
class Counts:
    added: int = 0
    updated: int = 0
    deleted: int = 0
    skipped: int = 0
    by_kind: dict = field(default_factory=dict)

    def bump(self, kind: str, what: str) -> None:
        setattr(self, what, getattr(self, what) + 1)
        per = self.by_kind.setdefault(kind, {"added": 0, "updated": 0, "deleted": 0, "skipped": 0})
        per[what] += 1

    def to_json(self) -> dict:
        return {"added": self.added, "updated": self.updated, "deleted": self.deleted, "skipped": self.skipped,
                "byKind": self.by_kind}


class SyncRepo:
    def __init__(self, engine: AsyncEngine):
        self.engine = engine

    async def read(self) -> tuple[dict[str, list[dict]], list[dict]]:
        """Every synced row by kind (instance-local settings left out), and every deletion mark."""
        items: dict[str, list[dict]] = {}
        async with self.engine.connect() as conn:
            for kind in KINDS:
                columns = [kind.table.c[name] for name in kind.columns]
                rows = (await conn.execute(select(*columns).order_by(kind.table.c[kind.key]))).mappings()
                items[kind.name] = [{str(k): v for k, v in r.items()} for r in rows  # plain str keys
                                    if not (kind.name == "settings" and is_local_setting(r["key"]))]
            marks = (await conn.execute(select(t.sync_tombstones))).mappings()
            tombstones = [{"kind": m["kind"], "id": m["item_id"], "deletedAt": m["deleted_at"]} for m in marks]
        return items, tombstones

    async def merge(self, items: dict[str, list[dict]], tombstones: list[dict]) -> Counts:
        """Last writer wins, per item, all in one transaction (checked rows, local secret form)."""
        counts = Counts()
        async with self.engine.begin() as conn:
            for kind in KINDS:
                await _merge_kind(conn, kind, items.get(kind.name, []),
                                  [m for m in tombstones if m["kind"] == kind.name], counts)
        return counts


async def _merge_kind(conn, kind: Kind, rows: list[dict], marks: list[dict], counts: Counts) -> None:
    table, key = kind.table, kind.table.c[kind.key]
    local = {r[kind.key]: dict(r) for r in (await conn.execute(select(table))).mappings()}
    dead = {m["item_id"]: m["deleted_at"] for m in (await conn.execute(
        select(t.sync_tombstones).where(t.sync_tombstones.c.kind == kind.name))).mappings()}

    async def remove(ident: str, stamp: float) -> None:
        await conn.execute(delete(table).where(key == ident))
        local.pop(ident, None)
        if kind.name in TOMBSTONE_KINDS:
            await _set_mark(conn, kind.name, ident, stamp)
            dead[ident] = stamp
        counts.bump(kind.name, "deleted")

    for row in rows:
        ident, stamp = row[kind.key], row["updated_at"]
        if kind.name == "settings" and is_local_setting(ident):
            counts.bump(kind.name, "skipped")
            continue
        current = local.get(ident)
        if current is not None and current["updated_at"] >= stamp:
            counts.bump(kind.name, "skipped")  # ours is as new or newer
            continue
        if current is None and dead.get(ident, -1.0) >= stamp:
            counts.bump(kind.name, "skipped")  # deleted here after that change
            continue
        # Another row holding one of its unique values: the newer of the two stays.
        rivals = {other[kind.key]: other for col in kind.unique for other in local.values()
                  if other[col] == row[col] and other[kind.key] != ident}
        if any(other["updated_at"] >= stamp for other in rivals.values()):
            counts.bump(kind.name, "skipped")
            continue
        for other in rivals:
            await remove(other, stamp)
        if current is None:
            await conn.execute(insert(table).values(**row))
            counts.bump(kind.name, "added")
        else:
            await conn.execute(update(table).where(key == ident).values(**row))
            counts.bump(kind.name, "updated")
        local[ident] = {**(current or {}), **row}
        if ident in dead:
            await conn.execute(delete(t.sync_tombstones).where(
                (t.sync_tombstones.c.kind == kind.name) & (t.sync_tombstones.c.item_id == ident)))
            dead.pop(ident)
    for mark in marks:
        ident, stamp = mark["id"], mark["deletedAt"]
        current = local.get(ident)
        if current is not None:
            if current["updated_at"] < stamp:
                await remove(ident, stamp)
            else:
                counts.bump(kind.name, "skipped")  # changed here after the deletion there
        elif dead.get(ident, -1.0) < stamp:  # keep the mark, so the deletion travels on
            await _set_mark(conn, kind.name, ident, stamp)
            dead[ident] = stamp


async def _set_mark(conn, kind: str, ident: str, stamp: float | None = None) -> None:
    where = (t.sync_tombstones.c.kind == kind) & (t.sync_tombstones.c.item_id == ident)
    await conn.execute(delete(t.sync_tombstones).where(where))
    await conn.execute(insert(t.sync_tombstones).values(kind=kind, item_id=ident,
                                                        deleted_at=time.time() if stamp is None else stamp))


def check_marks(marks) -> list[dict]:
    """Incoming deletion marks: ``[{"kind", "id", "deletedAt"}]`` of a kind that has them."""
    if not isinstance(marks, list):
        raise SnapshotError("'tombstones' must be a list")
    out = []
    for mark in marks:
        if not isinstance(mark, dict):
            raise SnapshotError("every tombstone must be an object")
        kind, ident, stamp = mark.get("kind"), mark.get("id"), mark.get("deletedAt")
        if kind not in TOMBSTONE_KINDS:
            raise SnapshotError(f"tombstone of unknown kind {kind!r}")
        if not isinstance(ident, str) or not ident or len(ident) > 200:
            raise SnapshotError(f"a {kind} tombstone has no valid 'id'")
        if not isinstance(stamp, int | float) or isinstance(stamp, bool) or stamp != stamp:
            raise SnapshotError(f"{kind} tombstone '{ident[:100]}': 'deletedAt' must be a number")
        out.append({"kind": kind, "id": ident, "deletedAt": float(stamp)})
    return out
