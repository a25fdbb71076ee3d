"""The app factory: builds every singleton once and dispatches each request to its room."""

from __future__ import annotations

import logging

import orjson

from omniroute.server.asgi import JSON_HEADERS, send_bytes
from omniroute.server.client_chat import ChatRoute
from omniroute.server.client_models import ModelsRoute
from omniroute.server.ipfilter import forwarded_for, refusal
from omniroute.server.services import Services
from omniroute.settings import Settings

log = logging.getLogger("omniroute")

PROVIDER_PREFIX = "/v1/providers/"


class _Lazy:
    """A route built on its first request: the less used routes keep their imports (multipart
    parsing, provider adapters) out of start-up time and idle memory."""

    def __init__(self, services: Services, module: str, name: str, *args):
        self._spec = (services, module, name, args)
        self._route = None

    async def __call__(self, scope, receive, send):
        if self._route is None:
            import importlib

            services, module, name, args = self._spec
            self._route = getattr(importlib.import_module(module), name)(services, *args)
        return await self._route(scope, receive, send)


class OmniRouteApp:
    """Top-level ASGI app: client routes by exact path, the management plane for the rest."""

    def __init__(self, services: Services):
        self.services = services
        ollama = ChatRoute(services, "ollama")
        self._post = {
            "/v1/chat/completions": ChatRoute(services, "openai"),
            "/v1/messages": ChatRoute(services, "anthropic"),
            "/v1/responses": ChatRoute(services, "responses"),
            "/v1/completions": ChatRoute(services, "completions"),
            "/v1/messages/count_tokens": _Lazy(services, "omniroute.server.client_tokens", "CountTokensRoute",
                                               "anthropic"),
            "/api/chat": ollama,
            "/v1/api/chat": ollama,
            "/v1/audio/transcriptions": _Lazy(services, "omniroute.server.client_audio", "TranscriptionRoute"),
        }
        # Routes that answer GET (their model list) and POST themselves.
        self._any = {"/v1/embeddings": _Lazy(services, "omniroute.server.client_embeddings", "EmbeddingsRoute"),
                     "/v1/images/generations": _Lazy(services, "omniroute.server.client_images", "ImagesRoute")}
        self._providers = _Lazy(services, "omniroute.server.client_provider_routes", "ProviderRoutes")
        self._gemini = ChatRoute(services, "gemini")
        self._gemini_count = _Lazy(services, "omniroute.server.client_tokens", "CountTokensRoute", "gemini")
        self._get = {"/api/tags": ModelsRoute(services, "ollama"), "/v1beta/models": ModelsRoute(services, "gemini")}
        self._models = ModelsRoute(services)
        self._management = None
        self._ip_filter = services.ip_filter

    async def _admitted(self, scope, send) -> bool:
        """The IP filter, before any other work: the real client into the scope, or a 403."""
        peer = scope.get("client")
        client, allowed = self._ip_filter.decide(peer[0] if peer else None, forwarded_for(scope))
        if peer and client != peer[0]:
            scope["client"] = (client, 0)
        if allowed:
            return True
        status, body = refusal(scope["path"], client)
        await send_bytes(send, status, body, list(JSON_HEADERS))
        return False

    async def __call__(self, scope, receive, send):
        kind = scope["type"]
        if kind == "http":
            if self._ip_filter.active and not await self._admitted(scope, send):
                return
            path = scope["path"]
            route = self._post.get(path)
            if route is not None:
                if scope["method"] == "POST":
                    return await route(scope, receive, send)
                return await _method_not_allowed(scope, send, b"POST")
            route = self._any.get(path)
            if route is not None:
                return await route(scope, receive, send)
            if path.startswith(PROVIDER_PREFIX):
                return await self._providers(scope, receive, send)
            if ":" in path and (path.startswith("/v1beta/models/") or path.startswith("/v1/models/")):
                if scope["method"] == "POST":
                    if path.endswith(":countTokens"):
                        return await self._gemini_count(scope, receive, send)
                    return await self._gemini(scope, receive, send)
                return await _method_not_allowed(scope, send, b"POST")
            listing = self._get.get(path)
            if listing is not None and scope["method"] == "GET":
                return await listing(scope, receive, send)
            if path == "/v1/models" or path.startswith("/v1/models/") or path.startswith("/v1beta/models/"):
                if scope["method"] == "GET":
                    return await self._models(scope, receive, send)
                return await _method_not_allowed(scope, send, b"GET")
        elif kind == "lifespan":
            return await self._lifespan(receive, send)
        if self._management is None:
            from omniroute.server.management import build_management_app

            self._management = build_management_app(self.services)
        await self._management(scope, receive, send)

    async def _lifespan(self, receive, send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.services.start()
                except Exception as exc:
                    log.exception("start-up failed")
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                try:
                    await self.services.stop()
                finally:
                    await send({"type": "lifespan.shutdown.complete"})
                return


async def _method_not_allowed(scope, send, allowed: bytes) -> None:
    body = orjson.dumps({"error": {
        "message": f"method {scope['method']} is not allowed on {scope['path']}; use {allowed.decode()}",
        "type": "invalid_request_error", "code": "method_not_allowed"}})
    await send_bytes(send, 405, body, [*JSON_HEADERS, (b"allow", allowed)])


def create_app(settings: Settings | None = None) -> OmniRouteApp:
    """Build the application for ``settings`` (read from the environment when omitted)."""
    return OmniRouteApp(Services(settings or Settings.from_env()))
