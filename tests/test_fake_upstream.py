"""Self-tests of the fake OpenAI upstream used by the rest of the suite."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.fakes.openai_upstream import FakeOpenAI

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
