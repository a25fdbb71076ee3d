"""SSE framing: whole events regardless of how the bytes arrive."""

from __future__ import annotations

import random

import orjson

from omniroute.transport.sse import SSESplitter, event_data


def chunk_event(i: int, content: str) -> bytes:
    chunk = {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "choices": [{"index": 0, "delta": {"content": content}, "finish_reason": None}],
    }
    return b"data: " + orjson.dumps(chunk)


EVENTS = [
    b": keep-alive comment",
    b"event: message\nid: 1\ndata: " + orjson.dumps({"n": 1}),
    *(chunk_event(i, f"w{i} \u00e9\u6f22 ") for i in range(20)),
    b"data: first line\ndata: second line",
    b"retry: 1000",
    b"data: [DONE]",
]
STREAM = b"".join(e + b"\n\n" for e in EVENTS)


def split_all(stream: bytes, sizes) -> list[bytes]:
    splitter = SSESplitter()
    out: list[bytes] = []
    pos = 0
    for size in sizes:
        out += splitter.feed(stream[pos:pos + size])
        pos += size
    assert pos >= len(stream)
    return out + splitter.flush()


def random_sizes(seed: int, total: int, max_size: int) -> list[int]:
    rnd = random.Random(seed)
    sizes, left = [], total
    while left > 0:
        n = rnd.randint(1, max_size)
        sizes.append(n)
        left -= n
    return sizes


def test_whole_stream_in_one_chunk():
    assert split_all(STREAM, [len(STREAM)]) == EVENTS


def test_byte_by_byte():
    assert split_all(STREAM, [1] * len(STREAM)) == EVENTS


def test_random_chunk_sizes():
    for seed in range(20):
        assert split_all(STREAM, random_sizes(seed, len(STREAM), 40)) == EVENTS, seed


def test_events_returned_as_soon_as_complete():
    splitter = SSESplitter()
    assert splitter.feed(b"data: a\n") == []
    assert splitter.feed(b"\ndata: b") == [b"data: a"]
    assert splitter.feed(b"\n\n") == [b"data: b"]
    assert splitter.flush() == []


def test_crlf_line_endings():
    crlf = STREAM.replace(b"\n", b"\r\n")
    assert split_all(crlf, [len(crlf)]) == EVENTS


def test_crlf_line_endings_in_random_chunks():
    # A chunk may end between the CR and the LF of one line ending.
    crlf = STREAM.replace(b"\n", b"\r\n")
    assert split_all(crlf, [1] * len(crlf)) == EVENTS
    for seed in range(20):
        assert split_all(crlf, random_sizes(seed, len(crlf), 40)) == EVENTS, seed


def test_crlf_split_between_cr_and_lf_inside_an_event():
    splitter = SSESplitter()
    out = splitter.feed(b"id: 7\r")
    out += splitter.feed(b"\ndata: x\r\n\r\n")
    assert out == [b"id: 7\ndata: x"]


def test_bare_cr_line_endings():
    cr = b"data: a\r\rdata: b\r\r"
    assert split_all(cr, [len(cr)]) == [b"data: a", b"data: b"]


def test_flush_returns_unterminated_last_event():
    splitter = SSESplitter()
    assert splitter.feed(b"data: 1\n\ndata: 2") == [b"data: 1"]
    assert splitter.flush() == [b"data: 2"]
    assert splitter.flush() == []


def test_flush_of_event_ended_by_one_newline():
    splitter = SSESplitter()
    assert splitter.feed(b"data: 2\n") == []
    assert splitter.flush() == [b"data: 2"]


def test_comments_pass_through():
    splitter = SSESplitter()
    assert splitter.feed(b": ping\n\n:\n\ndata: x\n\n") == [b": ping", b":", b"data: x"]


def test_splitter_is_reusable_after_flush():
    splitter = SSESplitter()
    splitter.feed(b"data: old")
    splitter.flush()
    assert splitter.feed(b"data: new\n\n") == [b"data: new"]


def test_event_data_single_line():
    assert event_data(b"data: {\"a\":1}") == b'{"a":1}'
    assert event_data(b"data:{\"a\":1}") == b'{"a":1}'
    assert event_data(b"data: [DONE]") == b"[DONE]"
    assert event_data(b"data:") == b""


def test_event_data_joins_multiple_lines():
    assert event_data(b"data: first\ndata:second\ndata: third") == b"first\nsecond\nthird"


def test_event_data_ignores_other_fields():
    assert event_data(b"event: delta\nid: 4\ndata: payload\nretry: 10") == b"payload"


def test_event_data_none_without_data():
    assert event_data(b": comment") is None
    assert event_data(b"event: ping") is None
    assert event_data(b"retry: 1000\nid: 3") is None


def test_event_data_removes_only_one_leading_space():
    # The SSE specification strips exactly one space after the colon.
    assert event_data(b"data:  indented") == b" indented"
    assert event_data(b"id: 1\ndata:   two") == b"  two"
