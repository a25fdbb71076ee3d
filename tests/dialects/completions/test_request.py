"""Legacy Completions requests: decoding, validation, unportable features and encoding."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from omniroute.dialects.completions import CODEC, wants_usage
from omniroute.dialects.completions.request import DEFAULT_MAX_TOKENS, UPSTREAM_MAX_TOKENS
from omniroute.errors import InvalidRequest
from omniroute.schema import (
    ChatRequest,
    Image,
    Message,
    Reasoning,
    ReasoningConfig,
    Text,
    ToolCall,
    ToolDef,
    ToolResult,
)

FULL = {
    "model": "gpt-3.5-turbo-instruct",
    "prompt": "Once upon a time",
    "max_tokens": 64,
    "temperature": 0.7,
    "top_p": 0.9,
    "stop": ["\n\n", "THE END"],
    "seed": 42,
    "frequency_penalty": 0.5,
    "presence_penalty": -0.25,
    "user": "user-7",
    "stream": True,
    "stream_options": {"include_usage": True},
    "n": 1,
    "best_of": 1,
    "echo": False,
}


def decode(**fields) -> ChatRequest:
    return CODEC.decode_request({"model": "m", "prompt": "hi", **fields})


def test_decode_every_field():
    req = CODEC.decode_request(FULL)
    assert req.model == "gpt-3.5-turbo-instruct"
    assert req.messages == [Message("user", [Text("Once upon a time")])]
    assert req.system == [] and req.tools == []
    assert req.max_tokens == 64
    assert (req.temperature, req.top_p, req.seed) == (0.7, 0.9, 42)
    assert (req.frequency_penalty, req.presence_penalty) == (0.5, -0.25)
    assert req.stop == ["\n\n", "THE END"]
    assert req.user == "user-7"
    assert req.stream is True
    assert req.unportable == []
    assert wants_usage(FULL) is True


def test_decode_minimal_carries_the_legacy_defaults():
    req = CODEC.decode_request({"model": "m", "prompt": "Say hi"})
    assert req.messages == [Message("user", [Text("Say hi")])]
    assert req.max_tokens == DEFAULT_MAX_TOKENS == 16
    assert req.stream is False
    assert req.stop == [] and req.temperature is None and req.user is None
    assert decode(max_tokens=None).max_tokens == 16


def test_prompt_forms():
    assert decode(prompt=["only one"]).messages[0].parts == [Text("only one")]
    assert decode(prompt="").messages[0].parts == [Text("")]
    assert decode(stop="END").stop == ["END"]
    assert decode(stop=[]).stop == []


@pytest.mark.parametrize("prompt", [
    ["first", "second"],
    [1, 2, 3],
    [[1, 2], [3, 4]],
    [[1, 2]],
    [7],
    ["text", 7],
])
def test_several_prompts_or_token_ids_are_refused(prompt):
    with pytest.raises(InvalidRequest, match="prompt") as err:
        decode(prompt=prompt)
    assert "only one text prompt is supported" in err.value.message


def test_n_above_one_is_refused():
    assert decode(n=1).messages
    with pytest.raises(InvalidRequest, match="'n'.*only one completion"):
        decode(n=3)
    with pytest.raises(InvalidRequest, match="'n' must be at least 1"):
        decode(n=0)


@pytest.mark.parametrize("body, field", [
    ({"prompt": "x"}, "model"),
    ({"model": 5, "prompt": "x"}, "model"),
    ({"model": " ", "prompt": "x"}, "model"),
    ({"model": "m"}, "prompt"),
    ({"model": "m", "prompt": None}, "prompt"),
    ({"model": "m", "prompt": 5}, "prompt"),
    ({"model": "m", "prompt": {"text": "x"}}, "prompt"),
    ({"model": "m", "prompt": []}, "prompt"),
    ({"model": "m", "prompt": "x", "max_tokens": "10"}, "max_tokens"),
    ({"model": "m", "prompt": "x", "max_tokens": -1}, "max_tokens"),
    ({"model": "m", "prompt": "x", "max_tokens": 1.5}, "max_tokens"),
    ({"model": "m", "prompt": "x", "max_tokens": True}, "max_tokens"),
    ({"model": "m", "prompt": "x", "temperature": "hot"}, "temperature"),
    ({"model": "m", "prompt": "x", "top_p": True}, "top_p"),
    ({"model": "m", "prompt": "x", "frequency_penalty": [1]}, "frequency_penalty"),
    ({"model": "m", "prompt": "x", "presence_penalty": {}}, "presence_penalty"),
    ({"model": "m", "prompt": "x", "stop": 5}, "stop"),
    ({"model": "m", "prompt": "x", "stop": ["ok", 1]}, "stop[1]"),
    ({"model": "m", "prompt": "x", "seed": "1"}, "seed"),
    ({"model": "m", "prompt": "x", "user": 5}, "user"),
    ({"model": "m", "prompt": "x", "stream": "yes"}, "stream"),
    ({"model": "m", "prompt": "x", "stream_options": True}, "stream_options"),
    ({"model": "m", "prompt": "x", "stream_options": {"include_usage": 1}}, "stream_options.include_usage"),
    ({"model": "m", "prompt": "x", "n": "2"}, "n"),
    ({"model": "m", "prompt": "x", "suffix": 3}, "suffix"),
    ({"model": "m", "prompt": "x", "echo": "true"}, "echo"),
    ({"model": "m", "prompt": "x", "logprobs": -1}, "logprobs"),
    ({"model": "m", "prompt": "x", "logprobs": True}, "logprobs"),
    ({"model": "m", "prompt": "x", "best_of": 0}, "best_of"),
    ({"model": "m", "prompt": "x", "logit_bias": ["50256"]}, "logit_bias"),
])
def test_bad_fields_are_named(body, field):
    with pytest.raises(InvalidRequest) as err:
        CODEC.decode_request(body)
    assert f"'{field}'" in err.value.message
    assert err.value.status == 400


@pytest.mark.parametrize("body", [None, [], "text", 3, True])
def test_body_must_be_an_object(body):
    with pytest.raises(InvalidRequest, match="JSON object"):
        CODEC.decode_request(body)


@pytest.mark.parametrize("fields, entry", [
    ({"suffix": "\n}"}, "suffix"),
    ({"echo": True}, "echo"),
    ({"logprobs": 0}, "logprobs"),
    ({"logprobs": 5}, "logprobs"),
    ({"best_of": 3}, "best_of"),
    ({"logit_bias": {"50256": -100}}, "logit_bias"),
])
def test_completions_only_features_are_unportable(fields, entry):
    req = decode(**fields)
    assert len(req.unportable) == 1 and entry in req.unportable[0]


def test_neutral_values_are_portable():
    req = decode(suffix="", echo=False, logprobs=None, best_of=1, logit_bias={}, n=1)
    assert req.unportable == []


def test_several_unportable_features_are_all_listed():
    req = decode(suffix="x", echo=True, logprobs=2, best_of=2, logit_bias={"1": 1})
    assert len(req.unportable) == 5


def test_wants_usage():
    assert wants_usage({}) is False
    assert wants_usage({"stream_options": None}) is False
    assert wants_usage({"stream_options": {}}) is False
    assert wants_usage({"stream_options": {"include_usage": False}}) is False
    assert wants_usage({"stream_options": {"include_usage": True}}) is True


# --- fuzzing: bad input is an InvalidRequest, never anything else -------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=10,
)
KEYS = ["model", "prompt", "suffix", "max_tokens", "temperature", "top_p", "n", "stream", "stream_options",
        "logprobs", "echo", "stop", "presence_penalty", "frequency_penalty", "best_of", "logit_bias", "user",
        "seed"]
# Values of the right kind now and then, so decoding gets past the first checks.
plausible = st.one_of(
    json_values,
    st.sampled_from(["m", "hello", "", "\n"]),
    st.lists(st.sampled_from(["a", "b"]), max_size=3),
    st.integers(min_value=-2, max_value=20),
    st.fixed_dictionaries({}, optional={"include_usage": json_values}),
)
bodies = st.one_of(
    json_values,
    st.dictionaries(st.sampled_from(KEYS), plausible, max_size=len(KEYS)).map(
        lambda d: {"model": "m", "prompt": "p", **d}),
    st.dictionaries(st.sampled_from(KEYS), plausible, max_size=len(KEYS)),
)


@settings(max_examples=400, deadline=None)
@given(body=bodies)
def test_decoding_raises_only_invalid_request(body):
    try:
        req = CODEC.decode_request(body)
    except InvalidRequest as err:
        assert err.status == 400 and err.message
        return
    assert isinstance(req, ChatRequest)
    assert len(req.messages) == 1 and req.messages[0].role == "user"
    assert isinstance(req.max_tokens, int)
    # Whatever decodes also encodes, and decodes again to the same request.
    again = CODEC.decode_request(CODEC.encode_request(req))
    again.stream, again.unportable = req.stream, req.unportable
    assert again == req


# --- encoding ---------------------------------------------------------------------------------


def test_encode_a_decoded_body_gives_it_back():
    body = CODEC.encode_request(CODEC.decode_request(FULL))
    expected = {k: v for k, v in FULL.items() if k not in ("n", "best_of", "echo")}
    assert body == expected


def test_encode_keeps_the_legacy_default_when_it_came_from_a_completions_client():
    body = CODEC.encode_request(CODEC.decode_request({"model": "m", "prompt": "x"}))
    assert body == {"model": "m", "prompt": "x", "max_tokens": 16}


def test_encode_a_chat_request_without_a_limit_asks_for_room():
    req = ChatRequest(model="m", messages=[Message("user", [Text("Write a poem")])])
    assert CODEC.encode_request(req)["max_tokens"] == UPSTREAM_MAX_TOKENS


def test_encode_flattens_a_conversation():
    req = ChatRequest(
        model="m",
        system=[Text("You are terse."), Text("Answer in French.")],
        messages=[
            Message("user", [Text("Hello"), Text(" there")]),
            Message("assistant", [Reasoning("greet back"), Text("Bonjour.")]),
            Message("user", [Text("How are you?")]),
        ],
        stop=["END"],
        top_k=5,
        response_format={"type": "json_object"},
        reasoning=ReasoningConfig(effort="low"),
    )
    body = CODEC.encode_request(req)
    assert body["prompt"] == (
        "You are terse.\n\nAnswer in French.\n\n"
        "User: Hello there\n\n"
        "Assistant: Bonjour.\n\n"
        "User: How are you?\n\n"
        "Assistant:"
    )
    assert body["stop"] == ["END", "\nUser:"]
    assert set(body) == {"model", "prompt", "max_tokens", "stop"}


def test_encode_an_assistant_prefill_is_continued():
    req = ChatRequest(model="m", messages=[Message("user", [Text("Count")]),
                                           Message("assistant", [Text("1, 2,")])])
    assert CODEC.encode_request(req)["prompt"] == "User: Count\n\nAssistant: 1, 2,"


def test_encode_tool_history_as_text():
    req = ChatRequest(model="m", messages=[
        Message("user", [Text("Weather?")]),
        Message("assistant", [ToolCall("c1", "get_weather", '{"city":"Paris"}')]),
        Message("tool", [ToolResult("c1", [Text("18C")], name="get_weather"),
                         ToolResult("c2", [Text("boom")], is_error=True)]),
    ])
    assert CODEC.encode_request(req)["prompt"] == (
        "User: Weather?\n\n"
        'Assistant: [call get_weather {"city":"Paris"}]\n\n'
        "Tool: [result of get_weather: 18C]\n[result (error): boom]\n\n"
        "Assistant:"
    )


def test_encode_does_not_exceed_four_stops():
    req = ChatRequest(model="m", system=[Text("s")], messages=[Message("user", [Text("u")])],
                      stop=["a", "b", "c", "d"])
    assert CODEC.encode_request(req)["stop"] == ["a", "b", "c", "d"]


def test_encode_only_system_text():
    req = ChatRequest(model="m", system=[Text("Tell a joke.")], messages=[])
    assert CODEC.encode_request(req)["prompt"] == "Tell a joke.\n\nAssistant:"


def test_encode_stream_asks_for_usage():
    req = decode(stream=True)
    body = CODEC.encode_request(req)
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}


@pytest.mark.parametrize("req", [
    ChatRequest(model="m", messages=[Message("user", [Text("x")])], tools=[ToolDef("f")]),
    ChatRequest(model="m", messages=[Message("user", [Text("see"), Image(url="https://x/y.png")])]),
    ChatRequest(model="m", messages=[Message("tool", [ToolResult("c", [Image(data="aGk=")])])]),
])
def test_encode_refuses_what_has_no_legacy_form(req):
    with pytest.raises(InvalidRequest) as err:
        CODEC.encode_request(req)
    assert err.value.code == "unsupported_feature"
