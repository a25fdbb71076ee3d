"""Legacy Completions streams: the encoder's chunks, the decoder, and the openai SDK reading both."""

from __future__ import annotations

import asyncio
from typing import Literal

import openai
import orjson
import pytest
from aiohttp import web
from hypothesis import given, settings
from hypothesis import strategies as st
from openai.types import Completion, CompletionChoice

from omniroute.dialects.completions import CODEC, wants_usage
from omniroute.dialects.openai_chat.stream_decode import TRUNCATED
from omniroute.schema import (
    ChatResponse,
    Finish,
    MessageStart,
    ReasoningDelta,
    StreamError,
    Text,
    TextDelta,
    ToolCallDelta,
    ToolCallStart,
    Usage,
    UsageUpdate,
)


class StreamChoice(CompletionChoice):
    # The API streams "finish_reason": null until the last chunk; the SDK's model (shared with
    # whole answers) only lists the final values, so this is the one field relaxed here.
    finish_reason: Literal["stop", "length", "content_filter"] | None = None


class StreamChunk(Completion):
    choices: list[StreamChoice]


def payloads(data: bytes) -> list:
    """The data of each SSE event, parsed; ``[DONE]`` stays a string."""
    out = []
    for event in data.split(b"\n\n"):
        if not event:
            continue
        assert event.startswith(b"data: ") and b"\n" not in event, event
        raw = event[6:]
        out.append("[DONE]" if raw == b"[DONE]" else orjson.loads(raw))
    assert data.endswith(b"\n\n")
    return out


def encode(events: list, include_usage: bool = False) -> bytes:
    encoder = CODEC.stream_encoder("gpt-x", include_usage=include_usage)
    return b"".join(encoder.feed(e) for e in events)


def chunks(events: list, include_usage: bool = False) -> list[dict]:
    """Encoded chunks, each checked against the SDK's model; ends with ``[DONE]``."""
    out = payloads(encode(events, include_usage))
    assert out[-1] == "[DONE]" and "[DONE]" not in out[:-1]
    for chunk in out[:-1]:
        StreamChunk.model_validate(chunk, strict=True)
    return out[:-1]


ANSWER = [
    MessageStart("chatcmpl-up1", "upstream-model"),
    ReasoningDelta("thinking..."),
    TextDelta("Hel"),
    TextDelta(""),
    TextDelta("lo"),
    ToolCallStart(0, "call_1", "f"),
    ToolCallDelta(0, "{}"),
    UsageUpdate(Usage(input=7, output=2, cache_read=1, reasoning=1)),
    Finish("length"),
]


def test_encoder_writes_text_chunks_and_a_final_one():
    out = chunks(ANSWER)
    assert [c["choices"][0]["text"] for c in out] == ["Hel", "lo", ""]
    assert [c["choices"][0]["finish_reason"] for c in out] == [None, None, "length"]
    assert {c["id"] for c in out} == {"cmpl-up1"}
    assert {c["model"] for c in out} == {"gpt-x"}
    assert {c["object"] for c in out} == {"text_completion"}
    assert len({c["created"] for c in out}) == 1
    assert all(c["choices"][0]["logprobs"] is None and c["choices"][0]["index"] == 0 for c in out)
    assert all("usage" not in c for c in out)
    # The last choice chunk validates against the SDK's unrelaxed model too.
    Completion.model_validate(out[-1], strict=True)


def test_encoder_adds_the_usage_chunk_when_asked():
    out = chunks(ANSWER, include_usage=True)
    usage_chunk = out[-1]
    assert usage_chunk["choices"] == []
    assert usage_chunk["usage"] == {
        "prompt_tokens": 8, "completion_tokens": 2, "total_tokens": 10,
        "prompt_tokens_details": {"cached_tokens": 1}, "completion_tokens_details": {"reasoning_tokens": 1},
    }
    assert out[-2]["choices"][0]["finish_reason"] == "length"
    Completion.model_validate(usage_chunk, strict=True)


def test_include_usage_can_be_set_after_construction():
    encoder = CODEC.stream_encoder("m")
    assert encoder.include_usage is False
    encoder.include_usage = True
    data = encoder.feed(TextDelta("a")) + encoder.feed(Finish("stop"))
    out = payloads(data)
    assert out[-2]["usage"]["total_tokens"] == 0  # no usage seen: zeros, as the chat encoder does


def test_encoder_without_message_start_makes_its_own_id():
    out = chunks([TextDelta("x"), Finish("stop_sequence")])
    assert out[0]["id"].startswith("cmpl-") and out[0]["id"] == out[1]["id"]
    assert out[1]["choices"][0]["finish_reason"] == "stop"


def test_encoder_error_ends_the_stream():
    encoder = CODEC.stream_encoder("m", include_usage=True)
    data = encoder.feed(TextDelta("partial"))
    error = encoder.feed(StreamError("upstream went away", "upstream_stream_truncated"))
    assert payloads(error) == [{"error": {"message": "upstream went away", "type": "upstream_error",
                                          "code": "upstream_stream_truncated"}}]
    assert encoder.feed(TextDelta("more")) == b"" and encoder.feed(Finish("stop")) == b""
    assert payloads(data)[0]["choices"][0]["text"] == "partial"


def test_encoder_writes_nothing_after_finish():
    encoder = CODEC.stream_encoder("m")
    encoder.feed(Finish("stop"))
    assert encoder.feed(TextDelta("late")) == b""
    assert encoder.feed(StreamError("late")) == b""


# --- decoding ---------------------------------------------------------------------------------

# Shaped like the API's stream with include_usage (every chunk carries "usage": null until the last).
UPSTREAM_STREAM = (
    b'data: {"id":"cmpl-s1","object":"text_completion","created":1700000000,"choices":[{"text":"Hel",'
    b'"index":0,"logprobs":null,"finish_reason":null}],"model":"gpt-3.5-turbo-instruct","usage":null}\n\n'
    b'data: {"id":"cmpl-s1","object":"text_completion","created":1700000000,"choices":[{"text":"lo!",'
    b'"index":0,"logprobs":null,"finish_reason":null}],"model":"gpt-3.5-turbo-instruct","usage":null}\n\n'
    b'data: {"id":"cmpl-s1","object":"text_completion","created":1700000000,"choices":[{"text":"",'
    b'"index":0,"logprobs":null,"finish_reason":"length"}],"model":"gpt-3.5-turbo-instruct","usage":null}\n\n'
    b'data: {"id":"cmpl-s1","object":"text_completion","created":1700000000,"choices":[],'
    b'"model":"gpt-3.5-turbo-instruct","usage":{"prompt_tokens":4,"completion_tokens":2,"total_tokens":6}}\n\n'
    b"data: [DONE]\n\n"
)
UPSTREAM_EVENTS = [
    MessageStart("cmpl-s1", "gpt-3.5-turbo-instruct"),
    TextDelta("Hel"),
    TextDelta("lo!"),
    UsageUpdate(Usage(input=4, output=2)),
    Finish("length"),
]


def decode(pieces: list[bytes]) -> list:
    decoder = CODEC.stream_decoder()
    events = []
    for piece in pieces:
        events.extend(decoder.feed(piece))
    return events + decoder.finish()


def test_decode_upstream_stream():
    for raw in payloads(UPSTREAM_STREAM)[:-1]:
        StreamChunk.model_validate(raw)
    assert decode([UPSTREAM_STREAM]) == UPSTREAM_EVENTS


@settings(max_examples=80, deadline=None)
@given(cuts=st.lists(st.integers(min_value=0, max_value=len(UPSTREAM_STREAM)), max_size=30), crlf=st.booleans())
def test_decode_any_split(cuts, crlf):
    data = UPSTREAM_STREAM.replace(b"\n", b"\r\n") if crlf else UPSTREAM_STREAM
    points = sorted({c % (len(data) + 1) for c in cuts})
    pieces = [data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=True)]
    assert decode(pieces) == UPSTREAM_EVENTS


def test_decode_cut_short_is_an_error():
    cut = UPSTREAM_STREAM.index(b'data: {"id":"cmpl-s1","object":"text_completion","created":1700000000,"choices":[{"text":"",')
    events = decode([UPSTREAM_STREAM[:cut]])
    assert events[-1] == StreamError(TRUNCATED, "upstream_stream_truncated")
    assert events[:-1] == UPSTREAM_EVENTS[:3]


def test_decode_without_done_after_the_finish_chunk():
    cut = UPSTREAM_STREAM.index(b"data: [DONE]")
    assert decode([UPSTREAM_STREAM[:cut]]) == UPSTREAM_EVENTS


def test_decode_error_event():
    data = b'data: {"error": {"message": "overloaded", "type": "server_error", "code": "busy"}}\n\n'
    assert decode([data]) == [StreamError("overloaded", "busy")]


def test_decode_ignores_other_choices():
    data = (b'data: {"id":"c","model":"m","choices":[{"index":1,"text":"other"},{"index":0,"text":"mine",'
            b'"finish_reason":"stop"}]}\n\ndata: [DONE]\n\n')
    assert decode([data]) == [MessageStart("c", "m"), TextDelta("mine"), Finish("stop")]


def test_encoder_output_decodes_to_the_same_answer():
    events = [MessageStart("cmpl-rt", "m"), TextDelta("one "), TextDelta("two"),
              UsageUpdate(Usage(input=3, output=2)), Finish("content_filter")]
    encoder = CODEC.stream_encoder("m", include_usage=True)
    data = b"".join(encoder.feed(e) for e in events)
    assert decode([data]) == events


# --- the openai SDK against a server speaking through this codec --------------------------------

SEEN = web.AppKey("seen", list)
CANNED = ChatResponse(id="chatcmpl-sdk", model="upstream", parts=[Text("Hello from the codec")],
                      stop_reason="stop", usage=Usage(input=5, output=4))


def canned_events(fail: bool) -> list:
    events = [MessageStart(CANNED.id, CANNED.model), TextDelta("Hello "), TextDelta("from the codec")]
    if fail:
        return [*events, StreamError("upstream went away", "upstream_stream_truncated")]
    return [*events, UsageUpdate(CANNED.usage), Finish("stop")]


async def handle(request: web.Request) -> web.StreamResponse:
    body = await request.json()
    request.app[SEEN].append(CODEC.decode_request(body))
    if not body.get("stream"):
        return web.json_response(CODEC.encode_response(CANNED))
    response = web.StreamResponse(headers={"content-type": "text/event-stream"})
    await response.prepare(request)
    encoder = CODEC.stream_encoder(body["model"], include_usage=wants_usage(body))
    for event in canned_events(fail=body["prompt"] == "fail"):
        await response.write(encoder.feed(event))
    await response.write_eof()
    return response


@pytest.fixture
async def sdk():
    app = web.Application()
    app[SEEN] = []
    app.router.add_post("/v1/completions", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="sk-test", max_retries=0)
    try:
        yield client, app[SEEN]
    finally:
        client.close()
        await runner.cleanup()


async def test_sdk_reads_a_whole_answer(sdk):
    client, seen = sdk
    result = await asyncio.to_thread(client.completions.create, model="gpt-3.5-turbo-instruct",
                                     prompt="Say hello", max_tokens=20, stop=["\n"], temperature=0)
    assert isinstance(result, Completion)
    assert result.object == "text_completion" and result.id == "cmpl-sdk"
    assert result.choices[0].text == "Hello from the codec"
    assert result.choices[0].finish_reason == "stop"
    assert (result.usage.prompt_tokens, result.usage.completion_tokens, result.usage.total_tokens) == (5, 4, 9)
    assert seen[0].messages[0].parts == [Text("Say hello")]
    assert (seen[0].max_tokens, seen[0].stop, seen[0].temperature) == (20, ["\n"], 0)


async def test_sdk_reads_a_stream(sdk):
    client, seen = sdk

    def run():
        stream = client.completions.create(model="gpt-3.5-turbo-instruct", prompt="Say hello", stream=True,
                                           stream_options={"include_usage": True})
        return list(stream)

    received = await asyncio.to_thread(run)
    assert all(isinstance(c, Completion) for c in received)
    assert "".join(c.choices[0].text for c in received if c.choices) == "Hello from the codec"
    assert [c.choices[0].finish_reason for c in received if c.choices][-1] == "stop"
    assert received[-1].choices == [] and received[-1].usage.total_tokens == 9
    assert seen[0].stream is True


async def test_sdk_raises_on_a_stream_error(sdk):
    client, _ = sdk

    def run():
        return [c.choices[0].text for c in client.completions.create(model="m", prompt="fail", stream=True)]

    with pytest.raises(openai.APIError, match="upstream went away"):
        await asyncio.to_thread(run)
