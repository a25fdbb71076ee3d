"""/v1/providers/{provider}/chat/completions, /embeddings, /images/generations: one provider forced.

The provider's prefix is added to a model that lacks one; a model of another provider is refused.
"""

from __future__ import annotations

import orjson

from omniroute.errors import OmniRouteError, detached
from omniroute.pipeline import Exchange
from omniroute.server.asgi import JSON_HEADERS, send_bytes
from omniroute.server.client_chat import ChatRoute
from omniroute.server.client_embeddings import EmbeddingsRoute
from omniroute.server.client_images import ImagesRoute
from omniroute.server.client_media import forced_model, provider_named

PREFIX = "/v1/providers/"


def split(path: str) -> tuple[str, str]:
    """``/v1/providers/{provider}/{rest}`` → (provider, rest)."""
    provider, _, rest = path[len(PREFIX):].partition("/")
    return provider, rest.rstrip("/")


class ForcedChatRoute(ChatRoute):
    """The OpenAI chat route with the path's provider imposed on the model."""

    async def accept(self, scope, receive) -> Exchange:
        ex = await super().accept(scope, receive)
        if ex.refused is None:
            try:
                spec = provider_named(self.s.registry, split(scope["path"])[0])
                model = ex.body.get("model")
                if isinstance(model, str) and model:
                    ex.body["model"] = forced_model(self.s.registry, spec, model)
            except OmniRouteError as err:
                ex.refused = detached(err)
        return ex


class ProviderRoutes:
    """Dispatches every path under /v1/providers/."""

    def __init__(self, services):
        self._chat = ForcedChatRoute(services, "openai")
        self._media = {"embeddings": EmbeddingsRoute(services), "images/generations": ImagesRoute(services)}

    async def __call__(self, scope, receive, send) -> None:
        provider, rest = split(scope["path"])
        if provider and rest == "chat/completions":
            if scope["method"] == "POST":
                return await self._chat(scope, receive, send)
            return await _error(send, 405, f"method {scope['method']} is not allowed on {scope['path']}; use POST",
                                "method_not_allowed", [(b"allow", b"POST")])
        route = self._media.get(rest)
        if provider and route is not None:
            return await route.dispatch(scope, receive, send, provider)
        await _error(send, 404, f"no route {scope['path']}; use /v1/providers/{{provider}}/chat/completions, "
                     "/embeddings or /images/generations", "not_found")


async def _error(send, status: int, message: str, code: str, extra: list | None = None) -> None:
    body = orjson.dumps({"error": {"message": message, "type": "invalid_request_error", "code": code}})
    await send_bytes(send, status, body, [*JSON_HEADERS, *(extra or [])])
