"""/api/keys: client API keys, stored hashed and shown whole only once."""

from __future__ import annotations

import time

from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.routing import Route

from omniroute.auth.apikeys import generate_key, hash_key, key_hint
from omniroute.server.api.common import ApiError, admin, audit, json_response, read_model

SCOPES = frozenset({"manage"})


class KeyBody(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)
    name: str | None = Field(default=None, min_length=1, max_length=200)
    scopes: list[str] | None = None
    allowedModels: list[str] | None = None
    expiresAt: float | None = Field(default=None, gt=0)

    def check_scopes(self) -> None:
        unknown = set(self.scopes or ()) - SCOPES
        if unknown:
            raise ApiError(400, f"'scopes': unknown scope(s) {sorted(unknown)}; known: {sorted(SCOPES)}")


class KeyCreate(KeyBody):
    name: str = Field(min_length=1, max_length=200)


def _public(row: dict) -> dict:
    out = {k: v for k, v in row.items() if k != "keyHash"}
    out["revoked"] = row["revokedAt"] is not None
    return out


@admin
async def list_or_create(request: Request):
    s = request.app.state.services
    if request.method == "GET":
        return json_response({"keys": [_public(r) for r in await s.keys.list()]})
    body = await read_model(request, KeyCreate)
    body.check_scopes()
    if body.expiresAt is not None and body.expiresAt <= time.time():
        raise ApiError(400, "'expiresAt' must be in the future (seconds since the epoch)")
    raw = generate_key()
    row = await s.keys.create(name=body.name, key_hash=hash_key(raw), key_hint=key_hint(raw),
                              scopes=body.scopes or [], allowed_models=body.allowedModels,
                              expires_at=body.expiresAt)
    await s.reload_keys()
    await audit(request, "key.create", row["id"])
    out = _public(row)
    out["key"] = raw
    return json_response(out, 201)


@admin
async def one(request: Request):
    s = request.app.state.services
    key_id = request.path_params["id"]
    row = await s.keys.get(key_id)
    if row is None:
        raise ApiError(404, f"API key '{key_id}' not found")
    if request.method == "GET":
        return json_response(_public(row))
    if request.method == "DELETE":
        row = await s.keys.update(key_id, {"revokedAt": row["revokedAt"] or time.time()})
        action = "key.revoke"
    else:
        body = await read_model(request, KeyBody)
        body.check_scopes()
        row = await s.keys.update(key_id, body.model_dump(exclude_unset=True))
        action = "key.update"
    await s.reload_keys()
    await audit(request, action, key_id)
    return json_response(_public(row))


routes = [
    Route("/api/keys", list_or_create, methods=["GET", "POST"]),
    Route("/api/keys/{id}", one, methods=["GET", "PATCH", "DELETE"]),
]
