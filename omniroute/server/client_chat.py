"""Chat routes of every client dialect, served as raw ASGI (the hot path)."""

from __future__ import annotations

import asyncio
from urllib.parse import parse_qs, unquote

import orjson

from omniroute.errors import InvalidRequest, ModelNotFound, OmniRouteError
from omniroute.pipeline import Answer, Exchange
from omniroute.server.asgi import JSON_HEADERS, DisconnectWatch, headers_of, parse_json, read_body, send_bytes
from omniroute.server.client_auth import KEY_HEADERS, authenticate, presented_key

_WANTED = KEY_HEADERS | {b"x-omniroute-connection", b"x-request-id"}


def error_payload(dialect: str, err: OmniRouteError) -> bytes:
    """An error in the client's own dialect (API reference §1.5)."""
    if dialect == "anthropic":
        from omniroute.dialects.anthropic import error_body
    elif dialect == "gemini":
        from omniroute.dialects.gemini import error_body
    elif dialect == "ollama":
        return orjson.dumps({"error": err.message})
    else:
        return orjson.dumps(err.openai_body())
    return orjson.dumps(error_body(err.status, err.message))


def error_headers(err: OmniRouteError) -> list[tuple[bytes, bytes]]:
    """JSON, plus the upstream's Retry-After so clients back off as the provider asked."""
    if err.retry_after:
        return [*JSON_HEADERS, (b"retry-after", err.retry_after.encode("latin-1", "replace"))]
    return JSON_HEADERS


_GEMINI_METHODS = {"generateContent": False, "streamGenerateContent": True}


def gemini_target(path: str) -> tuple[str, bool] | None:
    """``/v1beta/models/{model}:{method}`` → (model, streaming); the model may contain '/'."""
    rest = path.split("/models/", 1)[1] if "/models/" in path else ""
    model, _, method = rest.rpartition(":")
    if not model or method not in _GEMINI_METHODS:
        return None
    return unquote(model), _GEMINI_METHODS[method]


class ChatRoute:
    """POST /v1/chat/completions, /v1/messages, …: authenticate, decode, pipeline, send."""

    def __init__(self, services, dialect: str = "openai"):
        self.s = services
        self.dialect = dialect

    async def __call__(self, scope, receive, send) -> None:
        s = self.s
        headers = headers_of(scope, _WANTED)
        ex = Exchange(body={}, api_key=None, client_format=self.dialect, request_id=headers.get(b"x-request-id"),
                      pinned_connection=headers.get(b"x-omniroute-connection"))
        try:
            raw_key = presented_key(headers)
            if self.dialect == "gemini":
                target = gemini_target(scope["path"])
                if target is None:
                    raise ModelNotFound(f"no method for {scope['path']}; use :generateContent or "
                                        ":streamGenerateContent")
                ex.path_model, ex.path_stream = target
                raw_key = raw_key or _query_key(scope)
            ex.api_key = authenticate(s.keyring, raw_key, s.require_api_key)
            ex.body = parse_json(await read_body(scope, receive, s.settings.max_body_bytes))
            if not isinstance(ex.body, dict):
                raise InvalidRequest("request body must be a JSON object")
        except OmniRouteError as err:
            s.pipeline.record(ex, err)
            await send_bytes(send, err.status, error_payload(self.dialect, err), error_headers(err))
            return
        answer: Answer | None = None
        watch = DisconnectWatch(receive)
        try:
            answer = await s.pipeline.run(ex)
            if answer.stream is None:
                watch.stop()
                await send_bytes(send, answer.status, answer.body, answer.headers)
                return
            await send({"type": "http.response.start", "status": answer.status, "headers": answer.headers})
            async for chunk in answer.stream:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            watch.stop()
            await send({"type": "http.response.body", "body": b""})
        except OmniRouteError as err:
            watch.stop()
            s.pipeline.record(ex, err)
            await send_bytes(send, err.status, error_payload(self.dialect, err), error_headers(err))
        except asyncio.CancelledError:
            if not watch.disconnected:
                raise
            asyncio.current_task().uncancel()
            ex.status, ex.error = 499, "client disconnected"
        finally:
            watch.stop()
            if answer is not None and answer.stream is not None:
                await answer.stream.aclose()
            s.pipeline.record(ex)


def _query_key(scope) -> str | None:
    """Google clients may send the key as ``?key=``."""
    values = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("key")
    return values[0] if values else None
