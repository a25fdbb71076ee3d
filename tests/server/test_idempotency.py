"""Idempotency (``Idempotency-Key`` / ``X-Request-Id``, API reference §1.3 and §2.5) through the running gateway.

The first request with a key runs; duplicates arriving while it runs follow it (single flight), those
arriving within the window after it get its recorded answer, both with ``X-OmniRoute-Idempotent: true``
and without an upstream call. Only a success is kept; the same key with another body is a 409
``idempotency_key_reused``; keys are scoped to the API key and the path.
"""

from __future__ import annotations

import asyncio
import time
import uuid

import httpx
import orjson
import pytest

from tests.support import usage_rows

MODEL = "openai/gpt-4o-mini"
CHAT = "/v1/chat/completions"


def new_key() -> str:
    return f"idem-{uuid.uuid4().hex}"


def chat_body(text: str | None = None, **extra) -> dict:
    return {"model": MODEL, "messages": [{"role": "user", "content": text or f"hello {uuid.uuid4().hex[:8]}"}],
            **extra}


def upstream_calls(upstream) -> list:
    return [r for r in upstream.requests if r.method == "POST" and r.path.endswith("/chat/completions")]


def replayed(resp: httpx.Response) -> bool:
    return resp.headers.get("x-omniroute-idempotent") == "true"


async def _post_all(url: str, bodies_headers: list[tuple[dict, dict]]) -> list[httpx.Response]:
    async with httpx.AsyncClient(timeout=30, limits=httpx.Limits(max_connections=64)) as client:
        return await asyncio.gather(*(client.post(url, json=b, headers=h) for b, h in bodies_headers))


async def _stream_all(url: str, body: dict, headers: dict, n: int) -> list[tuple[int, dict, bytes, float, float]]:
    """(status, headers, whole body, seconds to the first body byte, seconds to the end) per client."""
    async def one(client: httpx.AsyncClient):
        started = time.monotonic()
        first_at, data = None, b""
        async with client.stream("POST", url, json=body, headers=headers) as resp:
            async for chunk in resp.aiter_raw():
                if chunk and first_at is None:
                    first_at = time.monotonic() - started
                data += chunk
        return resp.status_code, dict(resp.headers), data, first_at, time.monotonic() - started

    async with httpx.AsyncClient(timeout=30, limits=httpx.Limits(max_connections=64)) as client:
        return await asyncio.gather(*(one(client) for _ in range(n)))


@pytest.fixture
def window(admin):
    """Set ``idempotency.windowMs``; the previous value is put back after the test."""
    old = admin.get("/api/settings").json().get("idempotency") or {"windowMs": 5000}

    def set_window(ms: int) -> None:
        resp = admin.put("/api/settings", json={"idempotency": {"windowMs": ms}})
        assert resp.status_code == 200, resp.text

    yield set_window
    assert admin.put("/api/settings", json={"idempotency": old}).status_code == 200


# ---- single flight -------------------------------------------------------------------------------


def test_twenty_concurrent_duplicates_make_one_upstream_call(gateway, upstream, connection):
    connection()
    upstream.latency_ms = 300
    body, headers = chat_body(), {"Idempotency-Key": new_key()}
    answers = asyncio.run(_post_all(gateway.url + CHAT, [(body, headers)] * 20))
    assert [r.status_code for r in answers] == [200] * 20
    assert len(upstream_calls(upstream)) == 1
    assert len({r.content for r in answers}) == 1, "every duplicate gets the same body"
    assert answers[0].json()["choices"][0]["message"]["content"] == "echo: " + body["messages"][0]["content"]
    assert sum(replayed(r) for r in answers) == 19
    original = next(r for r in answers if not replayed(r))
    for r in answers:
        if replayed(r):  # the original's headers, plus the replay marker
            assert r.headers["x-omniroute-provider"] == original.headers["x-omniroute-provider"]
            assert r.headers["content-type"] == original.headers["content-type"]


def test_concurrent_streaming_duplicates_share_one_stream(gateway, upstream, connection):
    connection()
    upstream.chunk_delay_ms = 100
    text = " ".join(f"s{i}" for i in range(10))  # ~1.4 s of stream
    body = chat_body(text, stream=True)
    got = asyncio.run(_stream_all(gateway.url + CHAT, body, {"Idempotency-Key": new_key()}, 8))
    assert [status for status, *_ in got] == [200] * 8
    assert len(upstream_calls(upstream)) == 1
    streams = {data for _, _, data, _, _ in got}
    assert len(streams) == 1, "every client gets the byte-identical stream"
    data = streams.pop().decode()
    assert data.rstrip().endswith("data: [DONE]")
    content = "".join(orjson.loads(line[6:])["choices"][0]["delta"].get("content") or ""
                      for line in data.split("\n")
                      if line.startswith("data: {") and orjson.loads(line[6:]).get("choices"))
    assert content == f"echo: {text}"
    assert sum(h.get("x-omniroute-idempotent") == "true" for _, h, *_ in got) == 7
    assert all(h["content-type"].startswith("text/event-stream") for _, h, *_ in got)
    # Followers get the stream chunk by chunk as it is produced, not all at once at the end.
    for _, h, _, first_at, total in got:
        assert first_at is not None and first_at < total - 0.5, (h.get("x-omniroute-idempotent"), first_at, total)


# ---- replays within the window, and after it --------------------------------------------------


DIALECTS = {
    "openai-chat": ("/v1/chat/completions", lambda t: chat_body(t)),
    "anthropic": ("/v1/messages", lambda t: {"model": MODEL, "max_tokens": 64,
                                             "messages": [{"role": "user", "content": t}]}),
    "responses": ("/v1/responses", lambda t: {"model": MODEL, "input": t}),
    "gemini": (f"/v1beta/models/{MODEL}:generateContent",
               lambda t: {"contents": [{"role": "user", "parts": [{"text": t}]}]}),
    "ollama": ("/api/chat", lambda t: {"model": MODEL, "stream": False,
                                       "messages": [{"role": "user", "content": t}]}),
}


@pytest.mark.parametrize("dialect", list(DIALECTS))
def test_duplicate_after_the_first_finished_is_replayed(gateway, upstream, connection, dialect):
    connection()
    path, make = DIALECTS[dialect]
    text = f"replay {uuid.uuid4().hex[:8]}"
    headers = {"Idempotency-Key": new_key()}
    first = httpx.post(gateway.url + path, json=make(text), headers=headers, timeout=30)
    assert first.status_code == 200, first.text
    assert not replayed(first)
    assert f"echo: {text}" in first.text
    second = httpx.post(gateway.url + path, json=make(text), headers=headers, timeout=30)
    assert second.status_code == 200
    assert replayed(second)
    assert second.content == first.content
    assert len(upstream_calls(upstream)) == 1


def test_streamed_answer_is_replayed_as_the_same_stream(gateway, upstream, connection):
    connection()
    body, headers = chat_body(stream=True), {"Idempotency-Key": new_key()}
    first = httpx.post(gateway.url + CHAT, json=body, headers=headers, timeout=30)
    second = httpx.post(gateway.url + CHAT, json=body, headers=headers, timeout=30)
    assert first.status_code == second.status_code == 200
    assert replayed(second) and not replayed(first)
    assert second.content == first.content and second.text.rstrip().endswith("data: [DONE]")
    assert second.headers["content-type"].startswith("text/event-stream")
    assert len(upstream_calls(upstream)) == 1


def test_after_the_window_the_request_runs_again(gateway, upstream, connection, admin, window):
    connection()
    window(300)
    assert admin.get("/api/settings").json()["idempotency"] == {"windowMs": 300}
    assert admin.get("/api/cache").json()["idempotency"]["windowMs"] == 300
    body, headers = chat_body(), {"Idempotency-Key": new_key()}
    first = httpx.post(gateway.url + CHAT, json=body, headers=headers, timeout=30)
    soon = httpx.post(gateway.url + CHAT, json=body, headers=headers, timeout=30)
    assert replayed(soon) and soon.content == first.content
    assert len(upstream_calls(upstream)) == 1
    time.sleep(0.6)
    late = httpx.post(gateway.url + CHAT, json=body, headers=headers, timeout=30)
    assert late.status_code == 200 and not replayed(late)
    assert len(upstream_calls(upstream)) == 2
    assert late.json()["id"] != first.json()["id"], "a fresh answer, not the recorded one"


def test_x_request_id_works_as_the_key(gateway, upstream, connection):
    connection()
    rid = f"req-{uuid.uuid4().hex}"
    body = chat_body()
    first = httpx.post(gateway.url + CHAT, json=body, headers={"X-Request-Id": rid}, timeout=30)
    second = httpx.post(gateway.url + CHAT, json=body, headers={"X-Request-Id": rid}, timeout=30)
    assert first.status_code == second.status_code == 200
    assert first.headers["x-request-id"] == rid and second.headers["x-request-id"] == rid
    assert replayed(second) and not replayed(first)
    assert second.content == first.content
    assert len(upstream_calls(upstream)) == 1


def test_without_a_key_every_request_runs(gateway, upstream, connection):
    connection()
    body = chat_body()
    answers = [httpx.post(gateway.url + CHAT, json=body, timeout=30) for _ in range(2)]
    assert [r.status_code for r in answers] == [200, 200]
    assert not any(replayed(r) for r in answers)
    assert len(upstream_calls(upstream)) == 2


# ---- conflicts, failures, scope ------------------------------------------------------------------


def test_same_key_with_another_body_is_409_in_openai_shape(gateway, upstream, connection):
    connection()
    headers = {"Idempotency-Key": new_key()}
    assert httpx.post(gateway.url + CHAT, json=chat_body("one"), headers=headers, timeout=30).status_code == 200
    resp = httpx.post(gateway.url + CHAT, json=chat_body("two"), headers=headers, timeout=30)
    assert resp.status_code == 409
    error = resp.json()["error"]
    assert error["code"] == "idempotency_key_reused"
    assert isinstance(error["message"], str) and error["message"] and isinstance(error["type"], str)
    assert not replayed(resp)
    assert len(upstream_calls(upstream)) == 1


def test_same_key_with_another_body_while_the_first_runs_is_409(gateway, upstream, connection):
    connection()
    upstream.latency_ms = 400
    headers = {"Idempotency-Key": new_key()}

    async def overlap():
        async with httpx.AsyncClient(timeout=30) as client:
            running = asyncio.create_task(client.post(gateway.url + CHAT, json=chat_body("three"), headers=headers))
            await asyncio.sleep(0.15)
            other = await client.post(gateway.url + CHAT, json=chat_body("four"), headers=headers)
            return await running, other

    running, other = asyncio.run(overlap())
    assert running.status_code == 200 and not replayed(running)
    assert other.status_code == 409 and other.json()["error"]["code"] == "idempotency_key_reused"
    assert len(upstream_calls(upstream)) == 1


def test_same_key_with_another_body_is_409_in_anthropic_shape(gateway, upstream, connection):
    connection()
    headers = {"Idempotency-Key": new_key()}

    def ask(text):
        return httpx.post(gateway.url + "/v1/messages", json={"model": MODEL, "max_tokens": 64, "messages": [
            {"role": "user", "content": text}]}, headers=headers, timeout=30)

    assert ask("one").status_code == 200
    resp = ask("two")
    assert resp.status_code == 409
    body = resp.json()
    assert body["type"] == "error"
    assert body["error"]["type"] == "invalid_request_error"
    assert "Idempotency-Key" in body["error"]["message"]
    assert set(body) == {"type", "error"}, body
    assert len(upstream_calls(upstream)) == 1


def test_same_key_with_another_body_is_409_in_ollama_shape(gateway, upstream, connection):
    connection()
    headers = {"Idempotency-Key": new_key()}

    def ask(text):
        return httpx.post(gateway.url + "/api/chat", json={"model": MODEL, "stream": False, "messages": [
            {"role": "user", "content": text}]}, headers=headers, timeout=30)

    assert ask("one").status_code == 200
    resp = ask("two")
    assert resp.status_code == 409
    assert isinstance(resp.json()["error"], str) and "Idempotency-Key" in resp.json()["error"]


def test_failed_first_request_is_not_kept(gateway, upstream, connection):
    connection()  # one connection: the failure reaches the client
    upstream.fail_next(500)
    body, headers = chat_body(), {"Idempotency-Key": new_key()}
    first = httpx.post(gateway.url + CHAT, json=body, headers=headers, timeout=30)
    assert first.status_code >= 500, first.text
    calls = len(upstream_calls(upstream))
    retry = httpx.post(gateway.url + CHAT, json=body, headers=headers, timeout=30)
    assert retry.status_code == 200, retry.text
    assert not replayed(retry)
    assert len(upstream_calls(upstream)) == calls + 1, "the retry reached the upstream again"
    # ...and the success is now kept.
    again = httpx.post(gateway.url + CHAT, json=body, headers=headers, timeout=30)
    assert replayed(again) and again.content == retry.content
    assert len(upstream_calls(upstream)) == calls + 1


def test_keys_are_scoped_to_the_api_key(gateway, upstream, connection, api_key):
    connection()
    keys = [api_key(name=f"idem-{i}")["key"] for i in range(2)]
    body, idem = chat_body(), new_key()
    answers = [httpx.post(gateway.url + CHAT, json=body, timeout=30,
                          headers={"Idempotency-Key": idem, "Authorization": f"Bearer {k}"}) for k in keys]
    assert [r.status_code for r in answers] == [200, 200]
    assert not any(replayed(r) for r in answers)
    assert len(upstream_calls(upstream)) == 2


def test_keys_are_scoped_to_the_path(gateway, upstream, connection):
    connection()
    headers = {"Idempotency-Key": new_key()}
    chat = httpx.post(gateway.url + CHAT, json=chat_body("path one"), headers=headers, timeout=30)
    messages = httpx.post(gateway.url + "/v1/messages", headers=headers, timeout=30,
                          json={"model": MODEL, "max_tokens": 64, "messages": [{"role": "user", "content": "path two"}]})
    assert chat.status_code == messages.status_code == 200
    assert not replayed(messages)
    assert len(upstream_calls(upstream)) == 2


# ---- usage ---------------------------------------------------------------------------------------


def test_replays_write_usage_rows_marked_idempotent(gateway, upstream, connection, admin, api_key):
    connection()
    key = api_key(name="idem-usage")
    body, headers = chat_body(), {"Idempotency-Key": new_key(), "Authorization": f"Bearer {key['key']}"}
    answers = [httpx.post(gateway.url + CHAT, json=body, headers=headers, timeout=30) for _ in range(3)]
    assert [r.status_code for r in answers] == [200] * 3
    assert len(upstream_calls(upstream)) == 1
    rows = usage_rows(admin, key["id"], count=3)
    assert len(rows) == 3, rows
    assert sorted(row["idempotent"] for row in rows) == [False, True, True], rows
    original = next(row for row in rows if not row["idempotent"])
    assert original["provider"] == "openai" and original["status"] == 200
    assert original["cost"] > 0 and all(row["cost"] == 0 for row in rows if row["idempotent"]), \
        "a replay writes no second cost"
    for row in rows:
        assert row["status"] == 200 and row["requestedModel"] == MODEL
