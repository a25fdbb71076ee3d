"""Executors of subscription upstreams: what goes out, and how answers come back."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from omniroute.dialects.registry import codec
from omniroute.dialects.relay import ObservingRelay, TranslatingRelay
from omniroute.errors import UpstreamConnectionError, UpstreamError
from omniroute.providers.executors import EXECUTORS, UpstreamCall, executor_for, with_transform
from omniroute.providers.executors.claude_code import IDENTITY
from omniroute.providers.executors.cloudcode import UnwrapStream, unwrap
from omniroute.providers.executors.codex import collect_stream
from omniroute.providers.executors.kiro import KiroExecutor, KiroStream, collect, conversation, event, frame
from omniroute.providers.executors.qwen import resource_base
from omniroute.schema import Finish, StreamError, TextDelta, ToolCallDelta, ToolCallStart
from tests.fakes.cloudcode_upstream import FakeCloudCode
from tests.fakes.codex_upstream import FakeCodex
from tests.fakes.gemini_upstream import Answer as GeminiAnswer

HELLO = {"model": "m", "messages": [{"role": "system", "content": "Be brief."},
                                    {"role": "user", "content": "hello there"}]}
TOOL = {"type": "function", "function": {"name": "lookup", "description": "Look up",
                                         "parameters": {"type": "object", "properties": {"query": {"type": "string"}}}}}
PNG = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8/5+hHgAHggJ/PchI7wAAAABJRU5ErkJggg=="


def body_in(dialect: str, openai_body: dict | None = None, *, stream: bool = False) -> bytes:
    """A request body in ``dialect`` built from an OpenAI Chat body through the codecs."""
    request = codec("openai").decode_request({**(openai_body or HELLO), "stream": stream})
    return orjson.dumps(codec(dialect).encode_request(request))


def call_for(dialect: str, *, stream: bool = False, token: str = "tok", account: dict | None = None,
             headers: dict | None = None, base_url: str = "", model: str = "m",
             openai_body: dict | None = None) -> UpstreamCall:
    return UpstreamCall(url="", headers=dict(headers or {"Content-Type": "application/json"}),
                        body=body_in(dialect, openai_body, stream=stream), stream=stream, model=model,
                        token=token, account=dict(account or {}), base_url=base_url)


def lower(headers: dict) -> dict:
    return {k.lower(): v for k, v in headers.items()}


def splits(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    edges = [0, *points, len(data)]
    return [data[a:b] for a, b in zip(edges, edges[1:], strict=False)]


def run_transform(transform, pieces: list[bytes]) -> bytes:
    return b"".join(transform.feed(p) for p in pieces) + transform.finish()


def decoded(dialect: str, data: bytes) -> list:
    decoder = codec(dialect).stream_decoder()
    return decoder.feed(data) + decoder.finish()


def stream_text(events: list) -> str:
    return "".join(e.text for e in events if isinstance(e, TextDelta))


# ---- lookup ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Spec:
    id: str
    executor: str | None = None


def test_executor_for_follows_the_catalog_field() -> None:
    assert executor_for(Spec("openai")) is None
    for name, executor in EXECUTORS.items():
        assert executor_for(Spec(name, name)) is executor
        assert executor.name == name
    with pytest.raises(KeyError, match="unknown executor"):
        executor_for(Spec("x", "nope"))


def test_executor_for_reads_specs_without_the_field() -> None:
    from omniroute.providers.catalog import CATALOG

    assert executor_for(next(s for s in CATALOG if s.id == "openai")) is None


def test_every_executor_takes_its_dialect() -> None:
    dialects = {name: e.dialect for name, e in EXECUTORS.items()}
    assert dialects == {"claude-code": "anthropic", "codex": "responses", "github-copilot": "openai",
                        "gemini-cli": "gemini", "antigravity": "gemini", "qwen": "openai", "iflow": "openai",
                        "kiro": "anthropic"}


def test_executors_match_the_catalog() -> None:
    from omniroute.providers.catalog import CATALOG

    named = {s.id: s for s in CATALOG if getattr(s, "executor", None)}
    for spec in named.values():
        assert executor_for(spec).dialect == spec.dialect, spec.id


# ---- claude-code ----------------------------------------------------------------------------------

def test_claude_code_prepare() -> None:
    executor = EXECUTORS["claude-code"]
    call = call_for("anthropic", token="sk-ant-oat01-x",
                    headers={"x-api-key": "stale", "anthropic-version": "2023-06-01",
                             "anthropic-beta": "context-1m-2025-08-07"})
    out = executor.prepare(call)
    headers = lower(out.headers)
    assert out.url == "https://api.anthropic.com/v1/messages?beta=true"
    assert headers["authorization"] == "Bearer sk-ant-oat01-x" and "x-api-key" not in headers
    betas = headers["anthropic-beta"].split(",")
    assert {"oauth-2025-04-20", "claude-code-20250219", "context-1m-2025-08-07"} <= set(betas)
    assert len(betas) == len(set(betas))
    assert headers["anthropic-version"] == "2023-06-01" and headers["accept"] == "application/json"
    body = orjson.loads(out.body)
    assert body["system"][0] == {"type": "text", "text": IDENTITY}
    assert body["system"][1]["text"] == "Be brief."
    assert body["messages"][0]["role"] == "user" and body["model"] == "m"
    assert executor.unwrap_stream() is None


def test_claude_code_identity_once_and_without_system() -> None:
    executor = EXECUTORS["claude-code"]
    bare = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    out = executor.prepare(call_for("anthropic", openai_body=bare, stream=True))
    assert orjson.loads(out.body)["system"] == [{"type": "text", "text": IDENTITY}]
    assert lower(out.headers)["accept"] == "text/event-stream"
    again = executor.prepare(UpstreamCall("", {}, out.body, True, "m", "t"))
    assert orjson.loads(again.body)["system"] == [{"type": "text", "text": IDENTITY}]


def test_claude_code_answers_pass_through() -> None:
    executor = EXECUTORS["claude-code"]
    raw = orjson.dumps({"id": "msg_1", "type": "message", "role": "assistant", "model": "m",
                        "content": [{"type": "text", "text": "hi"}], "stop_reason": "end_turn",
                        "usage": {"input_tokens": 3, "output_tokens": 1}})
    data = executor.answer_json(raw, call_for("anthropic"))
    assert codec("anthropic").decode_response(data).parts[0].text == "hi"


# ---- codex ----------------------------------------------------------------------------------------

def test_codex_prepare() -> None:
    executor = EXECUTORS["codex"]
    bare = {"model": "gpt-5", "messages": [{"role": "user", "content": "hello there"}],
            "max_tokens": 50, "temperature": 0.2}
    out = executor.prepare(call_for("responses", openai_body=bare, account={"account_id": "acc-1"}, model="gpt-5"))
    headers = lower(out.headers)
    assert out.url == "https://chatgpt.com/backend-api/codex/responses"
    assert headers["authorization"] == "Bearer tok" and headers["chatgpt-account-id"] == "acc-1"
    assert headers["openai-beta"] == "responses=experimental" and headers["originator"] == "codex_cli_rs"
    assert headers["session_id"] and headers["accept"] == "text/event-stream"
    body = orjson.loads(out.body)
    assert body["store"] is False and body["stream"] is True and body["instructions"]
    assert "max_output_tokens" not in body and "temperature" not in body
    assert out.collect is True  # the client asked for a whole answer
    streaming = executor.prepare(call_for("responses", stream=True, account={"account_id": "a"}))
    assert streaming.collect is False
    body = orjson.loads(streaming.body)
    assert body["instructions"] == "Be brief."  # the client's system prompt is kept
    assert executor.unwrap_stream() is None


def test_codex_keeps_encrypted_reasoning() -> None:
    openai_body = {**HELLO, "reasoning_effort": "high"}
    out = EXECUTORS["codex"].prepare(call_for("responses", openai_body=openai_body, account={"account_id": "a"}))
    assert "reasoning.encrypted_content" in orjson.loads(out.body)["include"]


@pytest.fixture(scope="module")
def codex() -> Iterator[FakeCodex]:
    with FakeCodex() as server:
        yield server


@pytest.mark.parametrize("tools", [False, True])
def test_codex_whole_answer_is_collected_from_the_stream(codex: FakeCodex, tools: bool) -> None:
    codex.clear()
    openai_body = {**HELLO, "reasoning_effort": "low", "max_tokens": 100, **({"tools": [TOOL]} if tools else {})}
    call = EXECUTORS["codex"].prepare(call_for("responses", openai_body=openai_body, account={"account_id": "a"},
                                               base_url=codex.base_url, model="gpt-5-mini"))
    resp = httpx.post(call.url, content=call.body, headers=call.headers)
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"].startswith("text/event-stream")
    data = EXECUTORS["codex"].answer_json(resp.content, call)
    assert data["object"] == "response" and data["status"] == "completed"
    answer = codec("responses").decode_response(data)
    if tools:
        assert answer.stop_reason == "tool_calls"
        assert [p.name for p in answer.parts if hasattr(p, "name")] == ["lookup"]
    else:
        assert "echo: hello there" in "".join(getattr(p, "text", "") for p in answer.parts)
    assert answer.usage.output > 0
    sent = codex.requests[-1]
    assert sent.path == "/backend-api/codex/responses" and sent.headers["originator"] == "codex_cli_rs"


def test_codex_stream_passes_through_to_the_responses_decoder(codex: FakeCodex) -> None:
    call = EXECUTORS["codex"].prepare(call_for("responses", stream=True, account={"account_id": "a"},
                                               base_url=codex.base_url))
    resp = httpx.post(call.url, content=call.body, headers=call.headers)
    events = decoded("responses", resp.content)
    assert stream_text(events) == "echo: hello there" and isinstance(events[-1], Finish)


def test_codex_fake_enforces_the_backend_rules(codex: FakeCodex) -> None:
    plain = orjson.loads(body_in("responses", {"model": "m", "messages": [{"role": "user", "content": "hi"}]}))
    resp = httpx.post(codex.base_url + "/responses", json={**plain, "stream": True, "store": False},
                      headers={"chatgpt-account-id": "a"})
    assert resp.status_code == 400 and "nstructions" in resp.text
    resp = httpx.post(codex.base_url + "/responses", json={**plain, "instructions": "x"},
                      headers={"chatgpt-account-id": "a"})
    assert resp.status_code == 400 and "Stream must be set to true" in resp.text


def _sse(obj: dict) -> bytes:
    return b"event: " + obj["type"].encode() + b"\ndata: " + orjson.dumps(obj) + b"\n\n"


def test_codex_collection_fills_an_empty_final_output() -> None:
    message = {"id": "msg_1", "type": "message", "role": "assistant", "status": "completed",
               "content": [{"type": "output_text", "text": "hi", "annotations": []}]}
    raw = b"".join([
        _sse({"type": "response.created", "response": {"id": "r1", "status": "in_progress", "output": []}}),
        _sse({"type": "response.output_text.delta", "output_index": 0, "delta": "hi"}),
        _sse({"type": "response.output_item.done", "output_index": 0, "item": message}),
        _sse({"type": "response.completed", "response": {"id": "r1", "status": "completed", "output": [],
                                                          "model": "gpt-5",
                                                          "usage": {"input_tokens": 2, "output_tokens": 1}}}),
    ])
    data = collect_stream(raw)
    assert data["output"] == [message] and data["object"] == "response"
    assert codec("responses").decode_response(data).parts[0].text == "hi"


def test_codex_collection_failures() -> None:
    created = _sse({"type": "response.created", "response": {"id": "r1", "status": "in_progress"}})
    with pytest.raises(UpstreamConnectionError):
        collect_stream(created)
    failed = _sse({"type": "response.failed", "response": {"id": "r1", "status": "failed",
                                                           "error": {"code": "server_error", "message": "boom"}}})
    with pytest.raises(UpstreamError, match="boom"):
        collect_stream(created + failed)
    limited = _sse({"type": "error", "error": {"code": "usage_limit_reached", "message": "limit"}})
    with pytest.raises(UpstreamError) as info:
        collect_stream(created + limited)
    assert info.value.status == 429 and info.value.cooldown


# ---- github-copilot -------------------------------------------------------------------------------

def test_copilot_prepare() -> None:
    executor = EXECUTORS["github-copilot"]
    out = executor.prepare(call_for("openai", token="tid=copilot", headers={"Authorization": "Bearer gho_x"}))
    headers = lower(out.headers)
    assert out.url == "https://api.githubcopilot.com/chat/completions"
    assert headers["authorization"] == "Bearer tid=copilot"
    for name in ("editor-version", "editor-plugin-version", "copilot-integration-id", "user-agent", "openai-intent"):
        assert headers[name]
    assert headers["copilot-integration-id"] == "vscode-chat"
    assert headers["x-initiator"] == "user"
    assert "copilot-vision-request" not in headers
    assert orjson.loads(out.body)["messages"][-1]["content"] == "hello there"


def test_copilot_vision_and_agent_turns() -> None:
    executor = EXECUTORS["github-copilot"]
    image = {"model": "m", "messages": [{"role": "user", "content": [
        {"type": "text", "text": "what is this"}, {"type": "image_url", "image_url": {"url": PNG}}]}]}
    out = executor.prepare(call_for("openai", openai_body=image))
    assert lower(out.headers)["copilot-vision-request"] == "true"
    loop = {"model": "m", "tools": [TOOL], "messages": [
        {"role": "user", "content": "look it up"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "lookup", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "found"}]}
    out = executor.prepare(call_for("openai", openai_body=loop, account={"api_endpoint": "https://api.business.githubcopilot.com"}))
    assert lower(out.headers)["x-initiator"] == "agent"
    assert out.url == "https://api.business.githubcopilot.com/chat/completions"


# ---- gemini-cli and antigravity -------------------------------------------------------------------

@pytest.mark.parametrize("name", ["gemini-cli", "antigravity"])
def test_cloudcode_prepare(name: str) -> None:
    executor = EXECUTORS[name]
    out = executor.prepare(call_for("gemini", account={"project_id": "proj-1"}, model="gemini-2.5-flash",
                                    headers={"x-goog-api-key": "stale"}))
    headers = lower(out.headers)
    assert out.url == "https://cloudcode-pa.googleapis.com/v1internal:generateContent"
    assert headers["authorization"] == "Bearer tok" and "x-goog-api-key" not in headers
    body = orjson.loads(out.body)
    assert body["model"] == "gemini-2.5-flash" and body["project"] == "proj-1"
    assert body["request"]["contents"][0]["parts"][0]["text"] == "hello there"
    assert body["request"]["systemInstruction"]["parts"][0]["text"] == "Be brief."
    if name == "gemini-cli":
        assert body["user_prompt_id"]
    else:
        assert body["userAgent"] == "antigravity" and body["requestType"] == "agent" and body["requestId"]
        assert headers["user-agent"].startswith("antigravity/") and headers["client-metadata"]
    streaming = executor.prepare(call_for("gemini", stream=True, account={"project_id": "p"}))
    assert streaming.url.endswith("/v1internal:streamGenerateContent?alt=sse")
    assert lower(streaming.headers)["accept"] == "text/event-stream"


def test_cloudcode_json_unwrap_round_trip() -> None:
    inner = GeminiAnswer(orjson.loads(body_in("gemini")), "gemini-2.5-flash").response()
    for executor in (EXECUTORS["gemini-cli"], EXECUTORS["antigravity"]):
        assert executor.unwrap_json({"response": inner, "traceId": "t"}) == inner
        assert executor.answer_json(orjson.dumps({"response": inner}), call_for("gemini")) == inner
    assert unwrap({"error": {"code": 429}}) == {"error": {"code": 429}}


@pytest.fixture(scope="module")
def cloudcode() -> Iterator[FakeCloudCode]:
    with FakeCloudCode() as server:
        yield server


@pytest.mark.parametrize("name", ["gemini-cli", "antigravity"])
def test_cloudcode_against_the_fake(cloudcode: FakeCloudCode, name: str) -> None:
    executor = EXECUTORS[name]
    cloudcode.clear()
    cloudcode.projects = {"proj-1"}
    whole = executor.prepare(call_for("gemini", account={"project_id": "proj-1"}, base_url=cloudcode.base_url,
                                      model="gemini-2.5-flash"))
    resp = httpx.post(whole.url, content=whole.body, headers=whole.headers)
    assert resp.status_code == 200, resp.text
    assert "response" in resp.json()
    answer = codec("gemini").decode_response(executor.answer_json(resp.content, whole))
    assert answer.parts[-1].text == "echo: hello there" and answer.usage.output > 0

    stream = executor.prepare(call_for("gemini", stream=True, account={"project_id": "proj-1"},
                                       base_url=cloudcode.base_url, model="gemini-2.5-flash"))
    resp = httpx.post(stream.url, content=stream.body, headers=stream.headers)
    assert resp.status_code == 200 and b'"response"' in resp.content
    plain = run_transform(executor.unwrap_stream(), [resp.content])
    assert b'"response"' not in plain
    events = decoded("gemini", plain)
    assert stream_text(events) == "echo: hello there" and isinstance(events[-1], Finish)
    sent = cloudcode.requests[-1]
    assert sent.path == "/v1internal:streamGenerateContent" and sent.body["project"] == "proj-1"

    wrong = executor.prepare(call_for("gemini", account={"project_id": "other"}, base_url=cloudcode.base_url))
    assert httpx.post(wrong.url, content=wrong.body, headers=wrong.headers).status_code == 403
    cloudcode.projects = None


def _wrapped_stream(openai_body: dict) -> tuple[bytes, bytes]:
    """(a Cloud Code SSE stream, the plain Gemini stream inside it) for a fake Gemini answer."""
    answer = GeminiAnswer(orjson.loads(body_in("gemini", openai_body)), "gemini-2.5-pro")
    pieces = answer.stream_parts()
    chunks = [answer.chunk(p, final=i == len(pieces) - 1) for i, p in enumerate(pieces)]
    wrapped = b"".join(b"data: " + orjson.dumps({"response": c, "traceId": "abc"}) + b"\r\n\r\n" for c in chunks)
    plain = b"".join(b"data: " + orjson.dumps(c) + b"\n\n" for c in chunks)
    return wrapped, plain


WRAPPED, PLAIN = _wrapped_stream({**HELLO, "messages": [{"role": "user", "content": "one two three four five"}],
                                  "reasoning_effort": "low"})
TOOL_WRAPPED, TOOL_PLAIN = _wrapped_stream({**HELLO, "tools": [TOOL]})


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=10_000), max_size=40), st.booleans())
def test_cloudcode_stream_unwrap_any_split(cuts: list[int], tools: bool) -> None:
    wrapped, plain = (TOOL_WRAPPED, TOOL_PLAIN) if tools else (WRAPPED, PLAIN)
    out = run_transform(UnwrapStream(), splits(wrapped, cuts))
    assert out == plain
    events = decoded("gemini", out)
    assert isinstance(events[-1], Finish)


def test_cloudcode_stream_keeps_error_events_and_foreign_lines() -> None:
    error = b'data: {"error": {"code": 429, "message": "quota", "status": "RESOURCE_EXHAUSTED"}}\n\n'
    assert run_transform(UnwrapStream(), [b": keep-alive\n\n", error]) == b": keep-alive\n\n" + error


def test_transform_in_front_of_a_same_dialect_relay() -> None:
    relay = with_transform(ObservingRelay(codec("gemini").stream_decoder(), codec("gemini").stream_encoder("m")),
                           EXECUTORS["gemini-cli"].unwrap_stream())
    out = b"".join(relay.feed(WRAPPED[i:i + 7]) for i in range(0, len(WRAPPED), 7)) + relay.finish()
    assert out == PLAIN and relay.done and not relay.failed
    translated = with_transform(TranslatingRelay(codec("gemini").stream_decoder(), codec("openai").stream_encoder("m")),
                                EXECUTORS["antigravity"].unwrap_stream())
    out = translated.feed(WRAPPED) + translated.finish()
    assert stream_text(decoded("openai", out)) == "echo: one two three four five"
    assert translated.done
    assert with_transform(relay, None) is relay


# ---- qwen and iflow -------------------------------------------------------------------------------

def test_qwen_prepare() -> None:
    executor = EXECUTORS["qwen"]
    out = executor.prepare(call_for("openai", account={"resource_url": "portal.qwen.ai"}, stream=True))
    headers = lower(out.headers)
    assert out.url == "https://portal.qwen.ai/v1/chat/completions"
    assert headers["authorization"] == "Bearer tok" and headers["x-dashscope-authtype"] == "qwen-oauth"
    assert headers["user-agent"].startswith("QwenCode/") and headers["accept"] == "text/event-stream"
    assert orjson.loads(out.body)["messages"][1]["content"] == "hello there"
    assert executor.prepare(call_for("openai")).url == "https://portal.qwen.ai/v1/chat/completions"
    assert resource_base("https://dashscope.aliyuncs.com/compatible-mode/v1") == \
        "https://dashscope.aliyuncs.com/compatible-mode/v1"
    assert resource_base("example.qwen.ai/") == "https://example.qwen.ai/v1"


def test_iflow_prepare_signs_the_call() -> None:
    out = EXECUTORS["iflow"].prepare(call_for("openai", token="sk-iflow"))
    headers = lower(out.headers)
    assert out.url == "https://apis.iflow.cn/v1/chat/completions"
    assert headers["authorization"] == "Bearer sk-iflow" and headers["user-agent"] == "iFlow-Cli"
    message = f"iFlow-Cli:{headers['session-id']}:{headers['x-iflow-timestamp']}".encode()
    assert headers["x-iflow-signature"] == hmac.new(b"sk-iflow", message, hashlib.sha256).hexdigest()


# ---- kiro -----------------------------------------------------------------------------------------

LOOP = {"model": "m", "tools": [TOOL], "messages": [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "look it up"},
    {"role": "assistant", "content": "Looking.", "tool_calls": [
        {"id": "call_1", "type": "function", "function": {"name": "lookup", "arguments": '{"query": "x"}'}}]},
    {"role": "tool", "tool_call_id": "call_1", "content": "found"}]}


KIRO_OPENAI = KiroExecutor("openai")


@pytest.mark.parametrize("dialect", ["openai", "anthropic"])
def test_kiro_prepare(dialect: str) -> None:
    executor = KiroExecutor(dialect)
    out = executor.prepare(call_for(dialect, openai_body=LOOP, model="claude-sonnet-4.5",
                                    account={"profile_arn": "arn:aws:codewhisperer:us-east-1:1:profile/P",
                                             "region": "us-east-1"}))
    headers = lower(out.headers)
    assert out.url == "https://codewhisperer.us-east-1.amazonaws.com/generateAssistantResponse"
    assert headers["authorization"] == "Bearer tok" and headers["x-amzn-kiro-agent-mode"] == "vibe"
    assert "KiroIDE" in headers["user-agent"] and headers["amz-sdk-invocation-id"]
    assert out.collect is True
    body = orjson.loads(out.body)
    assert body["profileArn"].startswith("arn:aws:codewhisperer")
    state = body["conversationState"]
    assert state["chatTriggerType"] == "MANUAL" and state["conversationId"]
    first, second = state["history"]
    assert first["userInputMessage"]["content"] == "Be brief.\n\nlook it up"
    assert first["userInputMessage"]["modelId"] == "claude-sonnet-4.5"
    assert second["assistantResponseMessage"]["toolUses"] == [
        {"toolUseId": "call_1", "name": "lookup", "input": {"query": "x"}}]
    current = state["currentMessage"]["userInputMessage"]
    context = current["userInputMessageContext"]
    assert context["toolResults"] == [{"toolUseId": "call_1", "status": "success", "content": [{"text": "found"}]}]
    assert context["tools"][0]["toolSpecification"]["name"] == "lookup"
    assert context["tools"][0]["toolSpecification"]["inputSchema"]["json"]["type"] == "object"
    assert current["content"] and current["origin"] == "AI_EDITOR"


def test_kiro_single_turn() -> None:
    state = conversation(orjson.loads(body_in("openai")), "m")["conversationState"]
    assert "history" not in state
    assert state["currentMessage"]["userInputMessage"]["content"] == "Be brief.\n\nhello there"


def _kiro_stream(tool: bool) -> bytes:
    frames = [event("assistantResponseEvent", {"content": piece}) for piece in ("Hel", "lo ", "there")]
    if tool:
        frames += [event("toolUseEvent", {"name": "lookup", "toolUseId": "tu_1", "input": '{"que'}),
                   event("toolUseEvent", {"name": "lookup", "toolUseId": "tu_1", "input": 'ry": "x"}'}),
                   event("toolUseEvent", {"name": "lookup", "toolUseId": "tu_1", "stop": True})]
    frames += [event("meteringEvent", {"unit": "credit", "usage": 0.1}),
               event("contextUsageEvent", {"contextUsagePercentage": 1.5})]
    return b"".join(frames)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=5_000), max_size=40), st.booleans())
def test_kiro_stream_any_split(cuts: list[int], tool: bool) -> None:
    raw = _kiro_stream(tool)
    out = run_transform(KiroStream("m"), splits(raw, cuts))
    events = decoded("openai", out)
    assert stream_text(events) == "Hello there"
    assert isinstance(events[-1], Finish)
    if tool:
        starts = [e for e in events if isinstance(e, ToolCallStart)]
        assert [s.name for s in starts] == ["lookup"]
        assert "".join(e.arguments for e in events if isinstance(e, ToolCallDelta)) == '{"query": "x"}'
        assert events[-1].stop_reason == "tool_calls"


def test_kiro_whole_answer() -> None:
    data = collect(_kiro_stream(True), "claude-sonnet-4.5")
    answer = codec("openai").decode_response(data)
    assert answer.parts[0].text == "Hello there"
    assert answer.parts[1].name == "lookup" and answer.stop_reason == "tool_calls"
    call = KIRO_OPENAI.prepare(call_for("openai"))
    assert KIRO_OPENAI.answer_json(_kiro_stream(False), call)["choices"][0]["message"]["content"] == "Hello there"
    messages = EXECUTORS["kiro"].answer_json(_kiro_stream(True), EXECUTORS["kiro"].prepare(call_for("anthropic")))
    answer = codec("anthropic").decode_response(messages)
    assert answer.parts[0].text == "Hello there" and answer.stop_reason == "tool_calls"


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=5_000), max_size=20))
def test_kiro_stream_as_anthropic(cuts: list[int]) -> None:
    out = run_transform(EXECUTORS["kiro"].unwrap_stream(), splits(_kiro_stream(True), cuts))
    events = decoded("anthropic", out)
    assert stream_text(events) == "Hello there"
    assert [e.name for e in events if isinstance(e, ToolCallStart)] == ["lookup"]
    assert isinstance(events[-1], Finish) and events[-1].stop_reason == "tool_calls"
    cut = run_transform(EXECUTORS["kiro"].unwrap_stream(), [_kiro_stream(False)[:-5]])
    assert not isinstance(decoded("anthropic", cut)[-1], Finish)


def test_kiro_errors_and_cuts() -> None:
    raw = _kiro_stream(False)
    cut = run_transform(KiroStream(), [raw[:-5]])
    assert not isinstance(decoded("openai", cut)[-1], Finish)  # no finish for a cut frame
    exception = frame({":message-type": "exception", ":exception-type": "ThrottlingException",
                       ":content-type": "application/json"}, b'{"message": "slow down"}')
    out = run_transform(KiroStream(), [raw[:40], raw[40:] + exception])
    errors = [e for e in decoded("openai", out) if isinstance(e, StreamError)]
    assert errors and "slow down" in errors[0].message
    with pytest.raises(UpstreamError) as info:
        collect(raw + exception, "m")
    assert info.value.status == 429
    with pytest.raises(UpstreamConnectionError):
        collect(raw[:-3], "m")
    garbage = run_transform(KiroStream(), [b"\x00\x00\x00\x10" + b"\x00" * 20])
    assert b"bad_event_stream" in garbage
