"""The management plane (/api/*): a Starlette app built on first use.

Its imports (Starlette, pydantic, JWT) cost start-up time and memory that a
gateway serving only clients never needs, so they load with the first call.
"""

from __future__ import annotations

import logging

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.routing import Match

from omniroute.dashboard import routes as dashboard
from omniroute.errors import StateUnavailable
from omniroute.server.api import (
    audit,
    auth,
    backups,
    budget,
    cache,
    cli_tools,
    combos,
    evals,
    ip_filter,
    keys,
    lifecycle,
    metrics,
    models,
    monitoring,
    nodes,
    oauth,
    pricing,
    prompting,
    providers,
    proxy,
    resilience,
    routing_rules,
    settings,
    sync,
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
    if isinstance(exc, StateUnavailable):  # Redis is down: the operator's answer names it, no 500
        return error_response(exc.status, exc.message)
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return error_response(500, "internal error")


WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class AuditWrites:
    """Pure ASGI middleware: every management write under /api/ leaves an audit entry.

    A handler that records its own entry (``common.audit``) marks the request and is left alone;
    any other answer of a route that takes the method -- failures and refusals by the admin guard
    included -- is recorded as ``"<METHOD> <route template>"``, the path parameters as target,
    ``ok`` for 2xx/3xx and ``failed:<status>`` otherwise. The entry is written before the response
    starts, so a client that reads the log after its answer finds it. Requests no route takes
    (404, 405) change nothing and are not recorded.
    """

    def __init__(self, app, services, routes):
        self.app = app
        self.services = services
        self.routes = routes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["method"] not in WRITE_METHODS or not scope["path"].startswith("/api/"):
            return await self.app(scope, receive, send)
        matched = self._match(scope)
        if matched is None:
            return await self.app(scope, receive, send)
        recorded = False
        status = 500

        async def send_recorded(message):
            nonlocal recorded, status
            if message["type"] == "http.response.start" and not recorded:
                recorded = True
                status = message["status"]
                await self._record(scope, *matched, status)
            await send(message)

        try:
            await self.app(scope, receive, send_recorded)
        except Exception:
            if not recorded:  # the crash handler outside answers 500
                recorded = True
                await self._record(scope, *matched, 500)
            raise
        if 200 <= status < 400:  # a write that took effect: other instances re-read the configuration
            self.services.peers.changed()

    def _match(self, scope) -> tuple[str, dict] | None:
        """The template and path parameters of the route that takes this request, as the router finds it."""
        for route in self.routes:  # the router's rule: the first full match (a partial one answers 405)
            match, child = route.matches(scope)
            if match == Match.FULL:
                return getattr(route, "path", None) or scope["path"], child.get("path_params") or {}
        return None

    async def _record(self, scope, template: str, params: dict, status: int) -> None:
        state = scope.get("state") or {}
        if state.get("audited"):
            return
        client = scope.get("client")
        entry = {"action": f"{scope['method']} {template}"[:100],
                 "status": "ok" if 200 <= status < 400 else f"failed:{status}",
                 "actor": state.get("actor"),
                 "target": "/".join(str(v) for v in params.values()) or None,
                 "ip": client[0] if client else "unknown"}
        try:
            await self.services.audit.add(**entry)
        except Exception:  # the database is busy or down: queue it (retried) rather than fail the answer
            log.exception("audit write failed; queued for retry")
            self.services.audit.add_later(**entry)


def build_management_app(services) -> Starlette:
    """Every /api route, with JSON errors for unknown routes and methods."""
    app = Starlette(
        routes=[*auth.routes, *providers.routes, *nodes.routes, *keys.routes, *monitoring.routes, *oauth.routes,
                *settings.routes, *models.routes, *combos.routes, *routing_rules.routes,
                *resilience.routes, *cache.routes, *pricing.routes, *budget.routes, *audit.routes,
                *metrics.routes, *proxy.routes, *ip_filter.routes, *prompting.routes, *backups.routes,
                *sync.routes, *cli_tools.routes, *evals.routes, *lifecycle.routes, *dashboard.routes,
                *usage.routes],  # last: it ends with /api/usage/{connectionId}
        exception_handlers={HTTPException: _http_error, Exception: _crash},
    )
    app.state.services = services
    app.add_middleware(AuditWrites, services=services, routes=app.routes)
    return app
