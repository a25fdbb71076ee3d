"""The app factory: builds every singleton once and wires the routes."""

from __future__ import annotations

import contextlib
import logging

import orjson
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request

from omniroute.server.api import auth, keys, monitoring, providers
from omniroute.server.api.common import error_response, json_response
from omniroute.server.asgi import JSON_HEADERS, send_bytes
from omniroute.server.client_models import routes as model_routes
from omniroute.server.client_openai import ChatCompletionsRoute
from omniroute.server.services import Services
from omniroute.settings import Settings

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


class OmniRouteApp:
    """Top-level ASGI app: the hot client routes by exact path, everything else through Starlette."""

    def __init__(self, services: Services):
        self.services = services
        self._hot = {"/v1/chat/completions": ChatCompletionsRoute(services)}

        @contextlib.asynccontextmanager
        async def lifespan(app):
            await services.start()
            try:
                yield
            finally:
                await services.stop()

        self.starlette = Starlette(
            routes=[*auth.routes, *providers.routes, *keys.routes, *monitoring.routes, *model_routes],
            exception_handlers={HTTPException: _http_error, Exception: _crash},
            lifespan=lifespan,
        )
        self.starlette.state.services = services

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            route = self._hot.get(scope["path"])
            if route is not None:
                if scope["method"] == "POST":
                    return await route(scope, receive, send)
                return await send_bytes(send, 405, orjson.dumps({"error": {
                    "message": f"method {scope['method']} is not allowed on {scope['path']}; use POST",
                    "type": "invalid_request_error", "code": "method_not_allowed"}}),
                    [*JSON_HEADERS, (b"allow", b"POST")])
        await self.starlette(scope, receive, send)


def create_app(settings: Settings | None = None) -> OmniRouteApp:
    """Build the application for ``settings`` (read from the environment when omitted)."""
    return OmniRouteApp(Services(settings or Settings.from_env()))
