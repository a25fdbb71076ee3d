"""Canonical events → Chat Completions SSE: shape, terminal events, and re-decoding."""

from __future__ import annotations

import json

import orjson
import pytest
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from omniroute.dialects.openai_chat import CODEC
from omniroute.schema import (
    Finish,
    MessageStart,
    ReasoningDelta,
    StreamError,
    TextDelta,
    Usage,
    UsageUpdate,
)
from omniroute.transport.sse import SSESplitter, event_data
from tests.dialects.openai_chat.support import decode_stream, load, stream_bytes
from tests.dialects.openai_chat.test_stream_decode import EXPECTED


def encode(events, model="gpt-4o-mini-2024-07-18", include_usage=False) -> bytes:
    encoder = CODEC.stream_encoder(model, include_usage=include_usage)
    return b"".join(encoder.feed(e) for e in events)


def payloads(data: bytes) -> list[bytes]:
    return [event_data(e) for e in SSESplitter().feed(data)]


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_encoder_output_re_decodes_to_the_same_events(name):
    events = EXPECTED[name]
    model = events[0].model
    include_usage = any(isinstance(e, UsageUpdate) for e in events)
    data = encode(events, model, include_usage)
    for size in (1, 3, None):
        assert decode_stream(data, size) == events


def test_chunks_share_id_created_model_and_parse_with_the_sdk():
    data = encode(EXPECTED["stream_parallel_tools.sse"], "my-model", include_usage=True)
    raw = payloads(data)
    assert raw[-1] == b"[DONE]"
    chunks = [orjson.loads(p) for p in raw[:-1]]
    assert {(c["id"], c["created"], c["model"], c["object"]) for c in chunks} == {
        ("chatcmpl-stream1", chunks[0]["created"], "my-model", "chat.completion.chunk")
    }
    for chunk in chunks:
        ChatCompletionChunk.model_validate(chunk)
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert chunks[1]["choices"][0]["delta"] == {
        "tool_calls": [
            {
                "index": 0,
                "id": "call_A1",
                "type": "function",
                "function": {"name": "get_weather", "arguments": ""},
            }
        ]
    }
    assert chunks[-2]["choices"][0]["finish_reason"] == "tool_calls"
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["prompt_tokens"] == 95


def test_client_side_reassembly_of_tool_arguments():
    data = encode(EXPECTED["stream_parallel_tools.sse"])
    calls: dict[int, dict] = {}
    for payload in payloads(data)[:-1]:
        for tc in orjson.loads(payload)["choices"][0]["delta"].get("tool_calls", []):
            slot = calls.setdefault(tc["index"], {"name": "", "arguments": ""})
            slot["name"] += tc.get("function", {}).get("name", "")
            slot["arguments"] += tc["function"].get("arguments", "")
    assert calls == {
        0: {"name": "get_weather", "arguments": '{"city": "Paris"}'},
        1: {"name": "get_time", "arguments": '{"city": "Rome"}'},
    }


def test_usage_only_when_asked():
    events = [MessageStart("x", "m"), TextDelta("a"), UsageUpdate(Usage(input=3, output=1)), Finish("stop")]
    without = [orjson.loads(p) for p in payloads(encode(events))[:-1]]
    assert all("usage" not in c for c in without)
    with_usage = [orjson.loads(p) for p in payloads(encode(events, include_usage=True))[:-1]]
    assert with_usage[-1]["usage"]["total_tokens"] == 4 and with_usage[-1]["choices"] == []


def test_include_usage_can_be_set_after_construction():
    encoder = CODEC.stream_encoder("m")
    encoder.include_usage = True
    data = b"".join(encoder.feed(e) for e in [MessageStart("x", "m"), Finish("stop")])
    assert b'"usage"' in data and data.endswith(b"data: [DONE]\n\n")


def test_reasoning_and_stop_mapping():
    events = [
        MessageStart("x", "m"),
        ReasoningDelta("think"),
        ReasoningDelta(signature="sig"),
        ReasoningDelta(redacted="xx"),
        TextDelta("ok"),
        Finish("stop_sequence"),
    ]
    chunks = [orjson.loads(p) for p in payloads(encode(events))[:-1]]
    deltas = [c["choices"][0]["delta"] for c in chunks]
    assert deltas == [
        {"role": "assistant", "content": ""},
        {"reasoning_content": "think"},
        {"content": "ok"},
        {},
    ]
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"


def test_stream_error_is_last():
    encoder = CODEC.stream_encoder("m")
    out = encoder.feed(MessageStart("x", "m")) + encoder.feed(TextDelta("a"))
    err = encoder.feed(StreamError("boom", "upstream_stream_truncated"))
    assert (
        err
        == b'data: {"error":{"message":"boom","type":"upstream_error","code":"upstream_stream_truncated"}}\n\n'
    )
    assert encoder.feed(Finish("stop")) == b"" and encoder.feed(TextDelta("b")) == b""
    assert b"[DONE]" not in out + err


def test_nothing_after_finish():
    encoder = CODEC.stream_encoder("m")
    encoder.feed(Finish("stop"))
    assert encoder.feed(TextDelta("late")) == b"" and encoder.feed(StreamError("x")) == b""


@pytest.mark.parametrize(
    "name",
    [
        "response_text.json",
        "response_tool_calls.json",
        "response_reasoning.json",
        "response_cached_usage.json",
    ],
)
def test_encoded_responses_parse_with_the_sdk(name):
    ChatCompletion.model_validate(CODEC.encode_response(CODEC.decode_response(load(name))))


def test_fixture_streams_decode_then_encode_parse_with_the_sdk():
    for name in ("stream_text.sse", "stream_reasoning_text.sse", "stream_usage_after_finish.sse"):
        data = encode(decode_stream(stream_bytes(name)), include_usage=True)
        for payload in payloads(data)[:-1]:
            ChatCompletionChunk.model_validate(json.loads(payload))
