"""Validation of Chat Completions requests."""

from __future__ import annotations

import copy

import pytest

from omniroute.dialects.openai_chat.request import validate_chat_request
from omniroute.errors import InvalidRequest

VALID = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}


def with_(**changes) -> dict:
    body = copy.deepcopy(VALID)
    for key, value in changes.items():
        if value is ...:
            body.pop(key, None)
        else:
            body[key] = value
    return body


def msgs(*messages) -> dict:
    return with_(messages=list(messages))


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (with_(model=...), "'model'"),
        (with_(model=None), "'model'"),
        (with_(model=4), "'model'"),
        (with_(model="   "), "'model'"),
        (with_(messages=...), "'messages'"),
        (with_(messages={"role": "user", "content": "hi"}), "'messages'"),
        (with_(messages="hi"), "'messages'"),
        (with_(messages=[]), "'messages'"),
        (msgs("hi"), "'messages[0]'"),
        (msgs({"role": "user", "content": "a"}, ["user", "b"]), "'messages[1]'"),
        (msgs({"content": "hi"}), "'messages[0].role'"),
        (msgs({"role": "wizard", "content": "hi"}), "'messages[0].role'"),
        (msgs({"role": "user", "content": 5}), "'messages[0].content'"),
        (msgs({"role": "user", "content": {"text": "hi"}}), "'messages[0].content'"),
        (msgs({"role": "system", "content": "s"}, {"role": "user"}), "'messages[1].content'"),
        (msgs({"role": "user", "content": None}), "'messages[0].content'"),
        (with_(stream="true"), "'stream'"),
        (with_(stream=1), "'stream'"),
        (with_(temperature="0.5"), "'temperature'"),
        (with_(top_p=True), "'top_p'"),
        (with_(max_tokens=10.5), "'max_tokens'"),
        (with_(max_tokens=-1), "'max_tokens'"),
        (with_(max_completion_tokens="100"), "'max_completion_tokens'"),
        (with_(n=False), "'n'"),
        (with_(tools={"type": "function"}), "'tools'"),
        (with_(stop=5), "'stop'"),
        (with_(stop={"a": 1}), "'stop'"),
        (with_(stream_options=True), "'stream_options'"),
        (with_(stream_options=["include_usage"]), "'stream_options'"),
    ],
)
def test_invalid_requests_name_the_field(body, field):
    with pytest.raises(InvalidRequest) as info:
        validate_chat_request(body)
    assert field in info.value.message
    assert info.value.status == 400
    assert info.value.openai_body()["error"]["type"] == "invalid_request_error"


def test_missing_fields_carry_missing_parameter_code():
    for body in (with_(model=...), with_(messages=...), msgs({"content": "x"}), msgs({"role": "user"})):
        with pytest.raises(InvalidRequest) as info:
            validate_chat_request(body)
        assert info.value.code == "missing_required_parameter"


def test_wrong_type_message_says_what_was_given():
    with pytest.raises(InvalidRequest) as info:
        validate_chat_request(with_(messages="hi"))
    assert "string" in info.value.message
    with pytest.raises(InvalidRequest) as info:
        validate_chat_request(with_(temperature="hot"))
    assert "number" in info.value.message and "string" in info.value.message


@pytest.mark.parametrize(("body", "kind"), [([VALID], "array"), ("text", "string"), (None, "null"), (3, "number")])
def test_body_not_an_object(body, kind):
    with pytest.raises(InvalidRequest) as info:
        validate_chat_request(body)
    assert "object" in info.value.message
    assert kind in info.value.message


def test_first_problem_in_message_order_is_reported():
    with pytest.raises(InvalidRequest) as info:
        validate_chat_request(msgs({"role": "user", "content": "ok"}, {"role": "bad"}, {"content": 1}))
    assert "'messages[1].role'" in info.value.message


@pytest.mark.parametrize(
    "body",
    [
        VALID,
        with_(stream=True, stream_options={"include_usage": True}),
        with_(temperature=0, top_p=1.0, frequency_penalty=-0.5, presence_penalty=2, max_tokens=0,
              max_completion_tokens=256, n=1, seed=-42, top_logprobs=2),
        with_(stop="\n"),
        with_(stop=["END", "STOP"]),
        with_(
            tools=[{
                "type": "function",
                "function": {
                    "name": "get_weather",
                    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
                },
            }],
            tool_choice="auto",
        ),
        msgs(
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": [
                {"type": "text", "text": "what is this?"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
            ]},
        ),
        msgs(
            {"role": "developer", "content": "rules"},
            {"role": "user", "content": "weather in Paris?"},
            {"role": "assistant", "content": None, "tool_calls": [{
                "id": "call_1", "type": "function",
                "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"},
            }]},
            {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
            {"role": "assistant", "content": "It is sunny."},
        ),
        msgs({"role": "assistant", "function_call": {"name": "f", "arguments": "{}"}},
             {"role": "function", "name": "f", "content": "42"}),
        with_(unknown_vendor_field={"kept": True}),
    ],
)
def test_valid_requests_pass(body):
    before = copy.deepcopy(body)
    assert validate_chat_request(body) is None
    assert body == before
