"""History benchmark: /api/usage/history over 1,000,000 usage rows on SQLite (run: python bench/history.py).

Creates a fresh data directory, writes the rows (spread evenly over the last 90 UTC days, in time order,
through UsageRepo.insert_many), starts the gateway on it as `make bench` does, and times
GET /api/usage/history?period=day&days=90 and ?period=hour&days=30: the first request (cold) and the
median of the next runs. It is a benchmark: it prints figures and checks only that the answers add up.

Environment: BENCH_HISTORY_ROWS (default 1000000), BENCH_HISTORY_RUNS (measured runs after the first, 7).
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import shutil
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

from run import (
    OUT,
    PASSWORD,
    REPO,
    BenchError,
    Child,
    free_port,
    gateway_command,
    request,
    wait_until_answers,
)

sys.path.insert(0, str(REPO))

DAY = 86_400
# The two measured queries, then one filtered by key for comparison (1/8 of the rows, read through
# ix_usage_key_time and the table: not a covering index).
QUERIES = (("day", 90, ""), ("hour", 30, ""), ("day", 90, "&apiKeyId=bench-key-0"))
BATCH = 50_000
KEYS = [f"bench-key-{i}" for i in range(8)]
TARGETS = [("openai", "gpt-4o-mini"), ("openai", "gpt-4o"), ("anthropic", "claude-sonnet-4-5"),
           ("gemini", "gemini-2.5-flash")]


async def fill(db_url: str, rows: int) -> tuple[float, list[str]]:
    """Write ``rows`` usage rows over the last 90 UTC days; returns (seconds, the history query's plan)."""
    from omniroute.store.engine import create_engine, migrate
    from omniroute.store.repos import UsageRepo, UsageRow

    engine = create_engine(db_url)
    try:
        await migrate(engine)
        repo = UsageRepo(engine)
        now = time.time()
        start = (int(now) // DAY - 89) * DAY
        step = (now - start) / rows
        rng = random.Random(7)
        started = time.perf_counter()
        for first in range(0, rows, BATCH):
            batch = []
            for i in range(first, min(first + BATCH, rows)):
                provider, model = TARGETS[i % len(TARGETS)]
                prompt, completion = rng.randint(20, 4000), rng.randint(1, 800)
                status = 200 if i % 50 else 503
                batch.append(UsageRow(
                    f"bench{i:014x}", start + (i + rng.random()) * step, KEYS[i % len(KEYS)], provider,
                    f"conn-{provider}", model, model, None, "openai", provider, prompt, completion, 0, 0,
                    round((prompt * 0.15 + completion * 0.6) / 1e6, 8), rng.randint(100, 3000), None, status,
                    None, None if status == 200 else "upstream 503"))
            await repo.insert_many(batch)
        took = time.perf_counter() - started
        query = repo.history_query(start=start, end=start + 90 * DAY, width=DAY)
        compiled = query.compile(engine.sync_engine)
        params = tuple(compiled.params[name] for name in compiled.positiontup)
        async with engine.connect() as conn:
            steps = [r[-1] for r in (await conn.exec_driver_sql("EXPLAIN QUERY PLAN " + str(compiled), params)).all()]
            plan = list(dict.fromkeys(steps))  # a compound SELECT repeats its steps once per bucket
    finally:
        await engine.dispose()
    return took, plan


def login(port: int) -> dict:
    status, headers, body = request(port, "POST", "/api/auth/login", {"password": PASSWORD})
    if status != 200:
        raise BenchError(f"POST /api/auth/login answered {status}: {body[:300]!r}")
    cookies = [c.split(";", 1)[0] for c in headers.get_all("Set-Cookie") or [] if c.startswith("auth_token=")]
    if not cookies:
        raise BenchError("POST /api/auth/login set no auth_token cookie")
    return {"Cookie": cookies[0]}


def time_query(port: int, auth: dict, period: str, days: int, extra: str, runs: int) -> dict:
    path = f"/api/usage/history?period={period}&days={days}{extra}"
    times, total = [], None
    for _ in range(runs + 1):
        started = time.perf_counter()
        status, _, body = request(port, "GET", path, headers=auth, timeout=60)
        times.append((time.perf_counter() - started) * 1000)
        if status != 200:
            raise BenchError(f"GET {path} answered {status}: {body[:300]!r}")
        history = json.loads(body)["history"]
        total = sum(bucket["requests"] for bucket in history)
    return {"path": path, "buckets": len(history), "requests": total, "cold_ms": times[0],
            "median_ms": statistics.median(times[1:]), "min_ms": min(times[1:]), "max_ms": max(times[1:])}


def main() -> int:
    rows = int(os.environ.get("BENCH_HISTORY_ROWS", "1000000"))
    runs = int(os.environ.get("BENCH_HISTORY_RUNS", "7"))
    OUT.mkdir(parents=True, exist_ok=True)
    data_dir = tempfile.mkdtemp(prefix="omniroute-bench-history-")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    children: list[Child] = []
    try:
        print(f"-- history: writing {rows:,} usage rows over 90 days", flush=True)
        fill_s, plan = asyncio.run(fill(f"sqlite+aiosqlite:///{Path(data_dir) / 'storage.sqlite'}", rows))
        size_mb = (Path(data_dir) / "storage.sqlite").stat().st_size / 1e6
        print(f"   written in {fill_s:.1f} s ({rows / fill_s:,.0f} rows/s), database {size_mb:.0f} MB", flush=True)
        print("   query plan: " + "; ".join(plan), flush=True)
        port = free_port()
        # Its own SQLite database, and no background purge while it is measured.
        env = {"INITIAL_PASSWORD": PASSWORD, "LOG_LEVEL": "warning", "DATABASE_URL": "",
               "OMNIROUTE_PURGE_INTERVAL_S": "0"}
        gateway = Child("gateway-history", gateway_command(port, data_dir), env)
        children.append(gateway)
        wait_until_answers(gateway, port, "/api/init")
        auth = login(port)
        results = [time_query(port, auth, period, days, extra, runs) for period, days, extra in QUERIES]
    except BenchError as exc:
        print(f"!!! history bench failed: {exc}", flush=True)
        return 1
    finally:
        for child in reversed(children):
            child.close()
        shutil.rmtree(data_dir, ignore_errors=True)
    lines = [f"History over {rows:,} usage rows (SQLite, 90 days), {runs} runs after the first:", "",
             "| request | buckets | requests counted | first (cold) ms | median ms | min–max ms |",
             "|---|---|---|---|---|---|"]
    for r in results:
        lines.append(f"| `GET {r['path']}` | {r['buckets']} | {r['requests']:,} | {r['cold_ms']:.0f} | "
                     f"{r['median_ms']:.0f} | {r['min_ms']:.0f}–{r['max_ms']:.0f} |")
    lines += ["", f"Rows written in {fill_s:.1f} s; query plan: " + "; ".join(plan)]
    text = "\n".join(lines)
    print("\n" + text)
    (OUT / "history.md").write_text(text + "\n")
    print(f"\nmarkdown written to {OUT / 'history.md'}")
    day = results[0]
    if day["requests"] != rows:
        print(f"!!! the daily history counted {day['requests']:,} requests, expected {rows:,}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
