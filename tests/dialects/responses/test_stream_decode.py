"""Responses SSE decoding: canonical events under any chunking, and every way a stream can end."""

from __future__ import annotations

import orjson
import pytest

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
from tests.dialects.responses.support import STREAMS, decode, raw, split_every, validate_stream


@pytest.mark.parametrize("name", STREAMS)
def test_fixtures_are_what_the_sdk_accepts(name):
    validate_stream(raw(name))


def test_decode_text_stream():
    assert decode([raw("stream_text.sse")]) == [
        MessageStart("resp_67c9fdcecf488190bdd9a0409de3a1ec07b8b0ad4e5eb654", "gpt-4.1-2025-04-14"),
        TextDelta("Hello"),
        TextDelta(", wörld!"),
        TextDelta(" 👋"),
        UsageUpdate(Usage(input=25, output=11, cache_read=12)),
        Finish("stop"),
    ]


def test_decode_parallel_tool_calls():
    events = decode([raw("stream_tool_call.sse")])
    starts = [e for e in events if isinstance(e, ToolCallStart)]
    assert starts == [ToolCallStart(0, "call_Ab3dEf6hIj9kLm2nOp5qRs8t", "get_weather"),
                      ToolCallStart(1, "call_Uv1wXy4zAb7cDe0fGh3iJk6l", "get_weather")]
    args = {i: "".join(e.arguments for e in events if isinstance(e, ToolCallDelta) and e.index == i) for i in (0, 1)}
    assert orjson.loads(args[0]) == {"city": "San Francisco, CA", "unit": "fahrenheit"}
    assert orjson.loads(args[1]) == {"city": "Tōkyō", "unit": "celsius"}
    assert events[-2:] == [UsageUpdate(Usage(input=472, output=89)), Finish("tool_calls")]


def test_decode_reasoning_then_text():
    events = decode([raw("stream_reasoning.sse")])
    reasoning = "".join(e.text for e in events if isinstance(e, ReasoningDelta))
    assert reasoning == "**Checking 97**\n\nIt is odd and not divisible by 3.\n\n**Concluding**\n\nNo divisor up to 9."
    redacted = [e.redacted for e in events if isinstance(e, ReasoningDelta) and e.redacted]
    assert redacted == ["gAAAAABo0bLF9x8Wq2Er4Ty6Ui8Op0As2Df4Gh6Jk8Lz0Xc2Vb4Nm6Qw8Er0Ty2"]
    kinds = [type(e).__name__ for e in events]
    assert kinds.index("TextDelta") > max(i for i, k in enumerate(kinds) if k == "ReasoningDelta")
    assert events[-2:] == [UsageUpdate(Usage(input=58, output=120, reasoning=96)), Finish("stop")]


def test_error_event_ends_the_stream():
    events = decode([raw("stream_error.sse")])
    assert events[-2:] == [TextDelta("Partial ans"), StreamError(
        "The server had an error while processing your request. Sorry about that!", "server_error")]
    assert sum(isinstance(e, StreamError) for e in events) == 1


def sse(obj: dict) -> bytes:
    return b"event: " + obj["type"].encode() + b"\ndata: " + orjson.dumps(obj) + b"\n\n"


CREATED = sse({"type": "response.created", "sequence_number": 0,
               "response": {"id": "resp_1", "model": "gpt-x", "status": "in_progress", "output": []}})


def test_response_failed_becomes_a_stream_error():
    failed = sse({"type": "response.failed", "sequence_number": 1, "response": {
        "id": "resp_1", "status": "failed", "error": {"code": "rate_limit_exceeded", "message": "Slow down"}}})
    events = decode([CREATED + failed + sse({"type": "response.completed", "response": {}})])
    assert events == [MessageStart("resp_1", "gpt-x"), StreamError("Slow down", "rate_limit_exceeded")]
    bare = decode([CREATED + sse({"type": "response.failed", "response": {}})])
    assert bare[-1] == StreamError("upstream error", "upstream_error")


def test_truncated_stream_reports_an_error():
    data = raw("stream_text.sse")
    events = decode([data[: data.index(b"event: response.completed")]])
    assert events[-1] == StreamError("upstream stream ended before its final event", "upstream_stream_truncated")
    assert not any(isinstance(e, Finish) for e in events)


@pytest.mark.parametrize("reason, expected", [("max_output_tokens", "length"), ("content_filter", "content_filter")])
def test_incomplete_response(reason, expected):
    done = sse({"type": "response.incomplete", "response": {
        "status": "incomplete", "incomplete_details": {"reason": reason},
        "usage": {"input_tokens": 9, "input_tokens_details": {"cached_tokens": 0}, "output_tokens": 16,
                  "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": 25}}})
    assert decode([CREATED + done])[-2:] == [UsageUpdate(Usage(input=9, output=16)), Finish(expected)]


def test_servers_that_skip_deltas_are_read_from_the_done_events():
    """Some Responses servers send whole items only; nothing is lost and nothing doubled."""
    data = CREATED + b"".join(sse(e) for e in [
        {"type": "response.output_item.added", "output_index": 0,
         "item": {"type": "function_call", "id": "fc_1", "call_id": "c1", "name": "f", "arguments": ""}},
        {"type": "response.function_call_arguments.delta", "output_index": 0, "item_id": "fc_1", "delta": '{"a"'},
        {"type": "response.function_call_arguments.done", "output_index": 0, "item_id": "fc_1",
         "arguments": '{"a": 1}'},
        {"type": "response.output_item.done", "output_index": 0,
         "item": {"type": "function_call", "id": "fc_1", "call_id": "c1", "name": "f", "arguments": '{"a": 1}'}},
        {"type": "response.output_item.done", "output_index": 1,
         "item": {"type": "function_call", "id": "fc_2", "call_id": "c2", "name": "g", "arguments": "{}"}},
        {"type": "response.output_item.done", "output_index": 2,
         "item": {"type": "reasoning", "id": "rs_1", "summary": [{"type": "summary_text", "text": "why"}]}},
        {"type": "response.output_item.done", "output_index": 3,
         "item": {"type": "message", "id": "m", "content": [{"type": "output_text", "text": "whole"}]}},
        {"type": "response.reasoning_text.delta", "output_index": 4, "delta": "raw"},
        {"type": "response.refusal.delta", "output_index": 5, "delta": "no"},
        {"type": "response.completed", "response": {"status": "completed"}},
    ])
    assert decode([data])[1:] == [
        ToolCallStart(0, "c1", "f"), ToolCallDelta(0, '{"a"'), ToolCallDelta(0, ": 1}"),
        ToolCallStart(1, "c2", "g"), ToolCallDelta(1, "{}"),
        ReasoningDelta(text="why"), TextDelta("whole"), ReasoningDelta(text="raw"), TextDelta("no"),
        Finish("tool_calls"),
    ]


def test_noise_is_ignored_and_start_is_synthesized():
    data = (b": keep-alive\n\n" + b"data: not json\n\n" + b"data: [DONE]\n\n" + b"data: [1, 2]\n\n"
            + sse({"type": "response.output_text.delta", "output_index": 0, "delta": "hi"})
            + sse({"type": "response.output_text.delta", "output_index": 0, "delta": 5})
            + sse({"type": "response.function_call_arguments.delta", "output_index": 9, "delta": "x"})
            + sse({"type": "response.completed", "response": "junk"})
            + sse({"type": "response.output_text.delta", "output_index": 0, "delta": "late"}))
    assert decode([data]) == [MessageStart("", ""), TextDelta("hi"), Finish("stop")]


@pytest.mark.parametrize("name", STREAMS)
@pytest.mark.parametrize("size", [1, 2, 3, 7, None])
def test_decoding_is_independent_of_chunking(name, size):
    data = raw(name)
    whole = decode([data])
    assert decode(split_every(data, size) if size else [data]) == whole
    crlf = data.replace(b"\n", b"\r\n")
    assert decode(split_every(crlf, size) if size else [crlf]) == whole
