"""Other dialects' upstream streams and answers, written as Responses and read by the official SDK."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from omniroute.dialects.registry import codec
from omniroute.dialects.responses import CODEC
from omniroute.schema import Finish, StreamError, Text, TextDelta, ToolCall, ToolCallDelta
from tests.dialects.responses.support import parse, sdk_accumulate, validate_response, validate_stream

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
STREAMS = [(dialect, path.name) for dialect, folder in
           (("anthropic", "anthropic"), ("gemini", "gemini"), ("ollama", "ollama"), ("openai", "openai_chat"))
           for path in sorted((FIXTURES / folder).glob("stream_*"))]
ANSWERS = [(dialect, path.name) for dialect, folder in
           (("anthropic", "anthropic"), ("gemini", "gemini"), ("ollama", "ollama"), ("openai", "openai_chat"))
           for path in sorted((FIXTURES / folder).glob("response_*.json"))]
FOLDERS = {"openai": "openai_chat"}


def foreign_events(dialect: str, name: str) -> list:
    decoder = codec(dialect).stream_decoder()
    data = (FIXTURES / FOLDERS.get(dialect, dialect) / name).read_bytes()
    return decoder.feed(data) + decoder.finish()


@pytest.mark.parametrize("dialect, name", STREAMS)
def test_foreign_streams_become_valid_responses_streams(dialect, name):
    events = foreign_events(dialect, name)
    encoder = CODEC.stream_encoder("gpt-x")
    produced = b"".join(encoder.feed(e) for e in events)
    validate_stream(produced)
    last = parse(produced)[-1]
    if any(isinstance(e, StreamError) for e in events):
        assert last["type"] == "error"
        return
    assert any(isinstance(e, Finish) for e in events)
    snapshot, response = sdk_accumulate(produced)
    if last["type"] == "response.incomplete":
        # The SDK keeps a final response only for response.completed; the terminal event carries it.
        response = validate_response(last["response"])
        assert [o.id for o in snapshot.output] == [o.id for o in response.output]
        assert response.output[-1].status == "incomplete"
    assert response.status == last["response"]["status"]
    assert response.output_text == "".join(e.text for e in events if isinstance(e, TextDelta))
    calls = [o for o in response.output if o.type == "function_call"]
    indexes = sorted({e.index for e in events if isinstance(e, ToolCallDelta)})
    expected = ["".join(e.arguments for e in events if isinstance(e, ToolCallDelta) and e.index == i)
                for i in indexes]
    assert [c.arguments for c in calls if c.arguments] == [a for a in expected if a]


@pytest.mark.parametrize("dialect, name", ANSWERS)
def test_foreign_answers_become_valid_responses(dialect, name):
    body = orjson.loads((FIXTURES / FOLDERS.get(dialect, dialect) / name).read_bytes())
    canonical = codec(dialect).decode_response(body)
    encoded = CODEC.encode_response(canonical)
    sdk = validate_response(encoded)
    assert sdk.output_text == "".join(p.text for p in canonical.parts if isinstance(p, Text))
    assert [o.call_id for o in sdk.output if o.type == "function_call"] == [
        p.id for p in canonical.parts if isinstance(p, ToolCall)]
