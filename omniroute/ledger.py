"""The ledger side of the chat pipeline: what a request may spend, what it cost, and its usage row.

A mixin of ``ChatPipeline``: budget reservations before the upstream call, the cost computed once
from the reported usage and the pricing table, the rows of failed attempts, and the request's row
(which also settles its reservation and feeds /metrics).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import orjson

from omniroute.dialects.registry import codec
from omniroute.errors import OmniRouteError
from omniroute.routing.accounts import Account
from omniroute.routing.resolve import Target, resolve
from omniroute.schema import Usage
from omniroute.store.repos import AttemptRow, UsageRow
from omniroute.usage import estimate

if TYPE_CHECKING:
    from omniroute.pipeline import Exchange
    from omniroute.routing.combos import Combo


def cost_header(usd: float) -> bytes:
    """X-OmniRoute-Response-Cost: USD with up to ten decimals, no trailing zeros."""
    return f"{usd:.10f}".rstrip("0").rstrip(".").encode()


DEFAULT_OUTPUT_TOKENS = 4096  # a budget reserves this much output for a request that sets no cap


def _output_cap(body: dict) -> int | None:
    """The output cap of a body in any dialect, when it sets one."""
    for name in ("max_tokens", "max_completion_tokens", "max_output_tokens"):
        value = body.get(name)
        if type(value) is int and value > 0:
            return value
    for outer, name in (("generationConfig", "maxOutputTokens"), ("options", "num_predict")):
        inner = body.get(outer)
        value = inner.get(name) if isinstance(inner, dict) else None
        if type(value) is int and value > 0:
            return value
    return None


def input_estimate(ex: Exchange) -> int:
    """Input tokens of the client's request, estimated (for upstreams that report no usage)."""
    try:
        request = ex.canonical or codec(ex.client_format).decode_request(ex.body)
    except OmniRouteError:
        return 0
    return estimate.request_tokens(request)


class Ledger:
    """Budgets, cost and usage rows for the pipeline."""

    async def reserve(self, ex: Exchange, target: Target | Combo) -> None:
        """Hold the request's estimated cost in its key's budgets (BudgetExceeded when one is spent)."""
        if ex.api_key.id not in self.budgets.by_key:
            return
        from omniroute.usage.pricing import estimate_cost

        if target.__class__ is Target:
            targets = [target]
        else:  # the dearest target the combo may end on
            targets = []
            for name in target.targets:
                try:
                    targets.append(resolve(name, self._registry, self._pool))
                except OmniRouteError:
                    continue
        pricing, body = self.services.pricing, ex.body
        if ex.client_format in ("embeddings", "images") or not body:  # a transcription's body is its form
            input_tokens = len(orjson.dumps(body.get("input") or body.get("prompt") or "")) // 3
            output_tokens = 0
        else:
            input_tokens = input_estimate(ex)
            output_tokens = (ex.canonical.max_tokens if ex.canonical is not None else None) \
                or _output_cap(body) or DEFAULT_OUTPUT_TOKENS
        n = body.get("n")
        images = (n if type(n) is int and n > 0 else 1) if ex.client_format == "images" else 0
        usd = max((estimate_cost(pricing.lookup(t.provider.id, t.model), input_tokens, output_tokens, images=images,
                                 subscription=t.provider.auth == "oauth") for t in targets), default=0.0)
        ex.reservation = await self.budgets.reserve(ex.api_key.id, usd, ex.client_ip)

    def cost(self, ex: Exchange) -> float:
        """USD for the exchange, once: the pricing table over the usage the upstream reported (cached,
        cache-write and reasoning tokens each at their price); 0 for a subscription account, a cache
        hit or an idempotent replay."""
        if ex.cost is None:
            target, usage = ex.target, ex.usage
            if target is None or (usage is None and not ex.images and not ex.audio_seconds) or ex.cache == "HIT" \
                    or ex.idempotent or self.services is None:
                ex.cost = 0.0
            else:
                from omniroute.usage.pricing import cost

                usage = usage or Usage()
                ex.cost = cost(self.services.pricing.lookup(target.provider.id, target.model), usage,
                               images=ex.images, audio_seconds=ex.audio_seconds,
                               subscription=target.provider.auth == "oauth")
        return ex.cost

    def _record_attempt(self, ex: Exchange, target: Target, account: Account, err: OmniRouteError,
                        tried: float) -> None:
        """A failed upstream call: its own row, linked to the request's row (written when the request ends)."""
        recorder = self._recorder
        if ex.row_id is None:
            ex.row_id = recorder.new_id()
        recorder.record_attempt(AttemptRow(
            id=recorder.new_id(), requestId=ex.row_id, timestamp=time.time(), attempt=ex.attempts,
            provider=target.provider.id, connectionId=account.id, model=target.model, status=err.status,
            error=err.message, latencyMs=int((time.perf_counter() - tried) * 1000)))

    def record(self, ex: Exchange, error: OmniRouteError | None = None) -> None:
        """Queue the usage row of a finished exchange (once)."""
        if ex.recorded:
            return
        ex.recorded = True
        if error is not None:
            ex.status, ex.error = error.status, error.message
        if ex.tap is not None and ex.cache_key is not None and ex.status == 200:
            answer = ex.tap.answer()
            if answer is not None:
                self.cache.store(ex, answer, ex.target.provider.dialect)
        usage = ex.usage or Usage()
        target = ex.target if ex.cache != "HIT" else None
        latency_ms = int((time.perf_counter() - ex.started) * 1000)
        if self.telemetry is not None and target is not None:
            self.telemetry.observe(target.provider.id, ex.account.id if ex.account else None, latency_ms,
                                   ex.status < 400)
        if ex.row_id is None:
            ex.row_id = self._recorder.new_id()
        row = UsageRow(
            id=ex.row_id,
            timestamp=time.time(),
            apiKeyId=ex.api_key.id if ex.api_key else None,
            provider=target.provider.id if target else None,
            connectionId=ex.account.id if ex.account else None,
            model=target.model if target else None,
            requestedModel=ex.requested_model,
            combo=ex.combo,
            clientFormat=ex.client_format,
            upstreamFormat=target.provider.dialect if target else None,
            promptTokens=usage.prompt_total,
            completionTokens=usage.output,
            cachedTokens=usage.cache_read,
            reasoningTokens=usage.reasoning,
            cost=self.cost(ex),
            latencyMs=latency_ms,
            ttftMs=ex.ttft_ms,
            status=ex.status,
            cache=ex.cache,
            error=ex.error,
            cacheWriteTokens=usage.cache_write,
            estimated=usage.estimated,
            idempotent=ex.idempotent,
            attempts=ex.attempts,
            images=ex.images,
            audioSeconds=ex.audio_seconds,
        )
        self._recorder.record(row)
        if self.budgets is not None and self.budgets.active and row.apiKeyId is not None:
            self.budgets.settle(row.apiKeyId, row.cost, ex.reservation)
            ex.reservation = None
        if self.metrics is not None:
            self.metrics.observe(row)
