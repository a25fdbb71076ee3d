"""The one flow every chat request takes, top to bottom.

decode → guards (key, allowed models) → route (model → provider → accounts)
→ attempt loop (encode, send, classify, next account) → response or stream → usage row.

When the client and the upstream speak the same dialect the body passes through with
only the model edited; otherwise it crosses the canonical model (``schema/``) once each way.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from functools import partial

import aiohttp
import orjson

from omniroute.auth.apikeys import ApiKey
from omniroute.combo_run import ComboRunner
from omniroute.dialects import translate
from omniroute.dialects.openai_chat.request import validate_chat_request
from omniroute.dialects.openai_chat.usage import usage_from_openai
from omniroute.dialects.registry import codec
from omniroute.dialects.relay import ObservingRelay, OpenAIPassThrough
from omniroute.dialects.tap import StreamTap, progress_supported
from omniroute.errors import (
    InvalidRequest,
    ModelUnavailable,
    NoAccountAvailable,
    OmniRouteError,
    PermissionDenied,
    UpstreamConnectionError,
    UpstreamError,
    UpstreamTimeout,
    classify_upstream,
    detached,
)
from omniroute.ledger import Ledger, cost_header, input_estimate
from omniroute.routing.accounts import Account, AccountPool
from omniroute.routing.combos import Combo
from omniroute.routing.fallback import verdict
from omniroute.routing.resilience import Resilience, retry_after_seconds
from omniroute.routing.resolve import Target, resolve
from omniroute.schema import ChatRequest, Usage
from omniroute.transport.proxy import ProxyRouter
from omniroute.transport.upstream_stream import UpstreamStream
from omniroute.usage import estimate

# Client dialects whose streams carry usage only when ``stream_options.include_usage`` asks.
_USAGE_OPT_IN = frozenset({"openai", "completions"})


@dataclass(slots=True)
class Exchange:
    """One client request as it moves through the flow, and what it learned on the way."""

    body: dict
    api_key: ApiKey | None
    client_format: str = "openai"
    pinned_connection: str | None = None
    request_id: str | None = None
    path_model: str | None = None  # Gemini clients name the model and the streaming mode in the URL
    path_stream: bool = False
    json_array: bool = False  # a Gemini stream asked for without ?alt=sse: one JSON array
    refused: OmniRouteError | None = None  # what stopped the request before the pipeline
    canonical: ChatRequest | None = None  # set once the body has been decoded
    started: float = field(default_factory=time.perf_counter)
    requested_model: str | None = None
    combo: str | None = None  # the combo the requested model named, if it was one
    target: Target | None = None
    account: Account | None = None
    attempts: int = 0
    usage: Usage | None = None
    ttft_ms: int | None = None
    status: int = 200
    error: str | None = None
    recorded: bool = False
    release: Callable[[], Awaitable[None]] | None = None  # frees the account's in-flight slot (streams)
    session_id: str | None = None  # X-Session-Id: tracked in /api/sessions, sticks to one account per provider
    no_cache: bool = False  # X-OmniRoute-No-Cache: true
    progress: bool = False  # X-OmniRoute-Progress: true
    cache: str | None = None  # "HIT" or "MISS" for a request the response cache could answer
    cache_key: str | None = None
    cache_model: str | None = None  # the resolved model the entry is filed under
    tap: object | None = None  # dialects.tap.StreamTap of a cacheable or progress-reporting stream
    idempotent: bool = False  # a replay of an earlier request's answer
    semantic: tuple | None = None  # (scope, text, vector) of a semantic-cache miss, to index its answer
    idempotency_key: str | None = None  # Idempotency-Key, or X-Request-Id
    cost: float | None = None  # USD, computed once (pipeline.cost)
    row_id: str | None = None  # the usage row's id (its failed attempts link to it)
    images: int = 0  # images generated (priced per image)
    audio_seconds: float = 0.0  # audio transcribed (priced per minute)
    client_ip: str | None = None
    reservation: object | None = None  # usage.budgets.Reservation held while the request runs


@dataclass(slots=True)
class Answer:
    """What the route sends back: a whole body, or a stream of byte chunks."""

    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes = b""
    stream: AsyncIterator[bytes] | None = None


@dataclass(slots=True)
class _Plan:
    """How one exchange crosses to its upstream, decided once before the attempt loop."""

    payload: bytes
    streaming: bool
    translate: bool
    client_wants_usage: bool = False
    model: str = ""
    executor: object | None = None  # a subscription upstream's adapter (providers/executors/)
    call: object | None = None  # the executor's last prepared call (its answer is read with it)


class ChatPipeline(Ledger, ComboRunner):
    """Chat in any client dialect over any upstream dialect."""

    tokens = None  # omniroute.oauth.TokenManager (set by Services): subscription accounts' tokens
    policies = None  # omniroute.routing.policies.PolicySet (set by Services): deny or re-route by key and model
    sessions = None  # omniroute.routing.sessions.SessionTracker (set by Services): session affinity
    telemetry = None  # omniroute.usage.telemetry.Telemetry (set by Services)
    services = None  # the Services that own this pipeline (its pricing table ranks cost-optimized combos)
    cache = None  # omniroute.cache.responder.CacheResponder (set by Services): the response cache
    metrics = None  # omniroute.usage.metrics.Metrics (set by Services): counts each usage row for /metrics
    budgets = None  # omniroute.usage.budgets.Budgets (set by Services): spend limits per API key
    shaping = None  # omniroute.dialects.shaping.Shaping while a system prompt or thinking budget is set

    def __init__(self, *, registry, pool: AccountPool, session: aiohttp.ClientSession | ProxyRouter, recorder,
                 resilience: Resilience | None = None):
        self._registry = registry
        self._pool = pool
        self._proxies = ProxyRouter.wrap(session)  # a ProxyRouter, or a bare session (no proxies)
        self._recorder = recorder
        self.resilience = resilience or Resilience(pool.state, pool)

    async def run(self, ex: Exchange) -> Answer:
        """Serve one chat exchange; raises OmniRouteError for answers that are errors."""
        canonical = self._decode(ex)
        if self.shaping is not None:  # before the cache key: a changed prompt or budget is a new request
            canonical = self.shaping.apply(ex, canonical)
        target = self.route(ex, True)
        if self.budgets is not None and self.budgets.active and ex.api_key is not None:
            await self.reserve(ex, target)
        if self.cache is not None and self.cache.wants(ex, canonical):
            if canonical is None:
                canonical = ex.canonical = translate.decode_client(ex.client_format, ex.body)
            resolved = (f"{target.provider.id}/{target.model}" if target.__class__ is Target
                        else f"combo:{target.name}")
            entry = await self.cache.lookup(ex, canonical, resolved)
            if entry is not None:
                return self._cached(ex, entry, canonical)
        if target.__class__ is not Target:
            return await self._run_combo(ex, canonical, target)
        return await self._serve(ex, canonical, target)

    def _cached(self, ex: Exchange, entry, canonical: ChatRequest) -> Answer:
        """A cache hit in the client's dialect; no upstream call, no cost."""
        ex.status = 200
        headers, body, stream = self.cache.answer(ex, entry, canonical, self._streaming(ex), self.record,
                                                  self.headers(ex))
        if stream is None:
            self.record(ex)
        return Answer(200, headers, body=body, stream=stream)

    async def _serve(self, ex: Exchange, canonical: ChatRequest | None, target: Target,
                     timeout_s: float | None = None) -> Answer:
        """Plan the exchange for one target and try that target's accounts."""
        if "chat" not in target.provider.capabilities:
            raise InvalidRequest(
                f"model '{ex.requested_model}' belongs to provider '{target.provider.id}', which offers "
                f"{', '.join(sorted(target.provider.capabilities))} but no chat", code="unsupported_model")
        plan = self._plan(ex, canonical, target)
        if target.provider.executor:
            from omniroute.providers.executors import executor_for

            plan.executor = executor_for(target.provider)
        if plan.streaming:  # a stream must show content within the first-byte timeout
            first_byte = self.resilience.config.firstByteTimeoutMs / 1000
            timeout_s = min(timeout_s, first_byte) if timeout_s else first_byte

        async def send(account: Account) -> aiohttp.ClientResponse:
            if plan.executor is None:
                return await self.post(account.url_for(plan.model, plan.streaming), account, plan.payload)
            return await self._send_adapted(account, plan)

        async def accept(resp: aiohttp.ClientResponse) -> Answer:
            if plan.streaming:
                return await self._stream_answer(ex, resp, plan)
            return await self._json_answer(ex, resp, plan)

        return await self.attempt(ex, target, send, accept, timeout_s)

    async def _send_adapted(self, account: Account, plan: _Plan) -> aiohttp.ClientResponse:
        """A subscription upstream's call, shaped by its executor (token, URL, headers, envelope)."""
        from omniroute.providers.executors import UpstreamCall

        tokens = self.tokens
        oauth = tokens is not None and account.provider.auth == "oauth"
        call = plan.executor.prepare(UpstreamCall(
            url=account.url_for(plan.model, plan.streaming), headers=dict(self._pool.headers(account)),
            body=plan.payload, stream=plan.streaming, model=plan.model,
            token=await tokens.access_token(account) if oauth else account.api_key,
            account=tokens.executor_account(account) if tokens is not None else {},
            # Only a base URL the connection set itself overrides where the executor would send.
            base_url=account.base_url if account.base_url != account.provider.base_url.rstrip("/") else ""))
        plan.call = call
        return await self.post(call.url, account, call.body, headers=call.headers)

    def route(self, ex: Exchange, combos: bool = False) -> Target | Combo:
        """Resolve ``ex.requested_model`` to a provider and model, under the key's model rules; with
        ``combos`` a combo comes back as itself (else as its first target)."""
        asked = ex.requested_model
        if self.policies is not None:  # the operator's deny and re-route rules
            ex.requested_model = self.policies.apply(ex.api_key.id if ex.api_key else None, asked)
        ex.target = target = resolve(ex.requested_model, self._registry, self._pool, combos)
        if ex.api_key is not None and not ex.api_key.allows_model(asked):
            if target.__class__ is not Target:
                ex.target = None
            raise PermissionDenied(f"this API key may not use the model '{asked}'", code="model_not_allowed")
        return target

    async def attempt(self, ex: Exchange, target: Target, send, accept, timeout_s: float | None = None) -> Answer:
        """Try the target's accounts in turn: ``send(account)`` makes the upstream call, ``accept(resp)``
        turns a 2xx answer into the client's (within ``timeout_s`` when given). Failures move to the
        next account as ``routing.fallback`` says, and feed the breaker, cooldowns and lockouts;
        when all fail, one error names every account and why."""
        resilience = self.resilience
        if ex.reservation is None and self.budgets is not None and self.budgets.active and ex.api_key is not None:
            await self.reserve(ex, target)  # the media routes come here without passing through run
        accounts = await self._usable_accounts(ex, target)
        probe = await resilience.admit(target.provider)
        failures: list[str] = []
        last: UpstreamError | None = None
        pool = self._pool
        for account in accounts:
            # In-flight slot: taken only while limits are on; a stream answer keeps it until it closes.
            held = pool.limits
            if held and not await pool.acquire(account):
                failures.append(f"connection '{account.name}' ({account.id}): at its concurrency limit")
                continue
            ex.attempts += 1
            ex.account = account
            tried = time.perf_counter()
            try:
                if timeout_s is None:
                    answer = await self._try(account, send, accept)
                else:
                    try:
                        async with asyncio.timeout(timeout_s):
                            answer = await self._try(account, send, accept)
                    except TimeoutError:
                        raise UpstreamTimeout(f"upstream sent nothing within {round(timeout_s * 1000)} ms "
                                              "(first-byte or target timeout)") from None
                await resilience.succeeded(account, probe)
                if ex.session_id is not None and self.sessions is not None:
                    await self.sessions.bind(ex.session_id, target.provider.id, account.id)
                if held and answer.stream is not None:
                    ex.release, held = partial(pool.release, account), False
                return answer
            except UpstreamError as err:
                last = detached(err)
            finally:
                if held:
                    await pool.release(account)
            rule = verdict(last)
            self._record_attempt(ex, target, account, last, tried)
            await resilience.failed(account, target.model, last, rule, probe, last.retry_after_s)
            probe = False
            failures.append(f"{target.provider.id}/{target.model} via connection '{account.name}' "
                            f"({account.id}): HTTP {last.status} {last.message}")
            if not rule.next_account:
                break
        if last is None:  # every account was at its concurrency limit
            if probe:  # no upstream answered: the next request probes instead
                await resilience.unprobe(target.provider.id)
            raise pool.busy_error(target.provider.id)
        prefix = "every account failed: " if len(failures) > 1 else "upstream "
        last.message = prefix + "; ".join(failures)
        raise last

    async def _try(self, account: Account, send, accept) -> Answer:
        """One account: send, refresh a subscription token once on 401, accept a 2xx or raise its error."""
        resp = await send(account)
        if resp.status == 401 and self.tokens is not None and await self.tokens.on_unauthorized(
                account, resp.request_info.headers.get("Authorization")):
            resp.release()
            resp = await send(account)  # once more, same account, with the refreshed token
        if resp.status < 300:
            return await accept(resp)
        err = classify_upstream(resp.status, await self._error_body(resp))
        err.retry_after_s = retry_after_seconds(resp.headers)
        err.retry_after = resp.headers.get("Retry-After") or (
            str(max(1, round(err.retry_after_s))) if err.retry_after_s else None)
        raise err

    async def _usable_accounts(self, ex: Exchange, target: Target) -> list[Account]:
        """The accounts to try: the strategy's order, expired sign-ins and model lockouts left out,
        the session's account first."""
        accounts = await self._accounts(ex, target)
        if self.tokens is not None:  # subscription accounts whose sign-in expired are skipped
            accounts = self.tokens.usable(target.provider.id, accounts)
        if self.resilience.config.lockout.enabled:
            free, soonest = [], None
            for account in accounts:
                until = await self.resilience.locked_until(account.id, target.model)
                if until is None:
                    free.append(account)
                else:
                    soonest = until if soonest is None else min(soonest, until)
            if not free and soonest is not None:
                wait = max(1, round(soonest - time.time()))
                err = ModelUnavailable(
                    f"model '{target.model}' of provider '{target.provider.id}' is locked out on every connection "
                    f"after it was not found or over quota there; it is retried in about {wait} s "
                    "(POST /api/resilience/reset clears lockouts)")
                err.retry_after = str(wait)
                raise err
            accounts = free
        if ex.session_id is not None and self.sessions is not None and len(accounts) > 1:
            preferred = await self.sessions.preferred(ex.session_id, target.provider.id)
            for i, account in enumerate(accounts):
                if account.id == preferred:
                    if i and not await self._pool.cooldown_left(account.id):
                        accounts = [account, *accounts[:i], *accounts[i + 1:]]
                    break
        return accounts

    def _decode(self, ex: Exchange) -> ChatRequest | None:
        """Validate the client's body; OpenAI bodies stay raw until a translation needs them."""
        if ex.client_format == "openai":
            validate_chat_request(ex.body)
            ex.requested_model = ex.body["model"]
            return None
        canonical = ex.canonical = translate.decode_client(ex.client_format, ex.body)
        if ex.path_model is not None:
            canonical.model, canonical.stream = ex.path_model, ex.path_stream
        ex.requested_model = canonical.model
        return canonical

    def _plan(self, ex: Exchange, canonical: ChatRequest | None, target: Target) -> _Plan:
        body, client, upstream = ex.body, ex.client_format, target.provider.dialect
        if client == upstream and not (canonical is not None and canonical.foreign_reasoning):
            streaming = self._streaming(ex)
            if client != "gemini":  # Gemini's model lives in the URL
                body["model"] = target.model
            wants_usage = False
            if streaming and client == "openai":
                options = body.get("stream_options") or {}
                wants_usage = options.get("include_usage") is True
                body["stream_options"] = {**options, "include_usage": True}
            return _Plan(orjson.dumps(body), streaming, False, wants_usage, target.model)
        if canonical is None:
            canonical = ex.canonical = translate.decode_client(client, body)
        if canonical.unportable:
            raise InvalidRequest(
                f"model '{ex.requested_model}' is served by a {upstream} upstream, which cannot carry: "
                + "; ".join(canonical.unportable), code="unsupported_feature")
        canonical.model = target.model
        wants_usage = client in _USAGE_OPT_IN and (body.get("stream_options") or {}).get("include_usage") is True
        payload = orjson.dumps(translate.encode_upstream(canonical, upstream))
        return _Plan(payload, canonical.stream, True, wants_usage, target.model)

    @staticmethod
    def _streaming(ex: Exchange) -> bool:
        """Whether the client asked for a stream, by its dialect's own rule."""
        if ex.client_format == "gemini":
            return ex.path_stream
        if ex.client_format == "ollama":
            return ex.body.get("stream", True) is not False  # Ollama streams unless told not to
        return ex.body.get("stream") is True

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

    async def post(self, url: str, account: Account, payload, headers: dict | None = None) -> aiohttp.ClientResponse:
        """POST to an upstream with the account's headers (``headers`` replace them when given)."""
        if not headers:
            headers = self._pool.headers(account)
            if self.tokens is not None and self.tokens.manages(account):
                # Subscription accounts: a fresh bearer token. An executor that shapes its own
                # headers gets the same from ``self.tokens.auth_headers(account)``.
                headers = {**headers, **await self.tokens.auth_headers(account)}
        try:
            return await self._proxies.session_for(url, account).post(url, data=payload, headers=headers)
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            raise UpstreamConnectionError(f"upstream unreachable: {exc.__class__.__name__}: {exc}") from exc

    @staticmethod
    async def _error_body(resp: aiohttp.ClientResponse) -> bytes:
        try:
            return await resp.read()
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise UpstreamConnectionError(f"upstream error answer interrupted: {exc.__class__.__name__}") from exc
        finally:
            resp.release()

    async def _json_answer(self, ex: Exchange, resp: aiohttp.ClientResponse, plan: _Plan) -> Answer:
        try:
            raw = await resp.read()
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise UpstreamConnectionError(f"upstream answer interrupted: {exc}") from exc
        finally:
            resp.release()
        try:
            if plan.executor is not None:  # unwrapped (or collected from a stream) into the plain dialect
                data = plan.executor.answer_json(raw, plan.call)
                raw = orjson.dumps(data)
            else:
                data = orjson.loads(raw)
            if not isinstance(data, dict):
                raise ValueError("not an object")
            upstream = ex.target.provider.dialect
            answer = None
            if upstream == "openai" and not plan.translate:
                ex.usage = usage_from_openai(data.get("usage"))
            else:
                answer = translate.decode_answer(upstream, data)
                ex.usage = answer.usage
            if estimate.missing(ex.usage):
                answer = answer or translate.decode_answer(upstream, data)
                ex.usage = answer.usage = estimate.estimated(input_estimate(ex),
                                                             estimate.response_tokens(answer))
            if ex.cache_key is not None:  # kept as the upstream gave it, before it is encoded for the client
                self.cache.store(ex, answer or translate.decode_answer(upstream, data), upstream)
            if plan.translate:
                raw = orjson.dumps(translate.encode_answer(answer, upstream, ex.client_format, ex.canonical))
        except (orjson.JSONDecodeError, ValueError, TypeError, KeyError, AttributeError):
            raise UpstreamConnectionError("upstream answered 200 with a body that is not a valid answer") from None
        ex.status = resp.status
        headers = self.headers(ex)
        headers.append((b"x-omniroute-tokens-in", str(ex.usage.prompt_total).encode()))
        headers.append((b"x-omniroute-tokens-out", str(ex.usage.output).encode()))
        headers.append((b"x-omniroute-response-cost", cost_header(self.cost(ex))))
        headers.append((b"content-type", b"application/json"))
        return Answer(resp.status, headers, body=raw)

    async def _stream_answer(self, ex: Exchange, resp: aiohttp.ClientResponse, plan: _Plan) -> Answer:
        client, upstream = ex.client_format, ex.target.provider.dialect
        if not plan.translate and client == "openai":
            relay = OpenAIPassThrough(plan.client_wants_usage)
        elif plan.translate or ex.json_array:
            # The upstream always streams SSE; a client that asked for another framing gets it re-encoded.
            options = {"array": True} if ex.json_array else {}
            relay = translate.stream_relay(upstream, client, ex.requested_model, ex.canonical, **options)
            if client in _USAGE_OPT_IN:
                relay.encoder.include_usage = plan.client_wants_usage
        else:
            relay = ObservingRelay(codec(upstream).stream_decoder(), codec(client).stream_encoder(ex.requested_model))
        progress = ex.progress and progress_supported(client, ex.json_array)
        if ex.cache_key is not None or progress:
            relay = ex.tap = StreamTap(relay, codec(upstream).stream_decoder(), collect=ex.cache_key is not None,
                                       progress=(client, ex.requested_model) if progress else None,
                                       started=ex.started)
        if plan.executor is not None:
            from omniroute.providers.executors import with_transform

            relay = with_transform(relay, plan.executor.unwrap_stream(plan.model))
        headers = self.headers(ex)
        headers += [(b"content-type", translate.stream_media_type(client, ex.json_array)),
                    (b"cache-control", b"no-cache"), (b"x-accel-buffering", b"no")]
        if progress:
            headers.append((b"x-omniroute-progress", b"enabled"))
        stream = UpstreamStream(ex, resp, relay, self.record)
        await stream.prime()
        return Answer(200, headers, stream=stream)

    def headers(self, ex: Exchange) -> list[tuple[bytes, bytes]]:
        target = ex.target
        headers = [(b"x-omniroute-latency-ms", str(int((time.perf_counter() - ex.started) * 1000)).encode())]
        if target is not None and ex.cache != "HIT":
            headers += [(b"x-omniroute-provider", target.provider.id.encode()),
                        (b"x-omniroute-model", target.model.encode())]
        if ex.cache == "MISS":
            headers.append((b"x-omniroute-cache", b"MISS"))
        if ex.attempts > 1:
            headers.append((b"x-omniroute-fallback-attempts", str(ex.attempts - 1).encode()))
        if ex.request_id:
            headers.append((b"x-request-id", ex.request_id.encode()))
        return headers
