"""Self-tests of the fake Anthropic Messages upstream, driven by the official SDK and raw HTTP."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator

import anthropic
import httpx
import pytest

from tests.fakes.anthropic_upstream import FakeAnthropic
from tests.support import ROOT, free_port

VERSION = {"anthropic-version": "2023-06-01"}
TOOLS = [
    {"name": "search", "description": "web search", "input_schema": {"type": "object"}},
    {"name": "other", "input_schema": {"type": "object"}},
]
HELLO = [{"role": "user", "content": "hello there"}]

try:  # recent SDKs run on httpx2, whose transport errors are not httpx's
    import httpx2

    DROPPED = (httpx.TransportError, httpx2.TransportError, anthropic.APIConnectionError)
except ImportError:
    DROPPED = (httpx.TransportError, anthropic.APIConnectionError)


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeAnthropic]:
    with FakeAnthropic() as server:
        yield server


@pytest.fixture(autouse=True)
def _reset(fake: FakeAnthropic) -> None:
    fake.clear()
    fake.valid_keys = None
    fake.latency_ms = 0
    fake.chunk_delay_ms = 0
    fake.send_done = True


@pytest.fixture
def client(fake: FakeAnthropic) -> Iterator[anthropic.Anthropic]:
    with anthropic.Anthropic(base_url=fake.url, api_key="k", max_retries=0, timeout=5) as sdk:
        yield sdk


def _post(fake: FakeAnthropic, headers: dict | None = None, **body) -> httpx.Response:
    body.setdefault("model", "claude-sonnet-4-5")
    body.setdefault("max_tokens", 64)
    body.setdefault("messages", HELLO)
    return httpx.post(fake.base_url + "/messages", json=body, headers={"x-api-key": "k", **VERSION, **(headers or {})})


def _events(fake: FakeAnthropic, **body) -> list[tuple[str, dict]]:
    """Return the (event name, data) pairs of a complete streaming answer."""
    body.setdefault("model", "claude-sonnet-4-5")
    body.setdefault("max_tokens", 64)
    body.setdefault("messages", HELLO)
    body["stream"] = True
    out, name = [], None
    with httpx.stream("POST", fake.base_url + "/messages", json=body, headers=VERSION) as resp:
        assert resp.status_code == 200
        assert resp.headers["content-type"].startswith("text/event-stream")
        for line in resp.iter_lines():
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                data = json.loads(line[6:])
                assert data["type"] == name
                out.append((name, data))
    return out


def test_non_stream_text_with_sdk(fake: FakeAnthropic, client: anthropic.Anthropic) -> None:
    messages = [
        {"role": "user", "content": "first turn"},
        {"role": "assistant", "content": "ok"},
        {"role": "user", "content": [{"type": "text", "text": "say hi"}, {"type": "text", "text": "please"}]},
    ]
    msg = client.messages.create(model="claude-fake-1", max_tokens=50, messages=messages)
    assert msg.id.startswith("msg_") and msg.type == "message" and msg.role == "assistant"
    assert msg.model == "claude-fake-1"
    assert [b.type for b in msg.content] == ["text"]
    assert msg.content[0].text == "echo: say hi please"
    assert (msg.stop_reason, msg.stop_sequence) == ("end_turn", None)
    assert (msg.usage.input_tokens, msg.usage.output_tokens) == (6, 4)
    assert (msg.usage.cache_read_input_tokens, msg.usage.cache_creation_input_tokens) == (0, 0)
    [rec] = fake.requests
    assert (rec.method, rec.path, rec.api_key) == ("POST", "/v1/messages", "k")
    assert rec.anthropic_version == rec.headers["anthropic-version"] and rec.anthropic_version
    assert rec.body["messages"] == messages and json.loads(rec.raw) == rec.body


def test_stream_text_with_sdk(client: anthropic.Anthropic) -> None:
    with client.messages.stream(model="m", max_tokens=50, messages=HELLO) as stream:
        pieces = list(stream.text_stream)
        final = stream.get_final_message()
    assert pieces == ["echo:", " hello", " there"]
    assert final.content[0].type == "text" and final.content[0].text == "echo: hello there"
    assert final.stop_reason == "end_turn"
    assert (final.usage.input_tokens, final.usage.output_tokens) == (2, 3)


def test_stream_event_sequence(fake: FakeAnthropic) -> None:
    events = _events(fake, system=[{"type": "text", "text": "use the CACHE"}])
    names = [name for name, _ in events]
    assert names == [
        "message_start", "ping", "content_block_start",
        "content_block_delta", "content_block_delta", "content_block_delta",
        "content_block_stop", "message_delta", "message_stop",
    ]
    start = events[0][1]["message"]
    assert start["content"] == [] and start["stop_reason"] is None
    assert start["usage"] == {
        "input_tokens": 2, "output_tokens": 1, "cache_creation_input_tokens": 50, "cache_read_input_tokens": 100,
    }
    assert events[2][1] == {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}
    assert events[-2][1] == {
        "type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None},
        "usage": {"output_tokens": 3},
    }
    fake.send_done = False
    assert [name for name, _ in _events(fake)][-1] == "message_delta"


def test_cache_usage_non_stream(client: anthropic.Anthropic) -> None:
    msg = client.messages.create(model="m", max_tokens=10, system="CACHE me", messages=HELLO)
    assert (msg.usage.cache_read_input_tokens, msg.usage.cache_creation_input_tokens) == (100, 50)


def test_tool_use_non_stream_and_tool_result(client: anthropic.Anthropic) -> None:
    msg = client.messages.create(model="m", max_tokens=50, tools=TOOLS, messages=HELLO)
    assert msg.stop_reason == "tool_use"
    [block] = msg.content
    assert block.type == "tool_use" and block.id.startswith("toolu_")
    assert (block.name, block.input) == ("search", {"query": "hello there"})
    forced = client.messages.create(
        model="m", max_tokens=50, tools=TOOLS, messages=HELLO, tool_choice={"type": "tool", "name": "other"}
    )
    assert forced.content[0].name == "other"
    plain = client.messages.create(model="m", max_tokens=50, tools=TOOLS, messages=HELLO, tool_choice={"type": "none"})
    assert plain.content[0].text == "echo: hello there" and plain.stop_reason == "end_turn"
    follow_up = HELLO + [
        {"role": "assistant", "content": [block.model_dump(include={"type", "id", "name", "input"})]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": block.id, "content": "sunny 21C"}]},
    ]
    answer = client.messages.create(model="m", max_tokens=50, tools=TOOLS, messages=follow_up)
    assert answer.content[0].text == "echo: result sunny 21C" and answer.stop_reason == "end_turn"
    nested = [{"role": "user", "content": [
        {"type": "tool_result", "tool_use_id": "t", "content": [{"type": "text", "text": "from blocks"}]}
    ]}]
    assert client.messages.create(model="m", max_tokens=9, messages=nested).content[0].text == (
        "echo: result from blocks"
    )


def test_tool_use_stream_reassembled_by_sdk(fake: FakeAnthropic, client: anthropic.Anthropic) -> None:
    messages = [{"role": "user", "content": "weather in Paris"}]
    with client.messages.stream(model="m", max_tokens=50, tools=TOOLS, messages=messages) as stream:
        final = stream.get_final_message()
    [block] = final.content
    assert block.type == "tool_use" and block.name == "search"
    assert block.input == {"query": "weather in Paris"}
    assert final.stop_reason == "tool_use"
    events = _events(fake, tools=TOOLS, messages=messages)
    assert events[2][1]["content_block"]["input"] == {}
    fragments = [d["delta"]["partial_json"] for n, d in events if n == "content_block_delta"]
    assert len(fragments) >= 3
    assert json.loads("".join(fragments)) == {"query": "weather in Paris"}


def test_thinking_block_and_signature(fake: FakeAnthropic, client: anthropic.Anthropic) -> None:
    thinking = {"type": "enabled", "budget_tokens": 1024}
    msg = client.messages.create(model="m", max_tokens=2048, thinking=thinking, messages=HELLO)
    assert [b.type for b in msg.content] == ["thinking", "text"]
    assert msg.content[0].thinking == "Thinking about: hello there"
    assert msg.content[0].signature.startswith("sig-")
    assert msg.usage.output_tokens == 7  # thinking words count as output
    with client.messages.stream(model="m", max_tokens=2048, thinking=thinking, messages=HELLO) as stream:
        final = stream.get_final_message()
    first, second = final.content
    assert first.type == "thinking" and first.thinking == "Thinking about: hello there"
    assert first.signature.startswith("sig-") and len(first.signature) > 4
    assert second.type == "text" and second.text == "echo: hello there"
    deltas = [d["delta"]["type"] for n, d in _events(fake, thinking=thinking) if n == "content_block_delta"]
    assert deltas == ["thinking_delta"] * 4 + ["signature_delta"] + ["text_delta"] * 3


@pytest.mark.parametrize(
    ("status", "kind", "exc"),
    [
        (401, "authentication_error", anthropic.AuthenticationError),
        (403, "permission_error", anthropic.PermissionDeniedError),
        (404, "not_found_error", anthropic.NotFoundError),
        (429, "rate_limit_error", anthropic.RateLimitError),
        (500, "api_error", anthropic.InternalServerError),
        (529, "overloaded_error", anthropic.OverloadedError),
    ],
)
def test_fail_next_status_mapping(
    fake: FakeAnthropic, client: anthropic.Anthropic, status: int, kind: str, exc: type[Exception]
) -> None:
    fake.fail_next(status, count=2)
    resp = _post(fake)
    assert resp.status_code == status
    assert resp.json()["type"] == "error" and resp.json()["error"]["type"] == kind
    with pytest.raises(exc) as info:
        client.messages.create(model="m", max_tokens=5, messages=HELLO)
    assert info.value.status_code == status
    assert _post(fake).status_code == 200


def test_fail_next_custom_body_headers_and_raw(fake: FakeAnthropic) -> None:
    fake.fail_next(429, body={"type": "error", "error": {"type": "rate_limit_error", "message": "slow"}},
                   headers={"Retry-After": "3"})
    resp = _post(fake)
    assert (resp.status_code, resp.headers["retry-after"]) == (429, "3")
    assert resp.json()["error"]["message"] == "slow"
    fake.fail_next(502, raw=b"<html>bad gateway</html>")
    resp = _post(fake, stream=True)
    assert (resp.status_code, resp.content) == (502, b"<html>bad gateway</html>")
    assert resp.headers["content-type"].startswith("text/html")


def test_validation_errors(fake: FakeAnthropic) -> None:
    resp = httpx.post(fake.base_url + "/messages", json={"model": "m", "max_tokens": 5, "messages": HELLO})
    assert resp.status_code == 400
    assert resp.json()["error"] == {"type": "invalid_request_error", "message": "anthropic-version: header is required"}
    assert fake.requests[-1].anthropic_version is None
    for bad, needle in [
        ({"model": None}, "model"), ({"max_tokens": "5"}, "max_tokens"), ({"max_tokens": True}, "max_tokens"),
        ({"messages": "hi"}, "messages"),
    ]:
        resp = _post(fake, **bad)
        assert resp.status_code == 400, bad
        err = resp.json()
        assert err["type"] == "error" and err["error"]["type"] == "invalid_request_error"
        assert err["error"]["message"].startswith(needle)
    missing = httpx.post(fake.base_url + "/messages", json={"model": "m", "messages": HELLO}, headers=VERSION)
    assert missing.json()["error"]["message"] == "max_tokens: Field required"
    broken = httpx.post(fake.base_url + "/messages", content=b"{not json", headers=VERSION)
    assert broken.status_code == 400 and broken.json()["error"]["type"] == "invalid_request_error"


def test_auth_keys(fake: FakeAnthropic) -> None:
    fake.valid_keys = {"good"}
    resp = _post(fake, headers={"x-api-key": "bad"})
    assert resp.status_code == 401 and resp.json()["error"]["type"] == "authentication_error"
    assert httpx.get(fake.base_url + "/models").status_code == 401
    assert _post(fake, headers={"x-api-key": "good"}).status_code == 200
    bearer = httpx.post(
        fake.base_url + "/messages", json={"model": "m", "max_tokens": 5, "messages": HELLO},
        headers={"Authorization": "Bearer good", **VERSION},
    )
    assert bearer.status_code == 200 and fake.requests[-1].api_key == "good"
    fake.valid_keys = None
    fake.fail_for_key("k", 403)
    assert _post(fake).json()["error"]["type"] == "permission_error"
    assert _post(fake, headers={"x-api-key": "other"}).status_code == 200
    fake.clear()
    assert _post(fake).status_code == 200


def test_models_list(fake: FakeAnthropic, client: anthropic.Anthropic) -> None:
    page = client.models.list()
    assert [m.id for m in page.data] == ["claude-sonnet-4-5", "claude-opus-4-1", "claude-3-5-haiku-latest"]
    assert all(m.type == "model" and m.display_name for m in page.data)
    raw = httpx.get(fake.base_url + "/models", headers=VERSION).json()
    assert (raw["has_more"], raw["first_id"], raw["last_id"]) == (False, "claude-sonnet-4-5", "claude-3-5-haiku-latest")


def test_cut_stream_after_truncates(fake: FakeAnthropic) -> None:
    fake.cut_stream_after(2)
    body = {"model": "m", "max_tokens": 9, "stream": True, "messages": [{"role": "user", "content": "a b c d"}]}
    lines: list[str] = []
    with pytest.raises(httpx.RemoteProtocolError):  # raised mid-iteration
        with httpx.stream("POST", fake.base_url + "/messages", json=body, headers=VERSION) as resp:
            lines.extend(line for line in resp.iter_lines() if line.startswith("event: "))
    assert lines == ["event: message_start", "event: ping", "event: content_block_start"] + [
        "event: content_block_delta"
    ] * 2
    assert fake.cancelled == 0
    assert _events(fake)[-1][0] == "message_stop"  # the next stream is complete again


def test_cut_stream_surfaces_in_sdk(fake: FakeAnthropic, client: anthropic.Anthropic) -> None:
    fake.cut_stream_after(1)
    seen: list[str] = []
    with pytest.raises(DROPPED):
        with client.messages.stream(model="m", max_tokens=9, messages=HELLO) as stream:
            seen.extend(stream.text_stream)
    assert seen == ["echo:"]


def test_latency_chunk_delay_and_cancel_count(fake: FakeAnthropic) -> None:
    fake.latency_ms = 150
    start = time.perf_counter()
    assert _post(fake).status_code == 200
    assert time.perf_counter() - start >= 0.15
    fake.latency_ms = 0
    fake.chunk_delay_ms = 20
    start = time.perf_counter()
    assert len(_events(fake)) == 9
    assert time.perf_counter() - start >= 0.15
    fake.chunk_delay_ms = 0
    fake.hang_next(5)
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(fake.base_url + "/messages", json={"model": "m", "max_tokens": 1, "messages": []},
                   headers=VERSION, timeout=0.2)
    deadline = time.monotonic() + 2
    while fake.cancelled == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert fake.cancelled == 1


def test_standalone_module() -> None:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.fakes.anthropic_upstream", "--port", str(port), "--latency-ms", "20",
         "--no-record"],
        cwd=ROOT, stdout=subprocess.PIPE, text=True,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == f"fake-anthropic listening on http://127.0.0.1:{port}"
        with anthropic.Anthropic(base_url=f"http://127.0.0.1:{port}", api_key="k", max_retries=0) as sdk:
            msg = sdk.messages.create(model="m", max_tokens=5, messages=HELLO)
        assert msg.content[0].text == "echo: hello there"
    finally:
        proc.terminate()
        assert proc.wait(timeout=10) == 0


# ---- fault injection for the gateway's resilience tests ----------------------------------------

OVERLOADED = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}


def test_stall_first_chunk(fake: FakeAnthropic) -> None:
    fake.stall_first_chunk(0.2)
    assert _post(fake).status_code == 200  # not a stream: the stall stays queued
    body = {"model": "claude-sonnet-4-5", "max_tokens": 64, "messages": HELLO, "stream": True}
    start = time.perf_counter()
    with httpx.stream("POST", fake.base_url + "/messages", json=body, headers=VERSION) as resp:
        headers_at = time.perf_counter() - start
        first = next(resp.iter_raw())
        first_at = time.perf_counter() - start
    assert resp.status_code == 200 and headers_at < 0.15 and first_at >= 0.2
    assert first.startswith(b"event: message_start")
    assert [name for name, _ in _events(fake)][-1] == "message_stop"


def test_error_event_next(fake: FakeAnthropic, client: anthropic.Anthropic) -> None:
    fake.error_event_next()
    events = _events(fake)
    assert [name for name, _ in events] == ["message_start", "error"]
    assert events[0][1]["message"]["model"] == "claude-sonnet-4-5"
    assert events[1][1] == OVERLOADED
    fake.error_event_next("Rate limited mid-stream", "rate_limit_error")
    with pytest.raises(anthropic.APIStatusError) as caught:
        list(client.messages.create(model="claude-sonnet-4-5", max_tokens=8, messages=HELLO, stream=True))
    assert caught.value.body == {"type": "error", "error": {"type": "rate_limit_error",
                                                           "message": "Rate limited mid-stream"}}
    assert [name for name, _ in _events(fake)][-1] == "message_stop"


def test_fail_for_model(fake: FakeAnthropic, client: anthropic.Anthropic) -> None:
    fake.fail_for_model("claude-broken", 529)
    for stream in (False, True):
        resp = _post(fake, model="claude-broken", stream=stream)
        assert resp.status_code == 529 and resp.json() == OVERLOADED
    with pytest.raises(anthropic.APIStatusError) as caught:
        client.messages.create(model="claude-broken", max_tokens=8, messages=HELLO)
    assert caught.value.status_code == 529
    assert _post(fake).status_code == 200
    fake.clear()
    assert _post(fake, model="claude-broken").status_code == 200


def _parse(text: str) -> list[tuple[str, dict]]:
    """(event name, data) pairs of an SSE body read whole."""
    out, name = [], None
    for line in text.splitlines():
        if line.startswith("event: "):
            name = line[7:]
        elif line.startswith("data: "):
            out.append((name, json.loads(line[6:])))
    return out


def test_chaos(fake: FakeAnthropic) -> None:
    fake.chaos(seed=5, rate=1.0, kinds=("error-event", "503"))
    names = []
    for _ in range(6):
        resp = _post(fake, stream=True)
        names.append("503" if resp.status_code == 503 else [n for n, _ in _parse(resp.text)][-1])
    assert names.count("error") == fake.chaos_counts.get("error-event", 0)
    assert names.count("503") == fake.chaos_counts.get("503", 0)
    assert sum(fake.chaos_counts.values()) == 6 and set(fake.chaos_counts) == {"error-event", "503"}


def test_fail_model_option() -> None:
    with FakeAnthropic.from_args(["--port", "0", "--fail-model", "claude-x=400:prompt is too long"]) as other:
        resp = httpx.post(other.base_url + "/messages", headers=VERSION,
                          json={"model": "claude-x", "max_tokens": 8, "messages": HELLO})
        assert resp.status_code == 400
        assert resp.json() == {"type": "error", "error": {"type": "invalid_request_error",
                                                          "message": "prompt is too long"}}
