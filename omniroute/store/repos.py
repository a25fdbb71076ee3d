"""Repositories: the only code that reads or writes the tables."""

from __future__ import annotations

import time
from collections.abc import Iterable

import orjson
from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from omniroute.store import tables as t
from omniroute.store.values import _dumps, _loads, new_id


async def _mark_deleted(conn, kind: str, item_id: str) -> None:
    """Record a deletion in sync_tombstones, so a peer's older copy of the item is deleted too."""
    where = (t.sync_tombstones.c.kind == kind) & (t.sync_tombstones.c.item_id == item_id)
    await conn.execute(delete(t.sync_tombstones).where(where))
    await conn.execute(insert(t.sync_tombstones).values(kind=kind, item_id=item_id, deleted_at=time.time()))


async def _unmark_deleted(conn, kind: str, item_id: str) -> None:
    """An item written again under a deleted id is alive: drop its deletion mark."""
    where = (t.sync_tombstones.c.kind == kind) & (t.sync_tombstones.c.item_id == item_id)
    await conn.execute(delete(t.sync_tombstones).where(where))


class SettingsRepo:
    """Key/value settings stored as JSON."""

    def __init__(self, engine: AsyncEngine):
        self.engine = engine

    async def get(self, key: str, default=None):
        async with self.engine.connect() as conn:
            row = (await conn.execute(select(t.settings.c.value_json).where(t.settings.c.key == key))).first()
        return default if row is None else orjson.loads(row[0])

    async def set(self, key: str, value) -> None:
        payload = orjson.dumps(value).decode()
        now = time.time()
        if self.engine.dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as dialect_insert
        else:
            from sqlalchemy.dialects.sqlite import insert as dialect_insert
        statement = dialect_insert(t.settings).values(key=key, value_json=payload, updated_at=now)
        statement = statement.on_conflict_do_update(index_elements=[t.settings.c.key],
                                                    set_={"value_json": payload, "updated_at": now})
        async with self.engine.begin() as conn:
            await conn.execute(statement)


class ConnectionsRepo:
    """Provider accounts. API keys arrive and leave already encrypted."""

    def __init__(self, engine: AsyncEngine):
        self.engine = engine

    async def list(self) -> list[dict]:
        query = select(t.connections).order_by(t.connections.c.provider, t.connections.c.priority)
        async with self.engine.connect() as conn:
            return [_connection(r) for r in (await conn.execute(query)).mappings()]

    async def get(self, conn_id: str) -> dict | None:
        async with self.engine.connect() as conn:
            row = (
                await conn.execute(select(t.connections).where(t.connections.c.id == conn_id))
            ).mappings().first()
        return None if row is None else _connection(row)

    async def create(self, values: dict) -> dict:
        now = time.time()
        row = {
            "id": new_id(),
            "auth_type": "apikey",
            "priority": 1,
            "is_active": True,
            "status": "active",
            "created_at": now,
            "updated_at": now,
            **_connection_columns(values),
        }
        async with self.engine.begin() as conn:
            await conn.execute(insert(t.connections).values(**row))
            await _unmark_deleted(conn, "connections", row["id"])
        return await self.get(row["id"])  # type: ignore[return-value]

    async def update(self, conn_id: str, values: dict) -> dict | None:
        columns = _connection_columns(values)
        if columns.keys() - _RUNTIME_COLUMNS:  # a status change alone is not an edit (sync: last writer wins)
            columns["updated_at"] = time.time()
        if columns:
            async with self.engine.begin() as conn:
                await conn.execute(update(t.connections).where(t.connections.c.id == conn_id).values(**columns))
        return await self.get(conn_id)

    async def delete(self, conn_id: str) -> bool:
        async with self.engine.begin() as conn:
            result = await conn.execute(delete(t.connections).where(t.connections.c.id == conn_id))
            if result.rowcount:
                await _mark_deleted(conn, "connections", conn_id)
        return result.rowcount > 0


_RUNTIME_COLUMNS = frozenset({"status", "rate_limited_until", "last_error"})  # this instance's view only

_CONNECTION_FIELDS = {
    "provider": "provider",
    "name": "name",
    "authType": "auth_type",
    "apiKeyEnc": "api_key_enc",
    "baseUrl": "base_url",
    "priority": "priority",
    "isActive": "is_active",
    "defaultModel": "default_model",
    "status": "status",
    "rateLimitedUntil": "rate_limited_until",
    "lastError": "last_error",
    "maxConcurrency": "max_concurrency",
    "headersEnc": "headers_json",
    "oauthEnc": "oauth_enc",  # encrypted JSON of a subscription's tokens
    "tokenExpiresAt": "token_expires_at",
    "proxyEnc": "proxy_enc",  # encrypted JSON {"url", "noProxy"?}: the connection's own outbound proxy
}


def _connection_columns(values: dict) -> dict:
    columns = {col: values[key] for key, col in _CONNECTION_FIELDS.items() if key in values}
    if "providerData" in values:  # account, project and organization ids: not secret
        columns["provider_data_json"] = _dumps(values["providerData"] or None)
    return columns


def _connection(row) -> dict:
    out = {key: row[col] for key, col in _CONNECTION_FIELDS.items()}
    out["providerData"] = _loads(row["provider_data_json"], {})
    out["id"] = row["id"]
    out["createdAt"] = row["created_at"]
    out["updatedAt"] = row["updated_at"]
    return out


class ProviderNodesRepo:
    """Operator-defined upstreams. Extra headers arrive and leave already encrypted."""

    def __init__(self, engine: AsyncEngine):
        self.engine = engine

    async def list(self) -> list[dict]:
        query = select(t.provider_nodes).order_by(t.provider_nodes.c.created_at, t.provider_nodes.c.id)
        async with self.engine.connect() as conn:
            return [_node(r) for r in (await conn.execute(query)).mappings()]

    async def get(self, node_id: str) -> dict | None:
        query = select(t.provider_nodes).where(t.provider_nodes.c.id == node_id)
        async with self.engine.connect() as conn:
            row = (await conn.execute(query)).mappings().first()
        return None if row is None else _node(row)

    async def create(self, values: dict) -> dict:
        """Insert a node; ``values["id"]`` is required. A taken id or prefix raises IntegrityError."""
        now = time.time()
        row = {"created_at": now, "updated_at": now, **_node_columns(values)}
        async with self.engine.begin() as conn:
            await conn.execute(insert(t.provider_nodes).values(**row))
            await _unmark_deleted(conn, "provider_nodes", row["id"])
        return await self.get(row["id"])  # type: ignore[return-value]

    async def update(self, node_id: str, values: dict) -> dict | None:
        columns = _node_columns(values)
        columns.pop("id", None)
        if columns:
            columns["updated_at"] = time.time()
            async with self.engine.begin() as conn:
                await conn.execute(
                    update(t.provider_nodes).where(t.provider_nodes.c.id == node_id).values(**columns))
        return await self.get(node_id)

    async def delete(self, node_id: str) -> bool:
        async with self.engine.begin() as conn:
            result = await conn.execute(delete(t.provider_nodes).where(t.provider_nodes.c.id == node_id))
            if result.rowcount:
                await _mark_deleted(conn, "provider_nodes", node_id)
        return result.rowcount > 0


_NODE_FIELDS = {
    "id": "id",
    "name": "name",
    "prefix": "prefix",
    "type": "type",
    "baseUrl": "base_url",
    "chatPath": "chat_path",
    "modelsPath": "models_path",
    "headersEnc": "headers_json",
}


def _node_columns(values: dict) -> dict:
    columns = {col: values[key] for key, col in _NODE_FIELDS.items() if key in values}
    if "models" in values:
        columns["models_json"] = _dumps(values["models"])
    return columns


def _node(row) -> dict:
    out = {key: row[col] for key, col in _NODE_FIELDS.items()}
    out["models"] = _loads(row["models_json"], [])
    out["createdAt"] = row["created_at"]
    out["updatedAt"] = row["updated_at"]
    return out


class ProviderModelsRepo:
    """Models added to a provider's lists, or hidden from them."""

    def __init__(self, engine: AsyncEngine):
        self.engine = engine

    async def list(self) -> list[dict]:
        query = select(t.provider_models).order_by(t.provider_models.c.provider, t.provider_models.c.created_at,
                                                   t.provider_models.c.id)
        async with self.engine.connect() as conn:
            return [_provider_model(r) for r in (await conn.execute(query)).mappings()]

    async def create(self, *, provider: str, model: str, type: str, hidden: bool) -> dict:
        """Insert one row; a taken (provider, model, type) raises IntegrityError."""
        row = {"id": new_id(), "provider": provider, "model": model, "type": type, "hidden": hidden,
               "created_at": time.time()}
        async with self.engine.begin() as conn:
            await conn.execute(insert(t.provider_models).values(**row))
        return _provider_model(row)

    async def delete(self, ids: Iterable[str]) -> int:
        ids = list(ids)
        if not ids:
            return 0
        async with self.engine.begin() as conn:
            result = await conn.execute(delete(t.provider_models).where(t.provider_models.c.id.in_(ids)))
        return result.rowcount


def _provider_model(row) -> dict:
    return {"id": row["id"], "provider": row["provider"], "model": row["model"], "type": row["type"],
            "hidden": bool(row["hidden"]), "createdAt": row["created_at"]}


class ModelAliasesRepo:
    """Model aliases: a name clients send and the model it stands for."""

    def __init__(self, engine: AsyncEngine):
        self.engine = engine

    async def list(self) -> dict[str, str]:
        query = select(t.model_aliases.c.alias, t.model_aliases.c.model).order_by(t.model_aliases.c.alias)
        async with self.engine.connect() as conn:
            return {alias: model for alias, model in (await conn.execute(query)).all()}

    async def create(self, alias: str, model: str) -> None:
        """Insert one alias; a taken name raises IntegrityError."""
        now = time.time()
        async with self.engine.begin() as conn:
            await conn.execute(insert(t.model_aliases).values(alias=alias, model=model, created_at=now, updated_at=now))
            await _unmark_deleted(conn, "model_aliases", alias)

    async def delete(self, alias: str) -> bool:
        async with self.engine.begin() as conn:
            result = await conn.execute(delete(t.model_aliases).where(t.model_aliases.c.alias == alias))
            if result.rowcount:
                await _mark_deleted(conn, "model_aliases", alias)
        return result.rowcount > 0


class CombosRepo:
    """Combos: a name, its targets (``models``), a strategy and a config object."""

    def __init__(self, engine: AsyncEngine):
        self.engine = engine

    async def list(self) -> list[dict]:
        query = select(t.combos).order_by(t.combos.c.name)
        async with self.engine.connect() as conn:
            return [_combo(r) for r in (await conn.execute(query)).mappings()]

    async def get(self, combo_id: str) -> dict | None:
        async with self.engine.connect() as conn:
            row = (await conn.execute(select(t.combos).where(t.combos.c.id == combo_id))).mappings().first()
        return None if row is None else _combo(row)

    async def create(self, *, name: str, models: list, strategy: str, config: dict) -> dict:
        """Insert one combo; a taken name raises IntegrityError."""
        now = time.time()
        row = {"id": new_id(), "name": name, "models_json": _dumps(models), "strategy": strategy,
               "config_json": _dumps(config), "created_at": now, "updated_at": now}
        async with self.engine.begin() as conn:
            await conn.execute(insert(t.combos).values(**row))
            await _unmark_deleted(conn, "combos", row["id"])
        return _combo(row)

    async def update(self, combo_id: str, *, name: str, models: list, strategy: str, config: dict) -> dict | None:
        values = {"name": name, "models_json": _dumps(models), "strategy": strategy, "config_json": _dumps(config),
                  "updated_at": time.time()}
        async with self.engine.begin() as conn:
            result = await conn.execute(update(t.combos).where(t.combos.c.id == combo_id).values(**values))
        return await self.get(combo_id) if result.rowcount else None

    async def delete(self, combo_id: str) -> bool:
        async with self.engine.begin() as conn:
            result = await conn.execute(delete(t.combos).where(t.combos.c.id == combo_id))
            if result.rowcount:
                await _mark_deleted(conn, "combos", combo_id)
        return result.rowcount > 0


def _combo(row) -> dict:
    return {"id": row["id"], "name": row["name"], "models": _loads(row["models_json"], []),
            "strategy": row["strategy"], "config": _loads(row["config_json"], {}),
            "createdAt": row["created_at"], "updatedAt": row["updated_at"]}


class KeysRepo:
    """Client API keys, stored as SHA-256 hashes with a short hint for display."""

    def __init__(self, engine: AsyncEngine):
        self.engine = engine

    async def list(self) -> list[dict]:
        async with self.engine.connect() as conn:
            rows = (await conn.execute(select(t.api_keys).order_by(t.api_keys.c.created_at))).mappings()
            return [_key(r) for r in rows]

    async def get(self, key_id: str) -> dict | None:
        async with self.engine.connect() as conn:
            row = (await conn.execute(select(t.api_keys).where(t.api_keys.c.id == key_id))).mappings().first()
        return None if row is None else _key(row)

    async def create(self, *, name: str, key_hash: str, key_hint: str, scopes: list[str],
                     allowed_models: list[str] | None, expires_at: float | None) -> dict:
        row = dict(
            id=new_id(), name=name, key_hash=key_hash, key_hint=key_hint, scopes_json=_dumps(scopes),
            allowed_models_json=_dumps(allowed_models), expires_at=expires_at, created_at=time.time(),
        )
        row["updated_at"] = row["created_at"]
        async with self.engine.begin() as conn:
            await conn.execute(insert(t.api_keys).values(**row))
        return await self.get(row["id"])  # type: ignore[return-value]

    async def update(self, key_id: str, values: dict) -> dict | None:
        columns = {}
        if "name" in values:
            columns["name"] = values["name"]
        if "scopes" in values:
            columns["scopes_json"] = _dumps(values["scopes"])
        if "allowedModels" in values:
            columns["allowed_models_json"] = _dumps(values["allowedModels"])
        if "expiresAt" in values:
            columns["expires_at"] = values["expiresAt"]
        if "revokedAt" in values:
            columns["revoked_at"] = values["revokedAt"]
        if columns:
            columns["updated_at"] = time.time()
            async with self.engine.begin() as conn:
                await conn.execute(update(t.api_keys).where(t.api_keys.c.id == key_id).values(**columns))
        return await self.get(key_id)


def _key(row) -> dict:
    return {
        "id": row["id"],
        "name": row["name"],
        "keyHash": row["key_hash"],
        "key": row["key_hint"],
        "scopes": _loads(row["scopes_json"], []),
        "allowedModels": _loads(row["allowed_models_json"]),
        "expiresAt": row["expires_at"],
        "revokedAt": row["revoked_at"],
        "createdAt": row["created_at"],
    }


# The ledger's repositories live in their own module; imported here for every existing caller.
from omniroute.store.ledger_repos import (  # noqa: E402
    AttemptRow,
    AuditRepo,
    DetailRow,
    UsageRepo,
    UsageRow,
)

__all__ = ["AttemptRow", "AuditRepo", "CombosRepo", "ConnectionsRepo", "DetailRow", "KeysRepo", "ModelAliasesRepo",
           "ProviderModelsRepo", "ProviderNodesRepo", "SettingsRepo", "UsageRepo", "UsageRow", "new_id"]
