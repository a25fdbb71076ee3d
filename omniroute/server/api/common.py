"""What every management route shares: JSON bodies, errors, and the admin guard."""

from __future__ import annotations

import functools
import ipaddress
import math
import time
from typing import TypeVar

import orjson
from pydantic import BaseModel, ValidationError
from starlette.requests import Request
from starlette.responses import Response

from omniroute.auth.sessions import COOKIE, RENEW_BELOW_S, SESSION_TTL_S
from omniroute.errors import OmniRouteError

M = TypeVar("M", bound=BaseModel)


class ApiError(Exception):
    """A management-API failure: ``{"error": message}`` with a 4xx status."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


def json_response(data, status: int = 200, headers: dict | None = None) -> Response:
    return Response(orjson.dumps(data), status_code=status, media_type="application/json", headers=headers)


def error_response(status: int, message: str) -> Response:
    return json_response({"error": message}, status)


async def read_json(request: Request) -> dict:
    """A JSON object body within the size limit; 400/413 naming the problem otherwise."""
    services = request.app.state.services
    length = request.headers.get("content-length")
    if length and length.isdigit() and int(length) > services.settings.max_body_bytes:
        raise ApiError(413, "request body is too large")
    raw = await request.body()
    if len(raw) > services.settings.max_body_bytes:
        raise ApiError(413, "request body is too large")
    if not raw.strip():
        raise ApiError(400, "request body is empty; expected a JSON object")
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ApiError(400, f"request body is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ApiError(400, "request body must be a JSON object")
    return data


async def read_model(request: Request, model: type[M]) -> M:
    """Parse and validate a JSON body; every problem names its field."""
    data = await read_json(request)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ApiError(400, validation_message(exc)) from None


def validation_message(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        field = ".".join(str(p) for p in err["loc"]) or "body"
        parts.append(f"'{field}': {err['msg']}")
    return "invalid request body: " + "; ".join(parts)


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


async def audit(request: Request, action: str, target: str | None = None, status: str = "ok") -> None:
    """Record a management action in the audit log, by the request's actor (if authenticated) and address.

    It marks the request as audited, so the audit middleware adds no generic entry for it.
    """
    await request.app.state.services.audit.add(action=action, status=status,
                                               actor=getattr(request.state, "actor", None),
                                               target=target, ip=client_ip(request))
    request.state.audited = True  # i.e. scope["state"]["audited"], which the middleware reads


def is_loopback(ip: str) -> bool:
    try:
        return ipaddress.ip_address(ip).is_loopback
    except ValueError:
        return False


async def who_is_admin(request: Request) -> str | None:
    """The authenticated actor of a management request, or None."""
    services = request.app.state.services
    claims = services.signer.verify(request.cookies.get(COOKIE))
    if claims is not None:
        request.state.via_cookie = True
        request.state.csrf = claims.get("csrf")
        request.state.renew_session = claims.get("exp", 0) - time.time() < RENEW_BELOW_S
        return str(claims.get("sub", "admin"))
    auth = request.headers.get("authorization", "")
    scheme, _, raw = auth.partition(" ")
    if scheme.lower() == "bearer" and raw:
        key = services.keyring.lookup(raw.strip())
        if key is not None and key.usable() and "manage" in key.scopes:
            return f"key:{key.id}"
    if not services.require_login and is_loopback(client_ip(request)):
        return "local"
    return None


SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def csrf_refusal(request: Request) -> str | None:
    """Why a state-changing request must be refused as cross-site, or None.

    A browser names the page that made a request in ``Origin``: one from another site is refused
    whatever its credentials (this covers loopback without login, where no cookie is involved). A request
    authenticated by the session cookie must also echo the session's CSRF token in ``X-CSRF-Token``
    (the dashboard puts it in every page; API clients get it from the login answer). Requests with a
    Bearer key carry no ambient credential and need neither.
    """
    origin = request.headers.get("origin")
    if origin is not None:
        from urllib.parse import urlsplit

        host = request.headers.get("host", "")
        if origin == "null" or urlsplit(origin).netloc.lower() != host.lower():
            return f"cross-site request refused: Origin {origin} is not this gateway ({host})"
    if getattr(request.state, "via_cookie", False):
        import hmac

        expected = getattr(request.state, "csrf", None)
        sent = request.headers.get("x-csrf-token", "")
        if not expected or not hmac.compare_digest(sent.encode(), str(expected).encode()):
            return ("missing or wrong CSRF token: a request made with the session cookie must send the "
                    "X-CSRF-Token header (the login answer's csrfToken; reload the dashboard page if it is open)")
    return None


def admin(handler):
    """Protect a management route: session cookie, a 'manage' key, or loopback without login."""

    @functools.wraps(handler)
    async def guarded(request: Request) -> Response:
        actor = await who_is_admin(request)
        if actor is None:
            return error_response(401, "authentication required: log in or send a key with the 'manage' scope")
        if request.method not in SAFE_METHODS:
            refused = csrf_refusal(request)
            if refused:
                return error_response(403, refused)
        request.state.actor = actor
        try:
            response = await handler(request)
        except ApiError as err:
            response = error_response(err.status, err.message)
        except OmniRouteError as err:
            response = error_response(err.status, err.message)
        if getattr(request.state, "renew_session", False):
            set_session_cookie(response, request.app.state.services.signer.issue(
                actor, csrf=getattr(request.state, "csrf", None)))
        return response

    return guarded


def set_session_cookie(response: Response, token: str) -> None:
    """The dashboard session: HttpOnly, SameSite=Lax, 30 days."""
    response.set_cookie(COOKIE, token, max_age=SESSION_TTL_S, httponly=True, samesite="lax", path="/")


def public(handler):
    """A route open without login; still answers ApiError as JSON."""

    @functools.wraps(handler)
    async def wrapped(request: Request) -> Response:
        try:
            return await handler(request)
        except ApiError as err:
            return error_response(err.status, err.message)

    return wrapped


def int_param(request: Request, name: str, default: int | None, low: int, high: int) -> int | None:
    """An integer query parameter within [low, high]; ``default`` when absent; 400 naming it otherwise."""
    raw = request.query_params.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(400, f"query parameter '{name}' must be an integer, got {raw!r}") from None
    if not low <= value <= high:
        raise ApiError(400, f"query parameter '{name}' must be between {low} and {high}, got {value}")
    return value


def time_param(request: Request, name: str) -> float | None:
    """A time query parameter in epoch seconds (None when absent); 400 naming it when not one."""
    raw = request.query_params.get(name)
    if raw is None or raw.strip() == "":
        return None
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < 0:
        raise ApiError(400, f"query parameter '{name}' must be a time in epoch seconds (e.g. 1700000000), "
                       f"got {raw!r}")
    return value
