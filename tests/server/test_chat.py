"""/v1/chat/completions over HTTP: pass-through, streaming, fallback, usage."""

from __future__ import annotations

import time

import httpx
import orjson
import pytest

CHAT = {"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}


def sse_data(text: str) -> list[str]:
    return [line[6:] for line in text.split("\n") if line.startswith("data: ")]


def test_pass_through_keeps_client_fields_and_rewrites_model(gateway, upstream, connection):
    connection()
    body = {**CHAT, "temperature": 0.3, "max_tokens": 64, "seed": 7, "user": "u1",
            "tools": [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}]}
    resp = httpx.post(gateway.url + "/v1/chat/completions", json=body, headers={"X-Request-Id": "req-1"})
    assert resp.status_code == 200
    sent = upstream.requests[-1].body
    assert sent["model"] == "gpt-4o-mini"
    assert sent["max_tokens"] == 64 and sent["temperature"] == 0.3 and sent["seed"] == 7
    assert sent["tools"] == body["tools"]
    assert "stream" not in sent, "a request without 'stream' is not streaming and must stay so"
    call = resp.json()["choices"][0]["message"]["tool_calls"][0]
    assert call["function"]["name"] == "lookup"
    assert resp.headers["x-omniroute-provider"] == "openai"
    assert resp.headers["x-omniroute-model"] == "gpt-4o-mini"
    assert resp.headers["x-request-id"] == "req-1"
    assert int(resp.headers["x-omniroute-tokens-in"]) == resp.json()["usage"]["prompt_tokens"]
    assert "x-omniroute-fallback-attempts" not in resp.headers


def test_alias_prefix_resolves(gateway, upstream, connection):
    connection()
    resp = httpx.post(gateway.url + "/v1/chat/completions", json={**CHAT, "model": "oai/gpt-4o"})
    assert resp.status_code == 200
    assert upstream.requests[-1].body["model"] == "gpt-4o"


def test_bare_model_name_resolves_to_a_provider_listing_it(gateway, upstream, connection):
    connection()
    resp = httpx.post(gateway.url + "/v1/chat/completions", json={**CHAT, "model": "gpt-4.1-mini"})
    assert resp.status_code == 200
    assert upstream.requests[-1].body["model"] == "gpt-4.1-mini"


def test_stream_forwards_first_event_before_upstream_finishes(gateway, upstream, connection):
    connection()
    upstream.chunk_delay_ms = 300
    body = {**CHAT, "stream": True, "messages": [{"role": "user", "content": "a b c d e"}]}
    started = time.monotonic()
    first_at = None
    with httpx.stream("POST", gateway.url + "/v1/chat/completions", json=body, timeout=30) as resp:
        assert resp.status_code == 200
        assert resp.headers["content-type"].startswith("text/event-stream")
        text = ""
        for chunk in resp.iter_text():
            if first_at is None and "data: " in chunk:
                first_at = time.monotonic() - started
            text += chunk
    total = time.monotonic() - started
    assert total > 1.5, "the fake was told to pace its chunks"
    assert first_at is not None and first_at < total - 1.0, (first_at, total)
    data = sse_data(text)
    assert data[-1] == "[DONE]"
    content = "".join(orjson.loads(d)["choices"][0]["delta"].get("content") or ""
                      for d in data[:-1] if orjson.loads(d)["choices"])
    assert content == "echo: a b c d e"


def test_stream_usage_forwarded_when_client_asks(gateway, upstream, connection):
    connection()
    body = {**CHAT, "stream": True, "stream_options": {"include_usage": True}}
    resp = httpx.post(gateway.url + "/v1/chat/completions", json=body)
    events = [orjson.loads(d) for d in sse_data(resp.text) if d != "[DONE]"]
    assert events[-1]["choices"] == [] and events[-1]["usage"]["completion_tokens"] > 0
    assert upstream.requests[-1].body["stream_options"] == {"include_usage": True}


def test_stream_cut_by_upstream_ends_with_error_event_not_done(gateway, upstream, connection):
    connection()
    upstream.cut_stream_after(2)
    body = {**CHAT, "stream": True, "messages": [{"role": "user", "content": "one two three four five six"}]}
    resp = httpx.post(gateway.url + "/v1/chat/completions", json=body)
    data = sse_data(resp.text)
    assert "[DONE]" not in data
    last = orjson.loads(data[-1])
    assert "error" in last and "before its final event" in last["error"]["message"]


def test_client_disconnect_cancels_the_upstream_stream(gateway, upstream, connection):
    connection()
    upstream.chunk_delay_ms = 400
    body = {**CHAT, "stream": True, "messages": [{"role": "user", "content": " ".join(["w"] * 40)}]}
    before = upstream.cancelled
    with httpx.stream("POST", gateway.url + "/v1/chat/completions", json=body, timeout=30) as resp:
        for chunk in resp.iter_bytes():
            if b"data: " in chunk:
                break
    deadline = time.monotonic() + 5
    while upstream.cancelled == before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert upstream.cancelled > before, "the upstream request must be dropped when the client leaves"


def test_client_disconnect_cancels_a_pending_non_stream_request(gateway, upstream, connection):
    connection()
    upstream.hang_next(10)
    before = upstream.cancelled
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(gateway.url + "/v1/chat/completions", json=CHAT, timeout=httpx.Timeout(30, read=0.5))
    deadline = time.monotonic() + 5
    while upstream.cancelled == before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert upstream.cancelled > before


def test_next_account_on_auth_failure_in_priority_order(gateway, upstream, connection):
    first = connection(priority=1, apiKey="sk-dead")
    second = connection(priority=2, apiKey="sk-live")
    upstream.fail_for_key("sk-dead", 401)
    resp = httpx.post(gateway.url + "/v1/chat/completions", json=CHAT)
    assert resp.status_code == 200
    assert [r.api_key for r in upstream.requests] == ["sk-dead", "sk-live"]
    assert resp.headers["x-omniroute-fallback-attempts"] == "1"
    assert first["id"] != second["id"]


@pytest.mark.parametrize("status", [429, 500, 503])
def test_next_account_on_rate_limit_and_server_errors(gateway, upstream, connection, status):
    connection(priority=1, apiKey="sk-a")
    connection(priority=2, apiKey="sk-b")
    upstream.fail_next(status)
    resp = httpx.post(gateway.url + "/v1/chat/completions", json=CHAT)
    assert resp.status_code == 200
    assert [r.api_key for r in upstream.requests] == ["sk-a", "sk-b"]


def test_account_in_cooldown_is_tried_last(gateway, upstream, connection):
    connection(priority=1, apiKey="sk-a")
    connection(priority=2, apiKey="sk-b")
    upstream.fail_next(429)
    assert httpx.post(gateway.url + "/v1/chat/completions", json=CHAT).status_code == 200
    upstream.clear()
    assert httpx.post(gateway.url + "/v1/chat/completions", json=CHAT).status_code == 200
    assert [r.api_key for r in upstream.requests] == ["sk-b"], "the 429'd account cools down"


def test_next_account_when_upstream_unreachable(gateway, upstream, connection):
    from tests.support import free_port

    connection(priority=1, apiKey="sk-a", baseUrl=f"http://127.0.0.1:{free_port()}/v1")
    connection(priority=2, apiKey="sk-b")
    resp = httpx.post(gateway.url + "/v1/chat/completions", json=CHAT)
    assert resp.status_code == 200
    assert [r.api_key for r in upstream.requests] == ["sk-b"]


def test_bad_request_from_upstream_is_not_retried_and_keeps_status(gateway, upstream, connection):
    connection(priority=1, apiKey="sk-a")
    connection(priority=2, apiKey="sk-b")
    upstream.fail_next(400, {"error": {"message": "bad 'foo' value", "type": "invalid_request_error"}})
    resp = httpx.post(gateway.url + "/v1/chat/completions", json=CHAT)
    assert resp.status_code == 400
    assert "bad 'foo' value" in resp.json()["error"]["message"]
    assert len(upstream.requests) == 1


def test_every_account_failing_names_each_one(gateway, upstream, connection):
    a = connection(priority=1, apiKey="sk-a", name="alpha")
    b = connection(priority=2, apiKey="sk-b", name="beta")
    upstream.fail_next(503, count=2)
    resp = httpx.post(gateway.url + "/v1/chat/completions", json=CHAT)
    assert resp.status_code == 503
    message = resp.json()["error"]["message"]
    assert "alpha" in message and "beta" in message and a["id"] in message and b["id"] in message


def test_stream_falls_back_before_first_byte(gateway, upstream, connection):
    connection(priority=1, apiKey="sk-a")
    connection(priority=2, apiKey="sk-b")
    upstream.fail_next(502)
    resp = httpx.post(gateway.url + "/v1/chat/completions", json={**CHAT, "stream": True})
    assert resp.status_code == 200 and sse_data(resp.text)[-1] == "[DONE]"


def test_pinned_connection_header(gateway, upstream, connection):
    connection(priority=1, apiKey="sk-a")
    b = connection(priority=2, apiKey="sk-b")
    resp = httpx.post(gateway.url + "/v1/chat/completions", json=CHAT, headers={"X-OmniRoute-Connection": b["id"]})
    assert resp.status_code == 200
    assert [r.api_key for r in upstream.requests] == ["sk-b"]
    resp = httpx.post(gateway.url + "/v1/chat/completions", json=CHAT, headers={"X-OmniRoute-Connection": "nope"})
    assert resp.status_code == 400 and "nope" in resp.json()["error"]["message"]


def test_inactive_connection_is_not_used(gateway, upstream, connection, admin):
    a = connection(priority=1, apiKey="sk-a")
    connection(priority=2, apiKey="sk-b")
    admin.put(f"/api/providers/{a['id']}", json={"isActive": False})
    assert httpx.post(gateway.url + "/v1/chat/completions", json=CHAT).status_code == 200
    assert [r.api_key for r in upstream.requests] == ["sk-b"]


def test_models_lists_what_active_connections_serve(gateway, connection, admin):
    conn = connection(defaultModel="my-finetune")
    data = httpx.get(gateway.url + "/v1/models").json()
    ids = {m["id"] for m in data["data"]}
    assert data["object"] == "list"
    assert {"openai/gpt-4o-mini", "openai/my-finetune"} <= ids
    assert not any(i.startswith("groq/") for i in ids)
    assert httpx.get(gateway.url + "/v1/models/openai/my-finetune").json()["owned_by"] == "openai"
    admin.put(f"/api/providers/{conn['id']}", json={"isActive": False})
    assert not any(m["id"].startswith("openai/") for m in httpx.get(gateway.url + "/v1/models").json()["data"])


def test_garbled_success_answer_moves_to_the_next_account(gateway, upstream, connection):
    connection(priority=1, apiKey="sk-a")
    connection(priority=2, apiKey="sk-b")
    upstream.fail_next(200, raw=b"<html>proxy error</html>")
    resp = httpx.post(gateway.url + "/v1/chat/completions", json=CHAT)
    assert resp.status_code == 200 and resp.json()["choices"][0]["message"]["content"] == "echo: hi"
    assert [r.api_key for r in upstream.requests] == ["sk-a", "sk-b"]


def test_single_upstream_failure_names_provider_and_connection(gateway, upstream, connection):
    conn = connection(name="solo")
    upstream.fail_next(500, {"error": {"message": "boom", "type": "server_error"}})
    resp = httpx.post(gateway.url + "/v1/chat/completions", json=CHAT)
    assert resp.status_code == 500
    message = resp.json()["error"]["message"]
    assert "boom" in message and "solo" in message and conn["id"] in message and "openai/gpt-4o-mini" in message


def test_stream_finished_without_done_marker_is_complete(gateway, upstream, connection):
    connection()
    upstream.send_done = False
    try:
        resp = httpx.post(gateway.url + "/v1/chat/completions", json={**CHAT, "stream": True})
    finally:
        upstream.send_done = True
    data = sse_data(resp.text)
    assert data[-1] == "[DONE]" and not any('"error"' in d for d in data)
    assert orjson.loads(data[-2])["choices"][0]["finish_reason"] == "stop"


def test_rate_limit_keeps_retry_after_when_no_account_is_left(gateway, upstream, connection):
    connection()
    upstream.fail_next(429, headers={"Retry-After": "17"})
    resp = httpx.post(gateway.url + "/v1/chat/completions", json=CHAT)
    assert resp.status_code == 429 and resp.headers["retry-after"] == "17"
