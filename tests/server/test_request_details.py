"""Detailed logging: with usage.detailedLogging on, /api/usage/request-logs shows each request's
headers and bodies and its answer, with the gateway key, upstream-looking keys and secret fields
redacted, cut at detailMaxBytes; with it off, nothing is kept."""

from __future__ import annotations

import time

import httpx
import orjson
import pytest

from tests.support import usage_rows

SECRET = "sk-proj-" + "Zq7" * 12


@pytest.fixture
def detailed(admin):
    old = admin.get("/api/settings").json()["usage"]
    resp = admin.put("/api/settings", json={"usage": {**old, "detailedLogging": True, "detailMaxBytes": 2048}})
    assert resp.status_code == 200, resp.text
    yield
    assert admin.put("/api/settings", json={"usage": old}).status_code == 200


def detail_of(admin, key_id: str) -> dict:
    [row] = usage_rows(admin, key_id)
    deadline = time.monotonic() + 5
    while True:
        entry = admin.get(f"/api/usage/request-logs/{row['id']}").json()
        if entry.get("detail") is not None or time.monotonic() > deadline:
            return entry
        time.sleep(0.05)


@pytest.mark.parametrize("stream", [False, True])
def test_bodies_are_kept_redacted(gateway, admin, connection, api_key, detailed, stream):
    connection()
    key = api_key()
    body = {"model": "openai/gpt-4o-mini", "stream": stream, "user": "u-1",
            "messages": [{"role": "user", "content": f"remember {SECRET} please"}],
            "metadata": {"password": "hunter2", "note": "kept"}}
    resp = httpx.post(gateway.url + "/v1/chat/completions?key=" + key["key"], json=body, timeout=30,
                      headers={"Authorization": f"Bearer {key['key']}", "X-Trace": "t-1"})
    assert resp.status_code == 200
    entry = detail_of(admin, key["id"])
    detail = entry["detail"]
    assert detail["method"] == "POST" and detail["path"].startswith("/v1/chat/completions")
    assert detail["requestHeaders"]["authorization"] == "[REDACTED]"
    assert detail["requestHeaders"]["x-trace"] == "t-1"
    text = orjson.dumps(entry).decode()
    for secret in (key["key"], SECRET, "hunter2"):
        assert secret not in text
    request = orjson.loads(detail["requestBody"])
    assert request["metadata"] == {"password": "[REDACTED]", "note": "kept"}
    assert request["messages"][0]["content"].startswith("remember ")
    if stream:  # the client's bytes: the answer's words are spread over chunks
        assert "remember" in detail["responseBody"] and "chat.completion.chunk" in detail["responseBody"]
        assert "data:" in detail["responseBody"] and "[DONE]" in detail["responseBody"]
    else:
        answer = orjson.loads(detail["responseBody"])
        assert answer["object"] == "chat.completion"
        assert answer["choices"][0]["message"]["content"].startswith("echo: remember ")
    assert detail["responseHeaders"]["content-type"].startswith("text/event-stream" if stream else "application/json")
    assert detail["truncated"] is False


def test_long_bodies_are_cut(gateway, admin, connection, api_key, detailed):
    connection()
    key = api_key()
    words = " ".join(f"w{i}" for i in range(2000))
    resp = httpx.post(gateway.url + "/v1/chat/completions", timeout=30, headers={"Authorization": f"Bearer {key['key']}"},
                      json={"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": words}]})
    assert resp.status_code == 200
    detail = detail_of(admin, key["id"])["detail"]
    assert detail["truncated"] is True
    assert len(detail["requestBody"].encode()) <= 2048 and len(detail["responseBody"].encode()) <= 2048


def test_nothing_is_kept_when_off(gateway, admin, connection, api_key):
    assert admin.get("/api/settings").json()["usage"]["detailedLogging"] is False
    connection()
    key = api_key()
    resp = httpx.post(gateway.url + "/v1/chat/completions", timeout=30, headers={"Authorization": f"Bearer {key['key']}"},
                      json={"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]})
    assert resp.status_code == 200
    [row] = usage_rows(admin, key["id"])
    time.sleep(0.3)
    entry = admin.get(f"/api/usage/request-logs/{row['id']}").json()
    assert entry["detail"] is None
