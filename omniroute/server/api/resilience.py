"""/api/resilience, /api/resilience/reset, /api/rate-limits, /api/models/availability, /api/telemetry/summary.

What the breakers, cooldowns and lockouts of ``routing/resilience.py`` hold, and the operator's
handles on them.
"""

from __future__ import annotations

import time
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.routing import Route

from omniroute.errors import OmniRouteError
from omniroute.routing.combos import Combo
from omniroute.routing.resilience import OPEN, ResilienceConfig
from omniroute.routing.resolve import Target, resolve
from omniroute.server.api.common import ApiError, admin, audit, json_response, read_model

_MS = Field(default=None, ge=1, le=86_400_000)


class ProfileBody(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    failureThreshold: int | None = Field(default=None, ge=1, le=100_000)
    windowMs: int | None = _MS
    resetTimeoutMs: int | None = _MS
    cooldownBaseMs: int | None = Field(default=None, ge=0, le=86_400_000)
    cooldownMaxMs: int | None = Field(default=None, ge=0, le=86_400_000)


class LockoutBody(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    enabled: bool | None = None
    baseMs: int | None = _MS
    maxMs: int | None = _MS


class ResilienceBody(BaseModel):
    """PUT /api/resilience: what it names changes, the rest stays."""

    model_config = ConfigDict(extra="forbid", strict=True)
    profiles: dict[Literal["oauth", "apikey", "local"], ProfileBody] | None = None
    lockout: LockoutBody | None = None
    firstByteTimeoutMs: int | None = Field(default=None, ge=100, le=3_600_000)
    failureDedupeMs: int | None = Field(default=None, ge=0, le=3_600_000)


def _merged(current: dict, body: ResilienceBody) -> dict:
    out = {**current, "profiles": {k: dict(v) for k, v in current["profiles"].items()},
           "lockout": dict(current["lockout"])}
    for name, profile in (body.profiles or {}).items():
        out["profiles"][name].update(profile.model_dump(exclude_none=True))
    if body.lockout is not None:
        out["lockout"].update(body.lockout.model_dump(exclude_none=True))
    for key in ("firstByteTimeoutMs", "failureDedupeMs"):
        if getattr(body, key) is not None:
            out[key] = getattr(body, key)
    for name, profile in out["profiles"].items():
        if profile["cooldownMaxMs"] < profile["cooldownBaseMs"]:
            raise ApiError(400, f"'profiles.{name}': cooldownMaxMs must not be below cooldownBaseMs")
    if out["lockout"]["maxMs"] < out["lockout"]["baseMs"]:
        raise ApiError(400, "'lockout': maxMs must not be below baseMs")
    return out


@admin
async def resilience(request: Request):
    s = request.app.state.services
    if request.method == "GET":
        return json_response(s.resilience.config.to_json())
    body = await read_model(request, ResilienceBody)
    value = _merged(s.resilience.config.to_json(), body)
    ResilienceConfig.from_json(value)  # proves the merged value loads before it is stored
    await s.settings_repo.set("resilience", value)
    s.apply_setting("resilience", value)
    await audit(request, "resilience.update")
    return json_response(s.resilience.config.to_json())


@admin
async def reset(request: Request):
    s = request.app.state.services
    await s.resilience.reset([row["id"] for row in await s.connections.list()])
    await audit(request, "resilience.reset")
    return json_response({"reset": True})


@admin
async def rate_limits(request: Request):
    s = request.app.state.services
    recent = s.telemetry.recent_by_connection(60.0)
    out = []
    for row in await s.connections.list():
        left = await s.pool.cooldown_left(row["id"])
        out.append({"id": row["id"], "provider": row["provider"], "name": row["name"],
                    "rateLimitedUntil": time.time() + left if left else None,
                    "backoffLevel": await s.pool.cooldown_level(row["id"]),
                    "recentRequests": recent.get(row["id"], 0)})
    return json_response({"connections": out})


@admin
async def telemetry_summary(request: Request):
    s = request.app.state.services
    raw = request.query_params.get("windowMs") or "300000"
    try:
        window = int(raw)
    except ValueError:
        raise ApiError(400, "query parameter 'windowMs' must be an integer (milliseconds)") from None
    if not 1 <= window <= 86_400_000:
        raise ApiError(400, "query parameter 'windowMs' must be between 1 and 86400000")
    return json_response(s.telemetry.summary(window))


class AvailabilityBody(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    model: str = Field(min_length=1, max_length=512)


async def _availability(s, provider_id: str, model: str, locks: dict[tuple[str, str], dict]) -> dict:
    entry = {"model": model, "provider": provider_id, "available": True}
    accounts = s.pool.accounts(provider_id)
    breaker = await s.resilience.breaker_state(provider_id)
    if not accounts:
        entry.update(available=False, reason="no active connection")
    elif breaker["breaker"] == OPEN:
        entry.update(available=False, reason="circuit breaker open", until=breaker["openUntil"])
    else:
        held = [locks.get((a.id, model)) for a in accounts]
        if all(held):
            entry.update(available=False, reason="locked out on every connection: " + held[0]["reason"],
                         until=min(h["until"] for h in held))
        elif any(held):
            entry["lockedOn"] = [a.id for a, h in zip(accounts, held, strict=True) if h]
    if breaker["breaker"] != "closed":
        entry["breaker"] = breaker["breaker"]
    return entry


def _targets(s, name: str) -> list[Target]:
    """Every provider target the name stands for: a combo's targets, or each provider listing the model."""
    try:
        found = resolve(name, s.registry, s.pool, True)
    except OmniRouteError:
        found = None
    if isinstance(found, Combo):
        out = []
        for target_name in found.targets:
            out += _targets(s, target_name) if target_name != name else []
        return out
    targets = [found] if isinstance(found, Target) else []
    bare = name.rpartition("/")[2]
    for provider_id in s.pool.providers():
        spec = s.registry.get(provider_id)
        if spec is not None and bare in spec.models and not any(
                t.provider.id == provider_id and t.model == bare for t in targets):
            targets.append(Target(spec, bare))
    if not targets:
        raise ApiError(404, f"model '{name}' is not served by any provider, alias or combo")
    return targets


@admin
async def availability(request: Request):
    s = request.app.state.services
    locks = {(lock["connectionId"], lock["model"]): lock for lock in await s.resilience.lockouts()}
    if request.method == "POST":
        body = await read_model(request, AvailabilityBody)
        seen, models = set(), []
        for target in _targets(s, body.model):
            if (target.provider.id, target.model) not in seen:
                seen.add((target.provider.id, target.model))
                models.append(await _availability(s, target.provider.id, target.model, locks))
        return json_response({"model": body.model, "available": any(m["available"] for m in models),
                              "models": models})
    models = []
    for provider_id in s.pool.providers():
        spec = s.registry.get(provider_id)
        names = list(dict.fromkeys([*(spec.models if spec else ()),
                                    *(m for (_, m), lock in locks.items() if lock["provider"] == provider_id)]))
        for model in names:
            models.append(await _availability(s, provider_id, model, locks))
    return json_response({"models": models})


routes = [
    Route("/api/resilience", resilience, methods=["GET", "PUT"]),
    Route("/api/resilience/reset", reset, methods=["POST"]),
    Route("/api/rate-limits", rate_limits, methods=["GET"]),
    Route("/api/telemetry/summary", telemetry_summary, methods=["GET"]),
    Route("/api/models/availability", availability, methods=["GET", "POST"]),
]
