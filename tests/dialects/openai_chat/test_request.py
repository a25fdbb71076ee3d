"""Chat Completions requests ⇄ canonical ChatRequest."""

from __future__ import annotations

import json

import pytest

from omniroute.dialects.openai_chat import CODEC
from omniroute.dialects.openai_chat.request_encode import NO_RESULT, SYNTHESIZED_USER
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
    ToolResult,
)
from tests.dialects.openai_chat.support import load

REQUEST_FIXTURES = [
    "request_system_developer.json",
    "request_images.json",
    "request_tools.json",
    "request_tool_round_trip.json",
    "request_reasoning.json",
    "request_response_format.json",
]


def test_system_and_developer_become_system_in_order():
    req = CODEC.decode_request(load("request_system_developer.json"))
    assert req.system == [Text("You are a terse assistant."), Text("Answer in French.")]
    assert req.messages == [Message("user", [Text("What is the capital of Italy?")])]
    assert (req.temperature, req.top_p, req.seed, req.user) == (0.2, 0.9, 7, "user-42")
    assert req.max_tokens == 64 and req.stop == ["\n\n"] and req.stream is False
    assert req.metadata == {"session": "abc"}
    body = CODEC.encode_request(req)
    assert body["messages"][0] == {
        "role": "system",
        "content": "You are a terse assistant.\n\nAnswer in French.",
    }
    assert body["messages"][1] == {"role": "user", "content": "What is the capital of Italy?"}
    assert body["max_tokens"] == 64 and body["stop"] == ["\n\n"] and "stream" not in body
    assert "metadata" not in body


def test_images_by_data_url_and_http_url():
    req = CODEC.decode_request(load("request_images.json"))
    text, inline, linked = req.messages[0].parts
    assert text == Text("Compare these two images.")
    assert inline.media_type == "image/png" and inline.url is None and inline.data.startswith("iVBORw0KGgo")
    assert linked == Image(
        url="https://upload.wikimedia.org/wikipedia/commons/a/a7/Camponotus_flavomarginatus_ant.jpg", detail="low"
    )
    parts = CODEC.encode_request(req)["messages"][0]["content"]
    original = load("request_images.json")["messages"][0]["content"]
    assert parts[1] == original[1]
    assert parts[2]["image_url"]["url"] == original[2]["image_url"]["url"]


def test_tools_and_named_tool_choice():
    req = CODEC.decode_request(load("request_tools.json"))
    assert [t.name for t in req.tools] == ["get_weather", "get_time"]
    assert req.tools[0].description == "Current weather for a city."
    assert req.tools[0].parameters["required"] == ["city"]
    assert req.tool_choice == ToolChoice(mode="tool", name="get_weather", parallel=False)
    body = CODEC.encode_request(req)
    assert body["tool_choice"] == {"type": "function", "function": {"name": "get_weather"}}
    assert body["parallel_tool_calls"] is False
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    assert body["tools"][1] == {
        "type": "function",
        "function": {
            "name": "get_time",
            "description": "Local time in a city.",
            "parameters": load("request_tools.json")["tools"][1]["function"]["parameters"],
        },
    }


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("auto", ToolChoice(mode="auto")),
        ("none", ToolChoice(mode="none")),
        ("required", ToolChoice(mode="required")),
        ({"type": "function", "function": {"name": "get_time"}}, ToolChoice(mode="tool", name="get_time")),
    ],
)
def test_tool_choice_variants_round_trip(raw, expected):
    body = load("request_tools.json")
    body["tool_choice"] = raw
    del body["parallel_tool_calls"]
    req = CODEC.decode_request(body)
    assert req.tool_choice == expected
    assert CODEC.encode_request(req)["tool_choice"] == raw


def test_parallel_tool_calls_alone_and_no_tools():
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "parallel_tool_calls": True}
    req = CODEC.decode_request(body)
    assert req.tool_choice == ToolChoice(mode="auto", parallel=True)
    # OpenAI refuses tool_choice/parallel_tool_calls without tools.
    out = CODEC.encode_request(req)
    assert "tool_choice" not in out and "parallel_tool_calls" not in out


def test_multi_turn_parallel_tool_round_trip():
    original = load("request_tool_round_trip.json")
    req = CODEC.decode_request(original)
    assistant = req.messages[1]
    assert [p.id for p in assistant.parts] == ["call_w_paris", "call_w_rome", "call_t_paris"]
    assert assistant.parts[1].arguments == '{"city":"Rome","unit":"c"}'  # untouched text
    results = req.messages[2]
    assert results.role == "tool" and [r.call_id for r in results.parts] == [
        "call_w_paris",
        "call_w_rome",
        "call_t_paris",
    ]
    assert results.parts[1].content == [Text("24°C, "), Text("sunny")]
    body = CODEC.encode_request(req)
    roles = [m["role"] for m in body["messages"]]
    assert roles == ["system", "user", "assistant", "tool", "tool", "tool", "assistant", "user"]
    assert body["messages"][2] == original["messages"][2]
    assert [m["tool_call_id"] for m in body["messages"][3:6]] == [
        "call_w_paris",
        "call_w_rome",
        "call_t_paris",
    ]
    assert body["messages"][4]["content"] == original["messages"][4]["content"]
    assert body["tool_choice"] == "auto"


def test_reasoning_content_and_effort():
    req = CODEC.decode_request(load("request_reasoning.json"))
    assert req.messages[1].parts == [
        Reasoning(text="91 = 7 × 13, so it is not prime."),
        Text("No: 91 = 7 × 13."),
    ]
    assert req.reasoning == ReasoningConfig(effort="medium", budget_tokens=10240)
    assert req.max_tokens == 2048
    body = CODEC.encode_request(req)
    assert body["reasoning_effort"] == "medium"
    assert body["messages"][1] == {"role": "assistant", "content": "No: 91 = 7 × 13."}  # reasoning not sent
    assert body["max_tokens"] == 2048


def test_reasoning_effort_only_when_enabled():
    base = ChatRequest(model="m", messages=[Message("user", [Text("hi")])])
    base.reasoning = ReasoningConfig(budget_tokens=4000)
    assert CODEC.encode_request(base)["reasoning_effort"] == "medium"  # the level that covers the budget
    base.reasoning = ReasoningConfig(effort="high", enabled=False)
    assert "reasoning_effort" not in CODEC.encode_request(base)
    none = CODEC.decode_request(
        {"model": "m", "messages": [{"role": "user", "content": "x"}], "reasoning_effort": "none"}
    )
    assert none.reasoning == ReasoningConfig(enabled=False)


def test_response_format_kept():
    original = load("request_response_format.json")
    req = CODEC.decode_request(original)
    assert req.response_format == original["response_format"]
    assert CODEC.encode_request(req)["response_format"] == original["response_format"]


@pytest.mark.parametrize("name", REQUEST_FIXTURES)
def test_decode_encode_decode_is_stable(name):
    req = CODEC.decode_request(load(name))
    again = CODEC.decode_request(CODEC.encode_request(req))
    # Reasoning is deliberately not sent to OpenAI upstreams; metadata stays in the gateway.
    for message in req.messages:
        message.parts = [p for p in message.parts if not isinstance(p, Reasoning)]
    req.metadata = {}
    req.system = [Text("\n\n".join(t.text for t in req.system))] if req.system else []
    assert again == req


def test_unanswered_calls_get_placeholders_and_orphans_are_dropped():
    req = ChatRequest(
        model="m",
        messages=[
            Message("user", [Text("go")]),
            Message("assistant", [ToolCall("call_1", "a", "{}"), ToolCall("call_2", "b", '{"x":1}')]),
            Message("tool", [ToolResult("call_2", [Text("two")]), ToolResult("call_zzz", [Text("orphan")])]),
            Message("user", [Text("next")]),
            Message("assistant", [Text("thinking aloud"), ToolCall("call_3", "c", "{}")]),
        ],
    )
    msgs = CODEC.encode_request(req)["messages"]
    assert msgs[1]["tool_calls"][1] == {
        "id": "call_2",
        "type": "function",
        "function": {"name": "b", "arguments": '{"x":1}'},
    }
    assert msgs[2:] == [
        {"role": "tool", "tool_call_id": "call_2", "content": "two"},
        {"role": "tool", "tool_call_id": "call_1", "content": NO_RESULT},
        {"role": "user", "content": "next"},
        {"role": "assistant", "content": "thinking aloud", "tool_calls": msgs[5]["tool_calls"]},
        {"role": "tool", "tool_call_id": "call_3", "content": NO_RESULT},
    ]
    assert all(m.get("tool_call_id") != "call_zzz" for m in msgs)


def test_results_in_a_user_turn_come_first_and_images_follow():
    req = ChatRequest(
        model="m",
        messages=[
            Message("assistant", [ToolCall("toolu_1", "shot", "{}")]),
            Message(
                "user",
                [
                    ToolResult("toolu_1", [Text("see image"), Image(data="QUJD", media_type="image/jpeg")]),
                    Text("what is it?"),
                ],
            ),
        ],
    )
    msgs = CODEC.encode_request(req)["messages"]
    assert msgs[1] == {"role": "tool", "tool_call_id": "toolu_1", "content": "see image"}
    assert msgs[2] == {
        "role": "user",
        "content": [
            {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,QUJD"}},
            {"type": "text", "text": "what is it?"},
        ],
    }


def test_missing_call_ids_are_generated_and_matched_by_name():
    req = ChatRequest(
        model="m",
        messages=[
            Message("assistant", [ToolCall("", "a", "{}"), ToolCall("", "b", "{}")]),
            Message("tool", [ToolResult("", [Text("B")], name="b"), ToolResult("", [Text("A")], name="a")]),
        ],
    )
    msgs = CODEC.encode_request(req)["messages"]
    ids = [c["id"] for c in msgs[0]["tool_calls"]]
    assert len(ids) == 2 and all(i.startswith("call_") and len(i) > 10 for i in ids) and ids[0] != ids[1]
    assert [(m["tool_call_id"], m["content"]) for m in msgs[1:]] == [(ids[1], "B"), (ids[0], "A")]


def test_only_system_gets_a_user_turn():
    req = ChatRequest(model="m", messages=[], system=[Text("Say hi.")])
    msgs = CODEC.encode_request(req)["messages"]
    assert msgs == [{"role": "system", "content": "Say hi."}, {"role": "user", "content": SYNTHESIZED_USER}]


def test_max_tokens_never_inflated():
    body = {
        "model": "m",
        "messages": [{"role": "user", "content": "x"}],
        "max_tokens": 64,
        "reasoning_effort": "high",
    }
    assert CODEC.encode_request(CODEC.decode_request(body))["max_tokens"] == 64


def test_legacy_function_messages_pair_with_calls():
    body = {
        "model": "m",
        "messages": [
            {"role": "user", "content": "x"},
            {"role": "assistant", "content": None, "function_call": {"name": "f", "arguments": "{}"}},
            {"role": "function", "name": "f", "content": "42"},
        ],
        "functions": [{"name": "f", "parameters": {"type": "object", "properties": {}}}],
        "function_call": {"name": "f"},
    }
    req = CODEC.decode_request(body)
    call = req.messages[1].parts[0]
    assert req.messages[2].parts == [ToolResult(call.id, [Text("42")], name="f")]
    assert req.tool_choice == ToolChoice(mode="tool", name="f")
    msgs = CODEC.encode_request(req)["messages"]
    assert msgs[2] == {"role": "tool", "tool_call_id": call.id, "content": "42"}


@pytest.mark.parametrize(
    ("message", "named"),
    [
        (
            {
                "role": "user",
                "content": [{"type": "input_audio", "input_audio": {"data": "x", "format": "wav"}}],
            },
            "'input_audio'",
        ),
        ({"role": "user", "content": [{"type": "file", "file": {"file_id": "f"}}]}, "'file'"),
        (
            {"role": "user", "content": [{"type": "image_url", "image_url": {}}]},
            "messages[0].content[0].image_url.url",
        ),
        (
            {"role": "system", "content": [{"type": "image_url", "image_url": {"url": "https://x"}}]},
            "'image_url'",
        ),
        ({"role": "tool", "content": "x"}, "messages[0].tool_call_id"),
        (
            {"role": "assistant", "tool_calls": [{"id": "c", "type": "function", "function": {}}]},
            "messages[0].tool_calls[0].function.name",
        ),
    ],
)
def test_invalid_parts_are_named(message, named):
    with pytest.raises(InvalidRequest) as err:
        CODEC.decode_request({"model": "m", "messages": [message]})
    assert named in err.value.message


def test_validation_runs_first():
    with pytest.raises(InvalidRequest, match="'model'"):
        CODEC.decode_request({"messages": [{"role": "user", "content": "x"}]})
    with pytest.raises(InvalidRequest, match="reasoning_effort"):
        CODEC.decode_request(
            {"model": "m", "messages": [{"role": "user", "content": "x"}], "reasoning_effort": "huge"}
        )


def test_encoded_request_is_json_serializable():
    for name in REQUEST_FIXTURES:
        json.dumps(CODEC.encode_request(CODEC.decode_request(load(name))))
