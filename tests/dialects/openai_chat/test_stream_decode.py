"""Chat Completions SSE → canonical events, for every way the bytes may be split."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from omniroute.dialects.openai_chat.stream_decode import TRUNCATED
from omniroute.schema import (
    Finish,
    MessageStart,
    ReasoningDelta,
    StreamError,
    TextDelta,
    ToolCallDelta,
    ToolCallStart,
    Usage,
    UsageUpdate,
)
from tests.dialects.openai_chat.support import decode_split, decode_stream, stream_bytes

GPT = MessageStart("chatcmpl-stream1", "gpt-4o-mini-2024-07-18")

EXPECTED = {
    "stream_text.sse": [GPT, TextDelta("Bonjour"), TextDelta(" à"), TextDelta(" tous 👋"), Finish("stop")],
    "stream_parallel_tools.sse": [
        GPT,
        ToolCallStart(0, "call_A1", "get_weather"),
        ToolCallDelta(0, '{"ci'),
        ToolCallDelta(0, 'ty": "Pa'),
        ToolCallStart(1, "call_B2", "get_time"),
        ToolCallDelta(1, '{"city":'),
        ToolCallDelta(0, 'ris"}'),
        ToolCallDelta(1, ' "Rome"}'),
        UsageUpdate(Usage(input=95, output=40)),
        Finish("tool_calls"),
    ],
    "stream_reasoning_text.sse": [
        MessageStart("5c6c1a0e", "deepseek-reasoner"),
        ReasoningDelta("97 is odd;"),
        ReasoningDelta(" no divisor ≤ 9."),
        TextDelta("Yes,"),
        TextDelta(" 97 is prime."),
        UsageUpdate(Usage(input=8, output=30, cache_read=32, reasoning=20)),
        Finish("stop"),
    ],
    "stream_usage_after_finish.sse": [
        GPT,
        TextDelta("Hi!"),
        UsageUpdate(Usage(input=176, output=16, cache_read=1024)),
        Finish("length"),
    ],
    "stream_error.sse": [
        GPT,
        TextDelta("Partial"),
        StreamError("The server had an error while processing your request.", "server_error"),
    ],
    "stream_truncated.sse": [
        GPT,
        TextDelta("The answer is"),
        TextDelta(" 4"),
        StreamError(TRUNCATED, "upstream_stream_truncated"),
    ],
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
@pytest.mark.parametrize("size", [1, 2, 3, 7, None])
def test_fixture_events_for_each_chunk_size(name, size):
    assert decode_stream(stream_bytes(name), size) == EXPECTED[name]


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_crlf_framing_gives_the_same_events(name):
    data = stream_bytes(name).replace(b"\n", b"\r\n")
    for size in (1, 2, 3, 7, None):
        assert decode_stream(data, size) == EXPECTED[name]


@settings(max_examples=60, deadline=None)
@given(
    name=st.sampled_from(sorted(EXPECTED)),
    cuts=st.lists(st.floats(min_value=0, max_value=1, allow_nan=False), max_size=40),
)
def test_any_split_gives_identical_events(name, cuts):
    data = stream_bytes(name)
    assert decode_split(data, [int(c * len(data)) for c in cuts]) == EXPECTED[name]


def test_streamed_arguments_reassemble_exactly():
    events = decode_stream(stream_bytes("stream_parallel_tools.sse"), 5)
    starts = [e for e in events if isinstance(e, ToolCallStart)]
    args = {
        s.index: "".join(e.arguments for e in events if isinstance(e, ToolCallDelta) and e.index == s.index)
        for s in starts
    }
    assert [s.name for s in starts] == ["get_weather", "get_time"]
    assert args == {0: '{"city": "Paris"}', 1: '{"city": "Rome"}'}
    assert json.loads(args[0]) == {"city": "Paris"}


def test_finish_without_done_ends_normally():
    data = stream_bytes("stream_text.sse").replace(b"data: [DONE]\n\n", b"")
    assert decode_stream(data) == EXPECTED["stream_text.sse"]


def test_done_without_finish_reason_ends_normally():
    data = (
        b'data: {"id":"c1","model":"m","choices":[{"index":0,"delta":{"content":"hi"}}]}\n\ndata: [DONE]\n\n'
    )
    assert decode_stream(data) == [MessageStart("c1", "m"), TextDelta("hi"), Finish("stop")]


def test_empty_stream_is_truncated():
    assert decode_stream(b"") == [StreamError(TRUNCATED, "upstream_stream_truncated")]


def test_fragments_before_the_name_wait_for_it():
    chunks = [
        {
            "id": "c",
            "model": "m",
            "choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "id": "call_x"}]}}],
        },
        {
            "choices": [
                {"index": 0, "delta": {"tool_calls": [{"index": 0, "function": {"arguments": '{"a"'}}]}}
            ]
        },
        {
            "choices": [
                {
                    "index": 0,
                    "delta": {"tool_calls": [{"index": 0, "function": {"name": "f", "arguments": ":1}"}}]},
                }
            ]
        },
        {"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]},
    ]
    data = b"".join(b"data: " + json.dumps(c).encode() + b"\n\n" for c in chunks) + b"data: [DONE]\n\n"
    assert decode_stream(data) == [
        MessageStart("c", "m"),
        ToolCallStart(0, "call_x", "f"),
        ToolCallDelta(0, '{"a"'),
        ToolCallDelta(0, ":1}"),
        Finish("tool_calls"),
    ]


def test_repeated_index_with_new_id_is_a_new_call():
    # Some compatible servers number every parallel call 0.
    def call(call_id, name, args):
        return {
            "choices": [
                {
                    "index": 0,
                    "delta": {
                        "tool_calls": [
                            {
                                "index": 0,
                                "id": call_id,
                                "type": "function",
                                "function": {"name": name, "arguments": args},
                            }
                        ]
                    },
                }
            ]
        }

    chunks = [
        {"id": "c", "model": "m", "choices": []},
        call("a", "f", "{}"),
        call("b", "g", "{}"),
        {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
    ]
    data = b"".join(b"data: " + json.dumps(c).encode() + b"\n\n" for c in chunks) + b"data: [DONE]\n\n"
    assert decode_stream(data) == [
        MessageStart("c", "m"),
        ToolCallStart(0, "a", "f"),
        ToolCallDelta(0, "{}"),
        ToolCallStart(1, "b", "g"),
        ToolCallDelta(1, "{}"),
        Finish("tool_calls"),
    ]


def test_openrouter_reasoning_field_and_nothing_after_done():
    data = (
        b'data: {"id":"gen-1","model":"x","choices":[{"index":0,"delta":{"reasoning":"hmm"}}]}\n\n'
        b'data: {"choices":[{"index":0,"delta":{"content":"ok"},"finish_reason":"stop"}]}\n\n'
        b"data: [DONE]\n\n"
        b'data: {"choices":[{"index":0,"delta":{"content":"late"}}]}\n\n'
    )
    assert decode_stream(data) == [
        MessageStart("gen-1", "x"),
        ReasoningDelta("hmm"),
        TextDelta("ok"),
        Finish("stop"),
    ]


def test_malformed_chunk_is_an_error():
    data = b'data: {"id":"c","model":"m","choices":[]}\n\ndata: {not json\n\n'
    events = decode_stream(data)
    assert events[0] == MessageStart("c", "m") and isinstance(events[-1], StreamError) and len(events) == 2
