"""Gemini non-streamed answers: decoding, encoding, usage arithmetic and stop reasons."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from google.genai import types

from omniroute.dialects.gemini import CODEC, error_body
from omniroute.schema import ChatResponse, Reasoning, Text, ToolCall, Usage

FIXTURES = Path(__file__).parents[2] / "fixtures" / "gemini"


def load(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


def test_decode_tool_call_response():
    resp = CODEC.decode_response(load("response_tool_call.json"))
    assert (resp.id, resp.model, resp.stop_reason) == ("resp-tool-1", "gemini-2.5-flash", "tool_calls")
    thought, sig, call = resp.parts
    assert thought == Reasoning("Checking the weather.")
    assert sig == Reasoning(signature="c2ln")
    assert (call.name, call.arguments) == ("get_weather", '{"city":"Paris"}') and call.id.startswith("call_")
    # Stable ids: decoding the same answer twice names its calls alike.
    assert CODEC.decode_response(load("response_tool_call.json")).parts[2].id == call.id
    # Prompt count includes the cache; candidates exclude thoughts.
    assert resp.usage == Usage(input=20, output=55, cache_read=100, reasoning=40)


def test_decode_text_response():
    resp = CODEC.decode_response(load("response_text.json"))
    assert resp.parts == [Text("Hello, wörld!")]
    assert resp.stop_reason == "length"
    assert resp.usage == Usage(input=8, output=4)


@pytest.mark.parametrize(("reason", "calls", "expected"), [
    ("STOP", False, "stop"), ("STOP", True, "tool_calls"), ("MAX_TOKENS", True, "length"),
    ("SAFETY", False, "content_filter"), ("RECITATION", False, "content_filter"),
    ("BLOCKLIST", False, "content_filter"), ("PROHIBITED_CONTENT", False, "content_filter"),
    ("SPII", False, "content_filter"), ("OTHER", False, "stop"), (None, False, "stop"),
])
def test_stop_reasons(reason, calls, expected):
    parts = [{"functionCall": {"name": "f", "args": {}}}] if calls else [{"text": "x"}]
    candidate = {"content": {"role": "model", "parts": parts}}
    if reason:
        candidate["finishReason"] = reason
    assert CODEC.decode_response({"candidates": [candidate]}).stop_reason == expected


def test_blocked_prompt():
    resp = CODEC.decode_response({"promptFeedback": {"blockReason": "SAFETY"}})
    assert resp.stop_reason == "content_filter" and resp.parts == []


@pytest.mark.parametrize(("stop", "expected"), [
    ("stop", "STOP"), ("stop_sequence", "STOP"), ("tool_calls", "STOP"), ("length", "MAX_TOKENS"),
    ("content_filter", "SAFETY"),
])
def test_encode_stop_reasons(stop, expected):
    body = CODEC.encode_response(ChatResponse(id="r", model="m", stop_reason=stop))
    assert body["candidates"][0]["finishReason"] == expected


def test_encode_response_usage_and_parts():
    resp = ChatResponse(id="r1", model="gemini-x", stop_reason="tool_calls",
                        parts=[Reasoning("hmm", signature="c2ln"), Reasoning(signature="YWJj"), Text("ok"),
                               ToolCall("call_1", "f", '{"a":1}'), Reasoning(redacted="zzz")],
                        usage=Usage(input=20, output=55, cache_read=100, reasoning=40))
    body = CODEC.encode_response(resp)
    assert body["candidates"][0]["content"]["parts"] == [
        {"text": "hmm", "thought": True, "thoughtSignature": "c2ln"},
        {"text": "ok", "thoughtSignature": "YWJj"},
        {"functionCall": {"name": "f", "args": {"a": 1}, "id": "call_1"}},
    ]
    assert body["usageMetadata"] == {"promptTokenCount": 120, "candidatesTokenCount": 15, "totalTokenCount": 175,
                                     "cachedContentTokenCount": 100, "thoughtsTokenCount": 40}
    types.GenerateContentResponse.model_validate_json(json.dumps(body))
    again = CODEC.decode_response(body)
    assert again.usage == resp.usage and again.parts[:4] == resp.parts[:4] and again.stop_reason == "tool_calls"


@pytest.mark.parametrize("name", ["response_tool_call.json", "response_text.json"])
def test_round_trip(name):
    resp = CODEC.decode_response(load(name))
    body = CODEC.encode_response(resp)
    types.GenerateContentResponse.model_validate_json(json.dumps(body))
    assert CODEC.decode_response(body) == resp


@pytest.mark.parametrize(("status", "name"), [
    (400, "INVALID_ARGUMENT"), (401, "UNAUTHENTICATED"), (403, "PERMISSION_DENIED"), (404, "NOT_FOUND"),
    (429, "RESOURCE_EXHAUSTED"), (500, "INTERNAL"), (503, "UNAVAILABLE"), (422, "INVALID_ARGUMENT"),
])
def test_error_body(status, name):
    assert error_body(status, "boom") == {"error": {"code": status, "message": "boom", "status": name}}
