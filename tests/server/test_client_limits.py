"""Client rate limits: RateLimits directly (windows, rollback, slots), then through the running gateway
(/api/rate-limit, 429 in each dialect with Retry-After, in-flight limits released after streams)."""

from __future__ import annotations

import asyncio
import threading
import time

import httpx
import pytest

from omniroute.errors import RateLimited
from omniroute.server.limits import RateLimits, limits_config, wait_s
from omniroute.state import MemoryState
from tests.support import usage_rows

CHAT = {"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
T0 = 1_700_000_040.0  # 0 s into a minute bucket (1_700_000_040 is a multiple of 60)


class Clock:
    def __init__(self, now: float = T0):
        self.now = now

    def __call__(self) -> float:
        return self.now


class Untouchable:
    """A state that fails on any use: admit must not reach it when no limit is set."""

    def __getattr__(self, name):
        raise AssertionError(f"state.{name} used")


def run(coro):
    return asyncio.run(coro)


async def admitted(limits: RateLimits, key: str | None, n: int) -> None:
    for _ in range(n):
        await limits.admit(key)


# ---- RateLimits --------------------------------------------------------------------------------


def test_no_limit_touches_nothing():
    limits = RateLimits(Untouchable())
    assert not limits.active
    assert run(limits.admit("k")) is None
    limits.configure({"perKeyRpm": None})
    assert not limits.active and run(limits.admit(None)) is None


def test_rpm_refuses_the_sixth_and_says_when():
    limits = RateLimits(MemoryState(), clock=Clock(T0 + 10))
    limits.configure({"perKeyRpm": 5})

    async def go():
        await admitted(limits, "k1", 5)
        with pytest.raises(RateLimited) as caught:
            await limits.admit("k1")
        await admitted(limits, "k2", 5)  # another key has its own bucket
        return caught.value

    err = run(go())
    assert err.status == 429 and err.code == "rate_limited"
    assert "API key 'k1'" in err.message and "5 requests per minute" in err.message
    # the bucket alone is full: it must become the previous one and decay to 4/5 (50 s + 12 s)
    assert err.retry_after == "62" and "retry in 62 s" in err.message


def test_refused_requests_do_not_count_and_the_window_slides():
    clock = Clock(T0 + 59)
    limits = RateLimits(MemoryState(), clock=clock)
    limits.configure({"perKeyRpm": 5})

    async def go():
        await admitted(limits, "k", 5)
        for _ in range(3):
            with pytest.raises(RateLimited):
                await limits.admit("k")
        clock.now = T0 + 61  # next bucket: the previous 5 still weigh 5 × 59/60
        with pytest.raises(RateLimited) as early:
            await limits.admit("k")
        clock.now = T0 + 60 + 13  # 5 × 47/60 + 1 ≤ 5
        await limits.admit("k")
        return early.value

    early = run(go())
    assert early.retry_after == "11"  # 12 s into the bucket, 1 s in already


def test_requests_without_a_key_share_a_bucket():
    limits = RateLimits(MemoryState(), clock=Clock())
    limits.configure({"perKeyRpm": 2})

    async def go():
        await admitted(limits, None, 2)
        with pytest.raises(RateLimited) as caught:
            await limits.admit(None)
        return caught.value

    assert "requests without an API key" in run(go()).message


def test_global_rpm_across_keys_rolls_back_the_key_count():
    limits = RateLimits(MemoryState(), clock=Clock())
    limits.configure({"perKeyRpm": 2, "globalRpm": 3})

    async def go():
        await admitted(limits, "a", 2)
        await limits.admit("b")
        with pytest.raises(RateLimited, match="global limit of 3"):
            await limits.admit("c")
        limits.configure({"perKeyRpm": 2})
        await admitted(limits, "c", 2)  # the refused request used none of c's window

    run(go())


def test_concurrency_slots_and_release():
    state = MemoryState()
    limits = RateLimits(state)
    limits.configure({"perKeyConcurrency": 2})

    async def go():
        first, second = await limits.admit("k"), await limits.admit("k")
        with pytest.raises(RateLimited) as caught:
            await limits.admit("k")
        other = await limits.admit("j")
        await first()
        await first()  # a second call frees nothing more
        third = await limits.admit("k")
        with pytest.raises(RateLimited):
            await limits.admit("k")
        for release in (second, third, other):
            await release()
        return caught.value, await state.get("climit:busy:k")

    err, busy = run(go())
    assert err.code == "concurrency_limited" and err.retry_after == "1"
    assert "API key 'k'" in err.message and "2 request(s) in flight" in err.message
    assert busy == 0


def test_a_slot_refusal_does_not_use_up_the_minute():
    limits = RateLimits(MemoryState(), clock=Clock())
    limits.configure({"perKeyRpm": 2, "perKeyConcurrency": 1})

    async def go():
        release = await limits.admit("k")
        with pytest.raises(RateLimited, match="concurrency"):
            await limits.admit("k")
        await release()
        await limits.admit("k")  # the second of two per minute

    run(go())


def test_wait_s():
    assert wait_s(5, 0, 5, 0) == 72
    assert wait_s(5, 5, 0, 1) == 11
    assert wait_s(1, 0, 1, 59.5) == 61  # one a minute: the whole window must pass
    assert wait_s(10, 100, 9, 0) == 60


@pytest.mark.parametrize("value", [{"perKeyRpm": 0}, {"globalRpm": -1}, {"perKeyConcurrency": True},
                                   {"perKeyRpm": 1.5}, {"rpm": 3}, []])
def test_config_is_validated(value):
    with pytest.raises(ValueError):
        limits_config(value)


# ---- through the gateway -----------------------------------------------------------------------


@pytest.fixture
def limits(admin):
    """PUT /api/rate-limit; no limits again after the test (the gateway is shared)."""

    def put(**fields) -> dict:
        resp = admin.put("/api/rate-limit", json=fields)
        assert resp.status_code == 200, resp.text
        return resp.json()

    yield put
    assert admin.put("/api/rate-limit", json={}).status_code == 200


def test_api_get_put_and_validation(admin, limits):
    assert admin.get("/api/rate-limit").json() == {"perKeyRpm": None, "perKeyConcurrency": None,
                                                   "globalRpm": None}
    assert limits(perKeyRpm=100, globalRpm=None) == {"perKeyRpm": 100, "perKeyConcurrency": None,
                                                     "globalRpm": None}
    assert limits(perKeyConcurrency=3)["perKeyRpm"] is None  # PUT replaces
    for body, word in [({"perKeyRpm": 0}, "perKeyRpm"), ({"perKeyRpm": "5"}, "perKeyRpm"),
                       ({"globalRpm": 2.5}, "globalRpm"), ({"burst": 1}, "burst"),
                       ({"perKeyConcurrency": True}, "perKeyConcurrency")]:
        resp = admin.put("/api/rate-limit", json=body)
        assert resp.status_code == 400 and word in resp.json()["error"], (body, resp.text)
    assert admin.get("/api/rate-limit").json()["perKeyConcurrency"] == 3
    entries = admin.get("/api/compliance/audit-log", params={"limit": 5, "action": "rateLimit.update"})
    if entries.status_code == 200:
        assert any(e["action"] == "rateLimit.update" for e in entries.json()["entries"])


def test_rpm_limit_answers_429_in_the_openai_dialect(gateway, admin, connection, api_key, limits):
    connection()
    key = api_key()
    limits(perKeyRpm=5)
    client = gateway.client(key["key"])
    assert [client.post("/v1/chat/completions", json=CHAT).status_code for _ in range(5)] == [200] * 5
    resp = client.post("/v1/chat/completions", json=CHAT)
    assert resp.status_code == 429, resp.text
    assert int(resp.headers["retry-after"]) >= 1
    err = resp.json()["error"]
    assert err["code"] == "rate_limited" and err["type"] == "rate_limit_error"
    assert key["id"] in err["message"] and "5 requests per minute" in err["message"]
    rows = usage_rows(admin, key["id"], 6)
    refused = [r for r in rows if r["status"] == 429]
    assert len(refused) == 1 and refused[0]["requestedModel"] == CHAT["model"]


def test_rpm_limit_answers_429_in_the_anthropic_dialect(gateway, connection, api_key, limits):
    connection()
    key = api_key()
    limits(perKeyRpm=1)
    client = gateway.client(key["key"])
    body = {"model": "openai/gpt-4o-mini", "max_tokens": 16, "messages": [{"role": "user", "content": "hi"}]}
    assert client.post("/v1/messages", json=body).status_code == 200
    resp = client.post("/v1/messages", json=body)
    assert resp.status_code == 429 and int(resp.headers["retry-after"]) >= 1
    payload = resp.json()
    assert payload["type"] == "error" and payload["error"]["type"] == "rate_limit_error"
    assert "1 requests per minute" in payload["error"]["message"]


def test_concurrency_limit_with_a_slow_upstream(gateway, upstream, connection, api_key, limits):
    connection()
    key = api_key()
    limits(perKeyConcurrency=1)
    client = gateway.client(key["key"])
    upstream.hang_next(1.5)
    slow: list[httpx.Response] = []
    thread = threading.Thread(target=lambda: slow.append(client.post("/v1/chat/completions", json=CHAT)))
    thread.start()
    deadline = time.monotonic() + 5
    while not upstream.requests and time.monotonic() < deadline:
        time.sleep(0.01)
    assert upstream.requests, "the slow request never reached the upstream"
    resp = gateway.client(key["key"]).post("/v1/chat/completions", json=CHAT)
    assert resp.status_code == 429, resp.text
    assert resp.headers["retry-after"] == "1" and resp.json()["error"]["code"] == "concurrency_limited"
    other = gateway.client(api_key()["key"]).post("/v1/chat/completions", json=CHAT)
    assert other.status_code == 200  # the limit is per key
    thread.join(10)
    assert slow[0].status_code == 200
    assert client.post("/v1/chat/completions", json=CHAT).status_code == 200


def test_a_stream_frees_its_slot_when_it_ends(gateway, upstream, connection, api_key, limits):
    connection()
    key = api_key()
    limits(perKeyConcurrency=1)
    upstream.chunk_delay_ms = 20
    client = gateway.client(key["key"])
    for _ in range(3):
        with client.stream("POST", "/v1/chat/completions", json={**CHAT, "stream": True}) as resp:
            assert resp.status_code == 200
            body = b"".join(resp.iter_bytes())
        assert b"[DONE]" in body
        resp = client.post("/v1/chat/completions", json=CHAT)
        assert resp.status_code == 200, resp.text


def test_media_routes_are_limited_too(gateway, connection, api_key, limits):
    connection()
    key = api_key()
    limits(perKeyRpm=1)
    client = gateway.client(key["key"])
    body = {"model": "openai/text-embedding-3-small", "input": "hello"}
    first = client.post("/v1/embeddings", json=body)
    second = client.post("/v1/embeddings", json=body)
    assert second.status_code == 429, (first.text, second.text)
    assert second.json()["error"]["code"] == "rate_limited" and "retry-after" in second.headers
