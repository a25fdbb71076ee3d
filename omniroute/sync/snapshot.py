"""Snapshots: this instance's synced rows with their secrets sealed for transit, and back.

A snapshot is ``{"instanceId", "createdAt", "items": {kind: [row]}, "tombstones": [mark]}``. A
secret column leaves as the local SecretBox's plaintext sealed with the transit keys, and arrives
re-encrypted with the receiver's own SecretBox. Settings values are JSON: any string in them in
the SecretBox's form is treated the same way, wherever it sits.
"""

from __future__ import annotations

import logging
import time

import orjson
from cryptography.exceptions import InvalidTag
from sqlalchemy.exc import IntegrityError

from omniroute.sync.store import BY_NAME, KINDS, Counts, SnapshotError, SyncRepo, check_marks, check_row
from omniroute.sync.transit import SEALED_PREFIX, Transit, TransitError

log = logging.getLogger("omniroute")

_AT_REST = "enc:v1:"  # the SecretBox's form (omniroute/auth/secrets.py)
_MAX_ITEMS = 100_000


def _local_plain(services, stored: str, where: str) -> str | None:
    try:
        return services.secrets.decrypt(stored)
    except (ValueError, InvalidTag):
        # Sealed under another storage key: it cannot travel. Named, never shown.
        log.warning("sync: the secret of %s does not decrypt with this instance's key; sent empty", where)
        return None


def _walk(value, change):
    """``value`` with ``change`` applied to every string of it, at any depth."""
    if isinstance(value, str):
        return change(value)
    if isinstance(value, list):
        return [_walk(v, change) for v in value]
    if isinstance(value, dict):
        return {k: _walk(v, change) for k, v in value.items()}
    return value


async def build(services, transit: Transit, instance_id: str | None) -> dict:
    """This instance's snapshot, secrets sealed with ``transit``."""
    items, tombstones = await SyncRepo(services.engine).read()
    out: dict[str, list[dict]] = {}
    for kind in KINDS:
        rows = []
        for row in items[kind.name]:
            where = f"{kind.name} '{row[kind.key]}'"
            for col in kind.secrets:
                if row[col] is not None:
                    row[col] = transit.seal_secret(_local_plain(services, row[col], where))
            if kind.name == "settings":
                row["value_json"] = orjson.dumps(_walk(orjson.loads(row["value_json"]), lambda s, w=where: (
                    transit.seal_secret(_local_plain(services, s, w)) if s.startswith(_AT_REST) else s))).decode()
            rows.append(row)
        out[kind.name] = rows
    return {"instanceId": instance_id, "createdAt": time.time(), "items": out, "tombstones": tombstones}


def receive(services, transit: Transit, payload: dict) -> tuple[dict[str, list[dict]], list[dict]]:
    """The checked rows of an incoming snapshot, secrets re-encrypted for rest; SnapshotError or
    TransitError when it is not well formed or does not open."""
    items = payload.get("items")
    if not isinstance(items, dict):
        raise SnapshotError("the snapshot has no 'items' object")
    unknown = sorted(set(items) - set(BY_NAME))
    if unknown:
        raise SnapshotError(f"the snapshot has unknown item kind(s): {', '.join(map(str, unknown))}")
    out: dict[str, list[dict]] = {}
    total = 0
    for name, rows in items.items():
        kind = BY_NAME[name]
        if not isinstance(rows, list):
            raise SnapshotError(f"'items.{name}' must be a list")
        total += len(rows)
        if total > _MAX_ITEMS:
            raise SnapshotError(f"the snapshot has more than {_MAX_ITEMS} items")
        checked = []
        for raw in rows:
            row = check_row(kind, raw)
            for col in kind.secrets:
                row[col] = services.secrets.encrypt(transit.open_secret(row[col]))
            if name == "settings":
                try:
                    value = orjson.loads(row["value_json"])
                except orjson.JSONDecodeError:
                    raise SnapshotError(f"setting '{row['key']}': 'value_json' is not JSON") from None
                value = _walk(value, lambda s: services.secrets.encrypt(transit.open_secret(s))
                              if s.startswith(SEALED_PREFIX) else s)
                row["value_json"] = orjson.dumps(value).decode()
            checked.append(row)
        out[name] = checked
    return out, check_marks(payload.get("tombstones", []))


async def merge(services, transit: Transit, payload: dict) -> Counts:
    """Merge an opened snapshot into this instance's tables (after a "pre-sync" backup), then make it live."""
    items, tombstones = receive(services, transit, payload)
    if tombstones or any(items.values()):
        await services.backups.before_risky_write("pre-sync")  # at most one an hour, never blocks the merge
    try:
        counts = await SyncRepo(services.engine).merge(items, tombstones)
    except IntegrityError:  # rolled back: nothing of it was written
        raise SnapshotError("the snapshot conflicts with rows here (a name or prefix held by two items)") from None
    if counts.added or counts.updated or counts.deleted:
        await reload(services)
    return counts


async def reload(services) -> None:
    """Everything held in memory that the merge may have changed."""
    # The one place that re-reads everything (also after a restore). The usage table is not synced and
    # budgets never travel, so the budget ledgers stand as they are (with Redis, other instances' too).
    await services.reload_state(reseed=False)


__all__ = ["SnapshotError", "TransitError", "build", "merge", "receive", "reload"]
