"""Breakers, cooldowns and lockouts through a running gateway of their own (so tiny thresholds and
reset times cannot disturb other tests), and the endpoints that show and reset them."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from tests.support import Gateway

CHAT = {"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture(scope="module")
def gw(tmp_path_factory):
    gateway = Gateway(tmp_path_factory.mktemp("resilience-gw")).start()
    yield gateway
    gateway.stop()


@pytest.fixture
def api(gw):
    client = gw.admin()
    defaults = client.get("/api/resilience").json()
    assert client.post("/api/resilience/reset").json() == {"reset": True}
    yield client
    client.put("/api/resilience", json=defaults)
    for row in client.get("/api/providers").json()["connections"]:
        client.delete(f"/api/providers/{row['id']}")
    client.post("/api/resilience/reset")
    client.close()


@pytest.fixture
def connect(api, upstream):
    def make(name: str, priority: int = 1, key: str | None = None) -> dict:
        resp = api.post("/api/providers", json={"provider": "openai", "name": name, "apiKey": key or f"sk-{name}",
                                                "baseUrl": upstream.base_url, "priority": priority})
        assert resp.status_code == 201, resp.text
        return resp.json()

    return make


def chat(gw, body=CHAT, **kw) -> httpx.Response:
    return httpx.post(gw.url + "/v1/chat/completions", json=body, timeout=30, **kw)


def breaker(api, provider="openai") -> dict:
    return api.get("/api/monitoring/health").json()["providers"][provider]


def test_breaker_opens_fails_fast_then_lets_exactly_one_probe_through(gw, api, connect, upstream):
    api.put("/api/resilience", json={"profiles": {"apikey": {"failureThreshold": 3, "resetTimeoutMs": 700}},
                                     "failureDedupeMs": 0})
    connect("only")
    upstream.fail_next(503, count=3)
    assert [chat(gw).status_code for _ in range(3)] == [503, 503, 503]
    assert breaker(api)["breaker"] == "open"

    sent = len(upstream.requests)
    refused = chat(gw)
    assert refused.status_code == 503 and refused.json()["error"]["code"] == "circuit_open"
    assert "circuit breaker is open" in refused.json()["error"]["message"]
    assert 1 <= int(refused.headers["retry-after"]) <= 1
    assert len(upstream.requests) == sent, "an open breaker must not reach the upstream"

    time.sleep(0.8)
    assert breaker(api)["breaker"] == "half-open"
    upstream.latency_ms = 400  # the probe is still in flight while the others arrive

    async def burst():
        async with httpx.AsyncClient(timeout=30) as client:
            return await asyncio.gather(*(client.post(gw.url + "/v1/chat/completions", json=CHAT) for _ in range(8)))

    statuses = sorted(r.status_code for r in asyncio.run(burst()))
    assert statuses == [200] + [503] * 7
    assert len(upstream.requests) == sent + 1, "exactly one probe reaches the upstream"
    assert breaker(api)["breaker"] == "closed"
    upstream.latency_ms = 0
    assert chat(gw).status_code == 200


def test_a_failed_probe_opens_the_breaker_again(gw, api, connect, upstream):
    api.put("/api/resilience", json={"profiles": {"apikey": {"failureThreshold": 2, "resetTimeoutMs": 400}},
                                     "failureDedupeMs": 0})
    connect("only")
    upstream.fail_next(500, count=3)
    chat(gw), chat(gw)
    assert breaker(api)["breaker"] == "open"
    time.sleep(0.5)
    assert chat(gw).status_code == 500  # the probe, failing
    state = breaker(api)
    assert state["breaker"] == "open" and state["retryInS"] > 0.2
    time.sleep(0.5)
    assert chat(gw).status_code == 200 and breaker(api)["breaker"] == "closed"


@pytest.mark.parametrize("status", [400, 401, 403, 404])
def test_failures_about_the_request_or_the_account_never_open_the_breaker(gw, api, connect, upstream, status):
    api.put("/api/resilience", json={"profiles": {"apikey": {"failureThreshold": 2}}, "failureDedupeMs": 0,
                                     "lockout": {"enabled": False}})
    connect("only")
    upstream.fail_next(status, count=5)
    assert [chat(gw).status_code for _ in range(5)] == [status] * 5
    assert breaker(api)["breaker"] == "closed"


def test_failures_of_one_connection_within_the_dedupe_window_count_once(gw, api, connect, upstream):
    api.put("/api/resilience", json={"profiles": {"apikey": {"failureThreshold": 2}}, "failureDedupeMs": 5000})
    connect("only")
    upstream.fail_next(503, count=4)
    assert [chat(gw).status_code for _ in range(4)] == [503] * 4
    assert breaker(api) == {**breaker(api), "breaker": "closed", "failures": 1}


def test_retry_after_sets_the_cooldown_and_the_account_comes_back(gw, api, connect, upstream):
    first, second = connect("first", 1), connect("second", 2)
    upstream.fail_next(429, headers={"Retry-After": "1"})
    resp = chat(gw)
    assert resp.status_code == 200 and resp.headers["x-omniroute-fallback-attempts"] == "1"
    limits = {c["id"]: c for c in api.get("/api/rate-limits").json()["connections"]}
    assert limits[first["id"]]["backoffLevel"] == 1
    assert 0.5 < limits[first["id"]]["rateLimitedUntil"] - time.time() <= 1.05
    assert limits[second["id"]]["rateLimitedUntil"] is None
    assert limits[second["id"]]["recentRequests"] >= 1
    shown = api.get(f"/api/providers/{first['id']}").json()
    assert shown["status"] == "cooldown"

    chat(gw)
    assert upstream.requests[-1].api_key == "sk-second", "a cooling account is tried last"
    time.sleep(1.1)
    chat(gw)
    assert upstream.requests[-1].api_key == "sk-first", "the cooldown expired: priority order again"
    limits = {c["id"]: c for c in api.get("/api/rate-limits").json()["connections"]}
    assert limits[first["id"]]["backoffLevel"] == 0, "a success resets the backoff"


def test_openai_rate_limit_reset_headers_are_honoured(gw, api, connect, upstream):
    first = connect("first", 1)
    connect("second", 2)
    upstream.fail_next(429, headers={"x-ratelimit-reset-requests": "2m0s", "x-ratelimit-reset-tokens": "20ms"})
    assert chat(gw).status_code == 200
    limits = {c["id"]: c for c in api.get("/api/rate-limits").json()["connections"]}
    assert 115 < limits[first["id"]]["rateLimitedUntil"] - time.time() <= 120.5


def test_cooldown_backs_off_exponentially_from_the_profile_base(gw, api, connect, upstream):
    api.put("/api/resilience", json={"profiles": {"apikey": {"cooldownBaseMs": 2000, "cooldownMaxMs": 5000,
                                                             "failureThreshold": 100}}})
    only = connect("only")
    waits = []
    for _ in range(3):
        upstream.fail_next(502)
        assert chat(gw).status_code == 502
        row = next(c for c in api.get("/api/rate-limits").json()["connections"] if c["id"] == only["id"])
        waits.append((row["backoffLevel"], round(row["rateLimitedUntil"] - time.time())))
    assert waits == [(1, 2), (2, 4), (3, 5)]  # 2 s, 4 s, then capped at 5 s
    assert chat(gw).status_code == 200, "a lone cooling account is still tried as the last resort"


def test_a_model_not_found_is_locked_out_on_that_account_only(gw, api, connect, upstream):
    first, second = connect("first", 1), connect("second", 2)
    upstream.fail_next(404)
    assert chat(gw).status_code == 200
    assert [r.api_key for r in upstream.requests] == ["sk-first", "sk-second"]

    upstream.clear()
    assert chat(gw).status_code == 200
    assert [r.api_key for r in upstream.requests] == ["sk-second"], "the locked model skips the first account"
    other = {**CHAT, "model": "openai/gpt-4o"}
    assert chat(gw, other).status_code == 200
    assert upstream.requests[-1].api_key == "sk-first", "other models still use the first account"

    models = api.get("/api/models/availability").json()["models"]
    entry = next(m for m in models if m["model"] == "gpt-4o-mini" and m["provider"] == "openai")
    assert entry["available"] is True and entry["lockedOn"] == [first["id"]]
    asked = api.post("/api/models/availability", json={"model": "openai/gpt-4o-mini"}).json()
    assert asked["available"] is True and asked["models"][0]["lockedOn"] == [first["id"]]
    assert second["id"] not in asked["models"][0]["lockedOn"]


def test_a_model_locked_on_every_account_fails_fast_until_it_expires(gw, api, connect, upstream):
    api.put("/api/resilience", json={"lockout": {"baseMs": 600}})
    connect("only")
    upstream.fail_next(404)
    assert chat(gw).status_code == 404
    sent = len(upstream.requests)
    refused = chat(gw)
    assert refused.status_code == 503 and refused.json()["error"]["code"] == "model_unavailable"
    assert len(upstream.requests) == sent
    asked = api.post("/api/models/availability", json={"model": "openai/gpt-4o-mini"}).json()
    assert asked["available"] is False
    assert "locked out" in asked["models"][0]["reason"] and asked["models"][0]["until"] > time.time()
    time.sleep(0.7)
    assert chat(gw).status_code == 200


def test_reset_clears_breakers_cooldowns_and_lockouts(gw, api, connect, upstream):
    api.put("/api/resilience", json={"profiles": {"apikey": {"failureThreshold": 1}}, "failureDedupeMs": 0})
    only = connect("only")
    upstream.fail_next(503)
    chat(gw)
    assert breaker(api)["breaker"] == "open"
    assert api.post("/api/resilience/reset").status_code == 200
    assert breaker(api)["breaker"] == "closed"
    row = next(c for c in api.get("/api/rate-limits").json()["connections"] if c["id"] == only["id"])
    assert row["rateLimitedUntil"] is None and row["backoffLevel"] == 0
    assert chat(gw).status_code == 200


def test_a_stream_that_stays_silent_falls_back_to_the_next_account(gw, api, connect, upstream):
    api.put("/api/resilience", json={"firstByteTimeoutMs": 300})
    connect("first", 1), connect("second", 2)
    upstream.stall_first_chunk(3)
    started = time.monotonic()
    resp = chat(gw, {**CHAT, "stream": True})
    assert resp.status_code == 200 and time.monotonic() - started < 2.5
    assert resp.headers["x-omniroute-fallback-attempts"] == "1"
    assert resp.text.rstrip().endswith("data: [DONE]") and "error" not in resp.text


def test_an_in_band_error_before_content_falls_back(gw, api, connect, upstream):
    connect("first", 1), connect("second", 2)
    upstream.error_event_next("Overloaded", "overloaded_error")
    resp = chat(gw, {**CHAT, "stream": True})
    assert resp.status_code == 200 and resp.headers["x-omniroute-fallback-attempts"] == "1"
    assert '"error"' not in resp.text and resp.text.rstrip().endswith("data: [DONE]")


def test_an_anthropic_in_band_error_before_content_falls_back(gw, api, fake_anthropic_upstream):
    fake_anthropic_upstream.clear()
    for name, priority in (("a1", 1), ("a2", 2)):
        resp = api.post("/api/providers", json={"provider": "anthropic", "name": name, "apiKey": f"sk-{name}",
                                                "baseUrl": fake_anthropic_upstream.base_url, "priority": priority})
        assert resp.status_code == 201
    fake_anthropic_upstream.error_event_next("Overloaded", "overloaded_error")
    body = {"model": "anthropic/claude-sonnet-4-5", "max_tokens": 32, "stream": True,
            "messages": [{"role": "user", "content": "hi"}]}
    resp = httpx.post(gw.url + "/v1/messages", json=body, timeout=30)
    assert resp.status_code == 200 and resp.headers["x-omniroute-fallback-attempts"] == "1"
    assert "event: error" not in resp.text and "event: message_stop" in resp.text
    fake_anthropic_upstream.clear()


def test_a_single_account_stream_failing_before_content_is_a_clean_error(gw, api, connect, upstream):
    connect("only")
    upstream.error_event_next("Overloaded", "overloaded_error")
    resp = chat(gw, {**CHAT, "stream": True})
    assert resp.status_code == 429 and "Overloaded" in resp.json()["error"]["message"]


def test_resilience_settings_are_validated(api):
    before = api.get("/api/resilience").json()
    assert before["profiles"]["oauth"]["failureThreshold"] == 8
    assert before["profiles"]["apikey"] == {"failureThreshold": 12, "windowMs": 60000, "resetTimeoutMs": 30000,
                                            "cooldownBaseMs": 3000, "cooldownMaxMs": 120000}
    assert before["profiles"]["local"]["failureThreshold"] == 2
    assert before["profiles"]["local"]["resetTimeoutMs"] == 15000
    for body, words in (({"profiles": {"cloud": {}}}, "cloud"),
                        ({"profiles": {"apikey": {"failureThreshold": 0}}}, "failureThreshold"),
                        ({"profiles": {"apikey": {"cooldownBaseMs": 9000, "cooldownMaxMs": 1000}}}, "cooldownMaxMs"),
                        ({"firstByteTimeoutMs": "fast"}, "firstByteTimeoutMs"),
                        ({"retries": 3}, "retries")):
        resp = api.put("/api/resilience", json=body)
        assert resp.status_code == 400 and words in resp.json()["error"], resp.text
    assert api.get("/api/resilience").json() == before, "a refused change changes nothing"
    changed = api.put("/api/resilience", json={"profiles": {"local": {"failureThreshold": 4}}}).json()
    assert changed["profiles"]["local"]["failureThreshold"] == 4
    assert changed["profiles"]["local"]["resetTimeoutMs"] == 15000, "fields left out keep their value"


def test_telemetry_summary_reports_latency_percentiles_per_provider(gw, api, connect, upstream):
    connect("only")
    time.sleep(1.2)  # the window below (whole seconds) starts after the earlier tests' requests
    started = time.monotonic()
    upstream.latency_ms = 30
    for _ in range(5):
        assert chat(gw).status_code == 200
    upstream.latency_ms = 0
    window = int((time.monotonic() - started) * 1000) + 100
    summary = api.get("/api/telemetry/summary", params={"windowMs": window}).json()
    stats = summary["providers"]["openai"]
    assert stats["count"] == 5 and stats["errors"] == 0
    assert 30 <= stats["p50"] <= stats["p95"] <= stats["p99"] < 1000
    assert api.get("/api/telemetry/summary", params={"windowMs": 1}).json()["providers"] == {}
    assert api.get("/api/telemetry/summary", params={"windowMs": "soon"}).status_code == 400
