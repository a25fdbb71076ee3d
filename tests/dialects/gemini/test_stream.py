"""Gemini SSE streams: decoding under any chunking, and encoding into SDK-valid chunks."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from google.genai import types

from omniroute.dialects.gemini import CODEC
from omniroute.dialects.gemini.response import call_id_for
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
from omniroute.transport.sse import SSESplitter, event_data

FIXTURES = Path(__file__).parents[2] / "fixtures" / "gemini"
STREAMS = ["stream_text.sse", "stream_tool_call.sse", "stream_error.sse", "stream_safety.sse"]
TRUNCATED = StreamError("upstream stream ended before its final event", "upstream_stream_truncated")


def raw(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def decode(chunks) -> list:
    decoder = CODEC.stream_decoder()
    events = []
    for chunk in chunks:
        events.extend(decoder.feed(chunk))
    return events + decoder.finish()


def encode(events, model: str) -> bytes:
    encoder = CODEC.stream_encoder(model)
    return b"".join(encoder.feed(e) for e in events)


def split_every(data: bytes, size: int) -> list[bytes]:
    return [data[i:i + size] for i in range(0, len(data), size)]


def test_decode_text_stream():
    assert decode([raw("stream_text.sse")]) == [
        MessageStart("resp-s1", "gemini-2.5-flash"),
        TextDelta("Hel"),
        UsageUpdate(Usage(input=9, output=1)),
        TextDelta("lo, wörld! 👋"),
        UsageUpdate(Usage(input=9, output=5)),
        UsageUpdate(Usage(input=5, output=6, cache_read=4)),
        Finish("stop"),
    ]


def test_decode_tool_call_stream():
    assert decode([raw("stream_tool_call.sse")]) == [
        MessageStart("resp-s2", "gemini-2.5-pro"),
        ReasoningDelta(text="The user wants weather."),
        UsageUpdate(Usage(input=30, output=12, reasoning=12)),
        ReasoningDelta(signature="c2lnMQ==", standalone=True),  # it sits on the functionCall part
        ToolCallStart(0, call_id_for("resp-s2", 0), "get_weather"),
        ToolCallDelta(0, '{"city":"Paris"}'),
        ToolCallStart(1, call_id_for("resp-s2", 1), "get_time"),
        ToolCallDelta(1, '{"tz":"CET"}'),
        UsageUpdate(Usage(input=30, output=32, reasoning=12)),
        Finish("tool_calls"),
    ]


def test_decode_error_and_safety_streams():
    assert decode([raw("stream_error.sse")]) == [
        MessageStart("resp-s3", "gemini-2.5-flash"),
        TextDelta("Partial"),
        StreamError("The model is overloaded. Please try again later.", "UNAVAILABLE"),
    ]
    assert decode([raw("stream_safety.sse")])[-1] == Finish("content_filter")


def test_truncated_stream():
    data = raw("stream_text.sse")
    cut = data[: data.rindex(b"data:")]
    assert decode([cut])[-1] == TRUNCATED
    assert decode([b""]) == [TRUNCATED]


def test_usage_after_finish_reason_comes_before_finish():
    data = raw("stream_text.sse") + b'data: {"usageMetadata": {"promptTokenCount": 9, "candidatesTokenCount": 7}}\n\n'
    events = decode([data])
    assert events[-2:] == [UsageUpdate(Usage(input=9, output=7)), Finish("stop")]


@pytest.mark.parametrize("name", STREAMS)
@pytest.mark.parametrize("size", [1, 2, 3, 7])
def test_decode_any_chunk_size(name, size):
    assert decode(split_every(raw(name), size)) == decode([raw(name)])


def _chunks(data: bytes) -> list[dict]:
    splitter = SSESplitter()
    return [orjson.loads(event_data(e)) for e in splitter.feed(data) + splitter.flush()]


@pytest.mark.parametrize("name", ["stream_text.sse", "stream_tool_call.sse", "stream_safety.sse"])
def test_encoder_round_trip(name):
    events = decode([raw(name)])
    model = events[0].model
    data = encode(events, model)
    assert data.endswith(b"\n\n") and b"\r" not in data
    chunks = _chunks(data)
    for chunk in chunks:
        types.GenerateContentResponse.model_validate_json(orjson.dumps(chunk))
        assert chunk["modelVersion"] == model and chunk["responseId"] == events[0].id
    again = decode([data])
    usage = [e for e in events if isinstance(e, UsageUpdate)][-1]
    expected = [e for e in events if not isinstance(e, UsageUpdate)]
    expected.insert(-1, usage)
    assert again == expected


def test_encoder_error():
    data = encode([MessageStart("r", "m"), TextDelta("a"), StreamError("broke", "x"), TextDelta("late")], "m")
    chunks = _chunks(data)
    assert chunks[-1] == {"error": {"code": 500, "message": "broke", "status": "INTERNAL"}}
    assert decode([data])[-1] == StreamError("broke", "INTERNAL")


def test_encoder_buffers_interleaved_tool_fragments():
    events = [
        MessageStart("r9", "m"),
        ReasoningDelta(text="think"), ReasoningDelta(signature="c2ln"), ReasoningDelta(redacted="opaque"),
        ToolCallStart(0, "call_a", "f"), ToolCallDelta(0, '{"x":'),
        ToolCallStart(1, "call_b", "g"), ToolCallDelta(0, "1}"), ToolCallDelta(1, '{"y":2}'),
        ToolCallStart(2, "call_c", "h"), ToolCallDelta(2, "{}"),
        UsageUpdate(Usage(input=3, output=4)), Finish("tool_calls"),
    ]
    chunks = _chunks(encode(events, "m"))
    parts = [c["candidates"][0]["content"]["parts"] for c in chunks]
    assert parts == [
        [{"text": "think", "thought": True}],
        [{"text": "", "thought": True, "thoughtSignature": "c2ln"}],
        # At the third start, both earlier calls already parse, so they are written.
        [{"functionCall": {"name": "f", "args": {"x": 1}, "id": "call_a"}},
         {"functionCall": {"name": "g", "args": {"y": 2}, "id": "call_b"}}],
        [{"functionCall": {"name": "h", "args": {}, "id": "call_c"}}],
    ]
    assert chunks[-1]["candidates"][0]["finishReason"] == "STOP"
    assert chunks[-1]["usageMetadata"] == {"promptTokenCount": 3, "candidatesTokenCount": 4, "totalTokenCount": 7}
    for chunk in chunks:
        types.GenerateContentResponse.model_validate_json(orjson.dumps(chunk))
    assert decode([encode(events, "m")])[-1] == Finish("tool_calls")


def test_encoder_text_flushes_calls_and_ignores_events_after_finish():
    events = [ToolCallStart(0, "c", "f"), ToolCallDelta(0, '{"a"'), TextDelta("hi"), Finish("stop"), TextDelta("x")]
    chunks = _chunks(encode(events, "m"))
    assert [c["candidates"][0]["content"]["parts"] for c in chunks] == [
        [{"functionCall": {"name": "f", "args": {}, "id": "c"}}], [{"text": "hi"}], [{"text": ""}]]
