"""/api/settings/proxy: the outbound proxy of upstream calls, and a live test of a proxy.

Stored under the settings key "proxy" as ``{"enabled", "url" (encrypted), "noProxy"}``; answers
show the URL with its credentials masked, and a masked URL sent back keeps the stored ones.
A connection's own proxy (``proxy`` on /api/providers) replaces this one for that connection.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator
from starlette.requests import Request
from starlette.routing import Route

from omniroute.server.api.common import ApiError, admin, audit, json_response, read_model
from omniroute.transport.proxy import (
    DEFAULT_TEST_TARGET,
    ProxySpec,
    check_no_proxy,
    check_proxy_url,
    mask_url,
    probe,
    unmask_url,
)

KEY = "proxy"


class ProxySettings(BaseModel):
    """PUT body: the fields given replace the stored ones; ``url: null`` forgets the URL."""

    model_config = ConfigDict(extra="forbid", strict=True)
    enabled: bool = False
    url: str | None = Field(default=None, max_length=2048)
    noProxy: str | list[str] | None = None

    @field_validator("url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        return None if value is None else check_proxy_url(value)

    _no_proxy = field_validator("noProxy", mode="before")(check_no_proxy)


def _check_target(value: str | None) -> str | None:
    if value is None:
        return None
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an http:// or https:// URL")
    return value


class ProxyTest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    url: str | None = Field(default=None, max_length=2048)  # default: the stored URL
    target: str | None = Field(default=None, max_length=2048)  # what to fetch through the proxy

    @field_validator("url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        return None if value is None else check_proxy_url(value)

    _target = field_validator("target")(_check_target)


async def _stored(s) -> tuple[dict, str | None]:
    """The stored setting and its decrypted URL."""
    stored = await s.settings_repo.get(KEY)
    if not isinstance(stored, dict):
        return {}, None
    try:
        return stored, s.secrets.decrypt(stored.get("url"))
    except Exception:  # noqa: BLE001 - sealed with another key (a restored or synced database)
        return stored, None


def _public(stored: dict, url: str | None) -> dict:
    return {"enabled": bool(stored.get("enabled")), "url": mask_url(url), "noProxy": stored.get("noProxy")}


def _unmask(url: str, stored_url: str | None) -> str:
    try:
        return unmask_url(url, stored_url)
    except ValueError as exc:
        raise ApiError(400, f"'url': {exc}") from None


@admin
async def proxy_settings(request: Request):
    s = request.app.state.services
    stored, url = await _stored(s)
    if request.method == "GET":
        return json_response(_public(stored, url))
    body = await read_model(request, ProxySettings)
    given = body.model_fields_set
    enabled = body.enabled if "enabled" in given else bool(stored.get("enabled"))
    if "url" in given:
        url = None if body.url is None else _unmask(body.url, url)
    no_proxy = body.noProxy if "noProxy" in given else stored.get("noProxy")
    if enabled and not url:
        raise ApiError(400, "'url': a proxy URL is required while 'enabled' is true")
    spec = ProxySpec.build(url, no_proxy) if url else None
    value = {"enabled": enabled, "url": s.secrets.encrypt(url), "noProxy": no_proxy}
    await s.settings_repo.set(KEY, value)
    s.proxies.configure(spec if enabled else None)
    await audit(request, "settings.proxy", f"{'on' if enabled else 'off'} {mask_url(url) or ''}".strip())
    return json_response(_public(value, url))


@admin
async def proxy_test(request: Request):
    """Fetch a URL through the given proxy (or the stored one): ``{"ok", "latencyMs", "error"?}``."""
    s = request.app.state.services
    body = await read_model(request, ProxyTest)
    _, stored_url = await _stored(s)
    if body.url is not None:
        url = _unmask(body.url, stored_url)
    elif stored_url:
        url = stored_url
    else:
        raise ApiError(400, "'url': no proxy URL is stored; send one to test")
    ok, latency, error = await probe(s.settings, url, body.target or DEFAULT_TEST_TARGET)
    out: dict = {"ok": ok, "latencyMs": latency if ok else None}
    if error:
        out["error"] = error
    return json_response(out)


routes = [
    Route("/api/settings/proxy", proxy_settings, methods=["GET", "PUT"]),
    Route("/api/settings/proxy/test", proxy_test, methods=["POST"]),
]
