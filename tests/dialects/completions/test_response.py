"""Whole ``text_completion`` answers, checked against the openai SDK's own model."""

from __future__ import annotations

import pytest
from openai.types import Completion

from omniroute.dialects.completions import CODEC
from omniroute.dialects.completions.response import completion_id
from omniroute.errors import UpstreamServerError
from omniroute.schema import ChatResponse, Reasoning, Text, ToolCall, Usage

# The shape the API documents for a non-streamed answer.
UPSTREAM = {
    "id": "cmpl-uqkvlQyYK7bGYrRHQ0eXlWi7",
    "object": "text_completion",
    "created": 1589478378,
    "model": "gpt-3.5-turbo-instruct",
    "system_fingerprint": "fp_44709d6fcb",
    "choices": [{"text": "\n\nThis is indeed a test", "index": 0, "logprobs": None, "finish_reason": "length"}],
    "usage": {"prompt_tokens": 5, "completion_tokens": 7, "total_tokens": 12},
}


def encode(resp: ChatResponse) -> dict:
    body = CODEC.encode_response(resp)
    Completion.model_validate(body, strict=True)
    return body


def test_encode_text_answer():
    resp = ChatResponse(id="chatcmpl-abc", model="gpt-4o-mini", parts=[Text("Hello"), Text(" world")],
                        usage=Usage(input=10, output=2))
    body = encode(resp)
    assert body["id"] == "cmpl-abc"
    assert body["object"] == "text_completion"
    assert isinstance(body["created"], int)
    assert body["model"] == "gpt-4o-mini"
    assert body["choices"] == [{"index": 0, "text": "Hello world", "finish_reason": "stop", "logprobs": None}]
    assert body["usage"]["prompt_tokens"] == 10
    assert body["usage"]["completion_tokens"] == 2
    assert body["usage"]["total_tokens"] == 12


@pytest.mark.parametrize("stop, finish", [
    ("stop", "stop"),
    ("length", "length"),
    ("content_filter", "content_filter"),
    ("stop_sequence", "stop"),
    ("tool_calls", "stop"),
    ("error", "stop"),
])
def test_finish_reasons(stop, finish):
    body = encode(ChatResponse(id="x", model="m", parts=[Text("t")], stop_reason=stop))
    assert body["choices"][0]["finish_reason"] == finish


def test_reasoning_and_tool_calls_stay_out_of_the_text():
    resp = ChatResponse(id="", model="m", stop_reason="tool_calls", parts=[
        Reasoning("let me think", signature="sig"), Text("Answer."), ToolCall("c", "f", "{}")])
    body = encode(resp)
    assert body["choices"][0]["text"] == "Answer."
    assert body["id"].startswith("cmpl-") and len(body["id"]) > 10


def test_empty_answer_is_an_empty_text():
    assert encode(ChatResponse(id="x", model="m"))["choices"][0]["text"] == ""


def test_usage_details_like_the_chat_codec():
    body = encode(ChatResponse(id="x", model="m", usage=Usage(input=80, output=30, cache_read=20,
                                                               cache_write=5, reasoning=12)))
    usage = body["usage"]
    assert (usage["prompt_tokens"], usage["completion_tokens"], usage["total_tokens"]) == (100, 30, 130)
    assert usage["prompt_tokens_details"] == {"cached_tokens": 20}
    assert usage["completion_tokens_details"] == {"reasoning_tokens": 12}
    assert usage["cache_creation_input_tokens"] == 5


@pytest.mark.parametrize("upstream, expected", [
    ("cmpl-123", "cmpl-123"),
    ("chatcmpl-456", "cmpl-456"),
    ("msg_01XYZ", "cmpl-msg_01XYZ"),
])
def test_completion_ids(upstream, expected):
    assert completion_id(upstream) == expected
    assert completion_id("").startswith("cmpl-") and completion_id(None) != completion_id(None)


def test_decode_upstream_answer():
    Completion.model_validate(UPSTREAM, strict=True)
    resp = CODEC.decode_response(UPSTREAM)
    assert resp == ChatResponse(id="cmpl-uqkvlQyYK7bGYrRHQ0eXlWi7", model="gpt-3.5-turbo-instruct",
                                parts=[Text("\n\nThis is indeed a test")], stop_reason="length",
                                usage=Usage(input=5, output=7))


def test_decode_cached_usage_and_empty_text():
    body = {**UPSTREAM, "choices": [{"text": "", "index": 0, "logprobs": None, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 50, "completion_tokens": 0, "total_tokens": 50,
                      "prompt_tokens_details": {"cached_tokens": 40}}}
    resp = CODEC.decode_response(body)
    assert resp.parts == [] and resp.stop_reason == "stop"
    assert resp.usage == Usage(input=10, output=0, cache_read=40)


def test_decode_tolerates_a_sparse_answer():
    resp = CODEC.decode_response({"choices": []})
    assert resp == ChatResponse(id="", model="", parts=[], stop_reason="stop", usage=Usage())


@pytest.mark.parametrize("body, message", [
    ({"error": {"message": "model overloaded"}}, "model overloaded"),
    ({"object": "text_completion"}, "no 'choices'"),
    ([], "no 'choices'"),
])
def test_decode_without_choices_is_an_upstream_error(body, message):
    with pytest.raises(UpstreamServerError, match=message) as err:
        CODEC.decode_response(body)
    assert err.value.status == 502


def test_round_trip():
    resp = ChatResponse(id="cmpl-rt", model="m", parts=[Text("hi")], stop_reason="length",
                        usage=Usage(input=3, output=1, cache_read=2, reasoning=0))
    assert CODEC.decode_response(CODEC.encode_response(resp)) == resp
