"""The flow shared by /v1/embeddings and /v1/images/generations, raw ASGI like the chat routes.

authenticate and read (ChatRoute.accept) → validate → route (bare names of media models too)
→ capability check → the pipeline's attempt loop → one JSON answer → usage row.
"""

from __future__ import annotations

import asyncio

import aiohttp
import orjson

from omniroute.capabilities.models import bare_provider, check_model, known_models, listing
from omniroute.errors import (
    InvalidRequest,
    OmniRouteError,
    PermissionDenied,
    UpstreamConnectionError,
    UpstreamError,
    classify_upstream,
)
from omniroute.pipeline import Answer, Exchange, cost_header
from omniroute.providers.catalog import ProviderSpec
from omniroute.routing.resolve import Target
from omniroute.server.asgi import JSON_HEADERS, DisconnectWatch, headers_of, send_bytes
from omniroute.server.client_auth import KEY_HEADERS, authenticate, presented_key
from omniroute.server.client_chat import ChatRoute, counted, error_payload

_EXCERPT = 200


def forced_model(registry, spec: ProviderSpec, name: str, known: tuple[str, ...] = ()) -> str:
    """``name`` under provider ``spec``: its prefix added when it has none; 400 when it names another provider."""
    if name in spec.models or name in known:
        return f"{spec.id}/{name}"
    prefix, sep, rest = name.partition("/")
    if sep and rest:
        other = registry.get(prefix)
        if other is not None:
            if other.id == spec.id:
                return name
            raise InvalidRequest(
                f"field 'model': '{name}' is a model of provider '{other.id}', but this route serves only "
                f"provider '{spec.id}'", code="provider_mismatch")
    return f"{spec.id}/{name}"


def provider_named(registry, name: str) -> ProviderSpec:
    """The provider of a ``/v1/providers/{provider}/…`` path (id or alias); 400 when there is none."""
    spec = registry.get(name)
    if spec is None:
        raise InvalidRequest(f"unknown provider '{name}' in the path /v1/providers/{name}/…; "
                             "use a provider id or alias (GET /api/providers)", code="unknown_provider")
    return spec


async def read_upstream(resp: aiohttp.ClientResponse) -> bytes:
    """The whole body of an upstream answer."""
    try:
        return await resp.read()
    except (TimeoutError, aiohttp.ClientError) as exc:
        raise UpstreamConnectionError(f"upstream answer interrupted: {exc.__class__.__name__}") from exc
    finally:
        resp.release()


def malformed(status: int, raw: bytes, what: str, reason: str) -> UpstreamConnectionError:
    """A 502 naming the upstream's status and a short excerpt of what it sent."""
    excerpt = raw[:_EXCERPT].decode("utf-8", "replace").strip() or "(empty body)"
    if len(raw) > _EXCERPT:
        excerpt += "…"
    return UpstreamConnectionError(
        f"upstream answered HTTP {status} with a body that is not a valid {what} answer ({reason}): {excerpt}")


async def failed(resp: aiohttp.ClientResponse) -> UpstreamError:
    """The classified error of a non-2xx answer (its Retry-After kept)."""
    err = classify_upstream(resp.status, await read_upstream(resp))
    err.retry_after = resp.headers.get("Retry-After")
    return err


class MediaRoute:
    """GET lists the models of ``kind``; POST serves one request. Subclasses implement ``run``."""

    kind = ""
    path = ""

    def __init__(self, services):
        self.s = services
        self._chat = ChatRoute(services, "openai")

    async def __call__(self, scope, receive, send) -> None:
        await self.dispatch(scope, receive, send, None)

    async def dispatch(self, scope, receive, send, forced: str | None) -> None:
        method = scope["method"]
        if method == "POST":
            return await self.serve(scope, receive, send, forced)
        if method in ("GET", "HEAD"):
            return await self.list(scope, send, forced)
        body = orjson.dumps({"error": {"message": f"method {method} is not allowed on {scope['path']}; use GET "
                                       "or POST", "type": "invalid_request_error", "code": "method_not_allowed"}})
        await send_bytes(send, 405, body, [*JSON_HEADERS, (b"allow", b"GET, POST")])

    async def list(self, scope, send, forced: str | None) -> None:
        s = self.s
        try:
            key = authenticate(s.keyring, presented_key(headers_of(scope, KEY_HEADERS)), s.require_api_key)
            models = listing(s, self.kind)
            if forced is not None:
                spec = provider_named(s.registry, forced)
                models = [m for m in models if m["owned_by"] == spec.id]
            if key is not None and key.allowed_models:
                models = [m for m in models if key.allows_model(m["id"])]
        except OmniRouteError as err:
            return await send_bytes(send, err.status, error_payload("openai", err), JSON_HEADERS)
        await send_bytes(send, 200, orjson.dumps({"object": "list", "data": models}), JSON_HEADERS)

    async def serve(self, scope, receive, send, forced: str | None) -> None:
        await counted(self.s, scope, receive, send,
                      lambda scope, receive, send, capture: self._serve(scope, receive, send, forced, capture))

    async def _serve(self, scope, receive, send, forced: str | None, capture) -> None:
        s = self.s
        ex = await self._chat.accept(scope, receive)
        if capture is not None:
            capture.ex = ex
        ex.client_format = self.kind
        if ex.refused is not None:
            return await self._chat.refuse(ex, ex.refused, send)
        try:
            release = await self._chat.admit(ex)
        except OmniRouteError as err:
            return await self._chat.refuse(ex, err, send)
        watch = DisconnectWatch(receive)
        try:
            answer = await self.run(ex, forced)
            watch.stop()
            await send_bytes(send, answer.status, answer.body, answer.headers)
        except OmniRouteError as err:
            watch.stop()
            await self._chat.refuse(ex, err, send)
        except asyncio.CancelledError:
            if not watch.disconnected:
                raise
            asyncio.current_task().uncancel()
            ex.status, ex.error = 499, "client disconnected"
        finally:
            watch.stop()
            if release is not None:
                await release()
            s.pipeline.record(ex)

    async def run(self, ex: Exchange, forced: str | None) -> Answer:
        raise NotImplementedError

    def target(self, ex: Exchange, forced: str | None) -> Target:
        """Resolve the body's model under the key's rules; 400 when it cannot serve ``kind``."""
        s, name = self.s, ex.body["model"]
        if forced is not None:
            spec = provider_named(s.registry, forced)
            name = forced_model(s.registry, spec, name, known_models(spec, self.kind))
        ex.requested_model = name
        spec = bare_provider(s, name, self.kind)
        if spec is None:
            target = s.pipeline.route(ex)
        else:
            ex.target = target = Target(spec, name)
            if ex.api_key is not None and not ex.api_key.allows_model(name) \
                    and not ex.api_key.allows_model(f"{spec.id}/{name}"):
                raise PermissionDenied(f"this API key may not use the model '{name}'", code="model_not_allowed")
        check_model(s.registry, target.provider, target.model, name, self.kind)
        return target

    def json_answer(self, ex: Exchange, status: int, body: dict) -> Answer:
        ex.status = status
        headers = self.s.pipeline.headers(ex)
        usage = ex.usage
        if usage is not None:
            headers.append((b"x-omniroute-tokens-in", str(usage.prompt_total).encode()))
            headers.append((b"x-omniroute-tokens-out", str(usage.output).encode()))
        headers.append((b"x-omniroute-response-cost", cost_header(self.s.pipeline.cost(ex))))
        headers.append((b"content-type", b"application/json"))
        return Answer(status, headers, body=orjson.dumps(body))
