"""The OpenAI Chat Completions stream relay."""

from __future__ import annotations

import random

import orjson

from omniroute.dialects.openai_chat.stream import OpenAIStreamRelay
from omniroute.transport.sse import SSESplitter, event_data

USAGE = {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15}


def chunk(delta: dict | None = None, finish: str | None = None, **extra) -> dict:
    body = {
        "id": "chatcmpl-abc",
        "object": "chat.completion.chunk",
        "created": 1700000000,
        "model": "gpt-4o-mini",
        "choices": [{"index": 0, "delta": delta or {}, "finish_reason": finish}],
    }
    body.update(extra)
    return body


def sse(obj) -> bytes:
    return b"data: " + orjson.dumps(obj)


def usage_only() -> dict:
    return {
        "id": "chatcmpl-abc",
        "object": "chat.completion.chunk",
        "created": 1700000000,
        "model": "gpt-4o-mini",
        "choices": [],
        "usage": USAGE,
    }


CONTENT_EVENTS = [
    sse(chunk({"role": "assistant", "content": ""})),
    sse(chunk({"content": "Hello"})),
    sse(chunk({"content": " world"})),
    sse(chunk({}, finish="stop")),
]
USAGE_EVENT = sse(usage_only())
DONE = b"data: [DONE]"


def stream(events: list[bytes]) -> bytes:
    return b"".join(e + b"\n\n" for e in events)


def relay_all(relay: OpenAIStreamRelay, data: bytes, sizes=None) -> bytes:
    out = b""
    if sizes is None:
        out += relay.feed(data)
    else:
        pos = 0
        for size in sizes:
            out += relay.feed(data[pos:pos + size])
            pos += size
    return out + relay.finish()


def events_of(out: bytes) -> list[bytes]:
    splitter = SSESplitter()
    return splitter.feed(out) + splitter.flush()


def test_forwards_events_unchanged():
    upstream = stream([*CONTENT_EVENTS, DONE])
    relay = OpenAIStreamRelay(client_wants_usage=False)
    assert relay_all(relay, upstream) == upstream
    assert relay.done is True
    assert relay.finished is True


def test_forwards_unchanged_in_random_chunks():
    upstream = stream([b": OPENROUTER PROCESSING", *CONTENT_EVENTS, USAGE_EVENT, DONE])
    rnd = random.Random(1234)
    sizes = [rnd.randint(1, 17) for _ in range(len(upstream))]
    relay = OpenAIStreamRelay(client_wants_usage=True)
    assert relay_all(relay, upstream, sizes) == upstream
    assert relay.usage == USAGE
    assert relay.done is True


def test_output_for_partial_event_is_held_back():
    relay = OpenAIStreamRelay(client_wants_usage=False)
    first = CONTENT_EVENTS[1]
    assert relay.feed(first[:10]) == b""
    assert relay.feed(first[10:] + b"\n\n") == first + b"\n\n"


def test_done_only_after_done_marker():
    relay = OpenAIStreamRelay(client_wants_usage=False)
    relay.feed(stream(CONTENT_EVENTS))
    assert relay.done is False
    relay.feed(b"data: [DO")
    assert relay.done is False
    assert relay.feed(b"NE]\n\n") == b"data: [DONE]\n\n"
    assert relay.done is True


def test_done_seen_in_unterminated_last_event():
    relay = OpenAIStreamRelay(client_wants_usage=False)
    assert relay.feed(stream(CONTENT_EVENTS) + b"data: [DONE]") == stream(CONTENT_EVENTS)
    assert relay.done is False
    assert relay.finish() == b"data: [DONE]\n\n"
    assert relay.done is True


def test_not_finished_without_finish_reason():
    relay = OpenAIStreamRelay(client_wants_usage=False)
    relay.feed(stream(CONTENT_EVENTS[:3]))
    assert relay.finished is False
    relay.feed(b'data: {"choices":[{"index":0,"delta":{},"finish_reason": "length"}]}\n\n')
    assert relay.finished is True


def test_captures_usage_and_drops_usage_only_chunk_when_client_did_not_ask():
    upstream = stream([*CONTENT_EVENTS, USAGE_EVENT, DONE])
    relay = OpenAIStreamRelay(client_wants_usage=False)
    out = relay_all(relay, upstream)
    assert out == stream([*CONTENT_EVENTS, DONE])
    assert relay.usage == USAGE
    assert relay.done is True


def test_keeps_usage_only_chunk_when_client_asked():
    upstream = stream([*CONTENT_EVENTS, USAGE_EVENT, DONE])
    relay = OpenAIStreamRelay(client_wants_usage=True)
    out = relay_all(relay, upstream)
    assert out == upstream
    assert relay.usage == USAGE
    payloads = [event_data(e) for e in events_of(out)]
    assert orjson.loads(payloads[-2])["usage"] == USAGE


def test_usage_on_a_chunk_with_choices_is_kept():
    with_choices = sse(chunk({}, finish="stop", usage=USAGE))
    upstream = stream([*CONTENT_EVENTS[:3], with_choices, DONE])
    relay = OpenAIStreamRelay(client_wants_usage=False)
    assert relay_all(relay, upstream) == upstream
    assert relay.usage == USAGE
    assert relay.finished is True


def test_null_usage_fields_are_kept_and_not_captured():
    events = [sse(chunk({"content": "x"}, usage=None)), sse({**usage_only(), "usage": None}), DONE]
    relay = OpenAIStreamRelay(client_wants_usage=False)
    assert relay_all(relay, stream(events)) == stream(events)
    assert relay.usage == {}


def test_word_usage_inside_content_is_not_mistaken_for_usage():
    event = sse(chunk({"content": 'the "usage" field'}))
    relay = OpenAIStreamRelay(client_wants_usage=False)
    assert relay_all(relay, stream([event])) == stream([event])
    assert relay.usage == {}


def test_comments_pass_through():
    relay = OpenAIStreamRelay(client_wants_usage=False)
    assert relay.feed(b": keep-alive\n\n") == b": keep-alive\n\n"


def test_no_output_for_empty_input():
    relay = OpenAIStreamRelay(client_wants_usage=False)
    assert relay.feed(b"") == b""
    assert relay.finish() == b""


def test_error_event_is_parseable_sse():
    raw = OpenAIStreamRelay.error_event('upstream "broke"\nmid-stream', "upstream_reset")
    assert raw.endswith(b"\n\n")
    events = events_of(raw)
    assert len(events) == 1
    body = orjson.loads(event_data(events[0]))
    assert body == {
        "error": {"message": 'upstream "broke"\nmid-stream', "type": "upstream_error", "code": "upstream_reset"}
    }
