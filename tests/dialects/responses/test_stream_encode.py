"""Responses SSE encoding: the event order of the real API, checked by the official SDK's own models."""

from __future__ import annotations

import random

import orjson
import pytest

from omniroute.dialects.responses import CODEC, stream_error_event
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
from tests.dialects.responses.support import decode, encode, parse, raw, sdk_accumulate, validate_stream

_ITEM_EVENTS = {
    "message": {"response.content_part.added", "response.output_text.delta", "response.output_text.done",
                "response.content_part.done"},
    "reasoning": {"response.reasoning_summary_part.added", "response.reasoning_summary_text.delta",
                  "response.reasoning_summary_text.done", "response.reasoning_summary_part.done"},
    "function_call": {"response.function_call_arguments.delta", "response.function_call_arguments.done"},
}


def check_well_formed(events: list[dict]) -> dict[int, dict]:
    """Lifecycle first and last; each item added before its events and done once; indexes and ids agree."""
    assert [e["type"] for e in events[:2]] == ["response.created", "response.in_progress"]
    assert events[-1]["type"] in ("response.completed", "response.incomplete")
    response_id = events[0]["response"]["id"]
    assert response_id.startswith("resp_") and events[-1]["response"]["id"] == response_id
    items: dict[int, dict] = {}
    done: dict[int, dict] = {}
    for event in events[2:-1]:
        kind = event["type"]
        if kind == "response.output_item.added":
            assert event["output_index"] == len(items)
            items[event["output_index"]] = event["item"]
            continue
        index = event["output_index"]
        assert index in items and index not in done
        if kind == "response.output_item.done":
            assert event["item"]["id"] == items[index]["id"]
            done[index] = event["item"]
        else:
            assert kind in _ITEM_EVENTS[items[index]["type"]]
            assert event["item_id"] == items[index]["id"]
            if "content_index" in event:
                assert event["content_index"] == 0
    assert sorted(done) == list(range(len(items)))
    assert events[-1]["response"]["output"] == [done[i] for i in range(len(done))]
    return done


@pytest.mark.parametrize("name", ["stream_text.sse", "stream_tool_call.sse", "stream_reasoning.sse"])
def test_decode_encode_decode_is_stable(name):
    events = decode([raw(name)])
    produced = encode(events, model="gpt-4.1")
    validate_stream(produced)
    check_well_formed(parse(produced))
    again = decode([produced])
    assert again[1:] == events[1:]
    assert again[0].id == events[0].id  # the upstream's resp_ id is kept


def test_text_stream_in_the_real_order():
    produced = encode([MessageStart("resp_abc", "x"), UsageUpdate(Usage(input=3)), TextDelta("Hel"),
                       TextDelta(""), TextDelta("lo"), UsageUpdate(Usage(input=3, output=2, cache_read=1)),
                       Finish("stop")])
    events = parse(produced)
    assert [e["type"] for e in events] == [
        "response.created", "response.in_progress", "response.output_item.added", "response.content_part.added",
        "response.output_text.delta", "response.output_text.delta", "response.output_text.done",
        "response.content_part.done", "response.output_item.done", "response.completed"]
    assert events[0]["response"]["id"] == "resp_abc" and events[0]["response"]["status"] == "in_progress"
    assert events[0]["response"]["usage"] is None and events[0]["response"]["model"] == "gpt-x"
    assert events[6]["text"] == "Hello"
    final = events[-1]["response"]
    assert final["status"] == "completed"
    assert final["usage"] == {"input_tokens": 4, "input_tokens_details": {"cached_tokens": 1, "cache_write_tokens": 0},
                              "output_tokens": 2, "output_tokens_details": {"reasoning_tokens": 0},
                              "total_tokens": 6}
    snapshot, response = sdk_accumulate(produced)
    assert response.output_text == "Hello" and snapshot.output[0].content[0].text == "Hello"


def test_parallel_tool_calls_split_in_many_deltas_reassemble_exactly():
    rng = random.Random(2024)
    arguments = {i: orjson.dumps({"n": i, "s": "ü" * (i + 3), "list": list(range(i))}).decode() for i in range(3)}
    fragments = {}
    for i, text in arguments.items():
        cuts = sorted(rng.sample(range(1, len(text)), 6))
        fragments[i] = [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)], strict=True)]
    events = [MessageStart("resp_t", "m"), TextDelta("calling")]
    events += [ToolCallStart(i, f"call_{i}", f"fn{i}") for i in range(3)]
    pending = {i: list(f) for i, f in fragments.items()}
    while any(pending.values()):  # interleaved across calls, each call's own order kept
        i = rng.choice([k for k, v in pending.items() if v])
        events.append(ToolCallDelta(i, pending[i].pop(0)))
    events += [UsageUpdate(Usage(input=5, output=9)), Finish("tool_calls")]
    produced = encode(events)
    validate_stream(produced)
    done = check_well_formed(parse(produced))
    calls = [done[i] for i in sorted(done) if done[i]["type"] == "function_call"]
    assert [c["call_id"] for c in calls] == ["call_0", "call_1", "call_2"]
    assert [c["arguments"] for c in calls] == [arguments[i] for i in range(3)]
    _, response = sdk_accumulate(produced)
    assert [o.arguments for o in response.output[1:]] == [arguments[i] for i in range(3)]
    assert response.output_text == "calling"
    assert decode([produced])[-1] == Finish("tool_calls")


def test_reasoning_then_text_never_mixes():
    events = [MessageStart("r", "m"), ReasoningDelta(text="a"), ReasoningDelta(signature="sig"),
              ReasoningDelta(text="b"), ReasoningDelta(redacted="enc1"), ReasoningDelta(text="c"),
              TextDelta("answer"), ReasoningDelta(text="late"), ToolCallStart(0, "c1", "f"),
              ToolCallDelta(0, "{}"), Finish("tool_calls")]
    produced = encode(events)
    validate_stream(produced)
    done = check_well_formed(parse(produced))
    assert [(d["type"], d.get("encrypted_content")) for d in done.values()] == [
        ("reasoning", "enc1"), ("reasoning", None), ("message", None), ("reasoning", None), ("function_call", None)]
    assert done[0]["summary"] == [{"type": "summary_text", "text": "ab"}]
    assert done[2]["content"][0]["text"] == "answer"
    assert done[3]["summary"][0]["text"] == "late"
    _, response = sdk_accumulate(produced)
    assert response.output_text == "answer"


def test_encrypted_reasoning_alone_has_no_summary_part():
    events = parse(encode([ReasoningDelta(redacted="enc"), Finish("stop")]))
    assert [e["type"] for e in events[2:]] == ["response.output_item.added", "response.output_item.done",
                                               "response.completed"]
    assert events[3]["item"]["encrypted_content"] == "enc" and events[3]["item"]["summary"] == []


def test_tool_delta_before_its_start_and_a_call_that_never_starts():
    events = [ToolCallDelta(0, '{"a"'), ToolCallStart(0, "call_x", "f"), ToolCallDelta(0, ": 1}"),
              ToolCallStart(0, "dup", "f"), ToolCallDelta(1, "{}"), Finish("stop")]
    produced = encode(events)
    validate_stream(produced)
    done = check_well_formed(parse(produced))
    assert done[0]["call_id"] == "call_x" and done[0]["arguments"] == '{"a": 1}'
    assert done[1]["call_id"].startswith("call_") and done[1]["arguments"] == "{}"


def test_calls_stream_live():
    encoder = CODEC.stream_encoder("m")
    assert b"response.created" in encoder.feed(MessageStart("r", "m"))
    assert b"response.output_item.added" in encoder.feed(ToolCallStart(0, "a", "f"))
    assert b"function_call_arguments.delta" in encoder.feed(ToolCallDelta(0, '{"x":'))
    assert b"response.output_item.added" in encoder.feed(ToolCallStart(1, "b", "g"))
    assert b"function_call_arguments.delta" in encoder.feed(ToolCallDelta(0, "1}"))
    tail = [e["type"] for e in parse(encoder.feed(Finish("tool_calls")))]
    assert tail == ["response.function_call_arguments.done", "response.output_item.done",
                    "response.function_call_arguments.done", "response.output_item.done", "response.completed"]


@pytest.mark.parametrize("stop, terminal, reason", [
    ("length", "response.incomplete", "max_output_tokens"),
    ("content_filter", "response.incomplete", "content_filter"),
    ("stop_sequence", "response.completed", None),
])
def test_incomplete_terminal_event(stop, terminal, reason):
    produced = encode([TextDelta("cut"), Finish(stop)])
    validate_stream(produced)
    last = parse(produced)[-1]
    assert last["type"] == terminal
    assert (last["response"]["incomplete_details"] or {}).get("reason") == reason
    assert last["response"]["output"][0]["status"] == ("incomplete" if reason else "completed")
    if reason:
        assert last["response"]["status"] == "incomplete"
        assert decode([produced])[-1] == Finish("length" if reason == "max_output_tokens" else "content_filter")


def test_error_mid_stream_and_nothing_after():
    encoder = CODEC.stream_encoder("m")
    encoder.feed(MessageStart("r", "m"))
    encoder.feed(TextDelta("partial"))
    error = encoder.feed(StreamError("upstream broke", "upstream_error"))
    [event] = parse(error)
    assert event == {"type": "error", "code": "upstream_error", "message": "upstream broke", "param": None,
                     "sequence_number": 5}
    assert encoder.feed(TextDelta("late")) == b"" and encoder.feed(Finish("stop")) == b""
    validate_stream(stream_error_event("boom", "server_error"))


def test_error_fixture_re_encoded():
    produced = encode(decode([raw("stream_error.sse")]))
    validate_stream(produced)
    events = parse(produced)
    assert events[-1]["type"] == "error" and events[-1]["code"] == "server_error"
    assert events[-2]["type"] == "response.output_text.delta"
    assert b"[DONE]" not in produced


def test_start_synthesized_and_finish_once():
    encoder = CODEC.stream_encoder("gpt-y", array=True)  # options of other dialects are ignored
    first = parse(encoder.feed(Finish("stop")))
    assert [e["type"] for e in first] == ["response.created", "response.in_progress", "response.completed"]
    assert first[-1]["response"]["output"] == [] and first[-1]["response"]["model"] == "gpt-y"
    assert encoder.feed(Finish("stop")) == b""
    assert encoder.feed(MessageStart("later", "m")) == b""


def test_upstream_ids_get_the_resp_prefix():
    events = parse(encode([MessageStart("chatcmpl-123", "m"), Finish("stop")]))
    assert events[0]["response"]["id"] == "resp_chatcmpl-123"
    fresh = parse(encode([MessageStart("", "m"), Finish("stop")]))
    assert fresh[0]["response"]["id"].startswith("resp_") and len(fresh[0]["response"]["id"]) > 20
