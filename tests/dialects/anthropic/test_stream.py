"""Anthropic SSE streams: decoding under any chunking, and encoding into well-formed block sequences."""

from __future__ import annotations

import random
from pathlib import Path

import orjson
import pytest
from anthropic.lib.streaming._messages import accumulate_event

from omniroute.dialects.anthropic import CODEC
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

FIXTURES = Path(__file__).parents[2] / "fixtures" / "anthropic"
STREAMS = ["stream_text.sse", "stream_tool_use.sse", "stream_thinking.sse", "stream_error.sse"]


def raw(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def decode(chunks) -> list:
    decoder = CODEC.stream_decoder()
    events = []
    for chunk in chunks:
        events.extend(decoder.feed(chunk))
    return events + decoder.finish()


def split_every(data: bytes, size: int) -> list[bytes]:
    return [data[i:i + size] for i in range(0, len(data), size)]


def test_decode_text_stream():
    assert decode([raw("stream_text.sse")]) == [
        MessageStart("msg_01Str", "claude-sonnet-4-5-20250929"),
        UsageUpdate(Usage(input=25, output=1, cache_read=10)),
        TextDelta("Hello"),
        TextDelta(", wörld! 👋"),
        UsageUpdate(Usage(input=25, output=15, cache_read=10)),
        Finish("stop"),
    ]


def test_decode_tool_stream():
    events = decode([raw("stream_tool_use.sse")])
    assert events[2] == TextDelta("Okay, let's check the weather:")
    assert events[3] == ToolCallStart(0, "toolu_01T1x1fJ34qAmk2tNTrN7Up6", "get_weather")
    args = "".join(e.arguments for e in events if isinstance(e, ToolCallDelta) and e.index == 0)
    assert orjson.loads(args) == {"location": "San Francisco, CA", "unit": "fahrenheit"}
    assert ToolCallStart(1, "toolu_02B", "get_time") in events
    assert events[-1] == Finish("tool_calls")
    assert events[-2] == UsageUpdate(Usage(input=472, output=89))


def test_decode_thinking_stream():
    events = decode([raw("stream_thinking.sse")])
    assert events[2:7] == [
        ReasoningDelta(text="Let me check 97.\n\n"),
        ReasoningDelta(text="No divisor up to 9."),
        ReasoningDelta(signature="EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds"),
        ReasoningDelta(redacted="EmwKAhgBEgy3va3pzix"),
        TextDelta("Yes, 97 is prime."),
    ]
    assert events[-1] == Finish("stop")


def test_decode_error_event_ends_the_stream():
    events = decode([raw("stream_error.sse")])
    assert events[-1] == StreamError("Overloaded", "overloaded_error")
    assert sum(isinstance(e, StreamError) for e in events) == 1


def test_truncated_stream_reports_an_error():
    data = raw("stream_text.sse")
    cut = data[: data.index(b"event: message_delta")]
    events = decode([cut])
    assert events[-1] == StreamError("upstream stream ended before its final event", "upstream_stream_truncated")
    assert not any(isinstance(e, Finish) for e in events)


def test_stop_sequence_and_finish_once():
    data = (b'event: message_start\ndata: {"type":"message_start","message":{"id":"m","model":"x","usage":{}}}\n\n'
            b'event: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":"stop_sequence",'
            b'"stop_sequence":"END"},"usage":{"output_tokens":3}}\n\n'
            b'event: message_stop\ndata: {"type":"message_stop"}\n\n')
    events = decode([data])
    assert [e for e in events if isinstance(e, Finish)] == [Finish("stop_sequence", "END")]


@pytest.mark.parametrize("name", STREAMS)
@pytest.mark.parametrize("size", [1, 2, 3, 7, None])
def test_decoding_is_independent_of_chunking(name, size):
    data = raw(name)
    whole = decode([data])
    assert decode(split_every(data, size) if size else [data]) == whole
    crlf = data.replace(b"\n", b"\r\n")
    assert decode(split_every(crlf, size) if size else [crlf]) == whole


# ---------------------------------------------------------------- encoder


def parse(stream: bytes) -> list[dict]:
    """The data objects of an SSE byte stream, checking each ``event:`` name matches its data type."""
    out = []
    for block in stream.split(b"\n\n"):
        if not block:
            continue
        event, data = block.split(b"\n")
        obj = orjson.loads(data.removeprefix(b"data: "))
        assert event.removeprefix(b"event: ").decode() == obj["type"]
        out.append(obj)
    return out


_DELTA_BLOCK = {"text_delta": "text", "thinking_delta": "thinking", "signature_delta": "thinking",
                "input_json_delta": "tool_use"}


def check_well_formed(events: list[dict]) -> dict[int, dict]:
    """Anthropic's block discipline: one open block at a time, deltas matching their block's type."""
    assert events[0]["type"] == "message_start"
    blocks: dict[int, dict] = {}
    open_index = None
    for event in events[1:]:
        kind = event["type"]
        if kind == "content_block_start":
            assert open_index is None and event["index"] == len(blocks)
            open_index = event["index"]
            blocks[open_index] = dict(event["content_block"], json="")
        elif kind == "content_block_delta":
            assert event["index"] == open_index
            block = blocks[open_index]
            assert _DELTA_BLOCK[event["delta"]["type"]] == block["type"]
            if event["delta"]["type"] == "input_json_delta":
                block["json"] += event["delta"]["partial_json"]
        elif kind == "content_block_stop":
            assert event["index"] == open_index
            open_index = None
        elif kind == "message_delta":
            assert open_index is None
    assert [e["type"] for e in events[-2:]] == ["message_delta", "message_stop"]
    return blocks


def encode(events, model: str = "claude-x") -> bytes:
    encoder = CODEC.stream_encoder(model)
    return b"".join(encoder.feed(e) for e in events)


def sdk_message(stream: bytes):
    snapshot, json_bufs = None, {}
    for event in parse(stream):
        snapshot = accumulate_event(event=event, current_snapshot=snapshot, json_bufs=json_bufs)
    return snapshot


@pytest.mark.parametrize("name", ["stream_text.sse", "stream_tool_use.sse", "stream_thinking.sse"])
def test_decode_encode_decode_is_stable(name):
    events = decode([raw(name)])
    produced = encode(events, model="claude-sonnet-4-5-20250929")
    check_well_formed(parse(produced))
    assert decode([produced]) == events


def test_official_sdk_accumulates_the_produced_stream():
    produced = encode(decode([raw("stream_thinking.sse")]))
    message = sdk_message(produced)
    assert [b.type for b in message.content] == ["thinking", "redacted_thinking", "text"]
    assert message.content[0].thinking == "Let me check 97.\n\nNo divisor up to 9."
    assert message.content[0].signature.startswith("EqQB")
    assert message.content[2].text == "Yes, 97 is prime."
    assert message.stop_reason == "end_turn" and message.usage.output_tokens == 120
    tools = sdk_message(encode(decode([raw("stream_tool_use.sse")])))
    assert tools.content[1].input == {"location": "San Francisco, CA", "unit": "fahrenheit"}
    assert tools.content[2].input == {"tz": "America/Los_Angeles"}


def test_thinking_never_lands_in_a_text_block():
    events = [MessageStart("c1", "m"), ReasoningDelta(text="a"), TextDelta("b"), ReasoningDelta(text="c"),
              ReasoningDelta(signature="sig"), ReasoningDelta(text="d"), TextDelta("e"), TextDelta(""),
              ReasoningDelta(signature="late"), Finish("stop")]
    blocks = check_well_formed(parse(encode(events)))
    assert [b["type"] for b in blocks.values()] == ["thinking", "text", "thinking", "thinking", "text", "thinking"]


def test_interleaved_parallel_tool_calls_keep_their_fragments():
    rng = random.Random(1234)
    fragments = {i: [f'{{"n": {i}, ', f'"s": "{"x" * i}', '"}'] for i in range(3)}
    events = [MessageStart("c1", "m"), TextDelta("calling")]
    events += [ToolCallStart(i, f"call_{i}", f"fn{i}") for i in range(3)]
    # Shuffle across tools while keeping each tool's own fragments in order.
    pending = {i: list(fragments[i]) for i in range(3)}
    queue = []
    while any(pending.values()):
        i = rng.choice([k for k, v in pending.items() if v])
        queue.append((i, pending[i].pop(0)))
    events += [ToolCallDelta(i, f) for i, f in queue]
    events += [UsageUpdate(Usage(input=5, output=9)), Finish("tool_calls")]
    produced = encode(events)
    blocks = check_well_formed(parse(produced))
    tools = [b for b in blocks.values() if b["type"] == "tool_use"]
    assert [t["id"] for t in tools] == ["call_0", "call_1", "call_2"]
    assert [t["json"] for t in tools] == ["".join(fragments[i]) for i in range(3)]
    message = sdk_message(produced)
    assert [b.input for b in message.content[1:]] == [{"n": i, "s": "x" * i} for i in range(3)]
    assert parse(produced)[-2]["delta"]["stop_reason"] == "tool_use"


def test_sequential_tool_calls_stream_live():
    encoder = CODEC.stream_encoder("m")
    encoder.feed(MessageStart("c", "m"))
    assert b"content_block_start" in encoder.feed(ToolCallStart(0, "a", "f"))
    assert b"input_json_delta" in encoder.feed(ToolCallDelta(0, '{"x":'))
    assert encoder.feed(ToolCallStart(1, "b", "g")) == b""  # held until the first call's block may end
    assert b"input_json_delta" in encoder.feed(ToolCallDelta(0, "1}"))
    tail = parse(encoder.feed(Finish("tool_calls")))
    assert [e["type"] for e in tail] == ["content_block_stop", "content_block_start", "content_block_stop",
                                         "message_delta", "message_stop"]


def test_tool_delta_before_its_start_is_kept():
    events = [ToolCallDelta(0, '{"a"'), ToolCallStart(0, "call", "f"), ToolCallDelta(0, ": 1}"), Finish("stop")]
    blocks = check_well_formed(parse(encode(events)))
    assert blocks[0]["json"] == '{"a": 1}' and blocks[0]["id"] == "call"


def test_message_start_synthesized_and_usage_reported():
    produced = parse(encode([UsageUpdate(Usage(input=7, cache_read=3)), TextDelta("hi"),
                             UsageUpdate(Usage(input=7, output=2, cache_read=3)), Finish("length")]))
    start = produced[0]["message"]
    assert start["id"].startswith("msg_") and start["model"] == "claude-x"
    assert start["usage"]["input_tokens"] == 7 and start["usage"]["cache_read_input_tokens"] == 3
    assert produced[-2]["usage"] == {"input_tokens": 7, "output_tokens": 2, "cache_creation_input_tokens": 0,
                                     "cache_read_input_tokens": 3}
    assert produced[-2]["delta"] == {"stop_reason": "max_tokens", "stop_sequence": None}


def test_stream_error_and_nothing_after_the_end():
    encoder = CODEC.stream_encoder("m")
    encoder.feed(MessageStart("c", "m"))
    error = parse(encoder.feed(StreamError("upstream broke", "upstream_error")))
    assert error == [{"type": "error", "error": {"type": "api_error", "message": "upstream broke"}}]
    assert encoder.feed(TextDelta("late")) == b""
    passthrough = CODEC.stream_encoder("m")
    assert parse(passthrough.feed(StreamError("Overloaded", "overloaded_error")))[0]["error"]["type"] == (
        "overloaded_error")
    done = CODEC.stream_encoder("m")
    done.feed(Finish("stop"))
    assert done.feed(Finish("stop")) == b""
