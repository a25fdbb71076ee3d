"""Responses non-streamed answers, checked against the official SDK's ``Response`` model."""

from __future__ import annotations

import pytest

from omniroute.dialects.responses import CODEC, error_body
from omniroute.schema import ChatResponse, Image, Reasoning, Text, ToolCall, ToolResult, Usage
from tests.dialects.responses.support import load, validate_response

RESPONSES = ["response_text.json", "response_tool_call.json", "response_reasoning.json"]


@pytest.mark.parametrize("name", RESPONSES)
def test_fixtures_are_what_the_sdk_accepts(name):
    validate_response(load(name))


def test_decode_text_with_cache_usage():
    resp = CODEC.decode_response(load("response_text.json"))
    assert resp.id == "resp_67ccd2bed1ec8190b14f964abc0542670bb6a6b452e3795b"
    assert resp.model == "gpt-4.1-2025-04-14"
    assert resp.parts == [Text("One, two, three. 👋")]
    assert resp.stop_reason == "stop"
    # input_tokens counts the whole prompt; canonical input excludes cache reads and writes.
    assert resp.usage == Usage(input=36, output=7, cache_read=2000, cache_write=24)


def test_decode_parallel_tool_calls():
    resp = CODEC.decode_response(load("response_tool_call.json"))
    assert resp.stop_reason == "tool_calls"
    assert resp.parts == [ToolCall("call_Qk8vB2nL4xR7tY1pW3sZ9mJd", "get_weather", '{"city":"Paris"}'),
                          ToolCall("call_Hc5nM8wT2qL6vX0rK4yB7pFs", "get_weather", '{"city":"Tokyo"}')]


def test_decode_reasoning():
    resp = CODEC.decode_response(load("response_reasoning.json"))
    reasoning, text = resp.parts
    assert reasoning == Reasoning(
        text="**Testing divisibility**\n\n97 is odd and not divisible by 3.\n\n**Concluding**\n\n"
             "No divisor up to 9, so it is prime.",
        redacted="gAAAAABotKTX3k9Lm2Qp8Rz1Wc4Yv7Nb0Xa5Sd6Fg9Hj2Kl3Zx4Cv5Bn6Mq7We8Rt9Yu0Io1Pa2")
    assert text == Text("Yes, 97 is prime.")
    assert resp.usage.reasoning == 192 and resp.usage.output == 215


@pytest.mark.parametrize("status, details, expected", [
    ("incomplete", {"reason": "max_output_tokens"}, "length"),
    ("incomplete", {"reason": "content_filter"}, "content_filter"),
    ("completed", None, "stop"),
    ("failed", None, "error"),
])
def test_decode_status(status, details, expected):
    body = load("response_text.json")
    body["status"], body["incomplete_details"] = status, details
    assert CODEC.decode_response(body).stop_reason == expected


def test_decode_tolerates_foreign_items_and_junk():
    body = {"id": "resp_1", "model": "m", "status": "completed", "output": [
        {"type": "web_search_call", "id": "ws_1", "status": "completed"},
        {"type": "message", "content": [{"type": "refusal", "refusal": "I can't help with that."}, 5]},
        {"type": "reasoning", "summary": [], "content": [{"type": "reasoning_text", "text": "raw thought"}]},
        {"type": "function_call", "call_id": "c", "name": "f", "arguments": {"a": 1}},
        "junk",
    ], "usage": {"input_tokens": "many"}}
    resp = CODEC.decode_response(body)
    assert resp.parts == [Text("I can't help with that."), Reasoning(text="raw thought"),
                          ToolCall("c", "f", '{"a":1}')]
    assert resp.usage == Usage()
    assert CODEC.decode_response([]).parts == []


def semantic(resp: ChatResponse) -> tuple:
    return resp.model, resp.parts, resp.stop_reason, resp.usage


@pytest.mark.parametrize("name", RESPONSES)
def test_round_trip_preserves_meaning(name):
    first = CODEC.decode_response(load(name))
    encoded = CODEC.encode_response(first)
    validate_response(encoded)
    again = CODEC.decode_response(encoded)
    assert semantic(again) == semantic(first)
    assert again.id == first.id  # already in resp_ form, kept as it is


def test_encode_full_response_object():
    resp = ChatResponse(id="chatcmpl-abc", model="gpt-x", parts=[
        Reasoning(text="think", signature="anthropic-sig"), Text("Hello "), Text("world"),
        ToolCall("call_1", "f", '{"x":1}'), ToolCall("", "g", ""), ToolResult("c", [Text("ignored")]),
        Image(url="https://ignored"), Text(""), Reasoning()],
        stop_reason="tool_calls", usage=Usage(input=10, output=5, cache_read=4, cache_write=2, reasoning=3))
    body = CODEC.encode_response(resp)
    sdk = validate_response(body)
    assert body["id"] == "resp_chatcmpl-abc" and body["object"] == "response"
    assert body["status"] == "completed" and body["incomplete_details"] is None and body["error"] is None
    assert isinstance(body["created_at"], int) and body["model"] == "gpt-x"
    assert [i["type"] for i in body["output"]] == ["reasoning", "message", "function_call", "function_call"]
    reasoning, message, call, unnamed = body["output"]
    assert reasoning["id"].startswith("rs_") and reasoning["summary"] == [{"type": "summary_text", "text": "think"}]
    assert "encrypted_content" not in reasoning
    assert message["id"].startswith("msg_") and message["status"] == "completed" and message["role"] == "assistant"
    assert message["content"] == [{"type": "output_text", "text": "Hello ", "annotations": []},
                                  {"type": "output_text", "text": "world", "annotations": []}]
    assert call["id"].startswith("fc_") and call["call_id"] == "call_1" and call["status"] == "completed"
    assert unnamed["call_id"].startswith("call_") and unnamed["arguments"] == "{}"
    assert sdk.output_text == "Hello world"
    assert body["usage"] == {"input_tokens": 16, "input_tokens_details": {"cached_tokens": 4, "cache_write_tokens": 2},
                             "output_tokens": 5, "output_tokens_details": {"reasoning_tokens": 3},
                             "total_tokens": 21}
    for key in ("parallel_tool_calls", "tool_choice", "tools", "instructions", "metadata", "temperature", "top_p"):
        assert key in body


@pytest.mark.parametrize("stop, status, reason", [
    ("length", "incomplete", "max_output_tokens"),
    ("content_filter", "incomplete", "content_filter"),
    ("stop_sequence", "completed", None),
    ("error", "completed", None),
])
def test_encode_status(stop, status, reason):
    body = CODEC.encode_response(ChatResponse(id="resp_x", model="m", parts=[Text("t")], stop_reason=stop))
    validate_response(body)
    assert body["status"] == status
    assert (body["incomplete_details"] or {}).get("reason") == reason
    assert ("completed_at" in body) == (status == "completed")
    assert body["output"][0]["status"] == ("incomplete" if reason else "completed")


def test_encode_response_with_encrypted_reasoning_round_trips():
    resp = ChatResponse(id="", model="m", parts=[Reasoning(redacted="gAAAA-blob"), Text("hi")])
    body = CODEC.encode_response(resp)
    assert body["id"].startswith("resp_") and len(body["id"]) > 10
    assert body["output"][0] == {"id": body["output"][0]["id"], "type": "reasoning", "summary": [],
                                 "encrypted_content": "gAAAA-blob"}
    assert CODEC.decode_response(body).parts == resp.parts


@pytest.mark.parametrize("status, kind", [
    (400, "invalid_request_error"), (401, "authentication_error"), (403, "permission_error"),
    (404, "not_found_error"), (429, "rate_limit_error"), (500, "server_error"), (503, "server_error"),
    (418, "invalid_request_error"),
])
def test_error_body(status, kind):
    assert error_body(status, "boom") == {"error": {"message": "boom", "type": kind, "param": None, "code": None}}
    assert error_body(status, "boom", "model_not_found")["error"]["code"] == "model_not_found"
