"""Account selection end to end: which key the upstream saw per request, concurrency limits, settings."""

from __future__ import annotations

import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

CHAT = {"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
DEFAULT = {"strategy": "fill-first", "stickyUses": 3, "perProvider": {}}


@pytest.fixture
def selection(admin):
    """Set ``accountSelection``; the default comes back after the test."""

    def put(**fields) -> dict:
        resp = admin.put("/api/settings", json={"accountSelection": {**DEFAULT, **fields}})
        assert resp.status_code == 200, resp.text
        return resp.json()

    yield put
    assert admin.put("/api/settings", json={"accountSelection": DEFAULT}).status_code == 200


def _chat(gateway, **extra) -> httpx.Response:
    return httpx.post(gateway.url + "/v1/chat/completions", json={**CHAT, **extra}, timeout=30)


def _keys(gateway, upstream, n: int) -> list[str]:
    upstream.clear()
    for _ in range(n):
        assert _chat(gateway).status_code == 200
    return [r.api_key for r in upstream.requests]


def _accounts(connection, n: int, **fields) -> list[dict]:
    return [connection(apiKey=f"sk-sel-{i}", priority=i + 1, **fields) for i in range(n)]


def test_fill_first_is_the_default(gateway, upstream, connection, admin):
    assert admin.get("/api/settings").json()["accountSelection"] == DEFAULT
    _accounts(connection, 3)
    assert _keys(gateway, upstream, 4) == ["sk-sel-0"] * 4


def test_round_robin_sticks_for_three_then_moves(gateway, upstream, connection, selection):
    _accounts(connection, 2)
    selection(strategy="round-robin")
    assert _keys(gateway, upstream, 8) == ["sk-sel-0"] * 3 + ["sk-sel-1"] * 3 + ["sk-sel-0"] * 2


def test_round_robin_sticky_uses_and_per_provider(gateway, upstream, connection, selection):
    _accounts(connection, 3)
    selection(strategy="fill-first", stickyUses=1, perProvider={"openai": "round-robin"})
    assert _keys(gateway, upstream, 6) == ["sk-sel-0", "sk-sel-1", "sk-sel-2"] * 2


def test_random_uses_every_account(gateway, upstream, connection, selection):
    _accounts(connection, 2)
    selection(strategy="random")
    counts = Counter(_keys(gateway, upstream, 30))
    assert set(counts) == {"sk-sel-0", "sk-sel-1"}


def test_least_used_balances(gateway, upstream, connection, selection):
    _accounts(connection, 3)
    selection(strategy="least-used")
    assert Counter(_keys(gateway, upstream, 9)) == {"sk-sel-0": 3, "sk-sel-1": 3, "sk-sel-2": 3}


def test_p2c_avoids_the_busy_account(gateway, upstream, connection, selection):
    _accounts(connection, 2)
    selection(strategy="p2c")
    upstream.clear()
    upstream.latency_ms = 600
    with ThreadPoolExecutor(2) as pool:
        first = pool.submit(_chat, gateway)
        time.sleep(0.2)
        second = pool.submit(_chat, gateway)
        assert first.result().status_code == 200 and second.result().status_code == 200
    assert sorted(r.api_key for r in upstream.requests) == ["sk-sel-0", "sk-sel-1"]


def test_cooling_account_goes_last_and_the_next_serves(gateway, upstream, connection, selection):
    _accounts(connection, 2)
    selection(strategy="least-used")
    upstream.clear()
    upstream.fail_for_key("sk-sel-0", 503)
    for _ in range(4):
        resp = _chat(gateway)
        assert resp.status_code == 200 and resp.headers.get("x-omniroute-provider") == "openai"
    served = [r.api_key for r in upstream.requests]
    assert served.count("sk-sel-0") == 1  # tried once, then cooling down behind the healthy one


def test_an_account_at_its_limit_passes_the_request_on(gateway, upstream, connection):
    conns = [connection(apiKey="sk-lim-0", priority=1, maxConcurrency=1), connection(apiKey="sk-lim-1", priority=2)]
    assert conns[0]["maxConcurrency"] == 1 and conns[1]["maxConcurrency"] is None
    upstream.latency_ms = 600
    with ThreadPoolExecutor(2) as pool:
        first = pool.submit(_chat, gateway)
        time.sleep(0.2)
        second = pool.submit(_chat, gateway)
        assert first.result().status_code == 200 and second.result().status_code == 200
    assert [r.api_key for r in upstream.requests] == ["sk-lim-0", "sk-lim-1"]
    upstream.latency_ms = 0
    assert _keys(gateway, upstream, 2) == ["sk-lim-0"] * 2  # the slot came back


def test_all_at_their_limit_wait_then_429(gateway, upstream, connection):
    connection(apiKey="sk-lim-0", maxConcurrency=1)
    upstream.latency_ms = 3500
    with ThreadPoolExecutor(2) as pool:
        first = pool.submit(_chat, gateway)
        time.sleep(0.3)
        started = time.monotonic()
        refused = pool.submit(_chat, gateway).result()
        waited = time.monotonic() - started
        assert first.result().status_code == 200
    assert refused.status_code == 429, refused.text
    assert refused.json()["error"]["code"] == "concurrency_limited"
    assert 1.5 < waited < 3.4  # waited briefly for a slot before giving up
    assert len(upstream.requests) == 1


def test_slots_are_released_after_streams_errors_and_disconnects(gateway, upstream, connection):
    connection(apiKey="sk-lim-0", maxConcurrency=1)
    with httpx.stream("POST", gateway.url + "/v1/chat/completions", json={**CHAT, "stream": True}) as resp:
        assert resp.status_code == 200
        resp.read()
    upstream.fail_next(500, count=1)
    assert _chat(gateway).status_code == 500
    upstream.chunk_delay_ms = 200
    with httpx.stream("POST", gateway.url + "/v1/chat/completions", json={**CHAT, "stream": True}) as resp:
        next(resp.iter_bytes())  # then leave mid-stream
    upstream.chunk_delay_ms = 0
    deadline = time.monotonic() + 3
    while True:  # the gateway notices the disconnect on its next write
        resp = _chat(gateway)
        if resp.status_code == 200 or time.monotonic() > deadline:
            break
    assert resp.status_code == 200, resp.text


def test_settings_validation(admin):
    assert admin.put("/api/settings", json={"nope": 1}).status_code == 400
    assert admin.put("/api/settings", json={"accountSelection": {"strategy": "fastest"}}).status_code == 400
    assert admin.put("/api/settings", json={"accountSelection": {"stickyUses": "3"}}).status_code == 400
    assert admin.put("/api/settings", json={"accountSelection": {"stickyUses": 0}}).status_code == 400
    assert admin.put("/api/settings", json={"accountSelection": {"extra": True}}).status_code == 400
    resp = admin.put("/api/settings", json={"accountSelection": {"perProvider": {"no-such": "random"}}})
    assert resp.status_code == 400 and "no-such" in resp.json()["error"]
    assert admin.put("/api/settings", json=[1]).status_code == 400
    assert admin.get("/api/settings").json()["accountSelection"] == DEFAULT


def test_settings_persist_and_are_returned(admin, selection):
    body = selection(strategy="p2c", stickyUses=5, perProvider={"groq": "random", "cc": "round-robin"})
    assert body["accountSelection"] == {"strategy": "p2c", "stickyUses": 5,
                                        "perProvider": {"groq": "random", "cc": "round-robin"}}
    assert admin.get("/api/settings").json() == body
    assert admin.put("/api/settings", json={}).json() == body  # nothing named, nothing changed


def test_connection_fields(admin, connection):
    conn = connection(maxConcurrency=4)
    assert conn["maxConcurrency"] == 4
    for field in ("status", "rateLimitedUntil", "lastError"):
        assert field in conn
    assert conn["status"] == "active"
    updated = admin.put(f"/api/providers/{conn['id']}", json={"maxConcurrency": None}).json()
    assert updated["maxConcurrency"] is None
    assert admin.put(f"/api/providers/{conn['id']}", json={"maxConcurrency": 0}).status_code == 400
    assert admin.put(f"/api/providers/{conn['id']}", json={"maxConcurrency": "2"}).status_code == 400
    listed = {c["id"]: c for c in admin.get("/api/providers").json()["connections"]}
    assert "maxConcurrency" in listed[conn["id"]]


def test_templated_providers_need_their_fields(admin):
    resp = admin.post("/api/providers", json={"provider": "azure-openai", "apiKey": "k"})
    assert resp.status_code == 400 and "resource" in resp.json()["error"]
    resp = admin.post("/api/providers", json={"provider": "cloudflare-workers-ai", "apiKey": "k",
                                              "providerData": {"accountId": "abc"}})
    assert resp.status_code == 201, resp.text
    admin.delete(f"/api/providers/{resp.json()['id']}")


def test_local_servers_need_no_key(admin):
    resp = admin.post("/api/providers", json={"provider": "vllm", "baseUrl": "http://127.0.0.1:9/v1"})
    assert resp.status_code == 201, resp.text
    admin.delete(f"/api/providers/{resp.json()['id']}")
