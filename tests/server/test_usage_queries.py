"""The usage ledger's queries through the running server: /api/usage/logs filters and paging, history
buckets, request logs with their failed attempts, per-connection usage, and the retention purge.

Most tests read a gateway of their own whose database is seeded before it starts (rows with chosen
timestamps); the fallback test uses the shared gateway and the shared fake upstream.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
import uuid
from contextlib import closing

import httpx
import pytest

from omniroute.settings import normalize_database_url
from omniroute.store.engine import create_engine, migrate
from omniroute.store.repos import AttemptRow, DetailRow, SettingsRepo, UsageRepo
from tests.support import Gateway

DAY, HOUR = 86_400, 3_600
NOW = time.time()
TODAY = int(NOW) // DAY * DAY
THIS_HOUR = int(NOW) // HOUR * HOUR
OWN_SQLITE = {"DATABASE_URL": ""}  # a gateway of its own on SQLite, whatever the environment says


def row(rid: str, ts: float, **fields) -> dict:
    return {"id": rid, "timestamp": ts, "apiKeyId": "key-a", "provider": "openai", "connectionId": "conn-a",
            "model": "gpt-4o-mini", "requestedModel": "openai/gpt-4o-mini", "clientFormat": "openai",
            "upstreamFormat": "openai", "promptTokens": 10, "completionTokens": 5, "cost": 0.25, "status": 200,
            "latencyMs": 12, **fields}


def seed(url: str, rows=(), attempts=(), details=(), settings: dict | None = None) -> None:
    """Write rows into a gateway's database (migrated first) before the gateway starts."""

    async def run():
        engine = create_engine(normalize_database_url(url))
        try:
            await migrate(engine)
            await UsageRepo(engine).insert_ledger(list(rows), list(attempts), list(details))
            for key, value in (settings or {}).items():
                await SettingsRepo(engine).set(key, value)
        finally:
            await engine.dispose()

    asyncio.run(run())


def sqlite_url(data_dir) -> str:
    data_dir.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{data_dir / 'storage.sqlite'}"


def day_label(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%d")


def hour_label(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%dT%H:00:00Z")


def get(client: httpx.Client, path: str, **params) -> dict:
    resp = client.get(path, params=params)
    assert resp.status_code == 200, resp.text
    return resp.json()


# ---- the seeded gateway -------------------------------------------------------------------------------

# History rows: (days ago, how many, prompt, completion, cost each). Days 2, 4 and 5 stay empty; day 10
# is outside a 7-day window.
DAILY = [(0, 3, 10, 5, 0.25), (1, 2, 100, 50, 1.0), (3, 4, 7, 3, 0.5), (6, 1, 1000, 1, 2.0), (10, 5, 1, 1, 0.125)]
# Hourly rows in today's window: (hours ago, how many).
HOURLY = [(0, 2), (2, 3), (5, 1)]


def _seed_rows() -> tuple[list[dict], list[AttemptRow], list[DetailRow]]:
    rows = []
    for days_ago, n, prompt, completion, cost in DAILY:
        for i in range(n):
            rows.append(row(f"d{days_ago}-{i}", TODAY - days_ago * DAY + 60 + i, apiKeyId="key-hist",
                            connectionId="conn-hist",
                            promptTokens=prompt, completionTokens=completion, cost=cost))
    for hours_ago, n in HOURLY:
        for i in range(n):
            rows.append(row(f"h{hours_ago}-{i}", THIS_HOUR - hours_ago * HOUR + 30 + i, apiKeyId="key-hour",
                            provider="anthropic", connectionId="conn-hour", model="claude-sonnet-4-5",
                            promptTokens=2, completionTokens=1, cost=0.01))
    # The filter rows: one key, two providers, three models, two connections, some errors, spread in time.
    base = NOW - 3_000
    for i in range(12):
        rows.append(row(f"f{i:02d}", base + i * 10, apiKeyId="key-f",
                        provider="openai" if i % 3 else "anthropic",
                        model=("claude-sonnet-4-5", "gpt-4o-mini", "gpt-4o")[i % 3],
                        connectionId="conn-f1" if i < 8 else "conn-f2",
                        status=(200, 200, 429, 500)[i % 4], error=None if i % 4 < 2 else "upstream failed"))
    # A request that fell back twice, with its logged details.
    rows.append(row("req-fb", NOW - 100, apiKeyId="key-fb", connectionId="conn-f2", attempts=3))
    attempts = [AttemptRow(f"att-{n}", "req-fb", NOW - 101 + n * 0.1, n, "openai", "conn-f1", "gpt-4o", 503,
                           "overloaded", 40) for n in (1, 2)]
    details = [DetailRow("req-fb", NOW - 100, "POST", "/v1/chat/completions",
                         '{"content-type": "application/json", "authorization": "[REDACTED]"}',
                         '{"model":"combo"}', '{"content-type": "application/json"}', '{"id":"x"}', False)]
    return rows, attempts, details


@pytest.fixture(scope="module")
def seeded(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("usage-seeded")
    rows, attempts, details = _seed_rows()
    seed(sqlite_url(data_dir), rows, attempts, details)
    gw = Gateway(data_dir, OWN_SQLITE).start()
    yield gw
    gw.stop()


@pytest.fixture
def api(seeded):
    with closing(seeded.admin()) as client:
        yield client


# ---- /api/usage/logs ----------------------------------------------------------------------------------


def test_logs_filter_by_every_field(api):
    everything = get(api, "/api/usage/logs", apiKeyId="key-f", limit=100)
    assert everything["total"] == 12
    assert [r["id"] for r in everything["logs"]] == [f"f{i:02d}" for i in reversed(range(12))], "newest first"
    assert get(api, "/api/usage/logs", apiKeyId="key-f", provider="anthropic")["total"] == 4
    assert {r["model"] for r in get(api, "/api/usage/logs", apiKeyId="key-f", model="gpt-4o")["logs"]} == {"gpt-4o"}
    assert get(api, "/api/usage/logs", apiKeyId="key-f", model="gpt-4o")["total"] == 4
    assert get(api, "/api/usage/logs", connectionId="conn-f1")["total"] == 8
    assert get(api, "/api/usage/logs", apiKeyId="key-f", connectionId="conn-f2", provider="openai")["total"] == 3
    assert get(api, "/api/usage/logs", apiKeyId="key-f", status=500)["total"] == 3
    assert get(api, "/api/usage/logs", apiKeyId="key-f", status="error")["total"] == 6
    assert get(api, "/api/usage/logs", apiKeyId="key-f", status="ok")["total"] == 6
    first = NOW - 3_000
    window = get(api, "/api/usage/logs", apiKeyId="key-f", since=first + 20, until=first + 50)
    assert [r["id"] for r in window["logs"]] == ["f05", "f04", "f03", "f02"], "since and until are inclusive"
    assert get(api, "/api/usage/logs", apiKeyId="key-f", since=NOW + 10)["total"] == 0
    assert get(api, "/api/usage/logs", apiKeyId="no-such-key")["logs"] == []


def test_logs_rows_have_every_usage_field(api):
    logged = get(api, "/api/usage/logs", apiKeyId="key-fb")["logs"][0]
    assert logged["id"] == "req-fb" and logged["attempts"] == 3
    assert {"id", "timestamp", "apiKeyId", "provider", "connectionId", "model", "requestedModel", "combo",
            "clientFormat", "upstreamFormat", "promptTokens", "completionTokens", "cachedTokens",
            "reasoningTokens", "cost", "latencyMs", "ttftMs", "status", "cache", "error"} <= set(logged)


def test_logs_paging_splits_rows_without_overlap(api):
    pages = [get(api, "/api/usage/logs", apiKeyId="key-f", limit=5, offset=offset) for offset in (0, 5, 10, 15)]
    assert [len(p["logs"]) for p in pages] == [5, 5, 2, 0]
    assert {p["total"] for p in pages} == {12}
    ids = [r["id"] for p in pages for r in p["logs"]]
    assert len(ids) == len(set(ids)) == 12


@pytest.mark.parametrize(("params", "named"), [
    ({"limit": "abc"}, "limit"), ({"limit": 0}, "limit"), ({"limit": 1001}, "limit"), ({"offset": -1}, "offset"),
    ({"since": "yesterday"}, "since"), ({"until": "nan"}, "until"), ({"since": -5}, "since"),
    ({"since": 200, "until": 100}, "since"), ({"status": "999"}, "status"), ({"status": "bad"}, "status"),
])
def test_bad_logs_params_are_400(api, params, named):
    for path in ("/api/usage/logs", "/api/usage/request-logs"):
        resp = api.get(path, params=params)
        assert resp.status_code == 400, (path, resp.text)
        assert named in resp.json()["error"]


# ---- /api/usage/history -------------------------------------------------------------------------------


def _expected_days() -> dict[str, tuple[int, int, int, float]]:
    """Requests, prompt and completion tokens and cost of the seeded rows per UTC day."""
    expected: dict[str, tuple[int, int, int, float]] = {}
    for seeded_row in _seed_rows()[0]:
        n, p, c, x = expected.get(day_label(seeded_row["timestamp"]), (0, 0, 0, 0.0))
        expected[day_label(seeded_row["timestamp"])] = (n + 1, p + seeded_row["promptTokens"],
                                                        c + seeded_row["completionTokens"], x + seeded_row["cost"])
    return expected


def test_daily_history_sums_each_utc_day_and_fills_empty_days(api):
    history = get(api, "/api/usage/history", period="day", days=7)["history"]
    today = int(time.time()) // DAY * DAY
    assert [h["date"] for h in history] == [day_label(today - d * DAY) for d in reversed(range(7))], \
        "oldest first, today last, every day listed"
    expected = _expected_days()
    for bucket in history:
        n, p, c, x = expected.get(bucket["date"], (0, 0, 0, 0.0))
        assert (bucket["requests"], bucket["promptTokens"], bucket["completionTokens"]) == (n, p, c), bucket
        assert bucket["cost"] == pytest.approx(x), bucket
    empty = [h for h in history if h["date"] in {day_label(TODAY - d * DAY) for d in (2, 4, 5)}]
    assert len(empty) == 3 and all(h == {**h, "requests": 0, "promptTokens": 0, "completionTokens": 0, "cost": 0}
                                   for h in empty)


def test_history_defaults_to_seven_days_and_reaches_back_to_older_rows(api):
    assert len(get(api, "/api/usage/history")["history"]) == 7
    longer = get(api, "/api/usage/history", days=11)["history"]
    assert len(longer) == 11
    assert longer[0]["date"] == day_label(int(time.time()) // DAY * DAY - 10 * DAY)
    assert longer[0]["requests"] == 5 and longer[0]["cost"] == pytest.approx(0.625)


def test_hourly_history_buckets_by_utc_hour(api):
    history = get(api, "/api/usage/history", period="hour", days=1, apiKeyId="key-hour")["history"]
    this_hour = int(time.time()) // HOUR * HOUR
    assert len(history) == 24
    assert [h["date"] for h in history] == [hour_label(this_hour - h * HOUR) for h in reversed(range(24))]
    assert history[-1]["date"].endswith(":00:00Z")
    counts = {h["date"]: h["requests"] for h in history}
    for hours_ago, n in HOURLY:
        assert counts[hour_label(THIS_HOUR - hours_ago * HOUR)] == n
    assert sum(counts.values()) == sum(n for _, n in HOURLY), "empty hours are listed with zeros"
    bucket = next(h for h in history if h["date"] == hour_label(THIS_HOUR - 2 * HOUR))
    assert bucket == {"date": bucket["date"], "requests": 3, "promptTokens": 6, "completionTokens": 3,
                      "cost": pytest.approx(0.03)}
    assert len(get(api, "/api/usage/history", period="hour", days=3)["history"]) == 72


def test_hours_add_up_to_days_across_statement_chunks(api):
    """264 hourly buckets: more than one statement's worth on SQLite (200); every hour lands in its day."""
    hours = get(api, "/api/usage/history", period="hour", days=11, apiKeyId="key-hist")["history"]
    days = get(api, "/api/usage/history", days=11, apiKeyId="key-hist")["history"]
    assert len(hours) == 264 and len(days) == 11
    by_day: dict[str, list[int]] = {}
    for h in hours:
        totals = by_day.setdefault(h["date"][:10], [0, 0, 0])
        totals[0] += h["requests"]
        totals[1] += h["promptTokens"]
        totals[2] += h["completionTokens"]
    first_hour = int(time.time()) // HOUR * HOUR - 263 * HOUR
    for d in days:
        if d["date"] >= day_label(first_hour + DAY):  # whole days inside the hourly window
            assert by_day[d["date"]] == [d["requests"], d["promptTokens"], d["completionTokens"]], d["date"]
    assert sum(t[0] for t in by_day.values()) > 0


def test_history_filters_by_key_and_provider(api):
    by_key = get(api, "/api/usage/history", days=11, apiKeyId="key-hist")["history"]
    assert sum(h["requests"] for h in by_key) == sum(n for _, n, *_ in DAILY)
    assert sum(h["promptTokens"] for h in by_key) == sum(n * p for _, n, p, *_ in DAILY)
    by_provider = get(api, "/api/usage/history", days=2, provider="anthropic")["history"]
    # anthropic: the hourly rows and the filter rows of anthropic (4), all within the last two days
    assert sum(h["requests"] for h in by_provider) == sum(n for _, n in HOURLY) + 4


@pytest.mark.parametrize(("params", "named"), [
    ({"period": "week"}, "period"), ({"days": 0}, "days"), ({"days": 367}, "days"), ({"days": "x"}, "days"),
])
def test_bad_history_params_are_400(api, params, named):
    resp = api.get("/api/usage/history", params=params)
    assert resp.status_code == 400 and named in resp.json()["error"]


# ---- /api/usage/request-logs --------------------------------------------------------------------------


def test_request_logs_list_rows_with_their_attempts_and_details(api):
    data = get(api, "/api/usage/request-logs", apiKeyId="key-fb")
    assert data["total"] == 1 and data["detailedLogging"] is False
    entry = data["logs"][0]
    assert entry["id"] == "req-fb" and entry["status"] == 200
    assert entry["attemptCount"] == 3, "the row's own count of upstream calls"
    assert [(a["attempt"], a["status"], a["requestId"], a["connectionId"]) for a in entry["attempts"]] == \
        [(1, 503, "req-fb", "conn-f1"), (2, 503, "req-fb", "conn-f1")]
    assert entry["detail"] == {"method": "POST", "path": "/v1/chat/completions",
                               "requestHeaders": {"content-type": "application/json", "authorization": "[REDACTED]"},
                               "requestBody": '{"model":"combo"}',
                               "responseHeaders": {"content-type": "application/json"},
                               "responseBody": '{"id":"x"}', "truncated": False}
    one = get(api, "/api/usage/request-logs/req-fb")
    assert one == entry
    plain = get(api, "/api/usage/request-logs", apiKeyId="key-f", status=429, limit=2)
    assert plain["total"] == 3 and len(plain["logs"]) == 2
    assert all(e["attempts"] == [] and e["detail"] is None and e["status"] == 429 for e in plain["logs"])


def test_unknown_request_log_is_404(api):
    resp = api.get("/api/usage/request-logs/no-such-request")
    assert resp.status_code == 404 and "no-such-request" in resp.json()["error"]


def test_detailed_logging_shows_redacted_headers_and_bodies(api, seeded, upstream):
    secret = "sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4z"
    resp = api.post("/api/providers", json={"provider": "openai", "name": "detailed", "apiKey": "sk-up-detail",
                                            "baseUrl": upstream.base_url})
    assert resp.status_code == 201, resp.text
    conn_id = resp.json()["id"]
    try:
        assert api.put("/api/settings", json={"usage": {"detailedLogging": True}}).status_code == 200
        chat = httpx.post(seeded.url + "/v1/chat/completions", timeout=30, headers={"X-Custom-Token": "tok-123"},
                          json={"model": "openai/gpt-4o-mini", "metadata": {"api_key": "plain"},
                                "messages": [{"role": "user", "content": f"keep {secret}"}]})
        assert chat.status_code == 200, chat.text
        deadline = time.monotonic() + 5
        while True:
            data = get(api, "/api/usage/request-logs", connectionId=conn_id)
            if (data["logs"] and data["logs"][0]["detail"]) or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert data["detailedLogging"] is True
        detail = data["logs"][0]["detail"]
        assert detail is not None, data
        assert detail["method"] == "POST" and detail["path"].startswith("/v1/chat/completions")
        assert detail["requestHeaders"]["x-custom-token"] == "[REDACTED]"
        assert secret not in detail["requestBody"] and "plain" not in detail["requestBody"]
        assert "[REDACTED]" in detail["requestBody"] and "gpt-4o-mini" in detail["requestBody"]
        assert detail["responseBody"] and secret not in detail["responseBody"]
        assert secret not in str(get(api, f"/api/usage/request-logs/{data['logs'][0]['id']}"))
    finally:
        api.put("/api/settings", json={"usage": {"detailedLogging": False}})
        api.delete(f"/api/providers/{conn_id}")


def test_a_fallback_request_lists_its_failed_attempt(gateway, admin, connection, api_key, combo, upstream):
    conn = connection()
    made = combo(["openai/gpt-4o-mini", "openai/gpt-4o"])
    key = api_key(name="fallback-ledger")
    try:
        # 404 (model not on this account) moves on to the next target without cooling anything down.
        upstream.fail_for_model("gpt-4o-mini", 404)
        resp = httpx.post(gateway.url + "/v1/chat/completions", timeout=30,
                          headers={"Authorization": f"Bearer {key['key']}"},
                          json={"model": made["name"], "messages": [{"role": "user", "content": "hi"}]})
        assert resp.status_code == 200, resp.text
        assert resp.headers["x-omniroute-fallback-attempts"] == "1"
        deadline = time.monotonic() + 5
        while True:
            data = get(admin, "/api/usage/request-logs", apiKeyId=key["id"])
            if data["logs"] or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert data["total"] == 1, data
        entry = data["logs"][0]
        assert entry["status"] == 200 and entry["model"] in ("gpt-4o", "openai/gpt-4o")
        assert entry["combo"] == made["name"]
        assert len(entry["attempts"]) == 1, entry
        failed = entry["attempts"][0]
        assert failed["requestId"] == entry["id"], "the attempt is linked to the request's usage row"
        assert failed["status"] == 404 and failed["model"] == "gpt-4o-mini" and failed["attempt"] == 1
        assert failed["connectionId"] == conn["id"] and failed["provider"] == "openai"
        assert failed["timestamp"] <= entry["timestamp"]
        assert get(admin, f"/api/usage/request-logs/{entry['id']}")["attempts"] == entry["attempts"]
    finally:
        admin.delete(f"/api/keys/{key['id']}")


# ---- /api/usage/{connectionId} ------------------------------------------------------------------------


def test_connection_usage_totals_models_and_latest_rows(api):
    data = get(api, "/api/usage/conn-f1")
    assert data["connectionId"] == "conn-f1"
    assert data["requests"] == 8 and data["errors"] == 4
    assert data["promptTokens"] == 80 and data["completionTokens"] == 40
    assert data["cost"] == pytest.approx(2.0)
    assert data["lastUsed"] == pytest.approx(NOW - 3_000 + 70)
    assert {m["model"]: m["requests"] for m in data["byModel"]} == {"claude-sonnet-4-5": 3, "gpt-4o-mini": 3,
                                                                     "gpt-4o": 2}
    assert sum(m["promptTokens"] for m in data["byModel"]) == 80
    assert [r["id"] for r in data["logs"]] == [f"f{i:02d}" for i in reversed(range(8))]


def test_connection_usage_window_in_days(api):
    assert get(api, "/api/usage/conn-hist", days=11)["requests"] == sum(n for _, n, *_ in DAILY)
    week = get(api, "/api/usage/conn-hist", days=7)
    assert week["requests"] == sum(n for d, n, *_ in DAILY if d < 7)
    assert len(get(api, "/api/usage/conn-hist", days=365)["logs"]) == 15
    assert api.get("/api/usage/conn-hist", params={"days": 0}).status_code == 400


def test_connection_usage_of_a_configured_connection_without_rows(api, seeded, upstream):
    resp = api.post("/api/providers", json={"provider": "openai", "name": "idle", "apiKey": "sk-idle",
                                            "baseUrl": upstream.base_url})
    assert resp.status_code == 201, resp.text
    conn_id = resp.json()["id"]
    try:
        data = get(api, f"/api/usage/{conn_id}")
        assert data == {**data, "connectionId": conn_id, "requests": 0, "errors": 0, "promptTokens": 0,
                        "completionTokens": 0, "cost": 0, "lastUsed": None, "byModel": [], "logs": []}
        chat = httpx.post(seeded.url + "/v1/chat/completions", timeout=30,
                          json={"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]})
        assert chat.status_code == 200, chat.text
        deadline = time.monotonic() + 5
        while (data := get(api, f"/api/usage/{conn_id}"))["requests"] == 0 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert data["requests"] == 1 and data["byModel"][0]["model"] == "gpt-4o-mini"
        assert data["promptTokens"] == chat.json()["usage"]["prompt_tokens"]
    finally:
        api.delete(f"/api/providers/{conn_id}")


def test_unknown_connection_without_rows_is_404(api):
    resp = api.get(f"/api/usage/{uuid.uuid4()}")
    assert resp.status_code == 404 and "not found" in resp.json()["error"]


def test_routes_beside_the_catch_all_keep_their_methods(api):
    assert api.get("/api/usage/purge").status_code == 405
    assert api.get("/api/usage/budget").status_code == 200


def test_usage_routes_require_a_login(seeded):
    for path in ("/api/usage/logs", "/api/usage/history", "/api/usage/request-logs", "/api/usage/conn-f1",
                 "/api/usage/request-logs/req-fb"):
        assert httpx.get(seeded.url + path).status_code == 401, path
    assert httpx.post(seeded.url + "/api/usage/purge").status_code == 401


# ---- retention ----------------------------------------------------------------------------------------


def _aged_ledger():
    """Rows 3 and 2 days old (with attempts and details) and rows of the last hours."""
    rows, attempts, details = [], [], []
    for i, age in enumerate([3 * DAY, 3 * DAY, 2 * DAY, 5 * HOUR, 60, 1]):
        rid = f"age-{i}"
        rows.append(row(rid, NOW - age))
        attempts.append(AttemptRow(f"att-{i}", rid, NOW - age - 1, 1, "openai", "conn-a", "gpt-4o", 503, "x", 5))
        details.append(DetailRow(rid, NOW - age, "POST", "/v1/chat/completions", "{}", None, None, None, False))
    return rows, attempts, details


def test_purge_deletes_rows_older_than_the_retention_only(tmp_path):
    rows, attempts, details = _aged_ledger()
    data_dir = tmp_path / "purge"
    seed(sqlite_url(data_dir), rows, attempts, details)
    gw = Gateway(data_dir, OWN_SQLITE).start()
    try:
        with closing(gw.admin()) as client:
            assert client.put("/api/settings", json={"usage": {"retentionDays": 0}}).status_code == 200
            resp = client.post("/api/usage/purge")
            assert resp.status_code == 200, resp.text
            assert resp.json()["deleted"] == {"usage": 0, "attempts": 0, "requestLogs": 0}, "0 keeps for ever"
            assert get(client, "/api/usage/logs")["total"] == 6

            assert client.put("/api/settings", json={"usage": {"retentionDays": 1}}).status_code == 200
            resp = client.post("/api/usage/purge")
            assert resp.status_code == 200, resp.text
            assert resp.json()["deleted"] == {"usage": 3, "attempts": 3, "requestLogs": 3}
            kept = get(client, "/api/usage/request-logs")
            assert sorted(r["id"] for r in kept["logs"]) == ["age-3", "age-4", "age-5"]
            assert all(len(r["attempts"]) == 1 and r["detail"] is not None for r in kept["logs"])
            assert client.post("/api/usage/purge").json()["deleted"] == {"usage": 0, "attempts": 0,
                                                                         "requestLogs": 0}
    finally:
        gw.stop()


def test_the_periodic_purge_runs_on_its_own(tmp_path):
    rows, attempts, details = _aged_ledger()
    data_dir = tmp_path / "periodic"
    seed(sqlite_url(data_dir), rows, attempts, details,
         settings={"usage": {"retentionDays": 1, "detailedLogging": False, "detailMaxBytes": 65_536}})
    gw = Gateway(data_dir, {**OWN_SQLITE, "OMNIROUTE_PURGE_INTERVAL_S": "0.3"}).start()
    try:
        with closing(gw.admin()) as client:
            deadline = time.monotonic() + 10
            while (total := get(client, "/api/usage/logs")["total"]) > 3 and time.monotonic() < deadline:
                time.sleep(0.1)
            assert total == 3
        # Rows that are past the retention later go at the next round, without a restart.
        seed(sqlite_url(data_dir), [row("late-old", NOW - 5 * DAY)], [], [])
        with closing(gw.admin()) as client:
            deadline = time.monotonic() + 10
            while get(client, "/api/usage/logs", apiKeyId="key-a")["total"] > 3 and time.monotonic() < deadline:
                time.sleep(0.1)
            assert sorted(r["id"] for r in get(client, "/api/usage/logs")["logs"]) == ["age-3", "age-4", "age-5"]
    finally:
        gw.stop()


# ---- the history query itself: covering index on SQLite, floor buckets on PostgreSQL --------------------


def test_history_is_answered_from_the_covering_index_on_sqlite(tmp_path):
    async def plan():
        engine = create_engine(normalize_database_url(sqlite_url(tmp_path / "plan")))
        try:
            await migrate(engine)
            query = UsageRepo(engine).history_query(start=TODAY - 6 * DAY, end=TODAY + DAY, width=DAY)
            compiled = query.compile(engine.sync_engine)
            params = tuple(compiled.params[name] for name in compiled.positiontup)
            async with engine.connect() as conn:
                return [r[-1] for r in (await conn.exec_driver_sql("EXPLAIN QUERY PLAN " + str(compiled),
                                                                   params)).all()]
        finally:
            await engine.dispose()

    steps = asyncio.run(plan())
    assert any("USING COVERING INDEX ix_usage_history" in step for step in steps), steps
    assert not any(step.startswith("SCAN usage") for step in steps), steps
    assert not any("TEMP B-TREE" in step for step in steps), "nothing is sorted: " + "; ".join(steps)


def test_history_on_postgresql_through_the_gateway(tmp_path, pg_url):
    # Rows a fraction of a second before a bucket's end: PostgreSQL's CAST would round them into the next.
    rows = [row("pg-1", TODAY - 0.4), row("pg-2", TODAY - DAY - 0.4), row("pg-3", TODAY - 2 * DAY + 0.2),
            row("pg-h", THIS_HOUR - 0.3, apiKeyId="key-pg-hour")]
    seed(pg_url, rows)
    gw = Gateway(tmp_path / "pg", {"DATABASE_URL": pg_url}).start()
    try:
        with closing(gw.admin()) as client:
            days = {h["date"]: h for h in get(client, "/api/usage/history", days=4)["history"]}
            assert days[day_label(TODAY - DAY)]["requests"] == 1 + (THIS_HOUR - TODAY < HOUR)
            assert days[day_label(TODAY - 2 * DAY)]["requests"] == 2
            assert days[day_label(TODAY - 3 * DAY)]["requests"] == 0
            hours = {h["date"]: h for h in get(client, "/api/usage/history", period="hour", days=1,
                                               apiKeyId="key-pg-hour")["history"]}
            assert hours[hour_label(THIS_HOUR - HOUR)]["requests"] == 1
            assert hours[hour_label(THIS_HOUR)]["requests"] == 0
    finally:
        gw.stop()
