"""Rolling latency and request counts per provider and connection, kept in memory.

Fed once per finished request (from the pipeline's usage hook, no I/O) and read by
``/api/telemetry/summary`` and ``/api/rate-limits`` — neither scans the usage table.

Counts are exact over the window: one ``[second, requests, errors]`` bucket per second with traffic,
kept for ``HORIZON_S``. Latency percentiles come from the newest ``MAX_SAMPLES`` latencies inside
the window (at a high request rate, the most recent ones). Memory stays bounded however long the
process runs. These are this instance's figures; the usage table holds every instance's.
"""

from __future__ import annotations

import time
from collections import deque

MAX_SAMPLES = 2048
HORIZON_S = 3600  # the longest window answered
RECENT_S = 60  # per-connection counts (``recentRequests`` of /api/rate-limits)


class _Series:
    __slots__ = ("samples", "seconds")

    def __init__(self, max_samples: int):
        self.samples: deque[tuple[float, int]] = deque(maxlen=max_samples)  # (monotonic s, latency ms)
        self.seconds: deque[list[int]] = deque(maxlen=HORIZON_S)  # [whole second, requests, errors]

    def add(self, at: float, latency_ms: int, ok: bool) -> None:
        self.samples.append((at, latency_ms))
        second, seconds = int(at), self.seconds
        if seconds and seconds[-1][0] == second:
            bucket = seconds[-1]
            bucket[1] += 1
        else:
            bucket = [second, 1, 0]
            seconds.append(bucket)
        if not ok:
            bucket[2] += 1


class Telemetry:
    def __init__(self, max_samples: int = MAX_SAMPLES):
        self._max = max_samples
        self._providers: dict[str, _Series] = {}
        self._connections: dict[str, deque[list[int]]] = {}  # connection id → [second, requests]

    def observe(self, provider: str | None, connection: str | None, latency_ms: int, ok: bool,
                at: float | None = None) -> None:
        if provider is None:
            return
        at = time.monotonic() if at is None else at
        series = self._providers.get(provider)
        if series is None:
            series = self._providers[provider] = _Series(self._max)
        series.add(at, latency_ms, ok)
        if connection is not None:
            seconds = self._connections.get(connection)
            if seconds is None:
                seconds = self._connections[connection] = deque(maxlen=RECENT_S)
            second = int(at)
            if seconds and seconds[-1][0] == second:
                seconds[-1][1] += 1
            else:
                seconds.append([second, 1])

    def summary(self, window_ms: int) -> dict:
        """``{"providers": {id: {"p50", "p95", "p99", "count", "errors"}}}`` over the last ``window_ms``."""
        now = time.monotonic()
        since = now - min(window_ms / 1000, HORIZON_S)
        out = {}
        for provider, series in list(self._providers.items()):
            latencies = sorted(ms for at, ms in series.samples if at >= since)
            if not latencies:
                continue
            count = errors = 0
            for second, requests, failed in reversed(series.seconds):
                if second + 1 <= since:
                    break
                count += requests
                errors += failed
            # A partly covered first second counts whole; never report fewer than the samples seen.
            out[provider] = {"p50": _pct(latencies, 50), "p95": _pct(latencies, 95), "p99": _pct(latencies, 99),
                             "count": max(count, len(latencies)), "errors": errors}
        return {"windowMs": window_ms, "providers": out}

    def recent_by_connection(self, seconds: float = RECENT_S) -> dict[str, int]:
        """Requests per connection id in the last ``seconds`` (at most ``RECENT_S``)."""
        since = int(time.monotonic() - min(seconds, RECENT_S))
        counts: dict[str, int] = {}
        for connection, buckets in list(self._connections.items()):
            total = sum(n for second, n in buckets if second >= since)
            if total:
                counts[connection] = total
        return counts


def _pct(sorted_values: list[int], pct: int) -> int:
    """Nearest-rank percentile of a sorted, non-empty list."""
    rank = max(1, -(-len(sorted_values) * pct // 100))
    return sorted_values[rank - 1]
