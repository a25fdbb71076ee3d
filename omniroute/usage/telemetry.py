"""Rolling latency and request counts per provider and connection, kept in memory.

Fed once per finished request (off the response path, from the usage recorder's hook) and read by
``/api/telemetry/summary`` and ``/api/rate-limits`` — neither scans the usage table. Each provider
keeps its newest ``max_samples`` requests, so memory stays bounded however long the process runs.
These are this instance's figures; the usage table holds every instance's.
"""

from __future__ import annotations

import time
from collections import deque

MAX_SAMPLES = 4096


class Telemetry:
    def __init__(self, max_samples: int = MAX_SAMPLES):
        self._max = max_samples
        # provider id → deque of (monotonic seconds, latency ms, ok, connection id)
        self._samples: dict[str, deque[tuple[float, int, bool, str | None]]] = {}

    def observe(self, provider: str | None, connection: str | None, latency_ms: int, ok: bool,
                at: float | None = None) -> None:
        if provider is None:
            return
        samples = self._samples.get(provider)
        if samples is None:
            samples = self._samples[provider] = deque(maxlen=self._max)
        samples.append((time.monotonic() if at is None else at, latency_ms, ok, connection))

    def summary(self, window_ms: int) -> dict:
        """``{"providers": {id: {"p50", "p95", "p99", "count", "errors"}}}`` over the last ``window_ms``."""
        since = time.monotonic() - window_ms / 1000
        out = {}
        for provider, samples in list(self._samples.items()):
            recent = [s for s in samples if s[0] >= since]
            if not recent:
                continue
            latencies = sorted(s[1] for s in recent)
            out[provider] = {"p50": _pct(latencies, 50), "p95": _pct(latencies, 95), "p99": _pct(latencies, 99),
                             "count": len(recent), "errors": sum(1 for s in recent if not s[2])}
        return {"windowMs": window_ms, "providers": out}

    def recent_by_connection(self, seconds: float = 60.0) -> dict[str, int]:
        """Requests per connection id in the last ``seconds``."""
        since = time.monotonic() - seconds
        counts: dict[str, int] = {}
        for samples in list(self._samples.values()):
            for at, _, _, connection in reversed(samples):
                if at < since:
                    break
                if connection is not None:
                    counts[connection] = counts.get(connection, 0) + 1
        return counts


def _pct(sorted_values: list[int], pct: int) -> int:
    """Nearest-rank percentile of a sorted, non-empty list."""
    rank = max(1, -(-len(sorted_values) * pct // 100))
    return sorted_values[rank - 1]
