"""Self-tests of the fake OpenAI Responses API upstream, driven by the official SDK and raw HTTP."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import openai
import pytest
from openai.types.responses import Response, ResponseStreamEvent
from pydantic import TypeAdapter

from tests.fakes.responses_upstream import FakeResponses
from tests.support import ROOT, free_port

TOOLS = [
    {"type": "function", "name": "search", "description": "web search",
     "parameters": {"type": "object", "properties": {"query": {"type": "string"}}}},
    {"type": "function", "name": "other", "parameters": {"type": "object"}},
]
EVENT = TypeAdapter(ResponseStreamEvent)
AUTH = {"Authorization": "Bearer k"}

try:  # some SDK builds run on httpx2, whose transport errors are not httpx's
    import httpx2

    DROPPED = (httpx.TransportError, httpx2.TransportError, openai.APIConnectionError)
except ImportError:
    DROPPED = (httpx.TransportError, openai.APIConnectionError)


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeResponses]:
    with FakeResponses() as server:
        yield server


@pytest.fixture(autouse=True)
def _reset(fake: FakeResponses) -> None:
    fake.clear()
    fake.valid_keys = None
    fake.latency_ms = 0
    fake.chunk_delay_ms = 0
    fake.send_done = True
    fake.cached_tokens = 0
    fake.strict_models = False


@pytest.fixture
def client(fake: FakeResponses) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=fake.base_url, api_key="k", max_retries=0, timeout=5) as sdk:
        yield sdk


def _post(fake: FakeResponses, headers: dict | None = None, **body) -> httpx.Response:
    body.setdefault("model", "gpt-5-mini")
    body.setdefault("input", "hello there")
    return httpx.post(fake.base_url + "/responses", json=body, headers={**AUTH, **(headers or {})})


def _events(fake: FakeResponses, **body) -> list[dict]:
    """The events of a complete streaming answer, each checked against the SDK's event models."""
    body.setdefault("model", "gpt-5-mini")
    body.setdefault("input", "hello there")
    body["stream"] = True
    out, name = [], None
    with httpx.stream("POST", fake.base_url + "/responses", json=body, headers=AUTH) as resp:
        assert resp.status_code == 200
        assert resp.headers["content-type"].startswith("text/event-stream")
        for line in resp.iter_lines():
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                data = json.loads(line[6:])
                assert data["type"] == name
                EVENT.validate_python(data)
                out.append(data)
            else:
                assert line == ""
    assert [e["sequence_number"] for e in out] == list(range(len(out)))
    return out


def _types(events: list[dict]) -> list[str]:
    return [e["type"] for e in events]


def test_non_stream_text_with_sdk(fake: FakeResponses, client: openai.OpenAI) -> None:
    items = [
        {"role": "developer", "content": "be brief"},
        {"role": "user", "content": "first turn"},
        {"role": "assistant", "content": [{"type": "output_text", "text": "ok"}]},
        {"type": "message", "role": "user",
         "content": [{"type": "input_text", "text": "say hi"}, {"type": "input_text", "text": "please"}]},
    ]
    resp = client.responses.create(model="gpt-fake-1", input=items, instructions="answer kindly")
    assert resp.id.startswith("resp_") and resp.object == "response" and resp.status == "completed"
    assert resp.model == "gpt-fake-1" and resp.instructions == "answer kindly"
    assert resp.output_text == "echo: say hi please"
    [message] = resp.output
    assert message.type == "message" and message.id.startswith("msg_") and message.status == "completed"
    assert message.role == "assistant" and [c.type for c in message.content] == ["output_text"]
    assert resp.incomplete_details is None and resp.error is None and resp.completed_at
    usage = resp.usage
    assert (usage.input_tokens, usage.output_tokens, usage.total_tokens) == (10, 4, 14)
    assert (usage.input_tokens_details.cached_tokens, usage.output_tokens_details.reasoning_tokens) == (0, 0)
    [rec] = fake.requests
    assert (rec.method, rec.path, rec.api_key) == ("POST", "/v1/responses", "k")
    assert rec.body["input"] == items and json.loads(rec.raw) == rec.body


def test_non_stream_body_is_a_valid_response(fake: FakeResponses) -> None:
    raw = _post(fake, tools=TOOLS, tool_choice="auto", reasoning={"effort": "low", "summary": "auto"},
                max_output_tokens=100, text={"format": {"type": "text"}}).json()
    resp = Response.model_validate(raw)  # strict validation, unlike the SDK's lenient construction
    assert [item.type for item in resp.output] == ["reasoning", "function_call"]
    assert resp.tool_choice == "auto" and [t.name for t in resp.tools] == ["search", "other"]
    assert resp.reasoning.effort == "low" and resp.max_output_tokens == 100
    assert resp.text.format.type == "text" and resp.parallel_tool_calls is True


def test_stream_text_with_sdk(client: openai.OpenAI) -> None:
    with client.responses.stream(model="gpt-5-mini", input="one two three") as stream:
        deltas = [e.delta for e in stream if e.type == "response.output_text.delta"]
        final = stream.get_final_response()
    assert deltas == ["echo:", " one", " two", " three"]
    assert final.output_text == "echo: one two three" and final.status == "completed"
    assert (final.usage.input_tokens, final.usage.output_tokens) == (3, 4)
    kinds = [e.type for e in client.responses.create(model="m", input="hi", stream=True)]
    assert kinds[0] == "response.created" and kinds[-1] == "response.completed"


def test_stream_event_sequence(fake: FakeResponses) -> None:
    events = _events(fake)
    assert _types(events) == [
        "response.created", "response.in_progress", "response.output_item.added", "response.content_part.added",
        "response.output_text.delta", "response.output_text.delta", "response.output_text.delta",
        "response.output_text.done", "response.content_part.done", "response.output_item.done",
        "response.completed",
    ]
    created = events[0]["response"]
    assert created["status"] == "in_progress" and created["output"] == [] and created["usage"] is None
    assert {e["response"]["id"] for e in (events[0], events[1], events[-1])} == {created["id"]}
    added, done = events[2], events[9]
    assert added["item"]["status"] == "in_progress" and added["item"]["content"] == []
    assert done["item"]["status"] == "completed" and done["item"]["id"] == added["item"]["id"]
    assert events[7]["text"] == "echo: hello there" and events[8]["part"]["text"] == "echo: hello there"
    assert all(e["item_id"] == added["item"]["id"] for e in events[3:9])
    final = events[-1]["response"]
    assert final["status"] == "completed" and final["usage"]["output_tokens"] == 3
    assert final["output"] == [done["item"]]
    assert not any("[DONE]" in json.dumps(e) for e in events)
    fake.send_done = False
    assert _types(_events(fake))[-1] == "response.output_item.done"


def test_tool_call_and_round_trip(fake: FakeResponses, client: openai.OpenAI) -> None:
    resp = client.responses.create(model="m", input="weather in Paris", tools=TOOLS)
    [call] = resp.output
    assert call.type == "function_call" and call.status == "completed"
    assert call.call_id.startswith("call_") and call.id.startswith("fc_")
    assert (call.name, json.loads(call.arguments)) == ("search", {"query": "weather in Paris"})
    assert resp.output_text == "" and resp.usage.output_tokens == 3
    forced = client.responses.create(model="m", input="x", tools=TOOLS,
                                     tool_choice={"type": "function", "name": "other"})
    assert forced.output[0].name == "other"
    assert client.responses.create(model="m", input="x", tools=TOOLS, tool_choice="required").output[0].name == (
        "search"
    )
    plain = client.responses.create(model="m", input="hello there", tools=TOOLS, tool_choice="none")
    assert plain.output_text == "echo: hello there"
    follow_up = [
        {"role": "user", "content": "weather in Paris"},
        call.model_dump(include={"type", "id", "call_id", "name", "arguments"}),
        {"type": "function_call_output", "call_id": call.call_id, "output": "sunny 21C"},
    ]
    answer = client.responses.create(model="m", input=follow_up, tools=TOOLS)
    assert answer.output_text == "echo: result sunny 21C" and answer.output[0].type == "message"
    assert fake.requests[-1].body["input"][2] == follow_up[2]
    parts = [{"type": "function_call_output", "call_id": "c1", "output": [{"type": "input_text", "text": "from parts"}]}]
    assert client.responses.create(model="m", input=parts).output_text == "echo: result from parts"


def test_tool_call_stream(fake: FakeResponses, client: openai.OpenAI) -> None:
    with client.responses.stream(model="m", input="weather in Paris", tools=TOOLS) as stream:
        final = stream.get_final_response()
    [call] = final.output
    assert call.type == "function_call" and json.loads(call.arguments) == {"query": "weather in Paris"}
    events = _events(fake, input="weather in Paris", tools=TOOLS)
    assert _types(events)[2:] == [
        "response.output_item.added", "response.function_call_arguments.delta",
        "response.function_call_arguments.delta", "response.function_call_arguments.delta",
        "response.function_call_arguments.done", "response.output_item.done", "response.completed",
    ]
    assert events[2]["item"]["arguments"] == "" and events[2]["item"]["call_id"].startswith("call_")
    fragments = [e["delta"] for e in events if e["type"] == "response.function_call_arguments.delta"]
    assert json.loads("".join(fragments)) == {"query": "weather in Paris"}
    assert events[6]["name"] == "search" and events[6]["arguments"] == "".join(fragments)


def test_reasoning(fake: FakeResponses, client: openai.OpenAI) -> None:
    resp = client.responses.create(model="o4-mini", input="hello there", reasoning={"effort": "high"})
    first, second = resp.output
    assert first.type == "reasoning" and first.id.startswith("rs_")
    assert [s.text for s in first.summary] == ["Thinking about: hello there"]
    assert first.encrypted_content and len(first.encrypted_content) > 20
    assert second.type == "message" and resp.output_text == "echo: hello there"
    usage = resp.usage
    assert (usage.output_tokens, usage.output_tokens_details.reasoning_tokens) == (7, 4)
    with client.responses.stream(model="o4-mini", input="hello there", reasoning={"effort": "low"}) as stream:
        summary = "".join(e.delta for e in stream if e.type == "response.reasoning_summary_text.delta")
        final = stream.get_final_response()
    assert summary == "Thinking about: hello there"
    assert [i.type for i in final.output] == ["reasoning", "message"] and final.output_text == "echo: hello there"
    events = _events(fake, reasoning={"effort": "medium"})
    assert _types(events)[2:10] == [
        "response.output_item.added", "response.reasoning_summary_part.added",
        "response.reasoning_summary_text.delta", "response.reasoning_summary_text.delta",
        "response.reasoning_summary_text.delta", "response.reasoning_summary_text.delta",
        "response.reasoning_summary_text.done", "response.reasoning_summary_part.done",
    ]
    assert events[10]["type"] == "response.output_item.done" and events[10]["output_index"] == 0
    assert events[10]["item"]["encrypted_content"] and events[11]["output_index"] == 1
    assert [i.type for i in client.responses.create(model="m", input="x", reasoning={"effort": "none"}).output] == [
        "message"
    ]
    back = [{"role": "user", "content": "a"}, first.model_dump(include={"type", "id", "summary", "encrypted_content"}),
            {"role": "assistant", "content": "b"}, {"role": "user", "content": "again"}]
    assert client.responses.create(model="m", input=back).output_text == "echo: again"
    assert fake.requests[-1].body["input"][1]["encrypted_content"] == first.encrypted_content


def test_incomplete_at_max_output_tokens(fake: FakeResponses, client: openai.OpenAI) -> None:
    resp = client.responses.create(model="m", input="one two three four five", max_output_tokens=3)
    assert resp.status == "incomplete" and resp.incomplete_details.reason == "max_output_tokens"
    assert resp.output_text == "echo: one two" and resp.output[0].status == "incomplete"
    assert resp.usage.output_tokens == 3
    assert client.responses.create(model="m", input="one two", max_output_tokens=3).status == "completed"
    events = _events(fake, input="one two three four five", max_output_tokens=3)
    assert _types(events)[-1] == "response.incomplete"
    assert "".join(e["delta"] for e in events if e["type"] == "response.output_text.delta") == "echo: one two"
    assert events[-1]["response"]["incomplete_details"] == {"reason": "max_output_tokens"}
    thinking = client.responses.create(model="m", input="hello there", reasoning={"effort": "low"},
                                       max_output_tokens=2)
    assert [i.type for i in thinking.output] == ["reasoning"] and thinking.status == "incomplete"
    assert thinking.output[0].summary[0].text == "Thinking about:"
    assert (thinking.usage.output_tokens, thinking.usage.output_tokens_details.reasoning_tokens) == (2, 2)
    with client.responses.stream(model="m", input="a b c", max_output_tokens=1) as stream:
        kinds = [e.type for e in stream]
    assert kinds[-1] == "response.incomplete"


def test_cached_tokens_and_json_format(fake: FakeResponses, client: openai.OpenAI) -> None:
    fake.cached_tokens = 1024
    usage = client.responses.create(model="m", input="hello there").usage
    assert (usage.input_tokens, usage.input_tokens_details.cached_tokens) == (1026, 1024)
    assert usage.total_tokens == 1026 + 3
    fmt = {"format": {"type": "json_schema", "name": "echo", "schema": {"type": "object"}}}
    resp = client.responses.create(model="m", input="hello there", text=fmt)
    assert json.loads(resp.output_text) == {"text": "echo: hello there"}
    assert resp.text.format.type == "json_schema"


@pytest.mark.parametrize(
    ("body", "param", "code"),
    [
        ({"model": None}, "model", "missing_required_parameter"),
        ({"input": None}, "input", "missing_required_parameter"),
        ({"model": 5}, "model", "invalid_type"),
        ({"input": {"role": "user"}}, "input", "invalid_type"),
        ({"input": ["hi"]}, "input[0]", "invalid_type"),
        ({"tools": {"type": "function"}}, "tools", "invalid_type"),
        ({"tools": [{"type": "function"}]}, "tools[0].name", "missing_required_parameter"),
        ({"max_output_tokens": "9"}, "max_output_tokens", "invalid_type"),
        ({"max_output_tokens": 0}, "max_output_tokens", "integer_below_min_value"),
        ({"stream": "yes"}, "stream", "invalid_type"),
    ],
)
def test_validation_errors(fake: FakeResponses, body: dict, param: str, code: str) -> None:
    payload = {"model": "m", "input": "hi", **body}
    payload = {k: v for k, v in payload.items() if v is not None}
    resp = httpx.post(fake.base_url + "/responses", json=payload, headers=AUTH)
    assert resp.status_code == 400
    err = resp.json()["error"]
    assert set(err) == {"message", "type", "param", "code"}
    assert (err["type"], err["param"], err["code"]) == ("invalid_request_error", param, code)
    assert param.split("[")[0] in err["message"]


def test_validation_with_sdk_and_bad_json(fake: FakeResponses, client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        client.responses.create(model="m", input=None)  # type: ignore[arg-type]
    assert info.value.param == "input" and info.value.code == "missing_required_parameter"
    assert info.value.body["message"] == "Missing required parameter: 'input'."
    broken = httpx.post(fake.base_url + "/responses", content=b"{not json", headers=AUTH)
    assert broken.status_code == 400 and broken.json()["error"]["type"] == "invalid_request_error"
    assert fake.requests[-1].body is None and fake.requests[-1].raw == b"{not json"


@pytest.mark.parametrize(
    ("status", "exc"),
    [
        (400, openai.BadRequestError),
        (401, openai.AuthenticationError),
        (403, openai.PermissionDeniedError),
        (404, openai.NotFoundError),
        (429, openai.RateLimitError),
        (500, openai.InternalServerError),
        (503, openai.InternalServerError),
    ],
)
def test_fail_next_status_mapping(
    fake: FakeResponses, client: openai.OpenAI, status: int, exc: type[Exception]
) -> None:
    fake.fail_next(status, count=2)
    resp = _post(fake, stream=True)
    assert resp.status_code == status
    err = resp.json()["error"]
    assert set(err) == {"message", "type", "param", "code"} and err["message"]
    with pytest.raises(exc) as info:
        client.responses.create(model="m", input="hi")
    assert info.value.status_code == status
    assert _post(fake).status_code == 200


def test_fail_next_custom_body_retry_after_raw_and_garbled(fake: FakeResponses) -> None:
    body = {"error": {"message": "slow down", "type": "requests", "param": None, "code": "rate_limit_exceeded"}}
    fake.fail_next(429, body=body, headers={"Retry-After": "3"})
    resp = _post(fake)
    assert (resp.status_code, resp.headers["retry-after"], resp.json()) == (429, "3", body)
    fake.fail_next(429, headers={"Retry-After": "0"})
    with openai.OpenAI(base_url=fake.base_url, api_key="k", max_retries=1, timeout=5) as retrying:
        assert retrying.responses.create(model="m", input="hi").output_text == "echo: hi"
    assert len(fake.requests) == 3
    fake.fail_next(502, raw=b"<html>bad gateway</html>")
    resp = _post(fake, stream=True)
    assert (resp.status_code, resp.content) == (502, b"<html>bad gateway</html>")
    assert resp.headers["content-type"].startswith("text/html")
    fake.fail_next(200, raw=b"{garbled", count=2)  # a 200 whose body is not JSON / not SSE
    resp = _post(fake)
    assert (resp.status_code, resp.content) == (200, b"{garbled")
    resp = _post(fake, stream=True)
    assert (resp.status_code, resp.content) == (200, b"{garbled")
    assert not resp.headers["content-type"].startswith("text/event-stream")
    assert _post(fake).json()["status"] == "completed"


def test_auth_keys(fake: FakeResponses) -> None:
    fake.valid_keys = {"good"}
    resp = _post(fake, headers={"Authorization": "Bearer bad"})
    assert resp.status_code == 401 and resp.json()["error"]["code"] == "invalid_api_key"
    assert httpx.post(fake.base_url + "/responses", json={"model": "m", "input": "hi"}).status_code == 401
    assert httpx.get(fake.base_url + "/models").status_code == 401
    assert _post(fake, headers={"Authorization": "Bearer good"}).status_code == 200
    assert fake.requests[-1].api_key == "good"
    with openai.OpenAI(base_url=fake.base_url, api_key="bad", max_retries=0) as sdk:
        with pytest.raises(openai.AuthenticationError):
            sdk.responses.create(model="m", input="hi")
    fake.valid_keys = None
    fake.fail_for_key("k", 429)
    assert _post(fake).status_code == 429
    assert _post(fake, headers={"Authorization": "Bearer other"}).status_code == 200
    fake.clear()
    assert _post(fake).status_code == 200


def test_models_list_and_strict_models(fake: FakeResponses, client: openai.OpenAI) -> None:
    assert [m.id for m in client.models.list()] == ["gpt-5-mini", "gpt-4.1", "o4-mini", "fake-model"]
    fake.models = ["only-one"]
    try:
        assert httpx.get(fake.base_url + "/models").json()["data"][0]["id"] == "only-one"
        assert _post(fake, model="anything").status_code == 200
        fake.strict_models = True
        with pytest.raises(openai.NotFoundError) as info:
            client.responses.create(model="nope", input="hi")
        assert info.value.code == "model_not_found" and "nope" in info.value.message
        assert _post(fake, model="only-one").status_code == 200
    finally:
        fake.models = list(FakeResponses.default_models)


def test_cut_stream_after_truncates(fake: FakeResponses) -> None:
    fake.cut_stream_after(2)
    body = {"model": "m", "input": "a b c d", "stream": True}
    names: list[str] = []
    with pytest.raises(httpx.RemoteProtocolError):  # raised mid-iteration
        with httpx.stream("POST", fake.base_url + "/responses", json=body, headers=AUTH) as resp:
            names.extend(line[7:] for line in resp.iter_lines() if line.startswith("event: "))
    assert names == [
        "response.created", "response.in_progress", "response.output_item.added", "response.content_part.added",
        "response.output_text.delta", "response.output_text.delta",
    ]
    assert fake.cancelled == 0
    assert _types(_events(fake))[-1] == "response.completed"  # the next stream is whole again
    fake.cut_stream_after(0)  # before the first delta
    names.clear()
    with pytest.raises(httpx.RemoteProtocolError):
        with httpx.stream("POST", fake.base_url + "/responses", json=body, headers=AUTH) as resp:
            names.extend(line[7:] for line in resp.iter_lines() if line.startswith("event: "))
    assert names[-1] == "response.content_part.added" and len(names) == 4


def test_cut_stream_surfaces_in_sdk(fake: FakeResponses, client: openai.OpenAI) -> None:
    fake.cut_stream_after(1)
    seen: list[str] = []
    with pytest.raises(DROPPED):
        with client.responses.stream(model="m", input="hello there") as stream:
            seen.extend(e.delta for e in stream if e.type == "response.output_text.delta")
    assert seen == ["echo:"]


def test_latency_chunk_delay_and_cancel_count(fake: FakeResponses) -> None:
    fake.latency_ms = 150
    start = time.perf_counter()
    assert _post(fake).status_code == 200
    assert time.perf_counter() - start >= 0.15
    fake.latency_ms = 0
    fake.chunk_delay_ms = 20
    start = time.perf_counter()
    assert len(_events(fake)) == 11
    assert time.perf_counter() - start >= 0.15
    fake.chunk_delay_ms = 0
    fake.hang_next(5)  # slow first byte
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(fake.base_url + "/responses", json={"model": "m", "input": "hi", "stream": True},
                   headers=AUTH, timeout=0.2)
    deadline = time.monotonic() + 2
    while fake.cancelled == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert fake.cancelled == 1


def test_record_flag(fake: FakeResponses) -> None:
    fake.record = False
    try:
        assert _post(fake).status_code == 200
        assert fake.requests == []
    finally:
        fake.record = True


def test_standalone_module() -> None:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.fakes.responses_upstream", "--port", str(port), "--latency-ms", "20",
         "--cached-tokens", "7", "--no-record"],
        cwd=ROOT, stdout=subprocess.PIPE, text=True,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == f"fake-responses listening on http://127.0.0.1:{port}"
        with openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="k", max_retries=0) as sdk:
            resp = sdk.responses.create(model="m", input="hello there")
        assert resp.output_text == "echo: hello there" and resp.usage.input_tokens_details.cached_tokens == 7
    finally:
        proc.terminate()
        assert proc.wait(timeout=10) == 0


# ---- fault injection for the gateway's resilience tests ----------------------------------------


def test_stall_first_chunk(fake: FakeResponses) -> None:
    fake.stall_first_chunk(0.2)
    assert _post(fake).status_code == 200  # not a stream: the stall stays queued
    body = {"model": "gpt-5-mini", "input": "hello there", "stream": True}
    start = time.perf_counter()
    with httpx.stream("POST", fake.base_url + "/responses", json=body, headers=AUTH) as resp:
        headers_at = time.perf_counter() - start
        first = next(resp.iter_raw())
        first_at = time.perf_counter() - start
    assert resp.status_code == 200 and headers_at < 0.15 and first_at >= 0.2
    assert first.startswith(b"event: response.created")


def test_error_event_next(fake: FakeResponses, client: openai.OpenAI) -> None:
    fake.error_event_next()
    events = _events(fake)  # each event validated against the SDK's models
    assert _types(events) == ["response.created", "error", "response.failed"]
    assert events[1] == {"type": "error", "code": "server_error", "message": "Overloaded", "param": None,
                         "sequence_number": 1}
    failed = events[2]["response"]
    assert failed["status"] == "failed" and failed["output"] == [] and failed["id"] == events[0]["response"]["id"]
    assert failed["error"] == {"code": "server_error", "message": "Overloaded", "param": None,
                               "type": "overloaded_error"}
    fake.error_event_next("Rate limit reached for gpt-5-mini", "rate_limit_error")
    seen = list(client.responses.create(model="gpt-5-mini", input="hi", stream=True))
    assert [e.type for e in seen] == ["response.created", "error", "response.failed"]
    assert (seen[1].code, seen[1].message) == ("rate_limit_exceeded", "Rate limit reached for gpt-5-mini")
    assert seen[2].response.error.code == "rate_limit_exceeded" and seen[2].response.status == "failed"
    assert _types(_events(fake))[-1] == "response.completed"


def test_fail_for_model(fake: FakeResponses, client: openai.OpenAI) -> None:
    fake.fail_for_model("gpt-broken", 429, headers={"Retry-After": "2"})
    for stream in (False, True):
        resp = _post(fake, model="gpt-broken", stream=stream)
        assert (resp.status_code, resp.headers["retry-after"]) == (429, "2")
        assert resp.json()["error"]["code"] == "rate_limit_exceeded"
    with pytest.raises(openai.RateLimitError):
        client.responses.create(model="gpt-broken", input="hi")
    assert _post(fake).status_code == 200
    fake.clear()
    assert _post(fake, model="gpt-broken").status_code == 200


def test_chaos_reset_and_error_event(fake: FakeResponses) -> None:
    fake.chaos(seed=9, rate=1.0, kinds=("reset", "error-event"))
    seen = []
    for _ in range(8):
        try:
            seen.append(_types(_events(fake))[-1])
        except httpx.TransportError:
            seen.append("reset")
    assert seen.count("reset") == fake.chaos_counts.get("reset", 0) > 0
    assert seen.count("response.failed") == fake.chaos_counts.get("error-event", 0) > 0
    assert fake.cancelled == 0


def test_fail_model_option() -> None:
    argv = ["--port", "0", "--fail-model", "gpt-x=400:Your input exceeds the context window of this model."]
    with FakeResponses.from_args(argv) as other:
        resp = httpx.post(other.base_url + "/responses", json={"model": "gpt-x", "input": "hi"})
        assert resp.status_code == 400
        assert resp.json()["error"] == {"message": "Your input exceeds the context window of this model.",
                                        "type": "invalid_request_error", "param": None, "code": None}
