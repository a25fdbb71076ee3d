"""Gemini request decoding, validation and encoding."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from omniroute.dialects.gemini import CODEC
from omniroute.dialects.gemini.request import strip_schema
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

FIXTURES = Path(__file__).parents[2] / "fixtures" / "gemini"


def load(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


def test_decode_tools_request():
    req = CODEC.decode_request(load("request_tools.json"))
    assert req.model == "" and req.stream is False
    assert req.system == [Text("You are terse.")]
    user, model, results = req.messages
    assert user == Message("user", [Text("Weather in Paris and Rome?")])
    assert model.role == "assistant"
    sig, paris, rome = model.parts
    assert sig == Reasoning(signature="c2lnLTE=")
    assert (paris.name, paris.arguments, rome.arguments) == ("get_weather", '{"city":"Paris"}', '{"city":"Rome"}')
    assert paris.id.startswith("call_") and paris.id != rome.id
    # Id-less responses to calls of one name are matched in call order.
    assert [p.call_id for p in results.parts] == [paris.id, rome.id]
    assert results.parts[0] == ToolResult(call_id=paris.id, content=[Text('{"temp":21}')], name="get_weather")
    assert req.tools == [ToolDef("get_weather", "Current weather",
                                 {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]})]
    assert req.tool_choice == ToolChoice(mode="tool", name="get_weather")
    assert (req.temperature, req.top_p, req.top_k, req.max_tokens, req.stop, req.seed) == (
        0.2, 0.9, 40, 512, ["END"], 7)


def test_decode_multimodal_json_and_thinking():
    req = CODEC.decode_request(load("request_multimodal.json"))
    assert req.messages[0].parts == [
        Text("Describe both."),
        Image(data="iVBORw0KGgo=", media_type="image/png"),
        Image(url="https://example.com/cat.jpg", media_type="image/jpeg"),
    ]
    assert req.messages[1].parts == [Reasoning("Let me look.", signature="dGhpbms="), Text("A dot and a cat.")]
    assert req.response_format == {"type": "json_schema", "json_schema": {"name": "response", "schema": {
        "type": "object", "properties": {"items": {"type": "array", "items": {"type": "string"}}}}}}
    assert req.reasoning == ReasoningConfig(effort="medium", budget_tokens=2048)


def test_decode_ids_and_json_object():
    body = {"contents": [
        {"role": "model", "parts": [{"functionCall": {"name": "f", "args": {}, "id": "a1"}},
                                    {"functionCall": {"name": "f", "id": "a2"}}]},
        {"role": "user", "parts": [{"functionResponse": {"name": "f", "id": "a2", "response": {"ok": 2}}},
                                   {"functionResponse": {"name": "f", "response": {"ok": 1}}}]},
    ], "generationConfig": {"responseMimeType": "application/json",
                            "thinkingConfig": {"thinkingBudget": 0}}}
    req = CODEC.decode_request(body)
    assert [p.call_id for p in req.messages[1].parts] == ["a2", "a1"]
    assert req.response_format == {"type": "json_object"}
    assert req.reasoning == ReasoningConfig(enabled=False)


@pytest.mark.parametrize(("mode", "names", "expected"), [
    ("AUTO", None, ToolChoice("auto")),
    ("ANY", None, ToolChoice("required")),
    ("ANY", ["a", "b"], ToolChoice("required")),
    ("NONE", None, ToolChoice("none")),
])
def test_decode_tool_choice(mode, names, expected):
    config = {"mode": mode} if names is None else {"mode": mode, "allowedFunctionNames": names}
    req = CODEC.decode_request({"contents": [{"parts": [{"text": "x"}]}],
                                "toolConfig": {"functionCallingConfig": config}})
    assert req.tool_choice == expected


@pytest.mark.parametrize(("body", "message"), [
    ([], "request body must be a JSON object, got an array"),
    ({}, "missing required field 'contents'"),
    ({"contents": {}}, "'contents' must be an array, got an object"),
    ({"contents": []}, "'contents' must contain at least one content"),
    ({"contents": ["hi"]}, "'contents[0]' must be an object, got a string"),
    ({"contents": [{"role": "user"}]}, "missing required field 'contents[0].parts'"),
    ({"contents": [{"parts": {"text": "x"}}]}, "'contents[0].parts' must be an array, got an object"),
    ({"contents": [{"role": "system", "parts": []}]}, "'contents[0].role' must be 'user' or 'model', got 'system'"),
    ({"contents": [{"parts": [{"text": 3}]}]}, "'contents[0].parts[0].text' must be a string, got a number"),
    ({"contents": [{"parts": [{"inlineData": {"mimeType": "image/png"}}]}]},
     "missing required field 'contents[0].parts[0].inlineData.data'"),
    ({"contents": [{"role": "model", "parts": [{"functionCall": {"args": {}}}]}]},
     "missing required field 'contents[0].parts[0].functionCall.name'"),
    ({"contents": [{"role": "model", "parts": [{"functionCall": {"name": "f", "args": "{}"}}]}]},
     "'contents[0].parts[0].functionCall.args' must be an object, got a string"),
    ({"contents": [{"parts": [{"text": "x"}]}], "generationConfig": {"temperature": "hot"}},
     "'generationConfig.temperature' must be a number, got a string"),
    ({"contents": [{"parts": [{"text": "x"}]}], "generationConfig": {"maxOutputTokens": 1.5}},
     "'generationConfig.maxOutputTokens' must be an integer, got a number"),
    ({"contents": [{"parts": [{"text": "x"}]}], "generationConfig": {"stopSequences": [1]}},
     "'generationConfig.stopSequences' must be an array of strings, got an array"),
    ({"contents": [{"parts": [{"text": "x"}]}], "tools": [{"functionDeclarations": [{"description": "d"}]}]},
     "missing required field 'tools[0].functionDeclarations[0].name'"),
    ({"contents": [{"parts": [{"text": "x"}]}], "toolConfig": {"functionCallingConfig": {"mode": "SOME"}}},
     "'toolConfig.functionCallingConfig.mode' must be one of AUTO, ANY, NONE, got 'SOME'"),
])
def test_validation_messages(body, message):
    with pytest.raises(InvalidRequest) as info:
        CODEC.decode_request(body)
    assert info.value.message == message


def test_unknown_fields_ignored():
    req = CODEC.decode_request({"contents": [{"parts": [{"text": "x"}, {"executableCode": {"code": "1"}}]}],
                                "safetySettings": [], "cachedContent": "c", "tools": [{"googleSearch": {}}]})
    assert req.messages == [Message("user", [Text("x")])] and req.tools == []


def test_encode_full_request():
    req = ChatRequest(
        model="gemini-2.5-pro",
        system=[Text("Be brief.")],
        messages=[
            Message("user", [Text("hi"), Image(url="data:image/jpeg;base64,AAAA"), Image(url="https://x.io/a.png")]),
            Message("user", [Text("again")]),
            Message("assistant", [Reasoning("unsigned"), Reasoning(signature="c2ln"),
                                  ToolCall("c1", "lookup", '{"q":"x"}'), ToolCall("c2", "lookup", "{}")]),
            Message("tool", [ToolResult("c1", [Text('{"hits":3}')]), ToolResult("zz", [Text("orphan")])]),
            Message("user", [Text("thanks")]),
        ],
        tools=[ToolDef("lookup", "Find", {"$schema": "x", "type": "object", "additionalProperties": False,
                                          "properties": {"q": {"type": "string"}}})],
        tool_choice=ToolChoice("tool", "lookup"),
        max_tokens=100, temperature=0.5, top_p=0.8, top_k=20, stop=["x"], seed=3, stream=True,
        response_format={"type": "json_schema", "json_schema": {"name": "r", "strict": True, "schema": {
            "type": "object", "properties": {"a": {"type": "string"}}, "additionalProperties": False}}},
        reasoning=ReasoningConfig(effort="low"),
    )
    body = CODEC.encode_request(req)
    assert "model" not in body and "stream" not in body
    assert body["systemInstruction"] == {"parts": [{"text": "Be brief."}]}
    assert body["contents"] == [
        {"role": "user", "parts": [{"text": "hi"}, {"inlineData": {"mimeType": "image/jpeg", "data": "AAAA"}},
                                   {"fileData": {"mimeType": "image/png", "fileUri": "https://x.io/a.png"}},
                                   {"text": "again"}]},
        {"role": "model", "parts": [{"functionCall": {"name": "lookup", "args": {"q": "x"}}, "thoughtSignature": "c2ln"},
                                    {"functionCall": {"name": "lookup", "args": {}}}]},
        {"role": "user", "parts": [
            {"functionResponse": {"name": "lookup", "response": {"hits": 3}}},
            {"functionResponse": {"name": "lookup", "response": {"result": "No result was provided for this call."}}},
            {"text": "thanks"}]},
    ]
    assert body["tools"] == [{"functionDeclarations": [
        {"name": "lookup", "description": "Find", "parameters": {"type": "object", "properties": {"q": {"type": "string"}}}}]}]
    assert body["toolConfig"] == {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["lookup"]}}
    assert body["generationConfig"] == {
        "maxOutputTokens": 100, "temperature": 0.5, "topP": 0.8, "topK": 20, "seed": 3, "stopSequences": ["x"],
        "responseMimeType": "application/json",
        "responseSchema": {"type": "object", "properties": {"a": {"type": "string"}}},
        "thinkingConfig": {"includeThoughts": True, "thinkingBudget": 1024},
    }


def test_encode_text_tool_result_and_system_only():
    req = ChatRequest(model="m", system=[Text("sys")], messages=[])
    assert CODEC.encode_request(req)["contents"] == [{"role": "user", "parts": [{"text": "Continue."}]}]
    req = ChatRequest(model="m", messages=[Message("assistant", [ToolCall("c", "f")]),
                                           Message("tool", [ToolResult("c", [Text("plain")])])])
    assert CODEC.encode_request(req)["contents"][1] == {
        "role": "user", "parts": [{"functionResponse": {"name": "f", "response": {"result": "plain"}}}]}


@pytest.mark.parametrize(("reasoning", "expected"), [
    (ReasoningConfig(enabled=False), {"thinkingBudget": 0}),
    (ReasoningConfig(budget_tokens=5000), {"includeThoughts": True, "thinkingBudget": 5000}),
    (ReasoningConfig(effort="high"), {"includeThoughts": True, "thinkingBudget": 32768}),
    (ReasoningConfig(), {"includeThoughts": True}),
])
def test_encode_thinking(reasoning, expected):
    body = CODEC.encode_request(ChatRequest(model="m", messages=[Message("user", [Text("x")])], reasoning=reasoning))
    assert body["generationConfig"]["thinkingConfig"] == expected


@pytest.mark.parametrize(("choice", "expected"), [
    (ToolChoice("auto"), {"mode": "AUTO"}),
    (ToolChoice("none"), {"mode": "NONE"}),
    (ToolChoice("required"), {"mode": "ANY"}),
])
def test_encode_tool_choice(choice, expected):
    body = CODEC.encode_request(ChatRequest(model="m", messages=[Message("user", [Text("x")])], tool_choice=choice))
    assert body["toolConfig"] == {"functionCallingConfig": expected}


def test_strip_schema_recursive_but_keeps_property_names():
    schema = {"$schema": "s", "type": "object", "additionalProperties": False, "properties": {
        "additionalProperties": {"type": "string"},
        "nested": {"type": "object", "additionalProperties": {"type": "integer"},
                   "properties": {"x": {"anyOf": [{"type": "object", "additionalProperties": True}]}}},
    }, "$defs": {"D": {"type": "object", "additionalProperties": False}}}
    assert strip_schema(schema) == {"type": "object", "properties": {
        "additionalProperties": {"type": "string"},
        "nested": {"type": "object", "properties": {"x": {"anyOf": [{"type": "object"}]}}},
    }, "$defs": {"D": {"type": "object"}}}


def test_tool_without_properties_has_no_parameters():
    body = CODEC.encode_request(ChatRequest(model="m", messages=[Message("user", [Text("x")])], tools=[ToolDef("t")]))
    assert body["tools"] == [{"functionDeclarations": [{"name": "t"}]}]


@pytest.mark.parametrize("name", ["request_tools.json", "request_multimodal.json"])
def test_round_trip(name):
    first = CODEC.decode_request(load(name))
    body = CODEC.encode_request(first)
    again = CODEC.decode_request(body)
    assert CODEC.encode_request(again) == body
    assert [m.role for m in again.messages] == [m.role for m in first.messages]
    assert again.system == first.system and again.tools == first.tools and again.reasoning == first.reasoning
