"""The one flow every chat request takes, top to bottom.

decode → guards (key, allowed models) → route (model → provider → accounts)
→ attempt loop (send, classify, next account) → response or stream → usage row.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import aiohttp
import orjson

from omniroute.auth.apikeys import ApiKey
from omniroute.dialects.openai_chat.request import validate_chat_request
from omniroute.dialects.openai_chat.stream import OpenAIStreamRelay
from omniroute.errors import (
    InvalidRequest,
    NoAccountAvailable,
    OmniRouteError,
    PermissionDenied,
    UpstreamConnectionError,
    UpstreamError,
    classify_upstream,
)
from omniroute.routing.accounts import Account, AccountPool
from omniroute.routing.resolve import Target, resolve
from omniroute.store.repos import UsageRow


@dataclass(slots=True)
class Exchange:
    """One client request as it moves through the flow, and what it learned on the way."""

    body: dict
    api_key: ApiKey | None
    pinned_connection: str | None = None
    request_id: str | None = None
    client_format: str = "openai"
    started: float = field(default_factory=time.perf_counter)
    requested_model: str | None = None
    target: Target | None = None
    account: Account | None = None
    attempts: int = 0
    usage: dict = field(default_factory=dict)
    ttft_ms: int | None = None
    status: int = 200
    error: str | None = None
    recorded: bool = False


@dataclass(slots=True)
class Answer:
    """What the route sends back: a whole body, or a stream of byte chunks."""

    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes = b""
    stream: AsyncIterator[bytes] | None = None


class ChatPipeline:
    """OpenAI-dialect chat over OpenAI-dialect upstreams (same dialect: bytes pass through)."""

    def __init__(self, *, registry, pool: AccountPool, session: aiohttp.ClientSession, recorder):
        self._registry = registry
        self._pool = pool
        self._session = session
        self._recorder = recorder

    async def run(self, ex: Exchange) -> Answer:
        """Serve one exchange; raises OmniRouteError for answers that are errors."""
        body = ex.body
        validate_chat_request(body)
        ex.requested_model = body["model"]
        ex.target = target = resolve(body["model"], self._registry, self._pool)
        if ex.api_key is not None and not ex.api_key.allows_model(body["model"]):
            raise PermissionDenied(f"this API key may not use the model '{body['model']}'",
                                   code="model_not_allowed")
        accounts = await self._accounts(ex, target)
        streaming = body.get("stream") is True
        client_wants_usage = False
        body["model"] = target.model
        if streaming:
            options = body.get("stream_options") or {}
            client_wants_usage = options.get("include_usage") is True
            body["stream_options"] = {**options, "include_usage": True}
        payload = orjson.dumps(body)
        failures: list[str] = []
        last: UpstreamError | None = None
        for account in accounts:
            ex.attempts += 1
            ex.account = account
            try:
                resp = await self._send(account, payload)
                if resp.status < 300:
                    answer = (self._stream_answer(ex, resp, client_wants_usage) if streaming
                              else await self._json_answer(ex, resp))
                    if ex.attempts > 1:
                        await self._pool.recovered(account)
                    return answer
                last = classify_upstream(resp.status, await self._error_body(resp))
            except UpstreamError as err:
                last = err
            failures.append(f"{target.provider.id}/{target.model} via connection '{account.name}' "
                            f"({account.id}): HTTP {last.status} {last.message}")
            if last.cooldown:
                await self._pool.cool_down(account)
            if not last.next_account:
                break
        assert last is not None
        prefix = "every account failed: " if len(failures) > 1 else "upstream "
        last.message = prefix + "; ".join(failures)
        raise last

    @staticmethod
    async def _error_body(resp: aiohttp.ClientResponse) -> bytes:
        try:
            return await resp.read()
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise UpstreamConnectionError(f"upstream error answer interrupted: {exc.__class__.__name__}") from exc
        finally:
            resp.release()

    async def _accounts(self, ex: Exchange, target: Target) -> list[Account]:
        if ex.pinned_connection:
            account = self._pool.get(ex.pinned_connection)
            if account is None or account.provider.id != target.provider.id:
                raise InvalidRequest(
                    f"connection '{ex.pinned_connection}' (X-OmniRoute-Connection) is not an active "
                    f"connection of provider '{target.provider.id}'", code="invalid_connection")
            return [account]
        accounts = await self._pool.candidates(target.provider.id)
        if not accounts:
            raise NoAccountAvailable(
                f"provider '{target.provider.id}' has no active connection; add one with POST /api/providers")
        return accounts

    async def _send(self, account: Account, payload: bytes) -> aiohttp.ClientResponse:
        try:
            return await self._session.post(account.chat_url, data=payload, headers=self._pool.headers(account))
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            raise UpstreamConnectionError(f"upstream unreachable: {exc.__class__.__name__}: {exc}") from exc

    async def _json_answer(self, ex: Exchange, resp: aiohttp.ClientResponse) -> Answer:
        try:
            raw = await resp.read()
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise UpstreamConnectionError(f"upstream answer interrupted: {exc}") from exc
        finally:
            resp.release()
        try:
            usage = orjson.loads(raw).get("usage") or {}
        except (orjson.JSONDecodeError, AttributeError):
            raise UpstreamConnectionError("upstream answered 200 with a body that is not JSON") from None
        ex.usage = usage if isinstance(usage, dict) else {}
        ex.status = resp.status
        headers = self._headers(ex)
        headers.append((b"x-omniroute-tokens-in", str(ex.usage.get("prompt_tokens", 0)).encode()))
        headers.append((b"x-omniroute-tokens-out", str(ex.usage.get("completion_tokens", 0)).encode()))
        headers.append((b"content-type", b"application/json"))
        return Answer(resp.status, headers, body=raw)

    def _stream_answer(self, ex: Exchange, resp: aiohttp.ClientResponse, client_wants_usage: bool) -> Answer:
        headers = self._headers(ex)
        headers += [(b"content-type", b"text/event-stream; charset=utf-8"), (b"cache-control", b"no-cache"),
                    (b"x-accel-buffering", b"no")]
        return Answer(200, headers, stream=UpstreamStream(self, ex, resp, OpenAIStreamRelay(client_wants_usage)))

    def _headers(self, ex: Exchange) -> list[tuple[bytes, bytes]]:
        headers = [
            (b"x-omniroute-provider", ex.target.provider.id.encode()),
            (b"x-omniroute-model", ex.target.model.encode()),
            (b"x-omniroute-latency-ms", str(int((time.perf_counter() - ex.started) * 1000)).encode()),
        ]
        if ex.attempts > 1:
            headers.append((b"x-omniroute-fallback-attempts", str(ex.attempts - 1).encode()))
        if ex.request_id:
            headers.append((b"x-request-id", ex.request_id.encode()))
        return headers

    def record(self, ex: Exchange, error: OmniRouteError | None = None) -> None:
        """Queue the usage row of a finished exchange (once)."""
        if ex.recorded:
            return
        ex.recorded = True
        if error is not None:
            ex.status, ex.error = error.status, error.message
        usage = ex.usage or {}
        target = ex.target
        details = usage.get("prompt_tokens_details")
        completion_details = usage.get("completion_tokens_details")
        self._recorder.record(UsageRow(
            id=self._recorder.new_id(),
            timestamp=time.time(),
            apiKeyId=ex.api_key.id if ex.api_key else None,
            provider=target.provider.id if target else None,
            connectionId=ex.account.id if ex.account else None,
            model=target.model if target else None,
            requestedModel=ex.requested_model,
            combo=None,
            clientFormat=ex.client_format,
            upstreamFormat=target.provider.dialect if target else None,
            promptTokens=_count(usage, "prompt_tokens"),
            completionTokens=_count(usage, "completion_tokens"),
            cachedTokens=_count(details, "cached_tokens"),
            reasoningTokens=_count(completion_details, "reasoning_tokens"),
            cost=0.0,
            latencyMs=int((time.perf_counter() - ex.started) * 1000),
            ttftMs=ex.ttft_ms,
            status=ex.status,
            cache=None,
            error=ex.error,
        ))


def _count(usage, name: str) -> int:
    """A token count from an upstream usage object, 0 when absent or malformed."""
    if not isinstance(usage, dict):
        return 0
    value = usage.get(name)
    return value if type(value) is int and value >= 0 else 0


class UpstreamStream:
    """Async iterator over the bytes to send for one upstream stream; ``aclose`` always runs.

    It ends a stream that breaks off with the dialect's error event, never with a
    silent cut, and closing it early drops the upstream connection so generation stops.
    """

    def __init__(self, pipeline: ChatPipeline, ex: Exchange, resp: aiohttp.ClientResponse, relay):
        self._pipeline = pipeline
        self._ex = ex
        self._resp = resp
        self._relay = relay
        self._chunks = resp.content.iter_any().__aiter__()
        self._ended = False
        self._closed = False

    def __aiter__(self):
        return self

    async def __anext__(self) -> bytes:
        ex, relay = self._ex, self._relay
        while not self._ended:
            try:
                chunk = await self._chunks.__anext__()
            except StopAsyncIteration:
                self._ended = True
                out = relay.finish()
                if not relay.done and relay.finished:
                    # Finished but without the terminator some servers leave out: the answer is
                    # whole, so the client gets the terminator its SDK expects.
                    out += b"data: [DONE]\n\n"
                    relay.done = True
                if not relay.done:
                    ex.status, ex.error = 502, "upstream stream ended before its final event"
                    out += relay.error_event(ex.error, "upstream_stream_truncated")
                if out:
                    return out
                break
            except (TimeoutError, aiohttp.ClientError) as exc:
                self._ended = True
                ex.status, ex.error = 502, f"upstream stream broke off before its final event ({exc.__class__.__name__})"
                return relay.error_event(ex.error, "upstream_stream_failed")
            out = relay.feed(chunk)
            if out:
                if ex.ttft_ms is None:
                    ex.ttft_ms = int((time.perf_counter() - ex.started) * 1000)
                return out
        await self.aclose()
        raise StopAsyncIteration

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        ex = self._ex
        ex.usage = self._relay.usage
        if self._relay.done:
            self._resp.release()
        else:
            if ex.status == 200:
                ex.status, ex.error = 499, "client disconnected"
            self._resp.close()  # drop the connection so the upstream stops generating
        self._pipeline.record(ex)
