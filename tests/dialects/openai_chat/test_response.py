"""Whole Chat Completions answers ⇄ canonical ChatResponse, usage arithmetic included."""

from __future__ import annotations

import pytest

from omniroute.dialects.openai_chat import CODEC
from omniroute.errors import UpstreamError
from omniroute.schema import ChatResponse, Reasoning, Text, ToolCall, Usage
from tests.dialects.openai_chat.support import load

RESPONSE_FIXTURES = [
    "response_text.json",
    "response_tool_calls.json",
    "response_reasoning.json",
    "response_cached_usage.json",
]


def test_text_answer():
    resp = CODEC.decode_response(load("response_text.json"))
    assert resp.id == "chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT" and resp.model == "gpt-4o-mini-2024-07-18"
    assert resp.parts == [Text("La capitale de l'Italie est Rome.")]
    assert resp.stop_reason == "stop"
    assert resp.usage == Usage(input=31, output=9)


def test_tool_calls_answer():
    resp = CODEC.decode_response(load("response_tool_calls.json"))
    assert resp.parts == [
        ToolCall("call_62136354", "get_weather", '{"city":"Paris"}'),
        ToolCall("call_62136355", "get_time", '{"city":"Paris"}'),
    ]
    assert resp.stop_reason == "tool_calls"
    out = CODEC.encode_response(resp)
    message = out["choices"][0]["message"]
    assert message["content"] is None
    assert message["tool_calls"] == load("response_tool_calls.json")["choices"][0]["message"]["tool_calls"]
    assert out["choices"][0]["finish_reason"] == "tool_calls"


def test_reasoning_content_precedes_text():
    resp = CODEC.decode_response(load("response_reasoning.json"))
    assert resp.parts == [Reasoning(text="97 has no divisor up to 9 besides 1."), Text("Yes, 97 is prime.")]
    assert resp.usage.reasoning == 98
    message = CODEC.encode_response(resp)["choices"][0]["message"]
    assert message["reasoning_content"] == "97 has no divisor up to 9 besides 1."
    assert message["content"] == "Yes, 97 is prime."


def test_cached_usage_is_not_double_counted():
    resp = CODEC.decode_response(load("response_cached_usage.json"))
    assert resp.usage == Usage(input=86, output=300, cache_read=1920)
    assert resp.stop_reason == "length"
    usage = CODEC.encode_response(resp)["usage"]
    assert usage["prompt_tokens"] == 2006 and usage["total_tokens"] == 2306
    assert usage["prompt_tokens_details"]["cached_tokens"] == 1920
    assert "cache_creation_input_tokens" not in usage


def test_cache_writes_reported_apart():
    resp = ChatResponse(
        id="",
        model="claude-x",
        parts=[Text("ok")],
        usage=Usage(input=10, output=5, cache_read=100, cache_write=400, reasoning=2),
    )
    out = CODEC.encode_response(resp)
    assert out["id"].startswith("chatcmpl-") and out["object"] == "chat.completion"
    assert isinstance(out["created"], int) and out["model"] == "claude-x"
    assert out["usage"] == {
        "prompt_tokens": 110,
        "completion_tokens": 5,
        "total_tokens": 115,
        "prompt_tokens_details": {"cached_tokens": 100},
        "completion_tokens_details": {"reasoning_tokens": 2},
        "cache_creation_input_tokens": 400,
    }
    assert CODEC.decode_response(out).usage == resp.usage


@pytest.mark.parametrize(
    ("canonical", "wire"),
    [
        ("stop", "stop"),
        ("length", "length"),
        ("tool_calls", "tool_calls"),
        ("content_filter", "content_filter"),
        ("stop_sequence", "stop"),
        ("error", "stop"),
    ],
)
def test_stop_reasons_out(canonical, wire):
    resp = ChatResponse(id="x", model="m", parts=[Text("a")], stop_reason=canonical)
    assert CODEC.encode_response(resp)["choices"][0]["finish_reason"] == wire


def test_function_call_finish_reads_as_tool_calls():
    body = load("response_text.json")
    body["choices"][0]["finish_reason"] = "function_call"
    assert CODEC.decode_response(body).stop_reason == "tool_calls"


@pytest.mark.parametrize("name", RESPONSE_FIXTURES)
def test_decode_encode_round_trip(name):
    resp = CODEC.decode_response(load(name))
    assert CODEC.decode_response(CODEC.encode_response(resp)) == resp


def test_error_body_raises():
    with pytest.raises(UpstreamError, match="overloaded"):
        CODEC.decode_response({"error": {"message": "overloaded", "type": "server_error"}})
