"""Prometheus metrics: plain counters fed by each finished request's usage row, rendered on demand.

``Metrics.observe`` runs once per client request on the hot path, so it only updates a few dicts
and lists keyed by label tuples: no prometheus_client object is touched per request, no lock is
taken (everything runs on the event loop). ``prometheus_client`` itself is imported only when
``/metrics`` is scraped (``render``), so a gateway that is never scraped never pays for it.
"""

from __future__ import annotations

import time
from bisect import bisect_left

# Latency histogram buckets (upper bounds, milliseconds); rendered in seconds.
BUCKETS_MS = (5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000)
_N_BUCKETS = len(BUCKETS_MS)

# Label cardinality bounds: further distinct values are counted under OTHER.
MAX_MODELS = 500
MAX_PROVIDERS = 200
OTHER = "other"
NONE = "none"  # a row without a provider or a model (e.g. refused before routing)
CACHE = "cache"  # the provider label of a cache hit (no upstream served it; its model is the requested one)

# Indexes into a (provider, model) slot.
PROMPT, COMPLETION, CACHED, REASONING, COST, HITS, LOOKUPS, FALLBACKS, ERRORS, IMAGES, AUDIO, REPLAYS = range(12)
_SLOT_SIZE = 12

BREAKER_VALUES = {"closed": 0, "half-open": 1, "open": 2}


class Metrics:
    """Counts what each finished request's usage row says; rendered for /metrics on demand."""

    def __init__(self) -> None:
        self.started_at = time.time()
        # (provider, model, client_format, status) -> requests
        self.requests: dict[tuple, int] = {}
        # (provider, model) -> [prompt, completion, cached, reasoning, cost, cache hits, cache lookups,
        #                       fallback attempts, errors, images, audio seconds, idempotent replays]
        self.slots: dict[tuple, list] = {}
        # provider -> [count per bucket (not cumulative)..., +Inf count, sum of seconds, count]
        self.latency: dict[str, list] = {}
        self._models: set[str] = set()
        self._providers: set[str] = set()

    def observe(self, row) -> None:
        provider, model = row.provider, row.model
        if provider is None:  # a cache hit or a request refused before routing
            if row.cache == "HIT":
                provider, model = CACHE, model or row.requestedModel or NONE
            else:
                provider = NONE
        if model is None:
            model = NONE
        key = (provider, model)
        slot = self.slots.get(key)
        if slot is None:
            provider, model, key, slot = self._new_slot(provider, model)
        rkey = (provider, model, row.clientFormat or NONE, row.status)
        requests = self.requests
        requests[rkey] = requests.get(rkey, 0) + 1
        slot[PROMPT] += row.promptTokens or 0
        slot[COMPLETION] += row.completionTokens or 0
        slot[CACHED] += row.cachedTokens or 0
        slot[REASONING] += row.reasoningTokens or 0
        slot[COST] += row.cost or 0.0
        cache = row.cache
        if cache is not None:
            slot[LOOKUPS] += 1
            if cache == "HIT":
                slot[HITS] += 1
        attempts = row.attempts
        if attempts and attempts > 1:
            slot[FALLBACKS] += attempts - 1
        if row.status >= 400 or row.error is not None:
            slot[ERRORS] += 1
        if row.images:
            slot[IMAGES] += row.images
        if row.audioSeconds:
            slot[AUDIO] += row.audioSeconds
        if row.idempotent:
            slot[REPLAYS] += 1
        ms = row.latencyMs
        if ms is not None:
            hist = self.latency.get(provider)
            if hist is None:
                hist = self.latency[provider] = [0] * (_N_BUCKETS + 1) + [0.0, 0]
            hist[bisect_left(BUCKETS_MS, ms)] += 1
            hist[-2] += ms / 1000
            hist[-1] += 1

    def _new_slot(self, provider: str, model: str) -> tuple[str, str, tuple, list]:
        """The slot of a (provider, model) seen for the first time, past the cardinality bounds."""
        if provider not in self._providers:
            if len(self._providers) >= MAX_PROVIDERS:
                provider = OTHER
            else:
                self._providers.add(provider)
        if model not in self._models:
            if len(self._models) >= MAX_MODELS:
                model = OTHER
            else:
                self._models.add(model)
        key = (provider, model)
        slot = self.slots.get(key)
        if slot is None:
            slot = self.slots[key] = [0] * _SLOT_SIZE
            slot[COST] = slot[AUDIO] = 0.0
        return provider, model, key, slot


async def gather(services) -> dict:
    """The gauges read from the running gateway (awaited before rendering, which is synchronous)."""
    breakers = {}
    for pid in services.pool.providers():
        try:
            state = (await services.resilience.breaker_state(pid)).get("breaker")
        except Exception:  # a state backend hiccup must not fail the scrape
            continue
        breakers[pid] = BREAKER_VALUES.get(state, 0)
    rc = services.response_cache
    return {
        "version": services.version,
        "started_at": services.started_at,
        "inflight": services.inflight,
        "breakers": breakers,
        "recorder": (services.recorder.pending, services.recorder.written, services.recorder.dropped),
        "cache": (len(getattr(rc, "_memory", ())), getattr(rc, "_bytes", 0)),
    }


def render(metrics: Metrics, gauges: dict) -> tuple[bytes, str]:
    """The Prometheus text exposition of ``metrics`` and ``gauges``, and its content type."""
    from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Collector(metrics, gauges))
    return generate_latest(registry), CONTENT_TYPE_LATEST


class _Collector:
    def __init__(self, metrics: Metrics, gauges: dict):
        self.metrics = metrics
        self.gauges = gauges

    def collect(self):
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

        m, g = self.metrics, self.gauges
        # Snapshots: the event loop does not run observe() while this synchronous code runs, but the
        # copies keep the families consistent if this is ever called from another thread.
        requests = list(m.requests.items())
        slots = [(k, list(v)) for k, v in list(m.slots.items())]
        latency = [(k, list(v)) for k, v in list(m.latency.items())]

        fam = CounterMetricFamily("omniroute_requests", "Client requests finished, by provider, model, "
                                  "client format and HTTP status.",
                                  labels=["provider", "model", "client_format", "status", "status_class"])
        for (provider, model, fmt, status), n in requests:
            fam.add_metric([provider, model, fmt, str(status), f"{status // 100}xx"], n)
        yield fam

        fam = HistogramMetricFamily("omniroute_request_duration_seconds",
                                    "Client request latency (until the last byte), by provider.",
                                    labels=["provider"])
        for provider, hist in latency:
            buckets, running = [], 0
            for i, bound in enumerate(BUCKETS_MS):
                running += hist[i]
                buckets.append((_le(bound), running))
            buckets.append(("+Inf", running + hist[_N_BUCKETS]))
            fam.add_metric([provider], buckets, sum_value=hist[-2])
        yield fam

        fam = CounterMetricFamily("omniroute_tokens", "Tokens reported by upstreams (or estimated), by type.",
                                  labels=["provider", "model", "type"])
        for (provider, model), s in slots:
            for kind, idx in (("prompt", PROMPT), ("completion", COMPLETION), ("cached", CACHED),
                              ("reasoning", REASONING)):
                fam.add_metric([provider, model, kind], s[idx])
        yield fam

        simple = (
            ("omniroute_cost_usd", "Cost of the requests in US dollars (pricing table).", COST),
            ("omniroute_cache_hits", "Requests answered from the response cache.", HITS),
            ("omniroute_cache_lookups", "Requests looked up in the response cache (hits and misses).", LOOKUPS),
            ("omniroute_fallback_attempts", "Extra upstream attempts (retries and fallbacks) beyond the first.",
             FALLBACKS),
            ("omniroute_errors", "Client requests that ended with an error.", ERRORS),
            ("omniroute_images", "Images generated.", IMAGES),
            ("omniroute_audio_seconds", "Seconds of audio transcribed.", AUDIO),
            ("omniroute_idempotent_replays", "Answers replayed for a repeated Idempotency-Key.", REPLAYS),
        )
        for name, doc, idx in simple:
            fam = CounterMetricFamily(name, doc, labels=["provider", "model"])
            for (provider, model), s in slots:
                fam.add_metric([provider, model], s[idx])
            yield fam

        fam = GaugeMetricFamily("omniroute_in_flight_requests", "Client requests being served.")
        fam.add_metric([], g["inflight"])
        yield fam

        fam = GaugeMetricFamily("omniroute_circuit_breaker_state",
                                "Circuit breaker per provider: 0 closed, 1 half-open, 2 open.",
                                labels=["provider"])
        for provider, value in sorted(g["breakers"].items()):
            fam.add_metric([provider], value)
        yield fam

        pending, written, dropped = g["recorder"]
        fam = GaugeMetricFamily("omniroute_usage_rows_pending", "Usage rows queued and not yet written.")
        fam.add_metric([], pending)
        yield fam
        fam = CounterMetricFamily("omniroute_usage_rows_written", "Usage rows written to the database.")
        fam.add_metric([], written)
        yield fam
        fam = CounterMetricFamily("omniroute_usage_rows_dropped",
                                  "Usage rows dropped because the queue was full.")
        fam.add_metric([], dropped)
        yield fam

        entries, size = g["cache"]
        fam = GaugeMetricFamily("omniroute_response_cache_entries", "Entries in the response cache's memory tier.")
        fam.add_metric([], entries)
        yield fam
        fam = GaugeMetricFamily("omniroute_response_cache_bytes", "Bytes held by the response cache's memory tier.")
        fam.add_metric([], size)
        yield fam

        fam = GaugeMetricFamily("omniroute_uptime_seconds", "Seconds since the gateway started.")
        fam.add_metric([], max(0.0, time.time() - g["started_at"]))
        yield fam
        fam = GaugeMetricFamily("omniroute_start_time_seconds", "Start time of the gateway, Unix seconds.")
        fam.add_metric([], g["started_at"])
        yield fam

        import platform

        fam = GaugeMetricFamily("omniroute_build_info", "Always 1; the labels name the running build.",
                                labels=["version", "python"])
        fam.add_metric([g["version"], platform.python_version()], 1)
        yield fam


def _le(bound_ms: int) -> str:
    return repr(bound_ms / 1000)
