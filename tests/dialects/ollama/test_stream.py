"""Ollama NDJSON streams: decoding under any chunking, and encoding into lines the SDK accepts."""

from __future__ import annotations

import json
from pathlib import Path

import orjson
import pytest
from ollama import ChatResponse as SDKChatResponse

from omniroute.dialects.ollama import CODEC
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

FIXTURES = Path(__file__).parents[2] / "fixtures" / "ollama"
STREAMS = ["stream_text.ndjson", "stream_thinking.ndjson", "stream_tool_calls.ndjson", "stream_error.ndjson"]


def raw(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def normalized(events: list) -> list:
    """Events with generated ids replaced by stable ones, so runs can be compared."""
    out = []
    for event in events:
        if isinstance(event, MessageStart):
            assert event.id
            event = MessageStart("id", event.model)
        elif isinstance(event, ToolCallStart):
            assert event.id.startswith("call_")
            event = ToolCallStart(event.index, f"call{event.index}", event.name)
        out.append(event)
    return out


def decode(chunks) -> list:
    decoder = CODEC.stream_decoder()
    events = []
    for chunk in chunks:
        events.extend(decoder.feed(chunk))
    return normalized(events + decoder.finish())


def split_every(data: bytes, size: int) -> list[bytes]:
    return [data[i:i + size] for i in range(0, len(data), size)]


def test_decode_text_stream():
    assert decode([raw("stream_text.ndjson")]) == [
        MessageStart("id", "llama3.2:3b"),
        TextDelta("Hello"),
        TextDelta(", wörld! 👋"),
        UsageUpdate(Usage(input=26, output=3)),
        Finish("stop"),
    ]


def test_decode_thinking_stream():
    assert decode([raw("stream_thinking.ndjson")]) == [
        MessageStart("id", "llama3.2:3b"),
        ReasoningDelta(text="Let me "),
        ReasoningDelta(text="think."),
        TextDelta("17"),
        UsageUpdate(Usage(input=26, output=3)),
        Finish("length"),
    ]


def test_decode_tool_call_stream():
    assert decode([raw("stream_tool_calls.ndjson")]) == [
        MessageStart("id", "llama3.2:3b"),
        TextDelta("Checking."),
        ToolCallStart(0, "call0", "get_weather"),
        ToolCallDelta(0, '{"city":"Paris"}'),
        ToolCallStart(1, "call1", "get_time"),
        ToolCallDelta(1, '{"zone":"Asia/Tokyo"}'),
        UsageUpdate(Usage(input=26, output=3)),
        Finish("tool_calls"),
    ]


def test_decode_error_line():
    assert decode([raw("stream_error.ndjson")]) == [
        MessageStart("id", "llama3.2:3b"),
        TextDelta("Hel"),
        StreamError("model runner has unexpectedly stopped"),
    ]


def test_truncated_stream():
    data = raw("stream_text.ndjson")
    events = decode([data[:data.rindex(b"{")]])
    assert events[-1] == StreamError("upstream stream ended before its final event", "upstream_stream_truncated")
    assert not any(isinstance(e, Finish) for e in events)


def test_unterminated_last_line_and_crlf():
    data = raw("stream_text.ndjson").replace(b"\n", b"\r\n").rstrip()
    assert decode([data]) == decode([raw("stream_text.ndjson")])


def test_lines_after_done_are_ignored():
    data = raw("stream_text.ndjson") + b'{"message":{"content":"late"},"done":false}\nnot json\n'
    assert decode([data]) == decode([raw("stream_text.ndjson")])


@pytest.mark.parametrize("name", STREAMS)
@pytest.mark.parametrize("size", [1, 2, 3, 7, None])
def test_decoding_is_split_invariant(name, size):
    data = raw(name)
    chunks = [data] if size is None else split_every(data, size)
    assert decode(chunks) == decode([data])


def encode(events, model: str = "llama3.2:3b") -> bytes:
    encoder = CODEC.stream_encoder(model)
    return b"".join(encoder.feed(e) for e in events)


def parse(data: bytes) -> list[SDKChatResponse]:
    assert data.endswith(b"\n")
    return [SDKChatResponse.model_validate(orjson.loads(line)) for line in data.split(b"\n")[:-1]]


def test_encode_text_and_thinking():
    lines = parse(encode([MessageStart("x", "up"), ReasoningDelta(text="hm"), ReasoningDelta(signature="sig"),
                          TextDelta("Hel"), TextDelta(""), TextDelta("lo"),
                          UsageUpdate(Usage(input=9, output=4, cache_read=1)), Finish("length")]))
    assert "".join(line.message.content or "" for line in lines) == "Hello"
    assert "".join(line.message.thinking or "" for line in lines) == "hm"
    assert [line.done for line in lines] == [False, False, False, True]
    final = lines[-1]
    assert (final.done_reason, final.prompt_eval_count, final.eval_count) == ("length", 10, 4)
    assert all(line.model == "llama3.2:3b" and line.created_at for line in lines)


def test_encode_buffers_tool_calls_until_complete():
    encoder = CODEC.stream_encoder("m")
    assert encoder.feed(ToolCallStart(0, "c0", "get_weather")) == b""
    assert encoder.feed(ToolCallDelta(0, '{"city": ')) == b""
    assert encoder.feed(ToolCallDelta(0, '"Paris"}')) == b""
    first = encoder.feed(ToolCallStart(1, "c1", "get_time"))  # call 0 is complete: written now
    assert [c.function.name for c in parse(first)[0].message.tool_calls] == ["get_weather"]
    assert encoder.feed(ToolCallDelta(1, '{"zone": "UTC"}')) == b""
    rest = parse(encoder.feed(Finish("tool_calls")))
    assert rest[0].message.tool_calls[0].function.arguments == {"zone": "UTC"}
    assert rest[-1].done and rest[-1].done_reason == "stop"


def test_encode_interleaved_tool_calls():
    events = [ToolCallStart(0, "a", "f"), ToolCallStart(1, "b", "g"), ToolCallDelta(0, '{"x":'),
              ToolCallDelta(1, '{"y":2}'), ToolCallDelta(0, "1}"), ToolCallStart(2, "c", "h"), Finish("tool_calls")]
    calls = [c.function for line in parse(encode(events)) for c in line.message.tool_calls or []]
    assert [(c.name, dict(c.arguments)) for c in calls] == [("f", {"x": 1}), ("g", {"y": 2}), ("h", {})]


def test_encode_error_ends_stream():
    data = encode([TextDelta("a"), StreamError("boom", "upstream_error"), TextDelta("b"), Finish("stop")])
    lines = data.split(b"\n")[:-1]
    assert orjson.loads(lines[-1]) == {"error": "boom"}
    assert len(lines) == 2


@pytest.mark.parametrize("name", STREAMS[:3])
def test_stream_round_trip(name):
    """Decoding a fixture and encoding it again gives the same content, tool calls and ending."""
    events = decode([raw(name)])
    lines = parse(encode(events))
    original = [json.loads(line) for line in raw(name).decode().splitlines()]
    for key in ("content", "thinking"):
        assert "".join(getattr(line.message, key) or "" for line in lines) == \
            "".join(o["message"].get(key) or "" for o in original)
    calls = [c["function"] for o in original for c in o["message"].get("tool_calls") or []]
    assert [dict(c.function) for line in lines for c in line.message.tool_calls or []] == calls
    assert (lines[-1].done_reason, lines[-1].eval_count) == (original[-1]["done_reason"], original[-1]["eval_count"])
    assert decode(split_every(encode(events), 5)) == events
