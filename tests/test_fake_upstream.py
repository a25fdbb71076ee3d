"""Self-tests of the fake OpenAI upstream used by the rest of the suite."""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import subprocess
import sys
import time
from collections.abc import Iterator

import aiohttp
import httpx
import openai
import pytest

from tests.fakes.base import CHAOS_KINDS, closed_port, parse_fail_model
from tests.fakes.openai_upstream import FakeOpenAI
from tests.support import ROOT, free_port

TOOLS = [
    {"type": "function", "function": {"name": "search", "parameters": {"type": "object"}}},
    {"type": "function", "function": {"name": "other", "parameters": {"type": "object"}}},
]


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as server:
        yield server


@pytest.fixture(autouse=True)
def _reset(fake: FakeOpenAI) -> None:
    fake.clear()
    fake.valid_keys = None
    fake.latency_ms = 0
    fake.chunk_delay_ms = 0


def _chat(fake: FakeOpenAI, key: str = "sk-test", **body) -> httpx.Response:
    body.setdefault("model", "gpt-4o-mini")
    body.setdefault("messages", [{"role": "user", "content": "hello there"}])
    return httpx.post(
        fake.base_url + "/chat/completions", json=body, headers={"Authorization": f"Bearer {key}"}
    )


def _sse(fake: FakeOpenAI, **body) -> tuple[list[dict], bool]:
    """Return the parsed data events and whether [DONE] was seen."""
    body.setdefault("model", "gpt-4o-mini")
    body.setdefault("messages", [{"role": "user", "content": "hello there"}])
    body["stream"] = True
    events, done = [], False
    with httpx.stream("POST", fake.base_url + "/chat/completions", json=body) as resp:
        assert resp.status_code == 200
        assert resp.headers["content-type"].startswith("text/event-stream")
        for line in resp.iter_lines():
            if not line.startswith("data: "):
                continue
            if line == "data: [DONE]":
                done = True
            else:
                events.append(json.loads(line[6:]))
    return events, done


def test_non_stream_answer_and_recording(fake: FakeOpenAI) -> None:
    messages = [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": [{"type": "text", "text": "say hi please"}]},
    ]
    resp = _chat(fake, key="sk-abc", model="gpt-4o", messages=messages)
    assert resp.status_code == 200
    data = resp.json()
    assert data["object"] == "chat.completion"
    assert data["id"].startswith("chatcmpl-")
    assert data["model"] == "gpt-4o"
    choice = data["choices"][0]
    assert choice["message"] == {"role": "assistant", "content": "echo: say hi please"}
    assert choice["finish_reason"] == "stop"
    assert data["usage"] == {"prompt_tokens": 5, "completion_tokens": 4, "total_tokens": 9}
    [rec] = fake.requests
    assert (rec.method, rec.path, rec.api_key) == ("POST", "/v1/chat/completions", "sk-abc")
    assert rec.headers["authorization"] == "Bearer sk-abc"
    assert rec.body["messages"] == messages
    assert json.loads(rec.raw) == rec.body


def test_models_list(fake: FakeOpenAI) -> None:
    data = httpx.get(fake.base_url + "/models").json()
    assert data["object"] == "list"
    assert [m["id"] for m in data["data"]] == ["gpt-4o-mini", "gpt-4o", "fake-model"]


def test_tool_call_non_stream(fake: FakeOpenAI) -> None:
    data = _chat(fake, tools=TOOLS).json()
    choice = data["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["content"] is None
    [call] = choice["message"]["tool_calls"]
    assert call["id"].startswith("call_") and call["type"] == "function"
    assert call["function"]["name"] == "search"
    assert json.loads(call["function"]["arguments"]) == {"query": "hello there"}
    plain = _chat(fake, tools=TOOLS, tool_choice="none").json()
    assert plain["choices"][0]["message"]["content"] == "echo: hello there"


def test_stream_shape_with_usage(fake: FakeOpenAI) -> None:
    events, done = _sse(fake, stream_options={"include_usage": True})
    assert done
    assert all(e["object"] == "chat.completion.chunk" for e in events)
    assert events[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    text = "".join(e["choices"][0]["delta"].get("content", "") for e in events if e["choices"])
    assert text == "echo: hello there"
    content_chunks = [e for e in events[1:] if e["choices"] and e["choices"][0]["delta"].get("content")]
    assert len(content_chunks) == 3
    assert events[-2]["choices"][0]["finish_reason"] == "stop"
    assert events[-1]["choices"] == []
    assert events[-1]["usage"] == {"prompt_tokens": 2, "completion_tokens": 3, "total_tokens": 5}


def test_stream_without_usage(fake: FakeOpenAI) -> None:
    events, done = _sse(fake)
    assert done
    assert events[-1]["choices"][0]["finish_reason"] == "stop"
    assert all("usage" not in e for e in events)


def test_tool_call_stream_fragments_reassemble(fake: FakeOpenAI) -> None:
    events, done = _sse(fake, tools=TOOLS, messages=[{"role": "user", "content": "weather in Paris"}])
    assert done
    calls = [tc for e in events if e["choices"] for tc in e["choices"][0]["delta"].get("tool_calls", [])]
    head = calls[0]
    assert head["id"].startswith("call_") and head["function"] == {"name": "search", "arguments": ""}
    fragments = [c["function"]["arguments"] for c in calls[1:]]
    assert len(fragments) >= 3
    assert json.loads("".join(fragments)) == {"query": "weather in Paris"}
    assert events[-1]["choices"][0]["finish_reason"] == "tool_calls"


def test_fail_next(fake: FakeOpenAI) -> None:
    fake.fail_next(429, count=2, headers={"Retry-After": "1"})
    first = _chat(fake)
    assert first.status_code == 429
    assert first.headers["retry-after"] == "1"
    assert first.json()["error"]["message"].startswith("Rate limit reached")
    assert _chat(fake).status_code == 429
    assert _chat(fake).status_code == 200
    fake.fail_next(500, body={"error": {"message": "boom"}})
    resp = _chat(fake)
    assert (resp.status_code, resp.json()) == (500, {"error": {"message": "boom"}})


def test_fail_for_key(fake: FakeOpenAI) -> None:
    fake.fail_for_key("sk-bad", 403)
    assert _chat(fake, key="sk-bad").status_code == 403
    assert _chat(fake, key="sk-bad").status_code == 403
    assert _chat(fake, key="sk-good").status_code == 200
    fake.clear()
    assert _chat(fake, key="sk-bad").status_code == 200


def test_valid_keys(fake: FakeOpenAI) -> None:
    fake.valid_keys = {"sk-ok"}
    resp = _chat(fake, key="sk-nope")
    assert resp.status_code == 401
    assert resp.json()["error"]["code"] == "invalid_api_key"
    assert httpx.get(fake.base_url + "/models").status_code == 401
    assert _chat(fake, key="sk-ok").status_code == 200


def test_cut_stream_after_truncates(fake: FakeOpenAI) -> None:
    fake.cut_stream_after(2)
    body = {"model": "m", "stream": True, "messages": [{"role": "user", "content": "a b c d e"}]}
    lines = []
    with pytest.raises(httpx.RemoteProtocolError):  # raised mid-iteration
        with httpx.stream("POST", fake.base_url + "/chat/completions", json=body) as resp:
            lines.extend(line for line in resp.iter_lines() if line)
    assert len(lines) == 3  # role chunk + 2 content chunks
    assert "[DONE]" not in "".join(lines)
    assert fake.cancelled == 0
    assert _sse(fake)[1]  # the next stream is complete again


def test_latency_and_cancel_count(fake: FakeOpenAI) -> None:
    fake.latency_ms = 150
    start = time.perf_counter()
    assert _chat(fake).status_code == 200
    assert time.perf_counter() - start >= 0.15
    fake.latency_ms = 0
    fake.hang_next(5)
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(fake.base_url + "/chat/completions", json={"model": "m", "messages": []}, timeout=0.2)
    deadline = time.monotonic() + 2
    while fake.cancelled == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert fake.cancelled == 1


# ---- fault injection for the gateway's resilience tests ----------------------------------------

HELLO = [{"role": "user", "content": "hello there"}]


def _timed_stream(fake: FakeOpenAI, **body) -> tuple[float, float, bytes]:
    """(seconds to the headers, seconds to the first body chunk, whole body) of a streamed chat."""
    body = {"model": "gpt-4o-mini", "messages": HELLO, "stream": True, **body}
    start = time.perf_counter()
    with httpx.stream("POST", fake.base_url + "/chat/completions", json=body) as resp:
        headers_at = time.perf_counter() - start
        assert resp.status_code == 200
        chunks = resp.iter_raw()
        first = next(chunks)
        first_at = time.perf_counter() - start
        rest = b"".join(chunks)
    return headers_at, first_at, first + rest


def test_stall_first_chunk_delays_the_body_not_the_headers(fake: FakeOpenAI) -> None:
    fake.stall_first_chunk(0.2, count=2)
    assert _chat(fake).status_code == 200  # a non-streaming answer leaves the stalls queued
    for _ in range(2):
        headers_at, first_at, body = _timed_stream(fake)
        assert headers_at < 0.15 and first_at >= 0.2
        assert body.endswith(b"data: [DONE]\n\n")  # then the stream runs as usual
    headers_at, first_at, _ = _timed_stream(fake)
    assert first_at < 0.15


def test_error_event_next_is_an_in_band_error(fake: FakeOpenAI) -> None:
    fake.error_event_next("Engine overloaded", "server_error")
    _, _, body = _timed_stream(fake)
    assert body == b'data: {"error":{"message":"Engine overloaded","type":"server_error","param":null,' \
                   b'"code":null}}\n\n'
    fake.error_event_next(count=2)
    with openai.OpenAI(base_url=fake.base_url, api_key="k", max_retries=0, timeout=5) as sdk:
        for _ in range(2):
            with pytest.raises(openai.APIError) as caught:
                list(sdk.chat.completions.create(model="gpt-4o-mini", messages=HELLO, stream=True))
            assert caught.value.message == "Overloaded"
            assert caught.value.body == {"message": "Overloaded", "type": "overloaded_error", "param": None,
                                         "code": None}
        assert list(sdk.chat.completions.create(model="gpt-4o-mini", messages=HELLO, stream=True))
    assert _sse(fake)[1]


def test_error_event_next_waits_for_a_stream(fake: FakeOpenAI) -> None:
    fake.error_event_next()
    assert _chat(fake).status_code == 200
    events, done = _sse(fake)
    assert events == [{"error": {"message": "Overloaded", "type": "overloaded_error", "param": None,
                                 "code": None}}]
    assert not done


def test_fail_for_model(fake: FakeOpenAI) -> None:
    fake.fail_for_model("broken", 400)
    fake.fail_for_model("limited", 429, body={"error": {"message": "slow down"}}, headers={"Retry-After": "7"})
    fake.fail_next(503)
    for _ in range(2):
        resp = _chat(fake, model="broken")
        assert resp.status_code == 400 and resp.json() == fake.error_body(400)
        resp = _chat(fake, model="broken", stream=True)
        assert resp.status_code == 400
    resp = _chat(fake, model="limited")
    assert (resp.status_code, resp.headers["retry-after"], resp.json()) == (429, "7", {"error": {"message":
                                                                                                 "slow down"}})
    assert _chat(fake).status_code == 503  # the queued fault went to the first other model's request
    assert _chat(fake).status_code == 200
    embed = httpx.post(fake.base_url + "/embeddings", json={"model": "broken", "input": "x"})
    assert embed.status_code == 400
    assert [r.body["model"] for r in fake.requests].count("broken") == 5  # still recorded
    fake.clear()
    assert _chat(fake, model="broken").status_code == 200


def test_closed_port_refuses_connections() -> None:
    port = closed_port()
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{port}/v1/models", timeout=2)


@pytest.fixture(scope="module")
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=5) as client:
        yield client


def _outcome(fake: FakeOpenAI, http: httpx.Client, streaming: bool) -> str:
    """What a client sees of one request under chaos, named after the chaos kind that causes it
    ("ok" for a normal answer, which a "hang" also gives)."""
    body = {"model": "gpt-4o-mini", "messages": HELLO, "stream": streaming}
    try:
        with http.stream("POST", fake.base_url + "/chat/completions", json=body) as resp:
            if resp.status_code != 200:
                return "retry-after" if resp.headers.get("retry-after") == "1" else str(resp.status_code)
            try:
                text = resp.read().decode()
            except httpx.RemoteProtocolError:
                return "cut"
    except (httpx.ReadError, httpx.RemoteProtocolError, httpx.ConnectError) as exc:
        # A reset never shows a status; a non-streaming "cut" is an orderly close before one.
        return "cut" if "without sending" in str(exc) else "reset"
    return "error-event" if text.startswith('data: {"error"') else "ok"


@pytest.mark.parametrize("streaming", [True, False])
def test_chaos_every_kind_is_observable(fake: FakeOpenAI, http: httpx.Client, streaming: bool) -> None:
    fake.chaos(seed=7, rate=1.0, hang_s=0.01)
    outcomes = [_outcome(fake, http, streaming) for _ in range(40)]
    counts = dict(fake.chaos_counts)
    assert sum(counts.values()) == 40 and set(counts) == set(CHAOS_KINDS)  # every kind came up
    expected = collections.Counter({"ok" if k == "hang" else k: n for k, n in counts.items()})
    if not streaming:  # without a stream an error event is a 500
        expected["500"] += expected.pop("error-event")
    assert collections.Counter(outcomes) == expected
    assert fake.cancelled == 0  # the fake's own drops are not client disconnects


def test_chaos_is_seeded_rated_and_cleared(fake: FakeOpenAI, http: httpx.Client) -> None:
    runs = []
    for _ in range(2):
        fake.chaos(seed=3, rate=0.5, kinds=("500", "503", "429", "retry-after", "error-event"))
        runs.append([_outcome(fake, http, True) for _ in range(30)])
        assert 5 < runs[-1].count("ok") < 25
    assert runs[0] == runs[1]  # the same seed deals the same faults
    fake.chaos(seed=3, rate=0.0)
    assert {_outcome(fake, http, True) for _ in range(5)} == {"ok"} and fake.chaos_counts == {}
    fake.chaos(seed=3, rate=1.0, kinds=("503",))
    fake.fail_next(418)
    assert _outcome(fake, http, False) == "418"  # an explicit fault wins and draws no chaos
    assert fake.chaos_counts == {}
    assert _outcome(fake, http, False) == "503" and fake.chaos_counts == {"503": 1}
    fake.clear()
    assert fake.chaos_counts == {} and _outcome(fake, http, False) == "ok"
    with pytest.raises(ValueError):
        fake.chaos(seed=1, rate=1.0, kinds=("boom",))


def test_chaos_hang_delays_then_answers(fake: FakeOpenAI) -> None:
    fake.chaos(seed=1, rate=1.0, kinds=("hang",), hang_s=0.1)
    start = time.perf_counter()
    assert _chat(fake).status_code == 200
    assert time.perf_counter() - start >= 0.1 and fake.chaos_counts == {"hang": 1}


def test_chaos_under_concurrency(fake: FakeOpenAI) -> None:
    fake.chaos(seed=11, rate=1.0, kinds=("500", "503", "retry-after"))

    async def burst() -> list[tuple[int, str | None]]:
        async with aiohttp.ClientSession() as session:
            async def one() -> tuple[int, str | None]:
                body = {"model": "gpt-4o-mini", "messages": HELLO}
                async with session.post(fake.base_url + "/chat/completions", json=body) as resp:
                    return resp.status, resp.headers.get("Retry-After")
            return await asyncio.gather(*(one() for _ in range(30)))

    answers = asyncio.run(burst())
    counts = fake.chaos_counts
    assert sum(counts.values()) == 30
    assert sum(1 for status, _ in answers if status == 500) == counts.get("500", 0)
    assert sum(1 for status, _ in answers if status == 503) == counts.get("503", 0)
    assert sum(1 for status, after in answers if (status, after) == (429, "1")) == counts.get("retry-after", 0)


def test_fail_model_option() -> None:
    assert parse_fail_model("broken=400:maximum context length exceeded") == (
        "broken", 400, "maximum context length exceeded")
    assert parse_fail_model("llama3.2:latest=503") == ("llama3.2:latest", 503, None)
    assert parse_fail_model("m=429:a: b=c") == ("m", 429, "a: b=c")
    for bad in ("broken", "=400", "broken=", "broken=abc"):
        with pytest.raises(argparse.ArgumentTypeError):
            parse_fail_model(bad)


def test_standalone_fail_model() -> None:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.fakes.openai_upstream", "--port", str(port), "--no-record",
         "--fail-model", "broken=400:maximum context length exceeded", "--fail-model", "gpt-4o=503"],
        cwd=ROOT, stdout=subprocess.PIPE, text=True,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == f"fake-openai listening on http://127.0.0.1:{port}"
        url = f"http://127.0.0.1:{port}/v1/chat/completions"
        resp = httpx.post(url, json={"model": "broken", "messages": HELLO})
        assert resp.status_code == 400
        assert resp.json()["error"] == {"message": "maximum context length exceeded",
                                        "type": "invalid_request_error", "param": None, "code": None}
        assert httpx.post(url, json={"model": "gpt-4o", "messages": HELLO}).status_code == 503
        assert httpx.post(url, json={"model": "gpt-4o-mini", "messages": HELLO}).status_code == 200
    finally:
        proc.terminate()
        assert proc.wait(timeout=10) == 0
