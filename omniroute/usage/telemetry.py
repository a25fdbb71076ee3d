"""Rolling latency and request counts per provider and connection, kept in memory.

Fed once per finished request (from the pipeline's usage hook, no I/O) and read by
``/api/telemetry/summary`` and ``/api/rate-limits`` — neither scans the usage table.

Latency percentiles come from the newest ``MAX_SAMPLES`` requests inside the window (at a high
request rate, the most recent ones), kept in flat arrays. Counts are exact while the window lies
within those samples; beyond them they are summed from 10-second buckets kept for ``HORIZON_S``.
Memory stays bounded however long the process runs. These are this instance's figures; the usage
table holds every instance's.
"""

from __future__ import annotations

import time
from array import array
from collections import deque

MAX_SAMPLES = 2048
HORIZON_S = 3600  # the longest window answered
BUCKET_S = 10  # counts past the samples' reach are summed by buckets of this many seconds
RECENT_S = 60  # per-connection counts (``recentRequests`` of /api/rate-limits)


class _Series:
    """One provider: a ring of the newest samples in flat arrays, and 10-second count buckets."""

    __slots__ = ("times", "latencies", "oks", "size", "next", "buckets")

    def __init__(self, max_samples: int):
        self.times = array("d", bytes(8 * max_samples))  # monotonic seconds
        self.latencies = array("l", bytes(array("l").itemsize * max_samples))
        self.oks = array("b", bytes(max_samples))
        self.size = 0
        self.next = 0
        self.buckets: deque[list[int]] = deque(maxlen=HORIZON_S // BUCKET_S)  # [start, requests, errors]

    def add(self, at: float, latency_ms: int, ok: bool) -> None:
        i = self.next
        self.times[i], self.latencies[i], self.oks[i] = at, latency_ms, ok
        self.next = (i + 1) % len(self.times)
        self.size = min(self.size + 1, len(self.times))
        start, buckets = int(at) - int(at) % BUCKET_S, self.buckets
        if buckets and buckets[-1][0] == start:
            bucket = buckets[-1]
            bucket[1] += 1
        else:
            bucket = [start, 1, 0]
            buckets.append(bucket)
        if not ok:
            bucket[2] += 1

    def window(self, since: float) -> tuple[list[int], int, int]:
        """Latencies since ``since``, with the request and error counts of the window."""
        latencies, errors, oldest = [], 0, None
        times, lats, oks = self.times, self.latencies, self.oks
        for i in range(self.size):
            at = times[i]
            oldest = at if oldest is None or at < oldest else oldest
            if at >= since:
                latencies.append(lats[i])
                errors += not oks[i]
        if self.size < len(times) or (oldest is not None and oldest < since):
            return latencies, len(latencies), errors  # every request of the window is a sample: exact
        count = errors = 0
        for start, requests, failed in reversed(self.buckets):  # older ones: by bucket
            if start + BUCKET_S <= since:
                break
            count += requests
            errors += failed
        return latencies, max(count, len(latencies)), errors


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
            latencies, count, errors = series.window(since)
            if not latencies:
                continue
            latencies.sort()
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
