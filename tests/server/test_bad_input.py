"""Bad input gets a 4xx in OpenAI's error shape that names the problem; nothing goes upstream."""

from __future__ import annotations

import httpx
import pytest

MSG = [{"role": "user", "content": "hi"}]

CASES = [
    (b"{not json", 400, "not valid JSON"),
    (b"", 400, "empty"),
    (b"[1, 2]", 400, "JSON object"),
    (b'{"messages": [{"role": "user", "content": "hi"}]}', 400, "'model'"),
    (b'{"model": 5, "messages": [{"role": "user", "content": "hi"}]}', 400, "'model'"),
    (b'{"model": "openai/gpt-4o"}', 400, "'messages'"),
    (b'{"model": "openai/gpt-4o", "messages": "hi"}', 400, "'messages'"),
    (b'{"model": "openai/gpt-4o", "messages": []}', 400, "'messages'"),
    (b'{"model": "openai/gpt-4o", "messages": [{"content": "hi"}]}', 400, "'messages[0].role'"),
    (b'{"model": "openai/gpt-4o", "messages": [{"role": "wizard", "content": "hi"}]}', 400, "'messages[0].role'"),
    (b'{"model": "openai/gpt-4o", "messages": [{"role": "user", "content": 42}]}', 400, "'messages[0].content'"),
    (b'{"model": "openai/gpt-4o", "messages": [{"role": "user", "content": "hi"}], "stream": "yes"}', 400, "'stream'"),
    (b'{"model": "openai/gpt-4o", "messages": [{"role": "user", "content": "hi"}], "temperature": "hot"}', 400,
     "'temperature'"),
    (b'{"model": "openai/gpt-4o", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 1.5}', 400,
     "'max_tokens'"),
    (b'{"model": "nope/some-model", "messages": [{"role": "user", "content": "hi"}]}', 404, "nope/some-model"),
    (b'{"model": "no-such-model", "messages": [{"role": "user", "content": "hi"}]}', 404, "no-such-model"),
]


@pytest.mark.parametrize(("raw", "status", "names"), CASES, ids=[c[2] for c in CASES])
def test_bad_chat_input(gateway, upstream, connection, raw, status, names):
    connection()
    resp = httpx.post(gateway.url + "/v1/chat/completions", content=raw, headers={"content-type": "application/json"})
    assert resp.status_code == status, resp.text
    error = resp.json()["error"]
    assert names in error["message"]
    assert error["type"] and "code" in error
    assert upstream.requests == [], "nothing may be sent upstream for a bad request"


def test_unknown_model_code(gateway, connection):
    connection()
    resp = httpx.post(gateway.url + "/v1/chat/completions", json={"model": "nope/x", "messages": MSG})
    assert resp.json()["error"]["code"] == "model_not_found"


def test_provider_without_connection_is_a_clear_error(gateway, upstream):
    resp = httpx.post(gateway.url + "/v1/chat/completions", json={"model": "groq/llama-3.3-70b-versatile",
                                                                  "messages": MSG})
    assert 400 <= resp.status_code < 600 and resp.status_code != 500
    assert "groq" in resp.json()["error"]["message"] and "POST /api/providers" in resp.json()["error"]["message"]


def test_body_over_the_limit_is_413(make_gateway, upstream):
    gw = make_gateway({"MAX_BODY_BYTES": "2000"})
    big = {"model": "openai/gpt-4o", "messages": [{"role": "user", "content": "x" * 5000}]}
    resp = httpx.post(gw.url + "/v1/chat/completions", json=big)
    assert resp.status_code == 413
    assert "limit of 2000 bytes" in resp.json()["error"]["message"]
    chunked = httpx.post(gw.url + "/v1/chat/completions", content=iter([b"{" + b" " * 1500, b" " * 1500 + b"}"]))
    assert chunked.status_code == 413
    assert upstream.requests == []


def test_unknown_client_route_is_openai_shaped_404(gateway):
    resp = httpx.post(gateway.url + "/v1/nothing-here", json={})
    assert resp.status_code == 404
    assert "no route" in resp.json()["error"]["message"]


def test_wrong_method_is_405(gateway):
    resp = httpx.get(gateway.url + "/v1/chat/completions")
    assert resp.status_code == 405
