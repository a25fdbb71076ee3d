"""Combo strategies and combo config through the running server.

Every combo here spreads over models of one fake OpenAI connection; the fake records each request
with its body, so the model a request reached is ``body["model"]``. Covered: each strategy's
distribution over many requests, ``maxRetries`` / ``retryDelayMs`` / ``targetTimeoutMs``, the
``X-OmniRoute-Fallback-Attempts`` header, nested combos, and streams that fail before or after
their first content."""

from __future__ import annotations

import time
import uuid
from collections import Counter

import httpx
import openai
import orjson
import pytest

from omniroute.usage.pricing_defaults import DEFAULT_PRICES

MINI, FOUR_O, FOUR_ONE_MINI = "openai/gpt-4o-mini", "openai/gpt-4o", "openai/gpt-4.1-mini"
THREE = (MINI, FOUR_O, FOUR_ONE_MINI)
COMBO_MODELS = (MINI, FOUR_O)


def unique(stem: str) -> str:
    return f"{stem}-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def fake(admin, connection, upstream):
    """One OpenAI connection on the shared fake upstream; the fake itself is returned. Breakers,
    cooldowns and lockouts this test caused are cleared after it (the gateway is shared)."""
    connection()
    yield upstream
    assert admin.post("/api/resilience/reset").status_code == 200


@pytest.fixture
def client(gateway):
    with httpx.Client(base_url=gateway.url, timeout=30) as c:
        yield c


@pytest.fixture
def first_byte_timeout(admin):
    """Setter for /api/resilience firstByteTimeoutMs; the value found is put back after the test."""
    before = admin.get("/api/resilience").json()["firstByteTimeoutMs"]

    def set_ms(ms: int) -> None:
        resp = admin.put("/api/resilience", json={"firstByteTimeoutMs": ms})
        assert resp.status_code == 200, resp.text
        assert resp.json()["firstByteTimeoutMs"] == ms

    yield set_ms
    resp = admin.put("/api/resilience", json={"firstByteTimeoutMs": before})
    assert resp.status_code == 200, resp.text


def served(fake) -> list[str]:
    """The model of each chat request the fake received, in arrival order."""
    return [r.body["model"] for r in fake.requests if r.path == "/v1/chat/completions"]


def chat(client: httpx.Client, model: str, text: str = "hello there", **extra) -> httpx.Response:
    resp = client.post("/v1/chat/completions",
                       json={"model": model, "messages": [{"role": "user", "content": text}], **extra})
    return resp


def ask_many(client: httpx.Client, model: str, n: int) -> list[str]:
    """Send ``n`` requests; the upstream model that served each (from the response header)."""
    out = []
    for _ in range(n):
        resp = chat(client, model)
        assert resp.status_code == 200, resp.text
        assert resp.json()["choices"][0]["message"]["content"] == "echo: hello there"
        out.append(resp.headers["x-omniroute-model"])
    return out


def sse_events(raw: bytes) -> list[bytes]:
    """The ``data:`` payloads of an SSE body, in order."""
    return [line[5:].strip() for line in raw.splitlines() if line.startswith(b"data:")]


def stream_text(events: list[bytes]) -> str:
    text = ""
    for data in events:
        if data == b"[DONE]":
            continue
        obj = orjson.loads(data)
        for choice in obj.get("choices") or []:
            text += (choice.get("delta") or {}).get("content") or ""
    return text


# ---- strategies' distribution -----------------------------------------------------------------


def test_priority_always_uses_the_first_target_while_it_works(client, combo, fake):
    made = combo(THREE)
    picks = ask_many(client, made["name"], 60)
    assert picks == ["gpt-4o-mini"] * 60
    assert served(fake) == ["gpt-4o-mini"] * 60
    fake.fail_for_model("gpt-4o-mini", 404)  # the first one stops working: the second serves
    assert ask_many(client, made["name"], 5) == ["gpt-4o"] * 5


def test_round_robin_rotates_evenly_over_three(client, combo, fake):
    made = combo(THREE, "round-robin")
    picks = ask_many(client, made["name"], 90)
    assert Counter(picks) == {"gpt-4o-mini": 30, "gpt-4o": 30, "gpt-4.1-mini": 30}
    # A strict rotation: each window of three consecutive requests covers every target.
    assert all(len(set(picks[i:i + 3])) == 3 for i in range(len(picks) - 2)), picks
    assert served(fake) == picks


def test_weighted_follows_a_three_to_one_weight(client, combo, fake):
    made = combo([{"model": MINI, "weight": 3}, {"model": FOUR_O, "weight": 1}], "weighted")
    n = 200
    picks = Counter(ask_many(client, made["name"], n))
    assert set(picks) == {"gpt-4o-mini", "gpt-4o"}, picks
    share = picks["gpt-4o-mini"] / n
    assert 0.62 <= share <= 0.88, picks  # 0.75 expected; the band is about four standard deviations
    assert Counter(served(fake)) == picks


def test_random_uses_every_target_first_roughly_evenly(client, combo, fake):
    made = combo(THREE, "random")
    n = 150
    picks = Counter(ask_many(client, made["name"], n))
    assert set(picks) == {"gpt-4o-mini", "gpt-4o", "gpt-4.1-mini"}, picks
    assert all(25 <= count <= 75 for count in picks.values()), picks  # 50 each expected
    assert Counter(served(fake)) == picks


def test_least_used_balances(client, combo, fake):
    made = combo(THREE, "least-used")
    picks = ask_many(client, made["name"], 60)
    assert Counter(picks) == {"gpt-4o-mini": 20, "gpt-4o": 20, "gpt-4.1-mini": 20}
    assert picks[:6] == ["gpt-4o-mini", "gpt-4o", "gpt-4.1-mini"] * 2
    assert served(fake) == picks


def test_cost_optimized_picks_the_cheapest_and_falls_back_to_the_pricier(client, combo, fake):
    cheap, dear = DEFAULT_PRICES[MINI], DEFAULT_PRICES[FOUR_O]
    assert cheap["input"] < dear["input"] and cheap["output"] < dear["output"], (cheap, dear)
    made = combo([FOUR_O, MINI], "cost-optimized")  # listed pricier first: the strategy reorders
    assert ask_many(client, made["name"], 30) == ["gpt-4o-mini"] * 30
    assert served(fake) == ["gpt-4o-mini"] * 30

    fake.clear()
    fake.fail_for_model("gpt-4o-mini", 503)
    resp = chat(client, made["name"])
    assert resp.status_code == 200, resp.text
    assert resp.headers["x-omniroute-model"] == "gpt-4o"
    assert resp.headers["x-omniroute-fallback-attempts"] == "1"
    assert resp.json()["choices"][0]["message"]["content"] == "echo: hello there"
    assert served(fake) == ["gpt-4o-mini", "gpt-4o"]


# ---- combo config -----------------------------------------------------------------------------


def test_max_retries_retries_the_same_target_after_the_delay(client, combo, fake):
    made = combo(config={"maxRetries": 2, "retryDelayMs": 100})
    fake.fail_next(503, count=2)
    started = time.perf_counter()
    resp = chat(client, made["name"])
    elapsed = time.perf_counter() - started
    assert resp.status_code == 200, resp.text
    assert resp.headers["x-omniroute-model"] == "gpt-4o-mini"
    assert resp.headers["x-omniroute-fallback-attempts"] == "2"
    assert served(fake) == ["gpt-4o-mini"] * 3  # the second target untouched
    assert elapsed >= 0.2, elapsed


def test_no_retries_moves_to_the_next_target_at_once(client, combo, fake):
    made = combo(config={"maxRetries": 0, "retryDelayMs": 2000})
    fake.fail_next(503)
    started = time.perf_counter()
    resp = chat(client, made["name"])
    elapsed = time.perf_counter() - started
    assert resp.status_code == 200, resp.text
    assert resp.headers["x-omniroute-model"] == "gpt-4o"
    assert resp.headers["x-omniroute-fallback-attempts"] == "1"
    assert served(fake) == ["gpt-4o-mini", "gpt-4o"]
    assert elapsed < 1.0, elapsed  # the 2 s retry delay is for retries only


def test_a_long_retry_after_is_not_waited_for(client, combo, fake):
    made = combo(config={"maxRetries": 2, "retryDelayMs": 100})
    fake.fail_next(429, headers={"Retry-After": "30"})
    started = time.perf_counter()
    resp = chat(client, made["name"])
    elapsed = time.perf_counter() - started
    assert resp.status_code == 200, resp.text
    assert resp.headers["x-omniroute-model"] == "gpt-4o"
    assert resp.headers["x-omniroute-fallback-attempts"] == "1"
    assert served(fake) == ["gpt-4o-mini", "gpt-4o"]
    assert elapsed < 2.0, elapsed


QUOTA_429 = {"error": {"message": "You exceeded your current quota, please check your plan and billing details.",
                       "type": "insufficient_quota", "param": None, "code": "insufficient_quota"}}
RATE_429 = {"error": {"message": "Rate limit reached for gpt-4o-mini in organization org-test on requests per "
                                 "min (RPM): Limit 3, Used 3, Requested 1.",
                      "type": "requests", "param": None, "code": "rate_limit_exceeded"}}


@pytest.mark.parametrize("body", [None, RATE_429], ids=["fake-default", "openai-rpm"])
def test_a_rate_limit_429_moves_on_without_locking_the_model_out(client, combo, fake, body):
    """A momentary rate limit (OpenAI's "Rate limit reached ... requests per min", code
    rate_limit_exceeded) cools the connection down but, unlike an exhausted quota, must not lock
    the model out: the next direct request for it still reaches the upstream."""
    made = combo()
    fake.fail_next(429, body=body)
    resp = chat(client, made["name"])
    assert resp.status_code == 200, resp.text
    assert resp.headers["x-omniroute-model"] == "gpt-4o"
    assert served(fake) == ["gpt-4o-mini", "gpt-4o"]
    resp = chat(client, MINI)
    assert resp.status_code == 200, resp.text  # the connection is cooling down, the only one: still tried
    assert served(fake) == ["gpt-4o-mini", "gpt-4o", "gpt-4o-mini"]


def test_an_over_quota_429_locks_the_model_out(client, combo, fake):
    """The contrast: a 429 about a spent quota locks the model out on that connection."""
    made = combo()
    fake.fail_next(429, body=QUOTA_429)
    resp = chat(client, made["name"])
    assert resp.status_code == 200, resp.text
    assert resp.headers["x-omniroute-model"] == "gpt-4o"
    resp = chat(client, MINI)
    assert resp.status_code == 503, resp.text
    assert "locked out" in resp.json()["error"]["message"]
    assert served(fake) == ["gpt-4o-mini", "gpt-4o"]


@pytest.mark.parametrize("stream", [False, True])
def test_target_timeout_falls_back_quickly(client, combo, fake, stream):
    made = combo(config={"targetTimeoutMs": 300})
    fake.hang_next(2)
    started = time.perf_counter()
    resp = chat(client, made["name"], stream=stream)
    elapsed = time.perf_counter() - started
    assert resp.status_code == 200, resp.text
    assert resp.headers["x-omniroute-model"] == "gpt-4o"
    assert resp.headers["x-omniroute-fallback-attempts"] == "1"
    if stream:
        events = sse_events(resp.content)
        assert events[-1] == b"[DONE]" and stream_text(events) == "echo: hello there"
    else:
        assert resp.json()["choices"][0]["message"]["content"] == "echo: hello there"
    assert served(fake) == ["gpt-4o-mini", "gpt-4o"]
    assert elapsed < 1.5, elapsed


def test_fallback_attempts_header_counts_failed_attempts(client, combo, fake):
    made = combo(THREE)
    resp = chat(client, made["name"])
    assert resp.status_code == 200 and "x-omniroute-fallback-attempts" not in resp.headers
    # 404 (model not on this account) moves on without cooling the connection down, so each
    # target is tried in its listed order.
    fake.fail_for_model("gpt-4o-mini", 404)
    fake.fail_for_model("gpt-4o", 404)
    resp = chat(client, made["name"])
    assert resp.status_code == 200, resp.text
    assert resp.headers["x-omniroute-model"] == "gpt-4.1-mini"
    assert resp.headers["x-omniroute-fallback-attempts"] == "2"


# ---- nested combos ----------------------------------------------------------------------------


def test_nested_combo_falls_back_through_the_inner_targets_in_order(admin, client, combo, fake):
    inner = combo((MINI, FOUR_O))
    outer = combo((inner["name"], FOUR_ONE_MINI))
    assert ask_many(client, outer["name"], 3) == ["gpt-4o-mini"] * 3

    def fresh(*failing: str) -> httpx.Response:
        # 404 (model not on this account) moves on without cooling the connection down; the
        # lockout it leaves is cleared so each case starts from a healthy gateway.
        assert admin.post("/api/resilience/reset").status_code == 200
        fake.clear()
        for model in failing:
            fake.fail_for_model(model, 404)
        return chat(client, outer["name"])

    resp = fresh("gpt-4o-mini")
    assert resp.status_code == 200, resp.text
    assert resp.headers["x-omniroute-model"] == "gpt-4o"  # the inner combo's second target
    assert resp.headers["x-omniroute-fallback-attempts"] == "1"
    assert served(fake) == ["gpt-4o-mini", "gpt-4o"]

    resp = fresh("gpt-4o-mini", "gpt-4o")
    assert resp.status_code == 200, resp.text
    assert resp.headers["x-omniroute-model"] == "gpt-4.1-mini"  # then the outer combo's next
    assert resp.headers["x-omniroute-fallback-attempts"] == "2"
    assert served(fake) == ["gpt-4o-mini", "gpt-4o", "gpt-4.1-mini"]

    resp = fresh("gpt-4o-mini", "gpt-4o", "gpt-4.1-mini")
    assert resp.status_code == 404, resp.text
    message = resp.json()["error"]["message"]
    assert outer["name"] in message and all(m in message for m in THREE), message
    assert served(fake) == ["gpt-4o-mini", "gpt-4o", "gpt-4.1-mini"]


# ---- streams failing before and after their first content -------------------------------------


def _clean_stream(resp: httpx.Response) -> list[bytes]:
    assert resp.status_code == 200, resp.text
    events = sse_events(resp.content)
    assert events[-1] == b"[DONE]", events
    assert events.count(b"[DONE]") == 1
    assert not any(e.startswith(b'{"error"') for e in events), events
    assert stream_text(events) == "echo: hello there"
    roles = [e for e in events if b'"role"' in e]
    assert len(roles) == 1, events  # one stream, not the failed one's start glued to the other
    return events


def test_in_band_error_event_first_falls_back_to_the_second_target(client, combo, fake):
    made = combo()
    fake.error_event_next("Overloaded")
    resp = chat(client, made["name"], stream=True)
    _clean_stream(resp)
    assert resp.headers["x-omniroute-model"] == "gpt-4o"
    assert resp.headers["x-omniroute-fallback-attempts"] == "1"
    assert served(fake) == ["gpt-4o-mini", "gpt-4o"]


def test_in_band_error_event_first_falls_back_for_the_openai_sdk(gateway, combo, fake):
    made = combo()
    fake.error_event_next("Overloaded")
    sdk = openai.OpenAI(base_url=gateway.url + "/v1", api_key="unused", max_retries=0)
    chunks = list(sdk.chat.completions.create(
        model=made["name"], stream=True, messages=[{"role": "user", "content": "hello there"}]))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "echo: hello there"
    assert served(fake) == ["gpt-4o-mini", "gpt-4o"]


def test_first_chunk_stall_beyond_first_byte_timeout_falls_back(client, combo, fake, first_byte_timeout):
    first_byte_timeout(300)
    made = combo()
    fake.stall_first_chunk(2)
    started = time.perf_counter()
    resp = chat(client, made["name"], stream=True)
    elapsed = time.perf_counter() - started
    _clean_stream(resp)
    assert resp.headers["x-omniroute-model"] == "gpt-4o"
    assert resp.headers["x-omniroute-fallback-attempts"] == "1"
    assert served(fake) == ["gpt-4o-mini", "gpt-4o"]
    assert elapsed < 1.5, elapsed


def test_stream_cut_after_content_ends_with_an_error_event_and_does_not_fall_back(client, combo, fake):
    made = combo()
    fake.cut_stream_after(3)
    resp = chat(client, made["name"], text="one two three four five six seven", stream=True)
    assert resp.status_code == 200, resp.text
    assert resp.headers["x-omniroute-model"] == "gpt-4o-mini"
    events = sse_events(resp.content)
    assert b"[DONE]" not in events, events
    assert stream_text(events[:-1]) == "echo: one two", events  # the content that got through
    last = orjson.loads(events[-1])
    assert set(last) == {"error"}, last  # OpenAI's in-band error event, not a silent cut
    assert isinstance(last["error"].get("message"), str) and last["error"]["message"], last
    assert served(fake) == ["gpt-4o-mini"]  # content was sent: no fallback


def test_stream_cut_after_content_raises_in_the_openai_sdk(gateway, combo, fake):
    made = combo()
    fake.cut_stream_after(3)
    sdk = openai.OpenAI(base_url=gateway.url + "/v1", api_key="unused", max_retries=0)
    stream = sdk.chat.completions.create(
        model=made["name"], stream=True, messages=[{"role": "user", "content": "one two three four five"}])
    text = ""
    with pytest.raises(openai.APIError):
        for chunk in stream:
            text += "".join(c.delta.content or "" for c in chunk.choices)
    assert text == "echo: one two"
    assert served(fake) == ["gpt-4o-mini"]
