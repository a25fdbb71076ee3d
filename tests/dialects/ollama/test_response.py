"""Ollama non-streamed answers ⇄ canonical responses."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest
from ollama import ChatResponse as SDKChatResponse

from omniroute.dialects.ollama import CODEC, error_body
from omniroute.schema import ChatResponse, Reasoning, Text, ToolCall, Usage

FIXTURES = Path(__file__).parents[2] / "fixtures" / "ollama"


def load(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


def test_decode_text():
    res = CODEC.decode_response(load("response_text.json"))
    assert res.model == "llama3.2:3b"
    assert res.id
    assert res.parts == [Text("Hello, wörld!")]
    assert res.stop_reason == "stop"
    assert res.usage == Usage(input=26, output=282)


def test_decode_thinking_and_length():
    res = CODEC.decode_response(load("response_thinking.json"))
    assert res.parts == [Reasoning(text="Primes near 16: 17."), Text("17")]
    assert res.stop_reason == "length"


def test_decode_tool_calls():
    res = CODEC.decode_response(load("response_tool_calls.json"))
    assert res.stop_reason == "tool_calls"
    weather, clock = res.parts
    assert isinstance(weather, ToolCall) and weather.name == "get_weather"
    assert json.loads(weather.arguments) == {"city": "Paris", "units": "metric"}
    assert weather.id.startswith("call_") and weather.id != clock.id


def test_decode_tolerates_junk():
    res = CODEC.decode_response({"message": "nope", "done_reason": 5, "eval_count": "x"})
    assert res.parts == [] and res.stop_reason == "stop" and res.usage == Usage()


@pytest.mark.parametrize("name", ["response_text.json", "response_thinking.json", "response_tool_calls.json"])
def test_round_trip(name):
    original = load(name)
    encoded = CODEC.encode_response(CODEC.decode_response(original))
    SDKChatResponse.model_validate(encoded)
    for key in ("model", "message", "done", "done_reason", "prompt_eval_count", "eval_count"):
        assert encoded[key] == original[key]
    assert datetime.fromisoformat(encoded["created_at"].replace("Z", "+00:00")).tzinfo is not None


def test_encode_response():
    res = ChatResponse(id="x", model="m", parts=[Reasoning(text="a"), Reasoning(text="b", signature="s"),
                                                 Text("Hi"), ToolCall("c1", "f", "not json")],
                       stop_reason="tool_calls", usage=Usage(input=5, output=2, cache_read=3))
    body = CODEC.encode_response(res)
    assert body["message"] == {"role": "assistant", "content": "Hi", "thinking": "ab",
                               "tool_calls": [{"function": {"name": "f", "arguments": {}}}]}
    assert body["done"] is True and body["done_reason"] == "stop"
    assert (body["prompt_eval_count"], body["eval_count"]) == (8, 2)
    assert body["created_at"].endswith("Z")


def test_error_body():
    assert error_body(404, "model 'x' not found") == {"error": "model 'x' not found"}
    assert CODEC.name == "ollama"
