"""The official ``openai`` client reading what the codec writes, over an in-memory HTTP transport."""

from __future__ import annotations

import httpx
import orjson
import pytest
from openai import OpenAI

from omniroute.dialects.responses import CODEC, error_body
from tests.dialects.responses.support import decode, encode, raw


def client_answering(body: bytes, status: int = 200, stream: bool = False) -> tuple[OpenAI, list[dict]]:
    sent: list[dict] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(orjson.loads(request.content))
        headers = {"content-type": "text/event-stream" if stream else "application/json"}
        return httpx.Response(status, content=body, headers=headers)

    http = httpx.Client(transport=httpx.MockTransport(handler))
    return OpenAI(api_key="sk-test", base_url="http://gateway.test/v1", http_client=http, max_retries=0), sent


def test_create_reads_an_encoded_response():
    canonical = CODEC.decode_response(orjson.loads(raw("response_reasoning.json")))
    client, sent = client_answering(orjson.dumps(CODEC.encode_response(canonical)))
    response = client.responses.create(model="gpt-5", input="Is 97 prime?")
    assert response.output_text == "Yes, 97 is prime."
    assert response.usage.output_tokens_details.reasoning_tokens == 192
    # What the SDK sends for string input decodes into one user message.
    assert CODEC.decode_request(sent[0]).messages[0].parts[0].text == "Is 97 prime?"


@pytest.mark.parametrize("name", ["stream_text.sse", "stream_tool_call.sse", "stream_reasoning.sse"])
def test_stream_helper_reads_an_encoded_stream(name):
    events = decode([raw(name)])
    client, _ = client_answering(encode(events, model="gpt-4.1"), stream=True)
    with client.responses.stream(model="gpt-4.1", input="hi") as stream:
        seen = [event.type for event in stream]
        final = stream.get_final_response()
    assert seen[0] == "response.created" and seen[-1] == "response.completed"
    texts = "".join(e.text for e in events if type(e).__name__ == "TextDelta")
    assert final.output_text == texts
    calls = [o for o in final.output if o.type == "function_call"]
    if name == "stream_tool_call.sse":
        assert [orjson.loads(c.arguments)["city"] for c in calls] == ["San Francisco, CA", "Tōkyō"]


def test_raw_stream_ends_with_a_typed_error_event():
    client, _ = client_answering(encode(decode([raw("stream_error.sse")])), stream=True)
    events = list(client.responses.create(model="gpt-4.1", input="hi", stream=True))
    assert events[-2].type == "response.output_text.delta"
    last = events[-1]
    assert last.type == "error" and last.code == "server_error" and "server had an error" in last.message


def test_error_body_is_raised_by_the_sdk():
    client, _ = client_answering(orjson.dumps(error_body(400, "bad input", "invalid_request")), status=400)
    with pytest.raises(Exception, match="bad input") as info:
        client.responses.create(model="gpt-4.1", input="hi")
    assert getattr(info.value, "status_code", None) == 400
