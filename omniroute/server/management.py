"""The management plane (/api/*): a Starlette app built on first use.

Its imports (Starlette, pydantic, JWT) cost start-up time and memory that a
gateway serving only clients never needs, so they load with the first call.
"""

from __future__ import annotations

import logging

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request

from omniroute.server.api import (
    audit,
    auth,
    budget,
    cache,
    combos,
    keys,
    metrics,
    models,
    monitoring,
    nodes,
    oauth,
    pricing,
    providers,
    resilience,
    routing_rules,
    settings,
    usage,
)
from omniroute.server.api.common import error_response, json_response

log = logging.getLogger("omniroute")


def _is_client_path(path: str) -> bool:
    return path.startswith("/v1/") or path.startswith("/v1beta/")


async def _http_error(request: Request, exc: HTTPException):
    message = exc.detail if isinstance(exc.detail, str) else "error"
    if exc.status_code == 404:
        message = f"no route for {request.method} {request.url.path}"
    elif exc.status_code == 405:
        message = f"method {request.method} is not allowed on {request.url.path}"
    if _is_client_path(request.url.path):
        return json_response({"error": {"message": message, "type": "invalid_request_error",
                                        "code": "not_found" if exc.status_code == 404 else None}},
                             exc.status_code)
    return error_response(exc.status_code, message)


async def _crash(request: Request, exc: Exception):
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return error_response(500, "internal error")


def build_management_app(services) -> Starlette:
    """Every /api route, with JSON errors for unknown routes and methods."""
    app = Starlette(
        routes=[*auth.routes, *providers.routes, *nodes.routes, *keys.routes, *monitoring.routes, *oauth.routes,
                *settings.routes, *models.routes, *combos.routes, *routing_rules.routes,
                *resilience.routes, *cache.routes, *pricing.routes, *budget.routes, *audit.routes,
                *metrics.routes,
                *usage.routes],  # last: it ends with /api/usage/{connectionId}
        exception_handlers={HTTPException: _http_error, Exception: _crash},
    )
    app.state.services = services
    return app
