"""Combos: /api/combos CRUD and validation, fallback across targets from several client dialects,
the all-failed error, /v1/models, /api/combos/{id}/test, and each strategy's order."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections import Counter

import anthropic
import httpx
import openai
import pytest

from omniroute.routing.combos import Combo, order
from omniroute.state import MemoryState
from tests.support import usage_rows

FIRST, SECOND = "openai/gpt-4o-mini", "anthropic/claude-sonnet-4-5"
COMBO_MODELS = (FIRST, SECOND)


def unique(stem: str) -> str:
    return f"{stem}-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def two_targets(connection, upstream, anthropic_upstream):
    """An OpenAI connection and an Anthropic connection, both on fake upstreams."""
    connection()
    connection(provider="anthropic", apiKey="sk-ant-test", baseUrl=anthropic_upstream.base_url)
    return upstream, anthropic_upstream


# ---- CRUD and validation ----------------------------------------------------------------------


def test_crud(admin, combo):
    made = combo(strategy="weighted", models=[{"model": FIRST, "weight": 3}, {"model": SECOND, "weight": 1}],
                 config={"maxRetries": 1, "retryDelayMs": 100, "targetTimeoutMs": 5000})
    assert made["strategy"] == "weighted" and made["config"]["maxRetries"] == 1
    assert made["models"] == [{"model": FIRST, "weight": 3}, {"model": SECOND, "weight": 1}]
    assert admin.get(f"/api/combos/{made['id']}").json() == made
    assert made["id"] in [c["id"] for c in admin.get("/api/combos").json()["combos"]]
    resp = admin.put(f"/api/combos/{made['id']}", json={"strategy": "priority", "models": [SECOND, FIRST]})
    assert resp.status_code == 200, resp.text
    assert resp.json()["models"] == [SECOND, FIRST] and resp.json()["strategy"] == "priority"
    assert resp.json()["config"] == made["config"] and resp.json()["name"] == made["name"]
    assert admin.delete(f"/api/combos/{made['id']}").status_code == 200
    assert admin.get(f"/api/combos/{made['id']}").status_code == 404
    assert admin.delete(f"/api/combos/{made['id']}").status_code == 404


@pytest.mark.parametrize(("body", "status", "words"), [
    ({"name": "openai"}, 400, "provider"),
    ({"name": "openai/mine"}, 400, "prefix"),
    ({"name": "has space"}, 400, "whitespace"),
    ({"strategy": "fastest"}, 400, "strategy"),
    ({"colour": "red"}, 400, "colour"),
    ({"config": {"maxRetries": 1, "retries": 2}}, 400, "retries"),
    ({"config": {"maxRetries": -1}}, 400, "maxRetries"),
    ({"models": []}, 400, "models"),
    ({"models": ["nope/not-a-model"]}, 400, "no known model"),
    ({"models": ["no-such-bare-model-xyz"]}, 400, "no known model"),
    ({"models": [FIRST, FIRST]}, 400, "twice"),
    ({"strategy": "weighted", "models": [FIRST, SECOND]}, 400, "weight"),
    ({"strategy": "weighted", "models": [{"model": FIRST, "weight": 0}]}, 400, "weight"),
    ({"strategy": "weighted", "models": [{"model": FIRST, "weight": -2}]}, 400, "weight"),
    ({"strategy": "weighted", "models": [{"model": FIRST, "weight": "2"}]}, 400, "weight"),
])
def test_validation(admin, body, status, words):
    resp = admin.post("/api/combos", json={"name": unique("bad"), "models": [FIRST], **body})
    assert resp.status_code == status, resp.text
    assert words in resp.json()["error"]


def test_names_are_shared_with_aliases_and_other_combos(admin, combo):
    alias = unique("al")
    assert admin.post("/api/models/alias", json={"alias": alias, "model": FIRST}).status_code == 201
    try:
        resp = admin.post("/api/combos", json={"name": alias, "models": [FIRST]})
        assert resp.status_code == 409 and "alias" in resp.json()["error"]
        made = combo(models=[alias, SECOND])  # an alias is a valid target
        resp = admin.post("/api/combos", json={"name": made["name"], "models": [FIRST]})
        assert resp.status_code == 409 and "already exists" in resp.json()["error"]
        resp = admin.post("/api/models/alias", json={"alias": made["name"], "model": FIRST})
        assert resp.status_code == 409 and "combo" in resp.json()["error"]
    finally:
        admin.delete("/api/models/alias", params={"alias": alias})


def test_nesting_cycles_and_depth(admin, combo):
    a = combo(models=[FIRST])
    b = combo(models=[a["name"], SECOND])
    resp = admin.put(f"/api/combos/{a['id']}", json={"models": [b["name"]]})
    assert resp.status_code == 400 and "cycle" in resp.json()["error"], resp.text
    resp = admin.put(f"/api/combos/{a['id']}", json={"models": [a["name"]]})
    assert resp.status_code == 400 and "itself" in resp.json()["error"]
    c = combo(models=[b["name"]])  # three levels: c → b → a
    resp = admin.post("/api/combos", json={"name": unique("d"), "models": [c["name"]]})
    assert resp.status_code == 400 and "deep" in resp.json()["error"], resp.text
    resp = admin.delete(f"/api/combos/{a['id']}")
    assert resp.status_code == 409 and b["name"] in resp.json()["error"]
    resp = admin.put(f"/api/combos/{a['id']}", json={"name": unique("renamed")})
    assert resp.status_code == 409


# ---- fallback across targets ------------------------------------------------------------------


@pytest.mark.parametrize("stream", [False, True])
def test_openai_client_falls_back_to_the_second_target(gateway, admin, combo, two_targets, api_key, stream):
    upstream, claude = two_targets
    made = combo()
    key = api_key()
    client = openai.OpenAI(base_url=gateway.url + "/v1", api_key=key["key"], max_retries=0)
    upstream.fail_next(503)
    raw = client.chat.completions.with_raw_response.create(
        model=made["name"], stream=stream, messages=[{"role": "user", "content": "hello there"}])
    assert raw.headers["x-omniroute-provider"] == "anthropic"
    assert raw.headers["x-omniroute-fallback-attempts"] == "1"
    answer = raw.parse()
    if stream:
        text = "".join(c.choices[0].delta.content or "" for c in answer if c.choices)
    else:
        text = answer.choices[0].message.content
    assert text == "echo: hello there"
    assert len(upstream.requests) == 1 and len(claude.requests) == 1
    assert claude.requests[-1].body["model"] == "claude-sonnet-4-5"
    rows = usage_rows(admin, key["id"])
    assert rows[0]["combo"] == made["name"] and rows[0]["provider"] == "anthropic"


@pytest.mark.parametrize("stream", [False, True])
def test_anthropic_client_falls_back_to_the_second_target(gateway, combo, two_targets, stream):
    upstream, claude = two_targets
    made = combo()
    client = anthropic.Anthropic(base_url=gateway.url, api_key="unused", max_retries=0)
    upstream.fail_next(503)
    messages = [{"role": "user", "content": "one two three"}]
    if stream:
        with client.messages.stream(model=made["name"], max_tokens=50, messages=messages) as events:
            text = "".join(events.text_stream)
    else:
        raw = client.messages.with_raw_response.create(model=made["name"], max_tokens=50, messages=messages)
        assert raw.headers["x-omniroute-fallback-attempts"] == "1"
        text = raw.parse().content[0].text
    assert text == "echo: one two three"
    assert len(upstream.requests) == 1 and len(claude.requests) == 1


def test_a_bad_request_body_stops(gateway, combo, two_targets):
    upstream, claude = two_targets
    made = combo()
    upstream.fail_next(400)
    resp = httpx.post(gateway.url + "/v1/chat/completions", timeout=30,
                      json={"model": made["name"], "messages": [{"role": "user", "content": "hi"}]})
    assert resp.status_code == 400, resp.text
    assert claude.requests == []


def test_every_target_failing_gives_one_error_naming_each(gateway, combo, two_targets):
    upstream, claude = two_targets
    made = combo()
    upstream.fail_next(503)
    claude.fail_next(529)
    resp = httpx.post(gateway.url + "/v1/chat/completions", timeout=30,
                      json={"model": made["name"], "messages": [{"role": "user", "content": "hi"}]})
    assert resp.status_code >= 500, resp.text
    message = resp.json()["error"]["message"]
    assert message.startswith(f"combo '{made['name']}' failed on each target tried: ")
    assert made["name"] in message and FIRST in message and SECOND in message, message


def test_a_target_without_connection_is_skipped(gateway, combo, connection, upstream):
    connection()
    made = combo(models=["gemini/gemini-2.5-flash", FIRST])
    resp = httpx.post(gateway.url + "/v1/chat/completions", timeout=30,
                      json={"model": made["name"], "messages": [{"role": "user", "content": "hi"}]})
    assert resp.status_code == 200, resp.text
    assert resp.headers["x-omniroute-provider"] == "openai"


def test_an_alias_of_a_combo_serves_the_combo(gateway, admin, combo, two_targets):
    upstream, claude = two_targets
    made = combo()
    alias = unique("to-combo")
    assert admin.post("/api/models/alias", json={"alias": alias, "model": made["name"]}).status_code == 201
    try:
        upstream.fail_next(503)
        resp = httpx.post(gateway.url + "/v1/chat/completions", timeout=30,
                          json={"model": alias, "messages": [{"role": "user", "content": "hi"}]})
        assert resp.status_code == 200, resp.text
        assert resp.headers["x-omniroute-provider"] == "anthropic"
        resp = admin.delete(f"/api/combos/{made['id']}")
        assert resp.status_code == 409 and alias in resp.json()["error"]
    finally:
        admin.delete("/api/models/alias", params={"alias": alias})


def test_gemini_client_falls_back(gateway, combo, two_targets):
    upstream, claude = two_targets
    made = combo()
    upstream.fail_next(503)
    resp = httpx.post(f"{gateway.url}/v1beta/models/{made['name']}:generateContent", timeout=30,
                      json={"contents": [{"role": "user", "parts": [{"text": "hi there"}]}]})
    assert resp.status_code == 200, resp.text
    assert resp.json()["candidates"][0]["content"]["parts"][0]["text"] == "echo: hi there"
    assert resp.headers["x-omniroute-fallback-attempts"] == "1"


# ---- listing and testing ----------------------------------------------------------------------


def test_combos_are_listed_in_v1_models(gateway, combo):
    made = combo()
    listed = {m["id"]: m for m in httpx.get(gateway.url + "/v1/models").json()["data"]}
    assert listed[made["name"]]["owned_by"] == "combo"


def test_test_endpoint_tries_each_target_once(admin, combo, two_targets):
    upstream, claude = two_targets
    made = combo()
    upstream.fail_next(503)
    resp = admin.post(f"/api/combos/{made['id']}/test")
    assert resp.status_code == 200, resp.text
    first, second = resp.json()["results"]
    assert first["model"] == FIRST and first["ok"] is False and "503" in first["error"]
    assert second["model"] == SECOND and second["ok"] is True and "error" not in second
    assert isinstance(second["latencyMs"], int)
    assert len(upstream.requests) == 1 and len(claude.requests) == 1


# ---- strategies' order ------------------------------------------------------------------------


def _combo(strategy: str, targets=("a", "b", "c"), weights=None, name="x") -> Combo:
    return Combo(name, name, tuple(targets), tuple(weights or [1.0] * len(targets)), strategy, {})


def _orders(combo: Combo, n: int, combos=None, seed: int = 7) -> list[list[str]]:
    state, rng = MemoryState(), random.Random(seed)

    async def run():
        return [await order(combo, combos or {combo.name: combo}, state, rng) for _ in range(n)]

    return asyncio.run(run())


@pytest.mark.parametrize("strategy", ["priority", "cost-optimized"])
def test_priority_order_is_the_listed_one(strategy):
    assert _orders(_combo(strategy), 3) == [["a", "b", "c"]] * 3


def test_round_robin_rotates():
    assert _orders(_combo("round-robin"), 4) == [["a", "b", "c"], ["b", "c", "a"], ["c", "a", "b"], ["a", "b", "c"]]


def test_weighted_follows_the_weights():
    firsts = Counter(o[0] for o in _orders(_combo("weighted", weights=[6, 3, 1]), 3000))
    assert firsts["a"] > firsts["b"] > firsts["c"] > 0
    assert 0.55 < firsts["a"] / 3000 < 0.65
    assert all(sorted(o) == ["a", "b", "c"] for o in _orders(_combo("weighted", weights=[6, 3, 1]), 20))


def test_random_uses_every_target_first():
    orders = _orders(_combo("random"), 300)
    assert set(o[0] for o in orders) == {"a", "b", "c"}
    assert all(sorted(o) == ["a", "b", "c"] for o in orders)


def test_least_used_picks_the_fewest_picked():
    assert [o[0] for o in _orders(_combo("least-used"), 6)] == ["a", "b", "c", "a", "b", "c"]


def test_nested_combos_expand_in_place_once():
    inner = _combo("priority", ("b", "d"), name="inner")
    outer = _combo("priority", ("a", "inner", "d"), name="outer")
    assert _orders(outer, 1, {"inner": inner, "outer": outer}) == [["a", "b", "d"]]
