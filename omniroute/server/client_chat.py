"""Chat routes of every client dialect, served as raw ASGI (the hot path)."""

from __future__ import annotations

import asyncio
from urllib.parse import parse_qs, unquote

import orjson

from omniroute.cache.idempotency import body_hash
from omniroute.errors import InvalidRequest, ModelNotFound, OmniRouteError, detached
from omniroute.pipeline import Answer, Exchange
from omniroute.routing.sessions import HEADERS as SESSION_HEADERS
from omniroute.routing.sessions import session_id_of
from omniroute.server.asgi import (
    JSON_HEADERS,
    DisconnectWatch,
    client_address,
    headers_of,
    parse_json,
    read_body,
    send_bytes,
)
from omniroute.server.client_auth import KEY_HEADERS, authenticate, presented_key

_WANTED = KEY_HEADERS | {b"x-omniroute-connection", b"x-request-id", b"idempotency-key", b"x-omniroute-no-cache",
                         b"x-omniroute-progress", *SESSION_HEADERS}
_IDEMPOTENT = (b"x-omniroute-idempotent", b"true")


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


GEMINI_METHODS = ("generateContent", "streamGenerateContent", "countTokens")


def gemini_target(path: str) -> tuple[str, str] | None:
    """``/v1beta/models/{model}:{method}`` → (model, method); the model may contain '/'."""
    rest = path.split("/models/", 1)[1] if "/models/" in path else ""
    model, _, method = rest.rpartition(":")
    if not model or method not in GEMINI_METHODS:
        return None
    return unquote(model), method


class ChatRoute:
    """POST /v1/chat/completions, /v1/messages, …: authenticate, decode, pipeline, send."""

    def __init__(self, services, dialect: str = "openai"):
        self.s = services
        self.dialect = dialect

    async def accept(self, scope, receive) -> Exchange:
        """Authenticate and read the body; the Exchange carries what the client asked for."""
        s = self.s
        headers = headers_of(scope, _WANTED)
        ex = Exchange(body={}, api_key=None, client_format=self.dialect, request_id=headers.get(b"x-request-id"),
                      pinned_connection=headers.get(b"x-omniroute-connection"), session_id=session_id_of(headers),
                      idempotency_key=headers.get(b"idempotency-key") or headers.get(b"x-request-id"),
                      no_cache=headers.get(b"x-omniroute-no-cache", "").lower() == "true",
                      progress=headers.get(b"x-omniroute-progress", "").lower() == "true",
                      client_ip=client_address(scope))
        try:
            raw_key = presented_key(headers)
            if self.dialect == "gemini":
                target = gemini_target(scope["path"])
                if target is None:
                    raise ModelNotFound(f"no method for {scope['path']}; use :generateContent, "
                                        ":streamGenerateContent or :countTokens")
                ex.path_model, method = target
                ex.path_stream = method == "streamGenerateContent"
                query = _query(scope)
                ex.json_array = ex.path_stream and "sse" not in query.get("alt", ())
                raw_key = raw_key or (query.get("key") or [None])[0]
            ex.api_key = authenticate(s.keyring, raw_key, s.require_api_key)
            ex.body = parse_json(await read_body(scope, receive, s.settings.max_body_bytes))
            if not isinstance(ex.body, dict):
                raise InvalidRequest("request body must be a JSON object")
        except OmniRouteError as err:
            ex.refused = detached(err)
        return ex

    async def admit(self, ex: Exchange):
        """The client limits (raises RateLimited) and session tracking of an accepted request; returns
        the function that frees its in-flight slot, to be awaited once the answer is sent, or None."""
        s = self.s
        release = None
        if s.limits.active:
            try:
                release = await s.limits.admit(ex.api_key.id if ex.api_key is not None else None)
            except OmniRouteError:
                model = ex.path_model or ex.body.get("model")
                ex.requested_model = model if isinstance(model, str) else None  # named in the usage row
                raise
        if ex.session_id is not None:
            s.sessions.touch_later(ex.session_id, ex.api_key.id if ex.api_key is not None else None)
        return release

    async def refuse(self, ex: Exchange, err: OmniRouteError, send) -> None:
        """Answer ``err`` in the client's dialect and record it."""
        self.s.pipeline.record(ex, err)
        await send_bytes(send, err.status, error_payload(self.dialect, err), error_headers(err))

    async def __call__(self, scope, receive, send) -> None:
        await counted(self.s, scope, receive, send, self.serve)

    async def serve(self, scope, receive, send, capture) -> None:
        s = self.s
        ex = await self.accept(scope, receive)
        if capture is not None:
            capture.ex = ex
        if ex.refused is not None:
            return await self.refuse(ex, ex.refused, send)
        try:
            release = await self.admit(ex)
        except OmniRouteError as err:
            return await self.refuse(ex, err, send)
        if self.dialect == "openai" and "messages" not in ex.body and "input" in ex.body:
            ex.client_format = "responses"  # a Responses body sent to the Chat path
        flight = None
        if ex.idempotency_key is not None:
            claim = f"{ex.api_key.id if ex.api_key else '-'}|{scope['path']}|{ex.idempotency_key}"
            try:
                flight, runs = await s.idempotency.begin(claim, body_hash(ex.body))
            except OmniRouteError as err:
                if release is not None:
                    await release()
                return await self.refuse(ex, err, send)
            if not runs:
                try:
                    return await self.replay(ex, flight, send)
                finally:
                    if release is not None:
                        await release()
            send = _recording(send, flight)
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
            await self.refuse(ex, err, send)
        except asyncio.CancelledError:
            if not watch.disconnected:
                raise
            asyncio.current_task().uncancel()
            ex.status, ex.error = 499, "client disconnected"
        finally:
            watch.stop()
            if release is not None:  # the answer is sent (or abandoned): free the slot first
                await release()
            if answer is not None and answer.stream is not None:
                await answer.stream.aclose()
            s.pipeline.record(ex)
            if flight is not None:
                await s.idempotency.end(claim, flight, ex.status < 300 and ex.error is None)

    async def replay(self, ex: Exchange, flight, send) -> None:
        """Answer a duplicate with the answer of the request it repeats (as that one is produced)."""
        await flight.started()
        model = ex.path_model or ex.body.get("model")
        ex.requested_model, ex.idempotent = (model if isinstance(model, str) else None), True
        if flight.status is None:
            from omniroute.errors import UpstreamTimeout

            return await self.refuse(ex, UpstreamTimeout("the request this one repeats ended without an answer; "
                                                         "send it again"), send)
        ex.status = flight.status
        try:
            await send({"type": "http.response.start", "status": flight.status,
                        "headers": [*flight.headers, _IDEMPOTENT]})
            async for chunk in flight.follow():
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b""})
        finally:
            self.s.pipeline.record(ex)


async def counted(s, scope, receive, send, serve) -> None:
    """``serve(scope, receive, send, capture)`` counted in flight (the /metrics gauge); while detailed
    logging is on, ``capture`` keeps the answer and the request's detail row is queued once it is done."""
    s.inflight += 1
    capture = None
    if s.usage_config["detailedLogging"]:
        from omniroute.usage.details import Capture

        capture = Capture(scope, send, s.usage_config["detailMaxBytes"])
        send = capture.send
    try:
        await serve(scope, receive, send, capture)
    finally:
        s.inflight -= 1
        if capture is not None and (row := capture.row()) is not None:
            s.recorder.record_detail(row)


def _recording(send, flight):
    """``send``, also writing what goes out into the idempotency flight its duplicates follow."""

    async def recording(message) -> None:
        if message["type"] == "http.response.start":
            flight.start(message["status"], message.get("headers") or [])
        else:
            flight.write(message.get("body", b""))
        await send(message)

    return recording


def _query(scope) -> dict[str, list[str]]:
    """Query parameters (Google clients may send the key as ``?key=``, and ``alt=sse``)."""
    return parse_qs(scope.get("query_string", b"").decode("latin-1"))
