"""Anthropic request decoding, validation and encoding."""

from __future__ import annotations

import json
from pathlib import Path

import orjson
import pytest

from omniroute.dialects.anthropic import CODEC
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

FIXTURES = Path(__file__).parents[2] / "fixtures" / "anthropic"


def load(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


def test_decode_text_request():
    req = CODEC.decode_request(load("request_text.json"))
    assert req.model == "claude-sonnet-4-5"
    assert req.max_tokens == 1024
    assert req.system == [Text("You are terse."), Text("Answer in English.")]
    assert [m.role for m in req.messages] == ["user", "assistant", "user"]
    assert req.messages[0].parts == [Text("Hello there")]
    assert req.stop == ["STOP"]
    assert (req.temperature, req.top_p, req.top_k) == (0.2, 0.9, 40)
    assert req.stream is True
    assert req.user == "user-42"


def test_decode_images():
    req = CODEC.decode_request(load("request_images.json"))
    base64_image, url_image, text = req.messages[0].parts
    assert base64_image == Image(data=load("request_images.json")["messages"][0]["content"][0]["source"]["data"],
                                 media_type="image/png")
    assert url_image == Image(url="https://example.com/cat.jpg")
    assert text == Text("What is in these images?")


def test_decode_tools_and_results():
    req = CODEC.decode_request(load("request_tools.json"))
    assert req.tools[0] == ToolDef("get_weather", "Current weather for a city.",
                                   load("request_tools.json")["tools"][0]["input_schema"])
    assert req.tools[1].description is None
    assert req.tool_choice == ToolChoice(mode="tool", name="get_weather", parallel=False)
    calls = req.messages[1].parts
    assert calls[1] == ToolCall("toolu_01A", "get_weather", '{"city":"Paris","unit":"c"}')
    results = req.messages[2]
    assert results.role == "user"
    assert results.parts[0] == ToolResult("toolu_01A", [Text("18°C, cloudy")])
    assert results.parts[1] == ToolResult("toolu_01B", [Text("unknown tz")], is_error=True)
    assert results.parts[2] == Text("Thanks, summarize.")


def test_decode_thinking():
    req = CODEC.decode_request(load("request_thinking.json"))
    assert req.reasoning == ReasoningConfig(effort="medium", budget_tokens=8000)
    thinking, redacted, call = req.messages[1].parts
    assert thinking == Reasoning(text="97 is not divisible by 2, 3, 5 or 7.", signature="EqQBCkYIARgCIkD0sig==")
    assert redacted == Reasoning(redacted="EmwKAhgBEgy3va3pzix/LafPsn4aDFIT2Xlxh0L5L8rLVyIw")
    assert call.name == "lookup"


@pytest.mark.parametrize("thinking, expected", [
    ({"type": "disabled"}, ReasoningConfig(enabled=False)),
    ({"type": "enabled", "budget_tokens": 1024}, ReasoningConfig(effort="low", budget_tokens=1024)),
    ({"type": "enabled", "budget_tokens": 200000}, ReasoningConfig(effort="high", budget_tokens=200000)),
])
def test_decode_thinking_modes(thinking, expected):
    body = {"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}], "thinking": thinking}
    assert CODEC.decode_request(body).reasoning == expected


@pytest.mark.parametrize("choice, expected", [
    ({"type": "auto"}, ToolChoice("auto")),
    ({"type": "any", "disable_parallel_tool_use": False}, ToolChoice("required", parallel=True)),
    ({"type": "none"}, ToolChoice("none")),
])
def test_decode_tool_choice(choice, expected):
    body = {"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}], "tool_choice": choice}
    assert CODEC.decode_request(body).tool_choice == expected


@pytest.mark.parametrize("name", ["request_text.json", "request_images.json", "request_tools.json",
                                  "request_thinking.json"])
def test_round_trip_preserves_meaning(name):
    req = CODEC.decode_request(load(name))
    encoded = CODEC.encode_request(req)
    again = CODEC.decode_request(orjson.loads(orjson.dumps(encoded)))
    if req.reasoning is None:
        assert again == req_with_joined_system(req)
    else:
        # Thinking drops temperature and may raise max_tokens; everything else survives.
        assert again.messages == req.messages
        assert again.tools == req.tools and again.tool_choice == req.tool_choice
        assert again.reasoning == req.reasoning


def req_with_joined_system(req: ChatRequest) -> ChatRequest:
    joined = "\n\n".join(t.text for t in req.system)
    req.system = [Text(joined)] if joined else []
    return req


def test_encode_tools_fixture_matches_wire_shape():
    body = load("request_tools.json")
    encoded = CODEC.encode_request(CODEC.decode_request(body))
    assert encoded["tools"] == body["tools"]
    assert encoded["tool_choice"] == body["tool_choice"]
    assert encoded["messages"][1] == body["messages"][1]
    results = encoded["messages"][2]["content"]
    assert [b["type"] for b in results] == ["tool_result", "tool_result", "text"]
    assert results[1]["is_error"] is True
    assert "is_error" not in results[0]


@pytest.mark.parametrize("body, message", [
    ([], "request body must be a JSON object"),
    ({"messages": [], "max_tokens": 1}, "missing required field 'model'"),
    ({"model": "m", "max_tokens": 1}, "missing required field 'messages'"),
    ({"model": "m", "messages": [{"role": "user", "content": "x"}]}, "missing required field 'max_tokens'"),
    ({"model": "m", "max_tokens": 0, "messages": [{"role": "user", "content": "x"}]}, "'max_tokens' must be at least 1"),
    ({"model": "m", "max_tokens": "5", "messages": [{"role": "user", "content": "x"}]}, "'max_tokens' must be an integer"),
    ({"model": "m", "max_tokens": 5, "messages": [{"role": "system", "content": "x"}]}, "'messages[0].role'"),
    ({"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "x"},
                                                  {"role": "user", "content": [{"type": "audio"}]}]},
     "'messages[1].content[0].type'"),
    ({"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": [{"type": "text"}]}]},
     "missing required field 'messages[0].content[0].text'"),
    ({"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": [
        {"type": "image", "source": {"type": "file", "file_id": "f"}}]}]}, "'messages[0].content[0].source.type'"),
    ({"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": [
        {"type": "tool_use", "id": "a", "name": "b", "input": {}}]}]}, "'messages[0].content[0].type' 'tool_use'"),
    ({"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}], "tools": [{"name": "t"}]},
     "missing required field 'tools[0].input_schema'"),
    ({"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}],
      "tool_choice": {"type": "tool"}}, "missing required field 'tool_choice.name'"),
    ({"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}],
      "thinking": {"type": "enabled"}}, "missing required field 'thinking.budget_tokens'"),
    ({"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}], "temperature": "hot"},
     "'temperature' must be a number"),
    ({"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}], "system": 3},
     "'system' must be a string or an array"),
])
def test_validation_names_the_field(body, message):
    with pytest.raises(InvalidRequest) as info:
        CODEC.decode_request(body)
    assert message in info.value.message
    assert info.value.status == 400


def _req(*messages: Message, **kw) -> ChatRequest:
    return ChatRequest(model="claude", messages=list(messages), **kw)


def test_encode_defaults_and_system():
    body = CODEC.encode_request(_req(Message("user", [Text("hi")]), system=[Text("a"), Text("b")]))
    assert body == {"model": "claude", "max_tokens": 4096, "system": "a\n\nb",
                    "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]}


def test_encode_openai_style_tool_messages():
    req = _req(
        Message("user", [Text("go")]),
        Message("assistant", [ToolCall("c1", "f", '{"a": 1}'), ToolCall("c2", "g", "not json")]),
        Message("tool", [ToolResult("c2", [Text("two")])]),
        Message("tool", [ToolResult("c1", [Text("one")])]),
        Message("tool", [ToolResult("orphan", [Text("nobody asked")])]),
        Message("user", [Text("and now?")]),
    )
    messages = CODEC.encode_request(req)["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant", "user"]
    assert messages[1]["content"][0]["input"] == {"a": 1}
    assert messages[1]["content"][1]["input"] == {}
    follow = messages[2]["content"]
    # Results first, in the order of the calls; the orphan result is dropped.
    assert [b.get("tool_use_id") for b in follow] == ["c1", "c2", None]
    assert follow[2] == {"type": "text", "text": "and now?"}


def test_encode_call_without_result_gets_placeholder():
    req = _req(Message("user", [Text("go")]), Message("assistant", [ToolCall("c1", "f", "{}")]),
               Message("user", [Text("never mind")]))
    messages = CODEC.encode_request(req)["messages"]
    assert messages[2]["content"][0]["tool_use_id"] == "c1"
    assert messages[2]["content"][1] == {"type": "text", "text": "never mind"}


def test_encode_merges_consecutive_roles_and_synthesizes_user():
    body = CODEC.encode_request(_req(Message("user", [Text("a")]), Message("user", [Text("b")])))
    assert body["messages"] == [{"role": "user", "content": [{"type": "text", "text": "a"},
                                                             {"type": "text", "text": "b"}]}]
    body = CODEC.encode_request(_req(system=[Text("only system")]))
    assert body["messages"] == [{"role": "user", "content": [{"type": "text", "text": "Continue."}]}]


def test_encode_thinking_budget_rules():
    body = CODEC.encode_request(_req(Message("user", [Text("x")]), temperature=0.5, top_k=5, max_tokens=2000,
                                     reasoning=ReasoningConfig(effort="medium")))
    assert body["thinking"] == {"type": "enabled", "budget_tokens": 10240}
    assert body["max_tokens"] == 12240
    assert "temperature" not in body and "top_k" not in body
    body = CODEC.encode_request(_req(Message("user", [Text("x")]), reasoning=ReasoningConfig(budget_tokens=100)))
    assert body["thinking"]["budget_tokens"] == 1024
    assert body["max_tokens"] == 4096
    body = CODEC.encode_request(_req(Message("user", [Text("x")]), temperature=0.5,
                                     reasoning=ReasoningConfig(enabled=False)))
    assert body["thinking"] == {"type": "disabled"} and body["temperature"] == 0.5


def test_encode_drops_empty_and_unsigned_reasoning():
    req = _req(Message("user", [Text("x")]),
               Message("assistant", [Reasoning(), Reasoning(text="unsigned"), Reasoning(text="t", signature="s"),
                                     Reasoning(redacted="r"), Text("answer")]),
               Message("user", [Text("y")]))
    content = CODEC.encode_request(req)["messages"][1]["content"]
    assert content == [{"type": "thinking", "thinking": "t", "signature": "s"},
                       {"type": "redacted_thinking", "data": "r"}, {"type": "text", "text": "answer"}]


def test_encode_images_and_misc():
    req = _req(Message("user", [Image(url="data:image/jpeg;base64,AAAA"), Image(url="https://x/y.png"),
                                Image(data="BBBB", media_type="image/gif")]),
               stop=["END"], user="u1", seed=7, response_format={"type": "json_object"},
               tools=[ToolDef("f")], tool_choice=ToolChoice("required", parallel=False))
    body = CODEC.encode_request(req)
    images = body["messages"][0]["content"]
    assert images[0]["source"] == {"type": "base64", "media_type": "image/jpeg", "data": "AAAA"}
    assert images[1]["source"] == {"type": "url", "url": "https://x/y.png"}
    assert images[2]["source"] == {"type": "base64", "media_type": "image/gif", "data": "BBBB"}
    assert body["stop_sequences"] == ["END"]
    assert body["metadata"] == {"user_id": "u1"}
    assert "seed" not in body and "response_format" not in body
    assert body["tools"] == [{"name": "f", "input_schema": {"type": "object", "properties": {}}}]
    assert body["tool_choice"] == {"type": "any", "disable_parallel_tool_use": True}
