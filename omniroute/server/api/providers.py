"""/api/providers: accounts (connections) of the catalog's providers."""

from __future__ import annotations

import time
from urllib.parse import urlparse

from pydantic import BaseModel, ConfigDict, Field, field_validator
from starlette.requests import Request
from starlette.routing import Route

from omniroute.auth.secrets import mask
from omniroute.errors import UpstreamError
from omniroute.routing.accounts import Account, AccountPool
from omniroute.server.api.common import ApiError, admin, audit, json_response, read_model
from omniroute.transport.probe import list_models
from omniroute.transport.proxy import ProxySpec, check_no_proxy, check_proxy_url, mask_url, unmask_url

# How long an upstream's model list is reused before GET /api/providers/{id}/models asks again.
MODELS_TTL_S = 300.0


def _check_url(value: str | None) -> str | None:
    if value is None:
        return None
    parsed = urlparse(value)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise ValueError("must be an http:// or https:// URL")
    return value.rstrip("/")


class ProxyBody(BaseModel):
    """A connection's own outbound proxy; it replaces the global one for this connection."""

    model_config = ConfigDict(extra="forbid", strict=True)
    url: str = Field(min_length=1, max_length=2048)
    noProxy: str | list[str] | None = None

    _url = field_validator("url")(check_proxy_url)
    _no_proxy = field_validator("noProxy", mode="before")(check_no_proxy)


class ConnectionBody(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)
    name: str | None = Field(default=None, min_length=1, max_length=200)
    apiKey: str | None = Field(default=None, max_length=20_000)
    baseUrl: str | None = None
    priority: int | None = Field(default=None, ge=0, le=1_000_000)
    isActive: bool | None = None
    defaultModel: str | None = Field(default=None, max_length=200)
    headers: dict[str, str] | None = None
    maxConcurrency: int | None = Field(default=None, ge=1, le=100_000)  # null: no limit
    providerData: dict[str, str] | None = None  # ids a provider's URL needs (Azure resource, Cloudflare account)
    proxy: ProxyBody | None = None  # null on PUT: back to the global proxy

    _url = field_validator("baseUrl")(_check_url)


class ConnectionCreate(ConnectionBody):
    provider: str = Field(min_length=1, max_length=100)


class ValidateBody(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)
    provider: str = Field(min_length=1)
    apiKey: str | None = None
    baseUrl: str | None = None

    _url = field_validator("baseUrl")(_check_url)


def _public(s, row: dict) -> dict:
    """A connection as the API shows it: secrets masked, runtime status folded in."""
    key = s.secrets.decrypt(row["apiKeyEnc"])
    out = {k: row[k] for k in ("id", "provider", "name", "authType", "baseUrl", "priority", "isActive",
                               "defaultModel", "status", "rateLimitedUntil", "lastError", "maxConcurrency",
                               "createdAt")}
    out["apiKey"] = mask(key)
    headers = s.secrets.decrypt_json(row["headersEnc"], {})
    out["headers"] = {name: mask(value) for name, value in headers.items()}
    proxy = s.secrets.decrypt_json(row.get("proxyEnc"), None)
    out["proxy"] = {"url": mask_url(proxy.get("url")), "noProxy": proxy.get("noProxy")} if proxy else None
    if row.get("authType") == "oauth":  # a subscription: its tokens masked, its account ids shown
        tokens = s.secrets.decrypt_json(row.get("oauthEnc"), {}) or {}
        out["oauth"] = {"accessToken": mask(tokens.get("apiToken") or tokens.get("accessToken")),
                        "refreshToken": mask(tokens.get("refreshToken")),
                        "expiresAt": row.get("tokenExpiresAt"), **(row.get("providerData") or {})}
    return out


async def _with_runtime(s, row: dict) -> dict:
    out = _public(s, row)
    left = await s.pool.cooldown_left(row["id"])
    if left:
        out["rateLimitedUntil"] = time.time() + left
        if out.get("status") not in ("expired", "error"):  # a broken sign-in says more than a backoff
            out["status"] = "cooldown"
    return out


def _proxy_enc(s, body: ProxyBody | None, row: dict | None = None) -> str | None:
    """The encrypted proxy column; a URL sent back masked keeps the stored credentials."""
    if body is None:
        return None
    stored = s.secrets.decrypt_json(row.get("proxyEnc"), None) if row else None
    try:
        url = unmask_url(body.url, (stored or {}).get("url"))
    except ValueError as exc:
        raise ApiError(400, f"'proxy.url': {exc}") from None
    return s.secrets.encrypt_json(ProxySpec.build(url, body.noProxy).to_json())


def _spec(s, provider: str):
    spec = s.registry.get(provider)
    if spec is None:
        raise ApiError(400, f"unknown provider '{provider}'")
    return spec


async def _row_or_404(s, conn_id: str) -> dict:
    row = await s.connections.get(conn_id)
    if row is None:
        raise ApiError(404, f"connection '{conn_id}' not found")
    return row


@admin
async def list_or_create(request: Request):
    s = request.app.state.services
    if request.method == "GET":
        rows = await s.connections.list()
        return json_response({"connections": [await _with_runtime(s, r) for r in rows]})
    body = await read_model(request, ConnectionCreate)
    spec = _spec(s, body.provider)
    missing = [f for f in spec.url_fields if not (body.providerData or {}).get(f)]
    if missing and not body.baseUrl:
        raise ApiError(400, f"provider '{spec.id}' needs 'baseUrl' or 'providerData' with "
                            + ", ".join(repr(f) for f in missing))
    # A provider node may front a keyless server (a local vLLM, a proxy that adds its own key).
    if spec.auth != "none" and not spec.local and not body.apiKey and not s.registry.is_custom(spec.id):
        raise ApiError(400, f"'apiKey' is required for provider '{spec.id}'")
    values = body.model_dump(exclude_none=True, exclude={"apiKey", "headers", "proxy"})
    values["headersEnc"] = s.secrets.encrypt_json(body.headers)
    values["proxyEnc"] = _proxy_enc(s, body.proxy)
    values.update(provider=spec.id, name=body.name or spec.name, apiKeyEnc=s.secrets.encrypt(body.apiKey))
    row = await s.connections.create(values)
    await s.reload_accounts()
    await audit(request, "provider.create", row["id"])
    return json_response(_public(s, row), 201)


@admin
async def one(request: Request):
    s = request.app.state.services
    conn_id = request.path_params["id"]
    row = await _row_or_404(s, conn_id)
    if request.method == "GET":
        return json_response(await _with_runtime(s, row))
    if request.method == "DELETE":
        await s.connections.delete(conn_id)
        s.upstream_models.pop(conn_id, None)
        await s.reload_accounts()
        await audit(request, "provider.delete", conn_id)
        return json_response({"ok": True, "deleted": conn_id})
    body = await read_model(request, ConnectionBody)
    values = body.model_dump(exclude_unset=True, exclude={"apiKey", "headers", "proxy"})
    if "proxy" in body.model_fields_set:
        values["proxyEnc"] = _proxy_enc(s, body.proxy, row)
    if "apiKey" in body.model_fields_set:
        values["apiKeyEnc"] = s.secrets.encrypt(body.apiKey)
    if "headers" in body.model_fields_set:
        values["headersEnc"] = s.secrets.encrypt_json(body.headers)
    if values.get("isActive") is True:
        values.update(status="active", lastError=None)
    row = await s.connections.update(conn_id, values)
    s.upstream_models.pop(conn_id, None)  # another key or base URL may list other models
    await s.reload_accounts()
    await audit(request, "provider.update", conn_id)
    return json_response(await _with_runtime(s, row))


def _probe_target(s, spec, api_key: str | None, base_url: str | None, headers: dict | None = None,
                  proxy: ProxySpec | None = None):
    """The model-list URL, headers and session (through the connection's or the global proxy)."""
    account = Account(id="probe", provider=spec, name="probe", api_key=api_key,
                      base_url=(base_url or spec.base_url).rstrip("/"), priority=0, default_model=None,
                      headers=dict(headers or {}), proxy=proxy)
    url = account.url(spec.models_path)
    return url, account.auth_headers(), s.proxies.session_for(url, account)


async def _row_probe(s, row: dict):
    spec = _spec(s, row["provider"])
    base_url = AccountPool.base_url_of(spec, row)
    if base_url is None:
        raise ApiError(400, f"connection '{row['id']}' needs 'baseUrl' or 'providerData' for its URL")
    try:
        proxy = ProxySpec.from_json(s.secrets.decrypt_json(row["proxyEnc"])) if row.get("proxyEnc") else None
    except ValueError as exc:
        raise ApiError(400, f"connection '{row['id']}' has an unusable proxy: {exc}") from None
    return _probe_target(s, spec, s.secrets.decrypt(row["apiKeyEnc"]), base_url,
                         s.secrets.decrypt_json(row["headersEnc"], {}), proxy)


@admin
async def test(request: Request):
    s = request.app.state.services
    row = await _row_or_404(s, request.path_params["id"])
    url, headers, session = await _row_probe(s, row)
    try:
        _, latency = await list_models(session, url, headers)
    except UpstreamError as err:
        await s.connections.update(row["id"], {"status": "error", "lastError": err.message})
        await s.reload_accounts()  # a connection in error is not tried until it passes again
        return json_response({"ok": False, "latencyMs": None, "error": err.message})
    if row["status"] != "active":
        await s.connections.update(row["id"], {"status": "active", "lastError": None})
        await s.reload_accounts()
    return json_response({"ok": True, "latencyMs": round(latency, 1)})


@admin
async def models(request: Request):
    """The upstream's model list, kept per connection for MODELS_TTL_S (``?refresh=true`` fetches anew)."""
    s = request.app.state.services
    row = await _row_or_404(s, request.path_params["id"])
    refresh = request.query_params.get("refresh", "").lower()
    if refresh not in ("", "true", "false", "1", "0"):
        raise ApiError(400, f"'refresh' must be true or false, got '{refresh}'")
    cached = s.upstream_models.get(row["id"])
    if cached is not None and refresh not in ("true", "1") and time.monotonic() - cached[0] < MODELS_TTL_S:
        return json_response({"models": cached[1]}, headers={"X-OmniRoute-Cache": "HIT"})
    url, headers, session = await _row_probe(s, row)
    try:
        items, _ = await list_models(session, url, headers)
    except UpstreamError as err:
        raise ApiError(502 if err.status >= 500 else 400, f"upstream model list failed: {err.message}") from None
    s.upstream_models[row["id"]] = (time.monotonic(), items)
    return json_response({"models": items}, headers={"X-OmniRoute-Cache": "MISS"})


@admin
async def validate(request: Request):
    s = request.app.state.services
    body = await read_model(request, ValidateBody)
    spec = _spec(s, body.provider)
    url, headers, session = _probe_target(s, spec, body.apiKey, body.baseUrl)
    try:
        await list_models(session, url, headers)
    except UpstreamError as err:
        return json_response({"valid": False, "error": err.message})
    return json_response({"valid": True})


@admin
async def catalog(request: Request):
    """Every provider one can add an account for: its group (``oauth``, ``apikey``, ``local``, ``custom``),
    how it signs in and whether a key is needed. Read-only; models are in /api/models/catalog."""
    s = request.app.state.services
    sign_in = {p.id: p for p in s.oauth_providers}
    counts: dict[str, int] = {}
    for row in await s.connections.list():
        counts[row["provider"]] = counts.get(row["provider"], 0) + 1
    out = []
    for spec in s.registry:
        custom = s.registry.is_custom(spec.id)
        group = "custom" if custom else "oauth" if spec.auth == "oauth" else "local" if spec.local else "apikey"
        entry = {"id": spec.id, "name": spec.name, "prefix": spec.prefix, "aliases": list(spec.aliases),
                 "group": group, "auth": spec.auth, "local": spec.local, "custom": custom,
                 "baseUrl": spec.base_url, "urlFields": list(spec.url_fields),
                 "keyRequired": group == "apikey" and spec.auth != "none",
                 "capabilities": sorted(spec.capabilities), "connections": counts.get(spec.id, 0)}
        provider = sign_in.get(spec.id)
        if provider is not None:
            entry["signIn"] = {"flow": provider.flow, "device": provider.uses_device}
        out.append(entry)
    return json_response({"providers": out})


routes = [
    Route("/api/providers", list_or_create, methods=["GET", "POST"]),
    Route("/api/providers/catalog", catalog, methods=["GET"]),
    Route("/api/providers/validate", validate, methods=["POST"]),
    Route("/api/providers/{id}", one, methods=["GET", "PUT", "DELETE"]),
    Route("/api/providers/{id}/test", test, methods=["POST"]),
    Route("/api/providers/{id}/models", models, methods=["GET"]),
]
