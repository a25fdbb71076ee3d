"""Fixture loading, stream helpers and official-SDK checks shared by the Responses codec tests."""

from __future__ import annotations

import json
from pathlib import Path

import orjson
from openai._types import omit
from openai.lib.streaming.responses._responses import ResponseStreamState
from openai.types.responses import Response, ResponseStreamEvent
from openai.types.responses.response_create_params import ResponseCreateParamsNonStreaming
from pydantic import TypeAdapter

from omniroute.dialects.responses import CODEC

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "responses"
STREAMS = ["stream_text.sse", "stream_tool_call.sse", "stream_reasoning.sse", "stream_error.sse"]
EVENT = TypeAdapter(ResponseStreamEvent)
CREATE_PARAMS = TypeAdapter(ResponseCreateParamsNonStreaming)


def load(name: str) -> dict:
    """A JSON fixture as a fresh dict."""
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def raw(name: str) -> bytes:
    """An SSE fixture's raw bytes."""
    return (FIXTURES / name).read_bytes()


def decode(chunks) -> list:
    """Every event a fresh decoder yields for the byte chunks, end of stream included."""
    decoder = CODEC.stream_decoder()
    events = []
    for chunk in chunks:
        events.extend(decoder.feed(chunk))
    return events + decoder.finish()


def split_every(data: bytes, size: int) -> list[bytes]:
    return [data[i:i + size] for i in range(0, len(data), size)]


def encode(events, model: str = "gpt-x") -> bytes:
    """The bytes a fresh encoder writes for the events."""
    encoder = CODEC.stream_encoder(model)
    return b"".join(encoder.feed(e) for e in events)


def parse(stream: bytes) -> list[dict]:
    """The data objects of an SSE stream, checking each ``event:`` name matches its data's type."""
    out = []
    for block in stream.split(b"\n\n"):
        if not block:
            continue
        event, data = block.split(b"\n")
        obj = orjson.loads(data.removeprefix(b"data: "))
        assert event.removeprefix(b"event: ").decode() == obj["type"]
        out.append(obj)
    return out


def validate_stream(stream: bytes) -> list:
    """Every event through the SDK's event union; sequence numbers count up from 0."""
    events = [EVENT.validate_python(obj) for obj in parse(stream)]
    assert [e.sequence_number for e in events] == list(range(len(events)))
    return events


def sdk_accumulate(stream: bytes):
    """The SDK's own stream accumulator over the stream: its final snapshot and completed response."""
    state = ResponseStreamState(input_tools=omit, text_format=omit)
    snapshot = None
    for event in validate_stream(stream):
        state.handle_event(event)
        snapshot = state._ResponseStreamState__current_snapshot
    return snapshot, state._completed_response


def validate_response(body: dict) -> Response:
    """The SDK's ``Response`` model over a whole answer (after a JSON round trip)."""
    return Response.model_validate(orjson.loads(orjson.dumps(body)))


def validate_request(body: dict) -> None:
    """A request body through the SDK's ``ResponseCreateParams`` types.

    Reasoning items are sent without an id (see request_encode), which the types mark required:
    a placeholder stands in for the check only.
    """
    body = orjson.loads(orjson.dumps(body))
    body.pop("stream", None)
    for item in body["input"]:
        if item.get("type") == "reasoning":
            assert "id" not in item
            item["id"] = "rs_placeholder"
    CREATE_PARAMS.validate_python(body)
