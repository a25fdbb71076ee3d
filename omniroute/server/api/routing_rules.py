"""/api/policies, /api/rate-limit and /api/sessions: the rules that sit in front of routing.

Policies are one ordered list stored under the settings key ``policies``; the client limits
one object under ``rateLimit``. Each write stores, then makes the new value live.
"""

from __future__ import annotations

import uuid
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.routing import Route

from omniroute.errors import OmniRouteError
from omniroute.routing.policies import ROUTE
from omniroute.routing.resolve import resolve
from omniroute.server.api.common import ApiError, admin, audit, json_response, read_model
from omniroute.server.limits import limits_config

MAX_POLICIES = 500


class PolicyMatch(BaseModel):
    """What a policy applies to; a field left out does not restrict."""

    model_config = ConfigDict(extra="forbid", strict=True)
    apiKeyIds: list[str] | None = Field(default=None, min_length=1, max_length=1000)
    models: list[str] | None = Field(default=None, min_length=1, max_length=200)


class PolicyBody(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    name: str = Field(min_length=1, max_length=200)
    match: PolicyMatch = Field(default_factory=PolicyMatch)
    action: Literal["deny", "route"]
    target: str | None = Field(default=None, min_length=1, max_length=400)


class RateLimitBody(BaseModel):
    """PUT /api/rate-limit: the whole object; null or absent means no limit."""

    model_config = ConfigDict(extra="forbid", strict=True)
    perKeyRpm: int | None = Field(default=None, ge=1, le=100_000_000)
    perKeyConcurrency: int | None = Field(default=None, ge=1, le=1_000_000)
    globalRpm: int | None = Field(default=None, ge=1, le=100_000_000)


def _check_policy(s, body: PolicyBody) -> None:
    for i, glob in enumerate(body.match.models or ()):
        if not glob:
            raise ApiError(400, f"'match.models.{i}': a model pattern must not be empty")
    for i, key_id in enumerate(body.match.apiKeyIds or ()):
        if not key_id:
            raise ApiError(400, f"'match.apiKeyIds.{i}': an API key id must not be empty")
    if body.action != ROUTE:
        if body.target is not None:
            raise ApiError(400, "'target': only a policy with action 'route' has a target")
        return
    if body.target is None:
        raise ApiError(400, "'target': action 'route' needs the model to route to")
    try:
        resolve(body.target, s.registry, s.pool, True)
    except OmniRouteError as err:
        raise ApiError(400, f"'target': '{body.target}' does not resolve to a model: {err.message}") from None


@admin
async def policies(request: Request):
    s = request.app.state.services
    if request.method == "GET":
        return json_response({"policies": s.policies.rows})
    if request.method == "DELETE":
        return await _delete_policy(request)
    body = await read_model(request, PolicyBody)
    _check_policy(s, body)
    row = {"id": str(uuid.uuid4()), "name": body.name, "match": body.match.model_dump(exclude_none=True),
           "action": body.action, "target": body.target}
    async with s.state.lock("settings:policies"):
        rows = list(await s.settings_repo.get("policies") or [])
        if len(rows) >= MAX_POLICIES:
            raise ApiError(400, f"at most {MAX_POLICIES} policies can exist; delete one first")
        rows.append(row)
        await s.settings_repo.set("policies", rows)
        s.policies.load(rows)
    await audit(request, "policy.create", f"{row['name']} ({row['id']})")
    return json_response(row, 201)


async def _delete_policy(request: Request):
    s = request.app.state.services
    policy_id = request.query_params.get("id")
    if not policy_id:
        raise ApiError(400, "query parameter 'id' is required: DELETE /api/policies?id=<policy id>")
    async with s.state.lock("settings:policies"):
        rows = list(await s.settings_repo.get("policies") or [])
        kept = [r for r in rows if not (isinstance(r, dict) and r.get("id") == policy_id)]
        if len(kept) == len(rows):
            raise ApiError(404, f"policy '{policy_id}' not found")
        await s.settings_repo.set("policies", kept)
        s.policies.load(kept)
    await audit(request, "policy.delete", policy_id)
    return json_response({"deleted": policy_id})


@admin
async def rate_limit(request: Request):
    s = request.app.state.services
    if request.method == "PUT":
        body = await read_model(request, RateLimitBody)
        value = limits_config(body.model_dump(exclude_none=True))
        await s.settings_repo.set("rateLimit", value)
        s.limits.configure(value)
        await audit(request, "rateLimit.update", ",".join(sorted(value)) or None)
    return json_response(s.limits.to_json())


@admin
async def sessions(request: Request):
    listed = await request.app.state.services.sessions.list()
    return json_response({"count": len(listed), "sessions": listed})


routes = [
    Route("/api/policies", policies, methods=["GET", "POST", "DELETE"]),
    Route("/api/rate-limit", rate_limit, methods=["GET", "PUT"]),
    Route("/api/sessions", sessions, methods=["GET"]),
]
