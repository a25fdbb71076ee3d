"""The combo loop of the chat pipeline: a combo's targets tried in its strategy's order.

A mixin of ``ChatPipeline`` (it uses the pipeline's registry, pool and ``_serve``).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from omniroute.errors import NoAccountAvailable, OmniRouteError, UpstreamError, detached
from omniroute.routing.combos import Combo, order
from omniroute.routing.fallback import verdict
from omniroute.routing.resolve import Target, resolve
from omniroute.schema import ChatRequest

if TYPE_CHECKING:
    from omniroute.pipeline import Answer, Exchange

_ABSENT = object()
# A combo retrying one target waits at most this long for it (a longer Retry-After moves on instead).
RETRY_WAIT_CAP_S = 10.0


class ComboRunner:
    """Runs a combo for the pipeline: retries, target timeouts, deferral of cooling targets."""

    async def _run_combo(self, ex: Exchange, canonical: ChatRequest | None, combo: Combo) -> Answer:
        """Try a combo's targets in its strategy's order until one answers (``routing.fallback`` says
        which failures move on); targets whose every account is cooling down go last. When all fail,
        one error names each target and why."""
        ex.combo = combo.name
        ex.target = None
        config = combo.config
        retries = int(config.get("maxRetries") or 0)
        delay_s = (config.get("retryDelayMs") or 0) / 1000
        timeout_s = (config.get("targetTimeoutMs") or 0) / 1000 or None
        names = await order(combo, self._registry.model_table.combos, self._pool.state,
                            price_of=self._price_of if combo.strategy == "cost-optimized" else None)
        body, client_canonical = ex.body, canonical
        options = body.get("stream_options", _ABSENT)  # _plan edits the body; each try starts afresh
        failures: list[str] = []
        last: OmniRouteError | None = None
        deferred: list[tuple[str, Target]] = []
        queue: list[tuple[str, Target | None]] = [(name, None) for name in names]
        while queue:
            name, target = queue.pop(0)
            try:
                if target is None:
                    target = resolve(name, self._registry, self._pool)
                    if queue and await self._all_cooling(target):
                        deferred.append((name, target))
                        if not any(t is None for _, t in queue):
                            queue += deferred
                            deferred = []
                        continue
            except OmniRouteError as err:
                last = detached(err)
                failures.append(f"{name}: HTTP {err.status} {err.message}")
                continue
            for attempt in range(retries + 1):
                if options is _ABSENT:
                    body.pop("stream_options", None)
                else:
                    body["stream_options"] = options
                ex.canonical, ex.target = client_canonical, target
                try:
                    return await self._serve(ex, client_canonical, target, timeout_s)
                except OmniRouteError as err:
                    last, rule = detached(err), verdict(err)
                    # An upstream error already names its status and each connection tried.
                    failures.append(f"{name}: {err.message}" if isinstance(err, UpstreamError)
                                    else f"{name}: HTTP {err.status} {err.message}")
                    if not rule.next_target:
                        return self._combo_failed(combo, failures, err, stop=True)
                    wait = max(delay_s, getattr(err, "retry_after_s", None) or 0)
                    if attempt == retries or not (rule.cooldown or rule.breaker) or wait > RETRY_WAIT_CAP_S:
                        break
                    if wait:
                        await asyncio.sleep(wait)
            if not queue and deferred:
                queue, deferred = deferred, []
        return self._combo_failed(combo, failures, last)

    @staticmethod
    def _combo_failed(combo: Combo, failures: list[str], last: OmniRouteError | None, stop: bool = False):
        if last is None:
            raise NoAccountAvailable(f"combo '{combo.name}' has no target to try")
        if len(failures) > 1 or not stop:
            last.message = f"combo '{combo.name}' failed on each target tried: " + "; ".join(failures)
        raise last

    def _price_of(self, name: str, _depth: int = 0) -> float:
        """A target's blended price per 1M tokens: 0 on a subscription, the cheapest target of a nested
        combo, infinity when unknown (those go last)."""
        from omniroute.usage.pricing import blended

        inner = self._registry.model_table.combos.get(name)
        if inner is not None:
            return min((self._price_of(t, _depth + 1) for t in inner.targets if _depth < 3), default=float("inf"))
        try:
            target = resolve(name, self._registry, self._pool)
        except OmniRouteError:
            return float("inf")
        if target.provider.auth == "oauth":
            return 0.0
        pricing = self.services.pricing if self.services is not None else None
        return blended(pricing.lookup(target.provider.id, target.model)) if pricing is not None else float("inf")

    async def _all_cooling(self, target: Target) -> bool:
        """Whether every account of the target's provider is cooling down (the target goes last)."""
        accounts = self._pool.accounts(target.provider.id)
        if not accounts:
            return False
        for account in accounts:
            if not await self._pool.cooldown_left(account.id):
                return False
        return True
