"""Anthropic non-streamed answers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from anthropic.types import Message as SDKMessage

from omniroute.dialects.anthropic import CODEC, error_body
from omniroute.schema import ChatResponse, Reasoning, Text, ToolCall, Usage

FIXTURES = Path(__file__).parents[2] / "fixtures" / "anthropic"


def load(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


def test_decode_text_with_stop_sequence_and_cache_usage():
    resp = CODEC.decode_response(load("response_text.json"))
    assert resp.parts == [Text("One, two, three.")]
    assert resp.stop_reason == "stop_sequence" and resp.stop_sequence == "STOP"
    assert resp.usage == Usage(input=12, output=7, cache_read=2000, cache_write=100)


def test_decode_tool_use():
    resp = CODEC.decode_response(load("response_tool_use.json"))
    assert resp.stop_reason == "tool_calls"
    assert resp.parts[1] == ToolCall("toolu_01T1x1fJ34qAmk2tNTrN7Up6", "get_weather",
                                     '{"city":"San Francisco, CA","unit":"c"}')


def test_decode_thinking():
    resp = CODEC.decode_response(load("response_thinking.json"))
    assert isinstance(resp.parts[0], Reasoning) and resp.parts[0].signature.startswith("WaUj")
    assert resp.parts[1] == Reasoning(redacted="EmwKAhgBEgy3va3pzix/LafPsn4aDFIT2Xlxh0L5L8rLVyIw")
    assert resp.usage.cache_read == 0


@pytest.mark.parametrize("name", ["response_text.json", "response_tool_use.json", "response_thinking.json"])
def test_round_trip_is_exact(name):
    body = load(name)
    encoded = CODEC.encode_response(CODEC.decode_response(body))
    body["usage"].setdefault("cache_creation_input_tokens", 0)
    body["usage"].setdefault("cache_read_input_tokens", 0)
    assert encoded == body
    SDKMessage.model_validate(encoded)  # the official SDK's model accepts it


@pytest.mark.parametrize("upstream, canonical", [
    ("end_turn", "stop"), ("max_tokens", "length"), ("tool_use", "tool_calls"),
    ("stop_sequence", "stop_sequence"), ("refusal", "content_filter"), ("pause_turn", "stop"),
    ("model_context_window_exceeded", "length"), (None, "stop"),
])
def test_stop_reason_decoding(upstream, canonical):
    assert CODEC.decode_response({"id": "x", "content": [], "stop_reason": upstream}).stop_reason == canonical


@pytest.mark.parametrize("canonical, wire", [
    ("stop", "end_turn"), ("length", "max_tokens"), ("tool_calls", "tool_use"),
    ("content_filter", "refusal"), ("stop_sequence", "stop_sequence"), ("error", "end_turn"),
])
def test_stop_reason_encoding(canonical, wire):
    body = CODEC.encode_response(ChatResponse(id="chatcmpl-1", model="m", stop_reason=canonical))
    assert body["stop_reason"] == wire
    assert body["id"] == "msg_chatcmpl-1"


def test_encode_foreign_parts():
    resp = ChatResponse(id="msg_1", model="m", parts=[Reasoning(), Reasoning(text="unsigned"),
                                                      ToolCall("c", "f", "oops"), Text("ok")])
    content = CODEC.encode_response(resp)["content"]
    assert content == [{"type": "thinking", "thinking": "unsigned", "signature": ""},
                       {"type": "tool_use", "id": "c", "name": "f", "input": {}}, {"type": "text", "text": "ok"}]


@pytest.mark.parametrize("status, kind", [
    (400, "invalid_request_error"), (401, "authentication_error"), (403, "permission_error"),
    (404, "not_found_error"), (429, "rate_limit_error"), (500, "api_error"), (502, "api_error"),
    (529, "overloaded_error"), (422, "invalid_request_error"),
])
def test_error_body(status, kind):
    assert error_body(status, "boom") == {"type": "error", "error": {"type": kind, "message": "boom"}}
