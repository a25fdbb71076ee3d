"""Telemetry: nearest-rank percentiles, the rolling window, exact counts, bounded samples, per-connection counts."""

from __future__ import annotations

import random
import time

import pytest

from omniroute.usage.telemetry import HORIZON_S, RECENT_S, Telemetry


def _fed(latencies, provider: str = "p", connection: str | None = "c", ok: bool = True, at: float | None = None,
         telemetry: Telemetry | None = None) -> Telemetry:
    t = telemetry or Telemetry()
    for latency in latencies:
        t.observe(provider, connection, latency, ok, at=at)
    return t


@pytest.mark.parametrize("latencies, p50, p95, p99", [
    (range(1, 101), 50, 95, 99),
    (range(1, 21), 10, 19, 20),  # nearest rank: ceil(0.95 * 20) = 19th, not an interpolation
    (range(1, 11), 5, 10, 10),
    ([10, 20, 30, 40], 20, 40, 40),
    ([7], 7, 7, 7),
    ([5, 1000], 5, 1000, 1000),
])
def test_nearest_rank_percentiles(latencies, p50, p95, p99):
    shuffled = list(latencies)
    random.Random(1).shuffle(shuffled)
    stats = _fed(shuffled).summary(60_000)["providers"]["p"]
    assert (stats["p50"], stats["p95"], stats["p99"]) == (p50, p95, p99)
    assert stats["count"] == len(shuffled) and stats["errors"] == 0


def test_errors_are_counted_per_provider():
    t = _fed([100] * 7, ok=True)
    _fed([200] * 3, ok=False, telemetry=t)
    _fed([50] * 2, provider="q", ok=False, telemetry=t)
    out = t.summary(60_000)["providers"]
    assert out["p"]["count"] == 10 and out["p"]["errors"] == 3
    assert out["q"]["count"] == 2 and out["q"]["errors"] == 2
    assert out["p"]["p50"] == 100 and out["p"]["p95"] == 200  # failed requests' latencies count too


def test_the_window_leaves_older_samples_out():
    now = time.monotonic()
    t = Telemetry()
    t.observe("p", "c", 1000, False, at=now - 120)
    t.observe("p", "c", 900, True, at=now - 30)
    t.observe("p", "c", 10, True, at=now - 1)
    t.observe("old", "c", 5, True, at=now - 600)
    minute = t.summary(60_000)
    assert minute["windowMs"] == 60_000
    assert set(minute["providers"]) == {"p"}  # a provider with nothing recent is left out
    assert minute["providers"]["p"] == {"p50": 10, "p95": 900, "p99": 900, "count": 2, "errors": 0}
    assert t.summary(5_000)["providers"]["p"] == {"p50": 10, "p95": 10, "p99": 10, "count": 1, "errors": 0}
    hour = t.summary(3_600_000)["providers"]
    assert hour["p"]["count"] == 3 and hour["p"]["errors"] == 1 and hour["p"]["p99"] == 1000
    assert hour["old"]["count"] == 1
    assert t.summary(100)["providers"] == {}


def test_percentiles_keep_the_newest_samples_while_counts_stay_exact():
    t = Telemetry(max_samples=5)
    for i in range(100):
        t.observe("p", f"c{i % 4}", i, i % 2 == 0)
    t.observe("q", "x", 1, True)
    out = t.summary(60_000)["providers"]
    # memory is bounded: only the newest five latencies (95..99) are kept for the percentiles
    assert (out["p"]["p50"], out["p"]["p95"], out["p"]["p99"]) == (97, 99, 99)
    # the counts come from per-second buckets and stay exact
    assert out["p"]["count"] == 100 and out["p"]["errors"] == 50
    assert out["q"] == {"p50": 1, "p95": 1, "p99": 1, "count": 1, "errors": 0}
    assert t.recent_by_connection() == {"c0": 25, "c1": 25, "c2": 25, "c3": 25, "x": 1}


def test_windows_longer_than_the_horizon_are_capped():
    now = time.monotonic()
    t = Telemetry()
    t.observe("p", "c", 500, False, at=now - HORIZON_S - 100)
    t.observe("p", "c", 5, True, at=now - 10)
    out = t.summary((HORIZON_S + 1_000) * 1000)
    assert out["windowMs"] == (HORIZON_S + 1_000) * 1000
    assert out["providers"]["p"] == {"p50": 5, "p95": 5, "p99": 5, "count": 1, "errors": 0}


def test_unknown_provider_is_not_recorded():
    t = Telemetry()
    t.observe(None, "c", 10, True)
    assert t.summary(60_000)["providers"] == {}
    assert t.recent_by_connection() == {}


def test_recent_by_connection():
    now = time.monotonic()
    t = Telemetry()
    t.observe("p", "old", 1, True, at=now - 300)
    t.observe("p", "c1", 1, True, at=now - 90)
    for _ in range(3):
        t.observe("p", "c1", 1, True, at=now - 5)
    t.observe("p", "c2", 1, False, at=now - 2)
    t.observe("p", None, 1, True, at=now - 1)
    t.observe("q", "c1", 1, True, at=now - 1)  # counts add up across providers
    assert t.recent_by_connection() == {"c1": 4, "c2": 1}
    assert t.recent_by_connection(RECENT_S) == {"c1": 4, "c2": 1}
    assert t.recent_by_connection(3) == {"c2": 1, "c1": 1}
    # at most RECENT_S seconds back
    assert t.recent_by_connection(1000) == {"c1": 4, "c2": 1}


def test_default_timestamps_are_now():
    t = Telemetry()
    t.observe("p", "c", 42, True)
    assert t.summary(1_000)["providers"]["p"]["p50"] == 42
    assert t.recent_by_connection(1) == {"c": 1}
