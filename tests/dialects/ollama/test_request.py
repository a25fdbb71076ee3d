"""Ollama request decoding, validation and encoding."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from omniroute.dialects.ollama import CODEC
from omniroute.errors import InvalidRequest
from omniroute.schema import (
    ChatRequest,
    Image,
    Message,
    Reasoning,
    ReasoningConfig,
    Text,
    ToolCall,
    ToolChoice,
    ToolDef,
    ToolResult,
)

FIXTURES = Path(__file__).parents[2] / "fixtures" / "ollama"


def load(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


def test_decode_text_request():
    req = CODEC.decode_request(load("request_text.json"))
    assert req.model == "llama3.2:3b"
    assert req.system == [Text("You are terse."), Text("Answer in English.")]
    assert [m.role for m in req.messages] == ["user", "assistant", "user"]
    assert req.messages[1].parts == [Text("Hi. What do you need?")]
    assert (req.temperature, req.top_p, req.top_k, req.seed, req.max_tokens) == (0.2, 0.9, 40, 7, 256)
    assert req.stop == ["STOP"]
    assert req.stream is True  # absent means streamed in Ollama
    assert req.response_format == {"type": "json_object"}
    assert req.reasoning == ReasoningConfig(effort="high")


def test_decode_images_guesses_media_types():
    body = load("request_images.json")
    req = CODEC.decode_request(body)
    assert req.stream is False
    *images, text = req.messages[0].parts
    assert text == Text("What is in these images?")
    assert [i.media_type for i in images] == ["image/png", "image/jpeg", "image/gif", "image/webp", "image/png"]
    assert [i.data for i in images] == body["messages"][0]["images"]


def test_decode_tools_pairs_results_by_name():
    req = CODEC.decode_request(load("request_tools.json"))
    assert req.tools[0] == ToolDef("get_weather", "Current weather for a city.",
                                   load("request_tools.json")["tools"][0]["function"]["parameters"])
    assert req.tools[1].description is None
    assert req.reasoning == ReasoningConfig(enabled=True)
    assert req.response_format["type"] == "json_schema"
    assert req.response_format["json_schema"]["name"] == "response"
    assert req.response_format["json_schema"]["schema"]["required"] == ["answer"]
    assistant = req.messages[1]
    assert assistant.parts[0] == Reasoning(text="Two tools are needed.")
    weather, clock = assistant.parts[1:]
    assert isinstance(weather, ToolCall) and weather.id.startswith("call_") and weather.id != clock.id
    assert json.loads(weather.arguments) == {"city": "Paris"}
    tool_turn = req.messages[2]
    assert tool_turn.role == "tool"
    assert tool_turn.parts == [ToolResult(clock.id, [Text("09:30")], name="get_time"),
                               ToolResult(weather.id, [Text("18°C, cloudy")], name="get_weather")]
    assert req.messages[3] == Message("user", [Text("Thanks, and Lyon?")])


def test_unnamed_tool_results_answer_calls_in_order():
    body = {"model": "m", "messages": [
        {"role": "assistant", "tool_calls": [{"function": {"name": "a", "arguments": {}}},
                                             {"function": {"name": "b", "arguments": '{"x": 1}'}}]},
        {"role": "tool", "content": "first"}, {"role": "tool", "content": "second"}]}
    req = CODEC.decode_request(body)
    a, b = req.messages[0].parts
    assert b.arguments == '{"x": 1}'
    assert [r.call_id for r in req.messages[1].parts] == [a.id, b.id]
    assert [r.name for r in req.messages[1].parts] == ["a", "b"]


@pytest.mark.parametrize(("think", "expected"), [
    (False, ReasoningConfig(enabled=False)), ("low", ReasoningConfig(effort="low")),
    ("medium", ReasoningConfig(effort="medium")), (None, None)])
def test_decode_think(think, expected):
    assert CODEC.decode_request({"model": "m", "messages": [{"role": "user", "content": "hi"}],
                                 "think": think}).reasoning == expected


def test_num_predict_without_limit():
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "options": {"num_predict": -1}}
    assert CODEC.decode_request(body).max_tokens is None


BASE = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}


@pytest.mark.parametrize(("patch", "message"), [
    ({"model": None}, "missing required field 'model'"),
    ({"model": ""}, "'model' must be a non-empty string"),
    ({"messages": None}, "missing required field 'messages'"),
    ({"messages": {}}, "'messages' must be an array, got object"),
    ({"messages": []}, "'messages' must contain at least one message"),
    ({"messages": ["hi"]}, "'messages[0]' must be an object, got string"),
    ({"messages": [{"content": "x"}]}, "missing required field 'messages[0].role'"),
    ({"messages": [{"role": "developer", "content": "x"}]}, "'messages[0].role' must be one of"),
    ({"messages": [{"role": "user", "content": 3}]}, "'messages[0].content' must be a string, got number"),
    ({"messages": [{"role": "user", "images": "abc"}]}, "'messages[0].images' must be an array"),
    ({"messages": [{"role": "user", "images": [1]}]}, "'messages[0].images[0]' must be a base64 string"),
    ({"messages": [{"role": "assistant", "tool_calls": [{}]}]},
     "missing required field 'messages[0].tool_calls[0].function'"),
    ({"messages": [{"role": "assistant", "tool_calls": [{"function": {"arguments": {}}}]}]},
     "missing required field 'messages[0].tool_calls[0].function.name'"),
    ({"messages": [{"role": "assistant", "tool_calls": [{"function": {"name": "f", "arguments": [1]}}]}]},
     "'messages[0].tool_calls[0].function.arguments' must be an object, got array"),
    ({"messages": [{"role": "assistant", "thinking": 1}]}, "'messages[0].thinking' must be a string"),
    ({"tools": {}}, "'tools' must be an array"),
    ({"tools": [{"type": "retrieval"}]}, "'tools[0].type' must be 'function'"),
    ({"tools": [{"type": "function"}]}, "missing required field 'tools[0].function'"),
    ({"tools": [{"type": "function", "function": {}}]}, "missing required field 'tools[0].function.name'"),
    ({"stream": "yes"}, "'stream' must be a boolean, got string"),
    ({"format": "xml"}, "'format' must be 'json' or a JSON schema object"),
    ({"think": "max"}, "'think' must be a boolean or one of low, medium, high"),
    ({"options": []}, "'options' must be an object, got array"),
    ({"options": {"temperature": "hot"}}, "'options.temperature' must be a number, got string"),
    ({"options": {"top_k": 1.5}}, "'options.top_k' must be an integer, got number"),
    ({"options": {"num_predict": True}}, "'options.num_predict' must be an integer, got boolean"),
    ({"options": {"stop": [1]}}, "'options.stop' must be an array of strings"),
])
def test_validation_names_the_field(patch, message):
    body = {**BASE, **patch}
    with pytest.raises(InvalidRequest) as info:
        CODEC.decode_request(body)
    assert message in info.value.message


def test_body_must_be_object():
    with pytest.raises(InvalidRequest, match="must be a JSON object"):
        CODEC.decode_request([])


def test_encode_request():
    req = ChatRequest(
        model="llama3.2:3b",
        system=[Text("Be brief."), Text("Use metric.")],
        messages=[
            Message("user", [Text("Weather?"), Image(data="iVBORw0KGgo=", media_type="image/png"),
                             Image(url="data:image/jpeg;base64,/9j/4AAQ"), Image(url="https://x/cat.png")]),
            Message("assistant", [Reasoning(text="hmm", signature="sig"), Text("Checking."),
                                  ToolCall("call_1", "get_weather", '{"city": "Paris"}'),
                                  ToolCall("call_2", "broken", "{not json")]),
            Message("tool", [ToolResult("call_1", [Text("18°C")]), ToolResult("call_2", [], is_error=True)]),
        ],
        tools=[ToolDef("get_weather", None, {"type": "object", "properties": {"city": {"type": "string"}}})],
        max_tokens=100, temperature=0.5, top_k=20, seed=3, stop=["END"],
        response_format={"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object"}}},
        reasoning=ReasoningConfig(effort="minimal"),
    )
    body = CODEC.encode_request(req)
    assert body["stream"] is False
    assert body["messages"] == [
        {"role": "system", "content": "Be brief.\n\nUse metric."},
        {"role": "user", "content": "Weather?", "images": ["iVBORw0KGgo=", "/9j/4AAQ"]},
        {"role": "assistant", "content": "Checking.", "tool_calls": [
            {"function": {"name": "get_weather", "arguments": {"city": "Paris"}}},
            {"function": {"name": "broken", "arguments": {}}}]},
        {"role": "tool", "content": "18°C", "tool_name": "get_weather"},
        {"role": "tool", "content": "", "tool_name": "broken"},
    ]
    assert body["tools"] == [{"type": "function", "function": {
        "name": "get_weather", "parameters": req.tools[0].parameters}}]
    assert body["options"] == {"temperature": 0.5, "top_k": 20, "seed": 3, "num_predict": 100, "stop": ["END"]}
    assert body["format"] == {"type": "object"}
    assert body["think"] == "low"


@pytest.mark.parametrize(("reasoning", "think"), [
    (None, None), (ReasoningConfig(enabled=False), False), (ReasoningConfig(), True),
    (ReasoningConfig(budget_tokens=5000), "medium"), (ReasoningConfig(effort="high"), "high")])
def test_encode_think(reasoning, think):
    body = CODEC.encode_request(ChatRequest("m", [Message("user", [Text("hi")])], reasoning=reasoning, stream=True))
    assert body.get("think") == think
    assert body["stream"] is True
    assert "options" not in body and "format" not in body


def test_encode_tool_choice_none_withholds_tools():
    req = ChatRequest("m", [Message("user", [Text("hi")])], tools=[ToolDef("f")], tool_choice=ToolChoice("none"),
                      response_format={"type": "json_object"})
    body = CODEC.encode_request(req)
    assert "tools" not in body
    assert body["format"] == "json"


@pytest.mark.parametrize("name", ["request_text.json", "request_images.json", "request_tools.json"])
def test_round_trip(name):
    original = load(name)
    first = CODEC.decode_request(original)
    encoded = CODEC.encode_request(first)
    second = CODEC.decode_request(encoded)
    assert second == _same_ids(second, first)
    assert encoded["model"] == original["model"]
    assert encoded.get("format") == original.get("format")
    assert encoded.get("think") == original.get("think")
    # Non-system messages keep their content, images, thinking-free tool calls and tool names.
    wanted = [{k: v for k, v in m.items() if k != "thinking"} for m in original["messages"] if m["role"] != "system"]
    got = [m for m in encoded["messages"] if m["role"] != "system"]
    assert got == wanted


def _same_ids(decoded: ChatRequest, first: ChatRequest) -> ChatRequest:
    """``first`` without its reasoning parts and with ``decoded``'s generated ids, for comparison."""
    ids = {}
    for old, new in zip(_calls(first), _calls(decoded), strict=True):
        ids[old.id] = new.id
    for message in first.messages:
        message.parts = [p for p in message.parts if not isinstance(p, Reasoning)]
        for part in message.parts:
            if isinstance(part, ToolCall):
                part.id = ids[part.id]
            elif isinstance(part, ToolResult):
                part.call_id = ids[part.call_id]
    first.system = [Text("\n\n".join(t.text for t in first.system))] if first.system else []
    return first


def _calls(request: ChatRequest) -> list[ToolCall]:
    return [p for m in request.messages for p in m.parts if isinstance(p, ToolCall)]
