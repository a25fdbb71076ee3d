"""/api/cli-tools: coding tools on the gateway's machine, and pointing their configuration at this gateway.

GET  /api/cli-tools                      every known tool's report
GET  /api/cli-tools/{tool}-settings      one tool's report (claude, codex, droid, openclaw, ...)
POST /api/cli-tools/{tool}-settings      {"apiKey"?, "model"?, "baseUrl"?}: merge the gateway into the tool's
                                         config file (the old file is backed up first)
GET  /api/cli-tools/runtime/{toolId}     one tool's report
"""

from __future__ import annotations

import asyncio
import time
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.routing import Route

from omniroute import clitools
from omniroute.auth.apikeys import KEY_PREFIX, generate_key, hash_key, key_hint
from omniroute.clitools.files import origin_of
from omniroute.server.api.common import ApiError, admin, audit, json_response, read_model


class ConfigureBody(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    apiKey: str | None = Field(default=None, min_length=1, max_length=500)
    model: str | None = Field(default=None, min_length=1, max_length=300, pattern=r"^[^\s\"'\\]+$")
    baseUrl: str | None = Field(default=None, min_length=1, max_length=500)


def _spec(tool_id: str) -> clitools.ToolSpec:
    spec = clitools.CATALOG.get(tool_id)
    if spec is None:
        raise ApiError(404, f"unknown CLI tool '{tool_id}'; known: {', '.join(clitools.CATALOG)}")
    return spec


def _request_origin(request: Request) -> str:
    """scheme://host:port the request came in on."""
    url = request.url
    port = url.port or (443 if url.scheme == "https" else 80)
    host = url.hostname or "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    return f"{url.scheme}://{host}:{port}"


def _origin(raw: str) -> str:
    """The gateway's origin from a client-given base URL (a trailing /v1 is allowed and dropped)."""
    text = raw.strip().rstrip("/")
    try:
        parts = urlsplit(text)
    except ValueError:
        parts = None
    if (parts is None or origin_of(text) is None or parts.query or parts.fragment or "@" in parts.netloc
            or parts.path not in ("", "/v1")):
        raise ApiError(400, f"'baseUrl' must be the gateway's http(s) URL like http://host:port, got {raw!r}")
    return text.removesuffix("/v1")


def _default_model(s) -> str | None:
    """The first chat model the gateway serves (for tools whose config must name one)."""
    from omniroute.capabilities.models import listing
    from omniroute.server.client_models import catalog_models

    other = {m["id"] for kind in ("embeddings", "images") for m in listing(s, kind)}
    return next((m["id"] for m in catalog_models(s) if m["id"] not in other), None)


@admin
async def list_tools(request: Request):
    return json_response({"tools": await clitools.report_all(_request_origin(request))})


@admin
async def runtime(request: Request):
    spec = _spec(request.path_params["toolId"])
    return json_response(await clitools.report(spec, _request_origin(request)))


@admin
async def settings(request: Request):
    spec = _spec(request.path_params["tool"])
    if request.method == "GET":
        return json_response(await clitools.report(spec, _request_origin(request)))
    return await _configure(request, spec)


def _reusable_key(s, spec: clitools.ToolSpec, strings: list[str]) -> str | None:
    """A key this route made for the tool earlier and still in its config: configuring again reuses it."""
    for text in strings:
        key = s.keyring.lookup(text) if text.startswith(KEY_PREFIX) else None
        if key is not None and key.usable() and key.name == f"cli:{spec.id}" and "manage" not in key.scopes:
            return text
    return None


async def _configure(request: Request, spec: clitools.ToolSpec):
    s = request.app.state.services
    if not spec.configurable:
        raise ApiError(400, f"the gateway cannot write the configuration of '{spec.id}' ({spec.name}); "
                       "it is detected only")
    length = request.headers.get("content-length")
    if length and length.isdigit() and int(length) > s.settings.max_body_bytes:
        raise ApiError(413, "request body is too large")
    body = await read_model(request, ConfigureBody) if (await request.body()).strip() else ConfigureBody()
    origin = _origin(body.baseUrl) if body.baseUrl is not None else _request_origin(request)
    model = body.model
    if model is None and spec.needs_model:
        model = _default_model(s)
        if model is None:
            raise ApiError(400, f"'model' is required for '{spec.id}': the gateway serves no chat model yet "
                           "to choose by default")
    key = None
    if body.apiKey is not None:
        key = s.keyring.lookup(body.apiKey.strip())
        if key is None or not key.usable():
            raise ApiError(400, "'apiKey' is not a usable key of this gateway (unknown, revoked or expired)")
    async with clitools.lock_for(spec):
        try:  # a dry run first: a file that cannot be merged into costs no key
            dry = await asyncio.to_thread(clitools.plan, spec, clitools.Target(origin, "sk-omni-check", model))
        except clitools.ConfigError as exc:
            raise ApiError(409, str(exc)) from None
        raw_key = body.apiKey.strip() if key is not None else _reusable_key(s, spec, dry.strings)
        if raw_key is not None and key is None:
            key = s.keyring.lookup(raw_key)
        created = None
        if raw_key is None:
            raw_key = generate_key()
            created = await s.keys.create(name=f"cli:{spec.id}", key_hash=hash_key(raw_key),
                                          key_hint=key_hint(raw_key), scopes=[], allowed_models=None,
                                          expires_at=None)
            await s.reload_keys()
        try:
            done = await asyncio.to_thread(clitools.plan, spec, clitools.Target(origin, raw_key, model))
            backup = await asyncio.to_thread(clitools.write, done.path, done.old, done.new)
        except (clitools.ConfigError, OSError) as exc:
            if created is not None:  # nothing uses it: do not leave a live key behind
                await s.keys.update(created["id"], {"revokedAt": time.time()})
                await s.reload_keys()
            if isinstance(exc, OSError):
                raise ApiError(409, f"could not write the configuration of '{spec.id}' "
                               f"({spec.config_path()}): {exc.strerror or exc}; nothing was changed") from None
            raise ApiError(409, str(exc)) from None
    key_id = created["id"] if created is not None else key.id
    await audit(request, "clitools.configure", f"{spec.id}:{key_id}")
    out = await clitools.report(spec, origin)
    out.update({
        "configPath": str(done.path), "backupPath": str(backup) if backup else None, "baseUrl": origin,
        "model": model, "apiKeyId": key_id, "apiKeyCreated": created is not None,
        "apiKeyHint": created["key"] if created is not None else key_hint(raw_key),
    })
    return json_response(out)


routes = [
    Route("/api/cli-tools", list_tools, methods=["GET"]),
    Route("/api/cli-tools/runtime/{toolId}", runtime, methods=["GET"]),
    Route("/api/cli-tools/{tool}-settings", settings, methods=["GET", "POST"]),
]
