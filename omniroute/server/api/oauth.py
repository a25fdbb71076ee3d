"""/api/oauth/{provider}/{action}: sign in to a subscription and keep it as a connection."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator
from starlette.requests import Request
from starlette.routing import Route

from omniroute.oauth import DevicePending, OAuthError, connection_values
from omniroute.oauth.providers import OAuthProvider
from omniroute.server.api.common import ApiError, admin, audit, json_response, read_model
from omniroute.server.api.providers import _check_url, _with_runtime


class _ConnectionFields(BaseModel):
    """What the new connection may be given besides its tokens (or which one to sign in again)."""

    model_config = ConfigDict(extra="ignore", strict=True)
    connectionId: str | None = Field(default=None, max_length=36)
    name: str | None = Field(default=None, min_length=1, max_length=200)
    baseUrl: str | None = None
    priority: int | None = Field(default=None, ge=0, le=1_000_000)
    defaultModel: str | None = Field(default=None, max_length=200)

    _url = field_validator("baseUrl")(_check_url)


class ExchangeBody(_ConnectionFields):
    code: str = Field(min_length=1, max_length=8_000)
    state: str | None = Field(default=None, max_length=500)


class PollBody(_ConnectionFields):
    deviceCode: str = Field(min_length=1, max_length=2_000)


def _provider(s, name: str) -> OAuthProvider:
    provider = s.oauth_providers.get(name)
    if provider is None:
        spec = s.registry.get(name)
        provider = s.oauth_providers.get(spec.id) if spec is not None else None
    if provider is None:
        known = ", ".join(p.id for p in s.oauth_providers)
        raise ApiError(404, f"provider '{name}' has no sign-in flow; these do: {known}")
    return provider


def _want(provider: OAuthProvider, device: bool) -> None:
    if device and not provider.uses_device:
        raise ApiError(400, f"provider '{provider.id}' signs in through the browser: "
                            f"use /api/oauth/{provider.id}/authorize then /exchange")
    if not device and not provider.uses_browser:
        raise ApiError(400, f"provider '{provider.id}' signs in with a device code: "
                            f"use /api/oauth/{provider.id}/device-code then /poll")


def _oauth_error(exc: OAuthError) -> ApiError:
    return ApiError(exc.status if 400 <= exc.status < 600 else 400, exc.message)


async def _save(request: Request, provider: OAuthProvider, grant, body: _ConnectionFields) -> tuple[dict, bool]:
    """Create the connection, or update the one signed in again (same account, or named)."""
    s = request.app.state.services
    values = connection_values(s.secrets, grant)
    values.update(status="active", lastError=None, isActive=True)
    extra = body.model_dump(exclude_none=True, exclude={"connectionId"})
    existing = None
    rows = [r for r in await s.connections.list() if r["provider"] == provider.id]
    if body.connectionId:
        existing = next((r for r in rows if r["id"] == body.connectionId), None)
        if existing is None:
            raise ApiError(404, f"connection '{body.connectionId}' of provider '{provider.id}' not found")
    else:
        account = grant.data.get("accountId") or grant.data.get("email")
        if account:
            existing = next((r for r in rows if r.get("authType") == "oauth" and account in (
                (r.get("providerData") or {}).get("accountId"), (r.get("providerData") or {}).get("email"))), None)
    if existing is not None:
        values["providerData"] = {**(existing.get("providerData") or {}), **grant.data} or None
        row = await s.connections.update(existing["id"], {**values, **extra})
        action = "oauth.reauthorize"
    else:
        label = grant.data.get("email") or grant.data.get("accountId")
        name = extra.pop("name", None) or (f"{provider.name} ({label})" if label else provider.name)
        row = await s.connections.create({**values, **extra, "provider": provider.id, "name": name})
        action = "oauth.create"
    await s.reload_accounts()
    await audit(request, action, row["id"])
    return await _with_runtime(s, row), existing is None


@admin
async def providers(request: Request):
    s = request.app.state.services
    return json_response({"providers": [
        {"id": p.id, "name": p.name, "aliases": list(p.aliases), "flow": p.flow,
         "actions": ["authorize", "exchange"] if p.uses_browser else ["device-code", "poll"]}
        for p in s.oauth_providers]})


@admin
async def action(request: Request):
    s = request.app.state.services
    provider = _provider(s, request.path_params["provider"])
    name = request.path_params["action"]
    try:
        if name == "authorize":
            _want(provider, device=False)
            return json_response(await s.oauth.authorize(provider))
        if name == "exchange":
            _want(provider, device=False)
            if request.method != "POST":
                raise ApiError(405, "exchange takes POST {\"code\", \"state\"}")
            body = await read_model(request, ExchangeBody)
            grant = await s.oauth.exchange(provider, body.code, body.state)
            connection, created = await _save(request, provider, grant, body)
            return json_response(connection, 201 if created else 200)
        if name == "device-code":
            _want(provider, device=True)
            return json_response(await s.oauth.device_code(provider))
        if name == "poll":
            _want(provider, device=True)
            if request.method != "POST":
                raise ApiError(405, "poll takes POST {\"deviceCode\"}")
            body = await read_model(request, PollBody)
            try:
                grant = await s.oauth.poll(provider, body.deviceCode)
            except DevicePending as pending:
                return json_response({"status": "slow_down" if pending.slow_down else "pending",
                                      "message": pending.message, "interval": pending.interval}, 202)
            connection, created = await _save(request, provider, grant, body)
            return json_response({"status": "complete", "connection": connection}, 201 if created else 200)
    except OAuthError as exc:
        await audit(request, f"oauth.{name}", provider.id, status="error")
        raise _oauth_error(exc) from None
    raise ApiError(404, f"unknown sign-in action '{name}'; use authorize, exchange, device-code or poll")


routes = [
    Route("/api/oauth/providers", providers, methods=["GET"]),
    Route("/api/oauth/{provider}/{action}", action, methods=["GET", "POST"]),
]
