"""Responses request decoding, validation and encoding."""

from __future__ import annotations

import orjson
import pytest

from omniroute.dialects.responses import CODEC
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
from tests.dialects.responses.support import load, validate_request

REQUESTS = ["request_text.json", "request_tools.json", "request_images.json", "request_reasoning.json",
            "request_string_input.json"]


def test_decode_text_request():
    req = CODEC.decode_request(load("request_text.json"))
    assert req.model == "gpt-4.1"
    assert req.system == [Text("You are terse."), Text("Answer in English.")]
    assert req.messages == [
        Message("user", [Text("Hello there")]),
        Message("assistant", [Text("Hi! How can I help?")]),
        Message("user", [Text("Count to three.")]),
    ]
    assert (req.temperature, req.top_p, req.max_tokens) == (0.2, 0.9, 1024)
    assert req.stream is True and req.user == "user-42" and req.metadata == {"session": "abc"}
    assert req.response_format is None and req.unportable == []


def test_string_input_is_one_user_message():
    req = CODEC.decode_request(load("request_string_input.json"))
    assert req.messages == [Message("user", [Text("Tell me a joke about routers.")])]
    assert req.system == [Text("You are a comedian.")]
    assert req.stream is False
    empty = CODEC.decode_request({"model": "m", "input": ""})
    assert empty.messages == [Message("user", [Text("")])]


def test_decode_tools_and_round_trip_of_calls():
    body = load("request_tools.json")
    req = CODEC.decode_request(body)
    assert req.tools[0] == ToolDef("get_weather", "Current weather for a city.", body["tools"][0]["parameters"],
                                   strict=True)
    assert req.tools[1].description is None and req.tools[1].strict is False
    assert req.tool_choice == ToolChoice(mode="tool", name="get_weather", parallel=False)
    user, calls, results, follow = req.messages
    assert user.role == "user"
    # Consecutive function_call items are one assistant turn.
    assert calls == Message("assistant", [
        ToolCall("call_12xYcWbNQlJqGG4vJc3rmRWk", "get_weather", '{"city":"Paris","unit":"c"}'),
        ToolCall("call_3nWq0hP6r1kVb2hE9Zt8sLdA", "get_time", '{"tz":"Asia/Tokyo"}'),
    ])
    assert results == Message("tool", [
        ToolResult("call_12xYcWbNQlJqGG4vJc3rmRWk", [Text("18°C, cloudy")], name="get_weather"),
        ToolResult("call_3nWq0hP6r1kVb2hE9Zt8sLdA", [Text("21:04")], name="get_time"),
    ])
    assert follow == Message("user", [Text("Thanks, summarize.")])


def test_decode_images():
    body = load("request_images.json")
    req = CODEC.decode_request(body)
    text, url, inline, auto = req.messages[0].parts
    assert text == Text("What is in these images?")
    assert url == Image(url="https://upload.wikimedia.org/wikipedia/commons/3/3a/Cat03.jpg", detail="high")
    data = body["input"][0]["content"][2]["image_url"].split(",", 1)[1]
    assert inline == Image(data=data, media_type="image/png", detail="low")
    assert auto.detail == "auto"


def test_decode_reasoning_items():
    req = CODEC.decode_request(load("request_reasoning.json"))
    assert req.reasoning == ReasoningConfig(effort="high", budget_tokens=131072)
    assert req.unportable == []  # reasoning.encrypted_content and prompt_cache_key are portable
    user, turn, result, answer, follow = req.messages
    reasoning, call = turn.parts
    assert reasoning == Reasoning(text="**Checking primality**\n\nI should test divisors up to 9.\n\n"
                                       "**Calling the tool**",
                                  redacted="gAAAAABo1Vq3cJ8mK2Ff0a9Yw3Xq_7kq1tZcE5pQ0yLh2s4V6nBmR8dUe0wT-3jHc9oPq")
    assert call.name == "shell" and call.id == "call_Wb7m3pY9QkT2dLr8VxN4sJhE"
    assert result.parts == [ToolResult("call_Wb7m3pY9QkT2dLr8VxN4sJhE", [Text("True\n")], name="shell")]
    # A reasoning item and the message after it form one assistant turn.
    assert answer.role == "assistant" and answer.parts[0].redacted.startswith("gAAAAABo1Vq4")
    assert answer.parts[1] == Text("Yes, 97 is prime.")
    assert follow == Message("user", [Text("And 91?")])


@pytest.mark.parametrize("reasoning, expected", [
    ({"effort": "none"}, ReasoningConfig(enabled=False)),
    ({"effort": "minimal"}, ReasoningConfig(effort="minimal", budget_tokens=512)),
    ({"effort": "xhigh"}, ReasoningConfig(effort="high", budget_tokens=131072)),
    ({"summary": "auto"}, ReasoningConfig()),
    ({}, None),
])
def test_decode_reasoning_config(reasoning, expected):
    assert CODEC.decode_request({"model": "m", "input": "x", "reasoning": reasoning}).reasoning == expected


@pytest.mark.parametrize("choice, parallel, expected", [
    ("auto", None, ToolChoice("auto")),
    ("none", None, ToolChoice("none")),
    ("required", True, ToolChoice("required", parallel=True)),
    (None, False, ToolChoice("auto", parallel=False)),
    ({"type": "function", "name": "f"}, None, ToolChoice("tool", name="f")),
])
def test_decode_tool_choice(choice, parallel, expected):
    body = {"model": "m", "input": "x", "tools": [{"type": "function", "name": "f", "parameters": {}}],
            "tool_choice": choice, "parallel_tool_calls": parallel}
    assert CODEC.decode_request(body).tool_choice == expected


def test_allowed_tools_narrows_the_tool_list():
    body = {"model": "m", "input": "x",
            "tools": [{"type": "function", "name": n, "parameters": None} for n in ("a", "b", "c")],
            "tool_choice": {"type": "allowed_tools", "mode": "required",
                            "tools": [{"type": "function", "name": "a"}, {"type": "function", "name": "c"}]}}
    req = CODEC.decode_request(body)
    assert [t.name for t in req.tools] == ["a", "c"]
    assert req.tools[0].parameters == {"type": "object", "properties": {}}
    assert req.tool_choice == ToolChoice("required")


@pytest.mark.parametrize("fmt, expected", [
    ({"type": "text"}, None),
    ({"type": "json_object"}, {"type": "json_object"}),
    ({"type": "json_schema", "name": "answer", "schema": {"type": "object"}, "strict": True},
     {"type": "json_schema", "json_schema": {"name": "answer", "schema": {"type": "object"}, "strict": True}}),
    ({"type": "json_schema", "name": "a", "description": "d", "schema": {}},
     {"type": "json_schema", "json_schema": {"name": "a", "description": "d", "schema": {}}}),
])
def test_decode_text_format(fmt, expected):
    body = {"model": "m", "input": "x", "text": {"format": fmt, "verbosity": "low"}}
    assert CODEC.decode_request(body).response_format == expected


def test_unportable_features_are_named_not_dropped():
    body = {
        "model": "gpt-4.1", "previous_response_id": "resp_123", "conversation": {"id": "conv_1"},
        "background": True, "include": ["reasoning.encrypted_content", "file_search_call.results"],
        "prompt": {"id": "pmpt_1"},
        "input": [
            {"type": "item_reference", "id": "msg_1"},
            {"role": "user", "content": [{"type": "input_text", "text": "hi"},
                                         {"type": "input_file", "file_id": "file-1"},
                                         {"type": "input_image", "file_id": "file-2", "detail": "auto"}]},
            {"type": "web_search_call", "id": "ws_1", "status": "completed"},
        ],
        "tools": [{"type": "web_search"}, {"type": "function", "name": "f", "parameters": {}},
                  {"type": "mcp", "server_label": "x", "server_url": "https://x"}],
        "tool_choice": {"type": "file_search"},
    }
    req = CODEC.decode_request(body)
    assert req.tools == [ToolDef("f", parameters={})]
    assert req.messages == [Message("user", [Text("hi")])]
    joined = "; ".join(req.unportable)
    for needle in ("previous_response_id", "conversation", "background", "include 'file_search_call.results'",
                   "prompt", "input[0] of type 'item_reference'", "input[1].content[1] of type 'input_file'",
                   "input[1].content[2]: an image given by file_id", "input[2] of type 'web_search_call'",
                   "tools[0] of type 'web_search'", "tools[2] of type 'mcp'", "tool_choice of type 'file_search'"):
        assert needle in joined
    assert "reasoning.encrypted_content" not in joined


def test_no_input_is_allowed_only_with_server_state():
    req = CODEC.decode_request({"model": "m", "previous_response_id": "resp_1"})
    assert req.messages == [] and req.unportable
    with pytest.raises(InvalidRequest, match="missing required field 'input'"):
        CODEC.decode_request({"model": "m"})


_ok = {"model": "m", "input": "x"}


@pytest.mark.parametrize("body, message", [
    ([], "request body must be a JSON object"),
    ({"input": "x"}, "missing required field 'model'"),
    ({"model": "", "input": "x"}, "'model' must be a non-empty string"),
    ({"model": "m", "input": 5}, "'input' must be a string or an array"),
    ({"model": "m", "input": [3]}, "'input[0]' must be an object"),
    ({"model": "m", "input": [{"content": "x"}]}, "missing required field 'input[0].role'"),
    ({"model": "m", "input": [{"role": "tool", "content": "x"}]}, "'input[0].role' must be one of"),
    ({"model": "m", "input": [{"role": "user"}]}, "missing required field 'input[0].content'"),
    ({"model": "m", "input": [{"role": "user", "content": 1}]}, "'input[0].content' must be a string or an array"),
    ({"model": "m", "input": [{"role": "user", "content": [{"type": "input_text"}]}]},
     "missing required field 'input[0].content[0].text'"),
    ({"model": "m", "input": [{"role": "user", "content": [{"text": "x"}]}]},
     "missing required field 'input[0].content[0].type'"),
    ({"model": "m", "input": [{"role": "user", "content": [{"type": "input_image", "detail": "auto"}]}]},
     "missing required field 'input[0].content[0].image_url'"),
    ({"model": "m", "input": ["x", {"type": "function_call", "name": "f", "arguments": "{}"}][1:]},
     "missing required field 'input[0].call_id'"),
    ({"model": "m", "input": [{"role": "user", "content": "x"},
                              {"type": "function_call", "call_id": "c", "name": "f", "arguments": {}}]},
     "'input[1].arguments' must be a string"),
    ({"model": "m", "input": [{"role": "user", "content": "x"}, {"role": "user", "content": "y"},
                              {"type": "function_call_output", "output": "r"}]},
     "missing required field 'input[2].call_id'"),
    ({"model": "m", "input": [{"type": "function_call_output", "call_id": "c"}]},
     "missing required field 'input[0].output'"),
    ({"model": "m", "input": [{"type": "reasoning", "summary": [{"type": "summary_text"}]}]},
     "missing required field 'input[0].summary[0].text'"),
    ({"model": "m", "input": [{"type": "reasoning", "summary": "x"}]}, "'input[0].summary' must be an array"),
    ({"model": "m", "input": [{"type": 7}]}, "'input[0].type' must be a string"),
    ({**_ok, "tools": {}}, "'tools' must be an array"),
    ({**_ok, "tools": [{"type": "function"}]}, "missing required field 'tools[0].name'"),
    ({**_ok, "tools": [{"name": "f"}]}, "missing required field 'tools[0].type'"),
    ({**_ok, "tools": [{"type": "function", "name": "f", "strict": "yes"}]}, "'tools[0].strict' must be a boolean"),
    ({**_ok, "tool_choice": "any"}, "'tool_choice' must be 'auto', 'none', 'required' or an object"),
    ({**_ok, "tool_choice": {"type": "function"}}, "missing required field 'tool_choice.name'"),
    ({**_ok, "parallel_tool_calls": "yes"}, "'parallel_tool_calls' must be a boolean"),
    ({**_ok, "max_output_tokens": "5"}, "'max_output_tokens' must be an integer"),
    ({**_ok, "max_output_tokens": 0}, "'max_output_tokens' must be at least 1"),
    ({**_ok, "temperature": "hot"}, "'temperature' must be a number"),
    ({**_ok, "instructions": 3}, "'instructions' must be a string"),
    ({**_ok, "text": {"format": {"type": "json_schema", "name": "a"}}},
     "missing required field 'text.format.schema'"),
    ({**_ok, "text": {"format": {"type": "yaml"}}}, "'text.format.type' must be"),
    ({**_ok, "reasoning": {"effort": "extreme"}}, "'reasoning.effort' must be one of"),
    ({**_ok, "include": ["x", 3]}, "'include[1]' must be a string"),
    ({**_ok, "stream": "true"}, "'stream' must be a boolean"),
])
def test_validation_names_the_field(body, message):
    with pytest.raises(InvalidRequest) as info:
        CODEC.decode_request(body)
    assert message in info.value.message
    assert info.value.status == 400


# ---------------------------------------------------------------- encoding


def _req(*messages: Message, **kw) -> ChatRequest:
    return ChatRequest(model="gpt-x", messages=list(messages), **kw)


@pytest.mark.parametrize("name", REQUESTS)
def test_round_trip_preserves_meaning(name):
    req = CODEC.decode_request(load(name))
    encoded = CODEC.encode_request(req)
    again = CODEC.decode_request(orjson.loads(orjson.dumps(encoded)))
    joined = "\n\n".join(t.text for t in req.system)
    req.system = [Text(joined)] if joined else []
    assert again == req


def test_encode_tools_fixture_matches_wire_shape():
    body = load("request_tools.json")
    encoded = CODEC.encode_request(CODEC.decode_request(body))
    assert encoded["tools"][0] == body["tools"][0]
    assert encoded["tools"][1] == {"type": "function", "name": "get_time", "parameters": body["tools"][1]["parameters"],
                                   "strict": False}
    assert encoded["tool_choice"] == body["tool_choice"] and encoded["parallel_tool_calls"] is False
    kinds = [item.get("type") for item in encoded["input"]]
    assert kinds == ["message", "function_call", "function_call", "function_call_output", "function_call_output",
                     "message"]
    assert encoded["input"][1] == {"type": "function_call", "call_id": "call_12xYcWbNQlJqGG4vJc3rmRWk",
                                   "name": "get_weather", "arguments": '{"city":"Paris","unit":"c"}'}
    assert encoded["input"][3]["output"] == "18°C, cloudy"
    assert encoded["store"] is False and "stream" not in encoded


def test_encode_string_input_and_instructions():
    encoded = CODEC.encode_request(CODEC.decode_request(load("request_string_input.json")))
    assert encoded == {
        "model": "gpt-4o-mini", "instructions": "You are a comedian.",
        "input": [{"type": "message", "role": "user",
                   "content": [{"type": "input_text", "text": "Tell me a joke about routers."}]}],
        "store": False,
    }


def test_encode_reasoning_request():
    encoded = CODEC.encode_request(CODEC.decode_request(load("request_reasoning.json")))
    assert encoded["reasoning"] == {"effort": "high", "summary": "auto"}
    assert encoded["include"] == ["reasoning.encrypted_content"]
    assert encoded["stream"] is True and encoded["store"] is False
    reasoning = encoded["input"][1]
    assert reasoning["type"] == "reasoning" and reasoning["encrypted_content"].startswith("gAAAAABo1Vq3")
    assert [s["type"] for s in reasoning["summary"]] == ["summary_text"]
    assert encoded["input"][5] == {"type": "message", "role": "assistant", "content": "Yes, 97 is prime."}


def test_encode_images():
    req = _req(Message("user", [Image(url="https://x/y.png"), Image(data="AAAA", media_type="image/jpeg",
                                                                    detail="high"), Image(data="BBBB")]))
    content = CODEC.encode_request(req)["input"][0]["content"]
    assert content == [
        {"type": "input_image", "image_url": "https://x/y.png", "detail": "auto"},
        {"type": "input_image", "image_url": "data:image/jpeg;base64,AAAA", "detail": "high"},
        {"type": "input_image", "image_url": "data:image/png;base64,BBBB", "detail": "auto"},
    ]


def test_encode_anthropic_style_turns():
    """Tool results inside a user turn, a missing result, an orphan result, thinking without encryption."""
    req = _req(
        Message("user", [Text("go")]),
        Message("assistant", [Reasoning(text="plan", signature="sig"), Text("calling"), ToolCall("c1", "f", "{}"),
                              ToolCall("", "g", "")]),
        Message("user", [ToolResult("c1", [Text("one"), Image(url="https://i/1.png")], is_error=True),
                         ToolResult("orphan", [Text("nobody asked")]), Text("and now?")]),
        system=[Text("a"), Text("b")],
    )
    body = CODEC.encode_request(req)
    assert body["instructions"] == "a\n\nb"
    items = body["input"]
    assert items[1] == {"type": "message", "role": "assistant", "content": "calling"}
    assert [i["type"] for i in items] == ["message", "message", "function_call", "function_call",
                                          "function_call_output", "function_call_output", "message"]
    generated = items[3]["call_id"]
    assert generated.startswith("call_") and items[3]["arguments"] == "{}"
    assert items[4] == {"type": "function_call_output", "call_id": "c1", "output": [
        {"type": "input_text", "text": "one"},
        {"type": "input_image", "image_url": "https://i/1.png", "detail": "auto"}]}
    assert items[5] == {"type": "function_call_output", "call_id": generated, "output": "(no result)"}
    assert items[6]["content"] == [{"type": "input_text", "text": "and now?"}]


def test_encode_parameters():
    req = _req(Message("user", [Text("x")]), max_tokens=5, temperature=0.3, top_p=0.5, user="u", seed=3,
               stop=["END"], top_k=4, metadata={"k": "v"},
               response_format={"type": "json_schema", "json_schema": {"name": "n", "schema": {"type": "object"},
                                                                       "strict": True}},
               tools=[ToolDef("f")], tool_choice=ToolChoice("required", parallel=True),
               reasoning=ReasoningConfig(budget_tokens=2000), stream=True)
    body = CODEC.encode_request(req)
    assert body["max_output_tokens"] == 16  # OpenAI's minimum
    assert (body["temperature"], body["top_p"], body["user"], body["metadata"]) == (0.3, 0.5, "u", {"k": "v"})
    assert body["text"] == {"format": {"type": "json_schema", "name": "n", "schema": {"type": "object"},
                                       "strict": True}}
    assert body["tools"] == [{"type": "function", "name": "f", "parameters": {"type": "object", "properties": {}},
                              "strict": False}]
    assert body["tool_choice"] == "required" and body["parallel_tool_calls"] is True
    assert body["reasoning"] == {"effort": "medium", "summary": "auto"}
    assert body["stream"] is True
    for absent in ("seed", "stop", "top_k"):
        assert absent not in body
    off = CODEC.encode_request(_req(Message("user", [Text("x")]), reasoning=ReasoningConfig(enabled=False),
                                    tool_choice=ToolChoice("none"), response_format={"type": "json_object"}))
    assert "reasoning" not in off and "include" not in off and "tool_choice" not in off
    assert off["text"] == {"format": {"type": "json_object"}}


def test_encode_synthesizes_a_user_turn():
    body = CODEC.encode_request(_req(system=[Text("only system")]))
    assert body["input"] == [{"type": "message", "role": "user", "content": [{"type": "input_text",
                                                                             "text": "Continue."}]}]


@pytest.mark.parametrize("name", REQUESTS)
def test_encoded_bodies_are_what_the_sdk_types_describe(name):
    validate_request(CODEC.encode_request(CODEC.decode_request(load(name))))


def test_encoded_foreign_turns_are_what_the_sdk_types_describe():
    req = _req(Message("user", [Text("go"), Image(data="AAAA", media_type="image/png")]),
               Message("assistant", [Reasoning(text="t", redacted="enc"), Text("a"), Text("b"),
                                     ToolCall("c1", "f", "{}")]),
               Message("tool", [ToolResult("c1", [Text("x"), Image(url="https://i")])]),
               system=[Text("s")], tools=[ToolDef("f", strict=True)], tool_choice=ToolChoice("tool", name="f"),
               response_format={"type": "json_object"}, reasoning=ReasoningConfig(effort="low"), max_tokens=100)
    body = CODEC.encode_request(req)
    assert body["input"][2] == {"type": "message", "role": "assistant", "content": "ab"}
    validate_request(body)
