"""Self-tests of the fake Ollama upstream, driven by the official ollama SDK and raw HTTP."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import ollama
import orjson
import pytest

from tests.fakes.ollama_upstream import FakeOllama
from tests.support import ROOT, free_port

TOOLS = [
    {"type": "function", "function": {"name": "search", "description": "web search",
                                      "parameters": {"type": "object", "properties": {"query": {"type": "string"}}}}},
    {"type": "function", "function": {"name": "other", "parameters": {"type": "object"}}},
]
HELLO = [{"role": "user", "content": "hello there"}]


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeOllama]:
    with FakeOllama() as server:
        yield server


@pytest.fixture(autouse=True)
def _reset(fake: FakeOllama) -> None:
    fake.clear()
    fake.valid_keys = None
    fake.latency_ms = 0
    fake.chunk_delay_ms = 0
    fake.send_done = True
    fake.strict_models = False


@pytest.fixture
def client(fake: FakeOllama) -> ollama.Client:
    return ollama.Client(host=fake.url, timeout=5)


def _post(fake: FakeOllama, headers: dict | None = None, **body) -> httpx.Response:
    body.setdefault("model", "llama3.2")
    body.setdefault("messages", HELLO)
    return httpx.post(fake.url + "/api/chat", json=body, headers=headers or {})


def _lines(fake: FakeOllama, **body) -> list[dict]:
    return [orjson.loads(line) for line in _post(fake, **body).text.splitlines() if line]


def test_base_url_is_the_root(fake: FakeOllama) -> None:
    assert fake.base_url == fake.url and fake.url.startswith("http://127.0.0.1:")


def test_chat_with_sdk(fake: FakeOllama, client: ollama.Client) -> None:
    messages = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "first turn"},
                {"role": "assistant", "content": "ok"}, {"role": "user", "content": "hello there"}]
    answer = client.chat(model="llama3.2", messages=messages, stream=False)
    assert answer.message.role == "assistant" and answer.message.content == "echo: hello there"
    assert answer.done and answer.done_reason == "stop" and answer.model == "llama3.2"
    assert answer.prompt_eval_count == 7 and answer.eval_count == 3
    assert answer.total_duration and answer.total_duration > 0
    sent = fake.requests[-1]
    assert (sent.method, sent.path, sent.api_key) == ("POST", "/api/chat", None)
    assert sent.body["stream"] is False and sent.body["messages"] == messages


def test_streaming_chat_with_sdk(client: ollama.Client) -> None:
    parts = list(client.chat(model="llama3.2", messages=[{"role": "user", "content": "one two three"}], stream=True))
    assert [p.message.content for p in parts] == ["echo: ", "one ", "two ", "three", ""]
    assert [p.done for p in parts] == [False] * 4 + [True]
    assert parts[-1].done_reason == "stop" and parts[-1].eval_count == 4 and parts[-1].prompt_eval_count == 3


def test_stream_by_default_is_ndjson(fake: FakeOllama) -> None:
    resp = _post(fake)
    assert resp.headers["content-type"].startswith("application/x-ndjson")
    objs = [orjson.loads(line) for line in resp.text.splitlines()]
    assert len(objs) == 4 and all(o["model"] == "llama3.2" and o["created_at"] for o in objs)
    assert objs[-1]["done"] is True and objs[-1]["message"] == {"role": "assistant", "content": ""}
    assert "stream" not in fake.requests[-1].body
    assert [o["done"] for o in _lines(fake, stream=True)] == [False, False, False, True]


def test_tool_call_with_sdk(fake: FakeOllama, client: ollama.Client) -> None:
    answer = client.chat(model="llama3.2", messages=[{"role": "user", "content": "weather in Paris"}],
                         tools=TOOLS, stream=False)
    [call] = answer.message.tool_calls
    assert call.function.name == "search" and call.function.arguments == {"query": "weather in Paris"}
    assert answer.done_reason == "stop" and answer.message.content == ""
    parts = list(client.chat(model="llama3.2", messages=[{"role": "user", "content": "x"}], tools=TOOLS,
                             stream=True))
    assert [c.function.name for p in parts for c in p.message.tool_calls or []] == ["search"]
    follow_up = [{"role": "user", "content": "weather in Paris"},
                 {"role": "assistant", "content": "", "tool_calls": [call.model_dump()]},
                 {"role": "tool", "content": "sunny", "tool_name": "search"}]
    answer = client.chat(model="llama3.2", messages=follow_up, tools=TOOLS, stream=False)
    assert answer.message.content == "echo: result sunny" and not answer.message.tool_calls


def test_thinking(client: ollama.Client) -> None:
    answer = client.chat(model="llama3.2", messages=HELLO, think=True, stream=False)
    assert answer.message.thinking == "Thinking about: hello there"
    assert answer.message.content == "echo: hello there"
    parts = list(client.chat(model="llama3.2", messages=HELLO, think=True, stream=True))
    assert "".join(p.message.thinking or "" for p in parts) == "Thinking about: hello there"
    assert "".join(p.message.content for p in parts) == "echo: hello there"


def test_bearer_key_is_recorded_and_checked(fake: FakeOllama) -> None:
    assert _post(fake, headers={"Authorization": "Bearer sk-1"}).status_code == 200
    assert fake.requests[-1].api_key == "sk-1"
    fake.valid_keys = {"good"}
    resp = _post(fake, headers={"Authorization": "Bearer bad"}, stream=False)
    assert resp.status_code == 401 and isinstance(resp.json()["error"], str)
    assert _post(fake, headers={"Authorization": "Bearer good"}, stream=False).status_code == 200
    fake.fail_for_key("good", 429)
    assert _post(fake, headers={"Authorization": "Bearer good"}, stream=False).status_code == 429


def test_models_unknown_model_and_tags(fake: FakeOllama, client: ollama.Client) -> None:
    assert _post(fake, model="anything", stream=False).status_code == 200
    fake.strict_models = True
    with pytest.raises(ollama.ResponseError) as info:
        client.chat(model="nope", messages=HELLO, stream=False)
    assert info.value.status_code == 404 and "nope" in info.value.error
    assert _post(fake, model="llama3.2:latest", stream=False).status_code == 200
    listed = client.list().models
    assert [m.model for m in listed] == ["llama3.2:latest", "qwen2.5-coder:latest"]
    assert all(m.digest and m.size and m.details.format == "gguf" for m in listed)
    raw = httpx.get(fake.url + "/api/tags").json()["models"][0]
    assert set(raw) >= {"name", "model", "modified_at", "size", "digest", "details"}


def test_fail_next_body_headers_and_raw(fake: FakeOllama, client: ollama.Client) -> None:
    fake.fail_next(500, count=2)
    for _ in range(2):
        with pytest.raises(ollama.ResponseError) as info:
            client.chat(model="llama3.2", messages=HELLO, stream=False)
        assert info.value.status_code == 500
    assert _post(fake, stream=False).status_code == 200
    fake.fail_next(429, body={"error": "slow down"}, headers={"Retry-After": "3"})
    resp = _post(fake)
    assert (resp.status_code, resp.json(), resp.headers["retry-after"]) == (429, {"error": "slow down"}, "3")
    fake.fail_next(502, raw=b"<html>bad gateway</html>")
    resp = _post(fake)
    assert resp.status_code == 502 and resp.text == "<html>bad gateway</html>"


def test_bad_body(fake: FakeOllama) -> None:
    resp = httpx.post(fake.url + "/api/chat", content=b"{nope")
    assert resp.status_code == 400 and resp.json()["error"]
    assert httpx.post(fake.url + "/api/chat", json={"messages": HELLO}).status_code == 400


def test_cut_stream_after_and_no_done_line(fake: FakeOllama) -> None:
    fake.cut_stream_after(2)
    lines: list[dict] = []
    with pytest.raises(httpx.RemoteProtocolError):
        with httpx.stream("POST", fake.url + "/api/chat", json={"model": "llama3.2", "messages": HELLO}) as resp:
            lines.extend(orjson.loads(line) for line in resp.iter_lines() if line)
    assert [o["message"]["content"] for o in lines] == ["echo: ", "hello "]
    assert fake.cancelled == 0
    assert _lines(fake)[-1]["done"] is True  # the next stream is whole again
    fake.send_done = False
    objs = _lines(fake)
    assert [o["done"] for o in objs] == [False, False, False]


def test_latency_chunk_delay_and_cancel_count(fake: FakeOllama) -> None:
    fake.latency_ms = 150
    start = time.perf_counter()
    assert _post(fake, stream=False).status_code == 200
    assert time.perf_counter() - start >= 0.15
    fake.latency_ms = 0
    fake.chunk_delay_ms = 50
    start = time.perf_counter()
    assert len(_lines(fake)) == 4
    assert time.perf_counter() - start >= 0.15
    fake.chunk_delay_ms = 0
    fake.hang_next(5)
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(fake.url + "/api/chat", json={"model": "llama3.2", "messages": HELLO}, timeout=0.2)
    deadline = time.monotonic() + 2
    while fake.cancelled == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert fake.cancelled == 1


def test_record_flag(fake: FakeOllama) -> None:
    fake.record = False
    try:
        assert _post(fake, stream=False).status_code == 200
        assert fake.requests == []
    finally:
        fake.record = True


def test_standalone_module() -> None:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.fakes.ollama_upstream", "--port", str(port), "--latency-ms", "20",
         "--no-record"],
        cwd=ROOT, stdout=subprocess.PIPE, text=True,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == f"fake-ollama listening on http://127.0.0.1:{port}"
        answer = ollama.Client(host=f"http://127.0.0.1:{port}").chat(model="llama3.2", messages=HELLO, stream=False)
        assert answer.message.content == "echo: hello there"
    finally:
        proc.terminate()
        assert proc.wait(timeout=10) == 0


# ---- fault injection for the gateway's resilience tests ----------------------------------------


def test_stall_first_chunk(fake: FakeOllama) -> None:
    fake.stall_first_chunk(0.2)
    assert _post(fake, stream=False).status_code == 200  # not a stream: the stall stays queued
    start = time.perf_counter()
    with httpx.stream("POST", fake.url + "/api/chat", json={"model": "llama3.2", "messages": HELLO}) as resp:
        headers_at = time.perf_counter() - start
        first = next(resp.iter_raw())
        first_at = time.perf_counter() - start
    assert resp.status_code == 200 and headers_at < 0.15 and first_at >= 0.2
    assert orjson.loads(first.split(b"\n")[0])["done"] is False


def test_error_event_next(fake: FakeOllama, client: ollama.Client) -> None:
    fake.error_event_next()
    resp = _post(fake)
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("application/x-ndjson")
    assert resp.content == b'{"error":"Overloaded"}\n'
    fake.error_event_next("model runner has unexpectedly stopped")
    with pytest.raises(ollama.ResponseError) as caught:
        list(client.chat(model="llama3.2", messages=HELLO, stream=True))
    assert caught.value.error == "model runner has unexpectedly stopped"
    assert _lines(fake)[-1]["done"] is True


def test_fail_for_model(fake: FakeOllama, client: ollama.Client) -> None:
    fake.fail_for_model("broken:7b", 500, body={"error": "llama runner process has terminated"})
    for stream in (True, False):
        resp = _post(fake, model="broken:7b", stream=stream)
        assert (resp.status_code, resp.json()) == (500, {"error": "llama runner process has terminated"})
    with pytest.raises(ollama.ResponseError) as caught:
        client.chat(model="broken:7b", messages=HELLO)
    assert caught.value.status_code == 500
    assert _post(fake, stream=False).status_code == 200
    fake.clear()
    assert _post(fake, model="broken:7b", stream=False).status_code == 200


def test_chaos_cut(fake: FakeOllama) -> None:
    fake.chaos(seed=4, rate=1.0, kinds=("cut",))
    body = {"model": "llama3.2", "messages": [{"role": "user", "content": "one two three"}]}
    lines = []
    with pytest.raises(httpx.RemoteProtocolError):
        with httpx.stream("POST", fake.url + "/api/chat", json=body) as resp:
            lines.extend(line for line in resp.iter_lines() if line)
    assert len(lines) == 1 and orjson.loads(lines[0])["message"]["content"] == "echo: "
    assert fake.chaos_counts == {"cut": 1}


def test_fail_model_option() -> None:
    with FakeOllama.from_args(["--port", "0", "--fail-model", "llama3.2:latest=404:model not found"]) as other:
        resp = httpx.post(other.url + "/api/chat", json={"model": "llama3.2:latest", "messages": HELLO})
        assert (resp.status_code, resp.json()) == (404, {"error": "model not found"})
        assert httpx.post(other.url + "/api/chat", json={"model": "llama3.2", "messages": HELLO,
                                                         "stream": False}).status_code == 200
