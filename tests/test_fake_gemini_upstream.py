"""Self-tests of the fake Gemini upstream, driven by the google-genai SDK and raw HTTP."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import pytest
from google import genai
from google.genai import errors, types

from tests.fakes.gemini_upstream import FakeGemini
from tests.support import ROOT, free_port

HELLO = [{"role": "user", "parts": [{"text": "hello there"}]}]
TOOL = types.Tool(function_declarations=[types.FunctionDeclaration(
    name="lookup", description="Look up",
    parameters=types.Schema(type="OBJECT", properties={"query": types.Schema(type="STRING")}))])
RAW_TOOLS = [{"functionDeclarations": [{"name": "lookup", "parameters": {"type": "OBJECT"}},
                                       {"name": "other"}]}]


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeGemini]:
    with FakeGemini() as server:
        yield server


@pytest.fixture(autouse=True)
def _reset(fake: FakeGemini) -> None:
    fake.clear()
    fake.valid_keys = None
    fake.latency_ms = 0
    fake.chunk_delay_ms = 0
    fake.send_done = True
    fake.known_models_only = False


@pytest.fixture
def client(fake: FakeGemini) -> genai.Client:
    return genai.Client(api_key="k", http_options=types.HttpOptions(base_url=fake.url, timeout=5000))


def _post(fake: FakeGemini, action: str = "generateContent", model: str = "gemini-2.5-flash",
          headers: dict | None = None, params: dict | None = None, **body) -> httpx.Response:
    body.setdefault("contents", HELLO)
    return httpx.post(f"{fake.base_url}/models/{model}:{action}", json=body, params=params,
                      headers={"x-goog-api-key": "k", **(headers or {})})


def _chunks(fake: FakeGemini, **body) -> list[dict]:
    """The data of every SSE event of a streaming answer."""
    body.setdefault("contents", HELLO)
    out = []
    with httpx.stream("POST", f"{fake.base_url}/models/gemini-2.5-flash:streamGenerateContent",
                      params={"alt": "sse"}, json=body, headers={"x-goog-api-key": "k"}) as resp:
        assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/event-stream")
        for line in resp.iter_lines():
            if line.startswith("data: "):
                out.append(json.loads(line[6:]))
    return out


def test_text_with_sdk(fake: FakeGemini, client: genai.Client) -> None:
    answer = client.models.generate_content(
        model="gemini-2.5-flash", contents="hello there",
        config=types.GenerateContentConfig(system_instruction="Be brief.", max_output_tokens=20))
    assert answer.text == "echo: hello there"
    assert answer.candidates[0].finish_reason == types.FinishReason.STOP
    assert answer.model_version == "gemini-2.5-flash" and answer.response_id
    usage = answer.usage_metadata
    assert (usage.prompt_token_count, usage.candidates_token_count, usage.total_token_count) == (2, 3, 5)
    sent = fake.requests[-1]
    assert sent.api_key == "k" and sent.model == "gemini-2.5-flash" and sent.action == "generateContent"
    assert sent.path.endswith("/models/gemini-2.5-flash:generateContent")
    assert sent.body["systemInstruction"]["parts"][0]["text"] == "Be brief."
    assert sent.body["generationConfig"]["maxOutputTokens"] == 20


def test_stream_with_sdk(fake: FakeGemini, client: genai.Client) -> None:
    chunks = list(client.models.generate_content_stream(model="gemini-2.5-flash", contents="one two three"))
    assert [c.text for c in chunks] == ["echo: ", "one ", "two ", "three"]
    assert [c.candidates[0].finish_reason for c in chunks][-1] == types.FinishReason.STOP
    assert all(c.candidates[0].finish_reason is None for c in chunks[:-1])
    assert chunks[-1].usage_metadata.candidates_token_count == 4
    assert len({c.response_id for c in chunks}) == 1
    assert fake.requests[-1].query == {"alt": "sse"} and fake.requests[-1].action == "streamGenerateContent"


def test_function_call_and_response_with_sdk(fake: FakeGemini, client: genai.Client) -> None:
    config = types.GenerateContentConfig(tools=[TOOL])
    answer = client.models.generate_content(model="gemini-2.5-flash", contents="find bats", config=config)
    call = answer.function_calls[0]
    assert call.name == "lookup" and call.args == {"query": "find bats"}
    assert answer.candidates[0].finish_reason == types.FinishReason.STOP
    chunks = list(client.models.generate_content_stream(model="gemini-2.5-flash", contents="find owls",
                                                         config=config))
    assert len(chunks) == 1 and chunks[0].function_calls[0].args == {"query": "find owls"}
    history = [types.Content(role="user", parts=[types.Part.from_text(text="find bats")]),
               answer.candidates[0].content,
               types.Content(role="user", parts=[types.Part.from_function_response(
                   name="lookup", response={"hits": 3})])]
    final = client.models.generate_content(model="gemini-2.5-flash", contents=history, config=config)
    assert final.text == 'echo: result {"hits":3}'
    body = fake.requests[-1].body
    assert body["contents"][1]["parts"][0]["functionCall"]["name"] == "lookup"


def test_tool_config_none_and_allowed_names(fake: FakeGemini) -> None:
    none = {"functionCallingConfig": {"mode": "NONE"}}
    parts = _post(fake, tools=RAW_TOOLS, toolConfig=none).json()["candidates"][0]["content"]["parts"]
    assert parts == [{"text": "echo: hello there"}]
    pick = {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["other"]}}
    parts = _post(fake, tools=RAW_TOOLS, toolConfig=pick).json()["candidates"][0]["content"]["parts"]
    assert parts == [{"functionCall": {"name": "other", "args": {"query": "hello there"}}}]


def test_thoughts_and_cached_usage(fake: FakeGemini, client: genai.Client) -> None:
    config = types.GenerateContentConfig(system_instruction="CACHE me",
                                         thinking_config=types.ThinkingConfig(include_thoughts=True))
    answer = client.models.generate_content(model="gemini-2.5-flash", contents="hi", config=config)
    parts = answer.candidates[0].content.parts
    assert parts[0].thought and parts[0].text == "Thinking about: hi"
    assert answer.text == "echo: hi"
    usage = answer.usage_metadata
    assert usage.cached_content_token_count == 100 and usage.prompt_token_count == 101
    assert usage.thoughts_token_count == 3 and usage.total_token_count == 101 + 2 + 3
    chunks = _chunks(fake, contents=[{"role": "user", "parts": [{"text": "a b"}]}],
                     generationConfig={"thinkingConfig": {"includeThoughts": True}})
    thoughts = [c["candidates"][0]["content"]["parts"][0] for c in chunks[:4]]
    assert all(p["thought"] for p in thoughts) and "".join(p["text"] for p in thoughts) == "Thinking about: a b"


def test_sse_wire_format(fake: FakeGemini) -> None:
    with httpx.stream("POST", f"{fake.base_url}/models/gemini-2.5-flash:streamGenerateContent?alt=sse",
                      json={"contents": HELLO}, headers={"x-goog-api-key": "k"}) as resp:
        raw = resp.read()
    events = raw.split(b"\n\n")
    assert events[-1] == b"" and all(e.startswith(b"data: {") for e in events[:-1])
    data = [json.loads(e[6:]) for e in events[:-1]]
    assert all(d["modelVersion"] == "gemini-2.5-flash" and d["responseId"] for d in data)
    assert all(d["candidates"][0]["content"]["role"] == "model" for d in data)
    assert data[-1]["usageMetadata"] == {"promptTokenCount": 2, "candidatesTokenCount": 3, "totalTokenCount": 5}


def test_stream_without_sse_is_a_json_array(fake: FakeGemini) -> None:
    resp = _post(fake, "streamGenerateContent")
    chunks = resp.json()
    assert "".join(c["candidates"][0]["content"]["parts"][0]["text"] for c in chunks) == "echo: hello there"


def test_model_with_slash_and_query_key(fake: FakeGemini) -> None:
    resp = httpx.post(f"{fake.base_url}/models/tuned/my-model:generateContent", params={"key": "qk"},
                      json={"contents": HELLO})
    assert resp.status_code == 200 and resp.json()["modelVersion"] == "tuned/my-model"
    assert fake.requests[-1].api_key == "qk" and fake.requests[-1].model == "tuned/my-model"


@pytest.mark.parametrize("status,kind", [(400, "INVALID_ARGUMENT"), (401, "UNAUTHENTICATED"),
                                         (403, "PERMISSION_DENIED"), (404, "NOT_FOUND"),
                                         (429, "RESOURCE_EXHAUSTED"), (500, "INTERNAL"), (503, "UNAVAILABLE")])
def test_fail_next_status_mapping(fake: FakeGemini, client: genai.Client, status: int, kind: str) -> None:
    fake.fail_next(status)
    with pytest.raises(errors.APIError) as caught:
        client.models.generate_content(model="gemini-2.5-flash", contents="x")
    assert caught.value.code == status and caught.value.status == kind
    assert _post(fake).status_code == 200


def test_fail_next_custom_body_headers_raw_and_count(fake: FakeGemini) -> None:
    fake.fail_next(429, {"error": {"code": 429, "message": "slow", "status": "RESOURCE_EXHAUSTED"}},
                   headers={"Retry-After": "7"})
    resp = _post(fake)
    assert resp.json()["error"]["message"] == "slow" and resp.headers["retry-after"] == "7"
    fake.fail_next(502, raw=b"<html>bad gateway</html>")
    resp = _post(fake)
    assert resp.status_code == 502 and resp.content == b"<html>bad gateway</html>"
    fake.fail_next(500, count=2)
    assert [_post(fake).status_code for _ in range(3)] == [500, 500, 200]


def test_validation_and_routing_errors(fake: FakeGemini) -> None:
    resp = _post(fake, contents=[])
    assert resp.status_code == 400 and resp.json()["error"]["status"] == "INVALID_ARGUMENT"
    resp = httpx.post(f"{fake.base_url}/models/gemini-2.5-flash:generateContent", content=b"{nope",
                      headers={"x-goog-api-key": "k"})
    assert resp.status_code == 400
    assert _post(fake, "embedStuff").status_code == 404
    fake.known_models_only = True
    resp = _post(fake, model="gemini-9")
    assert resp.status_code == 404 and resp.json()["error"]["status"] == "NOT_FOUND"


def test_auth_keys(fake: FakeGemini) -> None:
    fake.valid_keys = {"good"}
    assert _post(fake, headers={"x-goog-api-key": "bad"}).json()["error"]["code"] == 401
    assert _post(fake, headers={"x-goog-api-key": "good"}).status_code == 200
    assert _post(fake, headers={"x-goog-api-key": ""}, params={"key": "good"}).status_code == 200
    fake.valid_keys = None
    fake.fail_for_key("k", 403)
    assert _post(fake).json()["error"]["status"] == "PERMISSION_DENIED"
    assert _post(fake, headers={"x-goog-api-key": "other"}).status_code == 200


def test_models_list(fake: FakeGemini, client: genai.Client) -> None:
    listed = httpx.get(fake.base_url + "/models", headers={"x-goog-api-key": "k"}).json()["models"]
    assert {"name": "models/gemini-2.5-flash"}.items() <= listed[1].items()
    assert "generateContent" in listed[1]["supportedGenerationMethods"]
    assert [m.name for m in client.models.list()][:2] == ["models/gemini-2.5-pro", "models/gemini-2.5-flash"]
    assert client.models.get(model="gemini-2.5-flash").input_token_limit == 1048576


def test_cut_stream_and_send_done(fake: FakeGemini, client: genai.Client) -> None:
    fake.cut_stream_after(2)
    with pytest.raises(httpx.TransportError):
        _chunks(fake)
    fake.cut_stream_after(9)  # beyond the end: every content chunk, still no finishReason
    seen: list[str] = []
    with pytest.raises(Exception):  # noqa: B017 - the SDK may wrap the transport error
        for chunk in client.models.generate_content_stream(model="gemini-2.5-flash", contents="a b"):
            seen.append(chunk.text)
            assert chunk.candidates[0].finish_reason is None
    assert "".join(seen) == "echo: a b"
    fake.send_done = False
    chunks = _chunks(fake)
    assert "".join(c["candidates"][0]["content"]["parts"][0]["text"] for c in chunks) == "echo: hello there"
    assert all("finishReason" not in c["candidates"][0] for c in chunks)


def test_latency_chunk_delay_and_cancel_count(fake: FakeGemini) -> None:
    fake.latency_ms = 150
    start = time.perf_counter()
    assert _post(fake).status_code == 200
    assert time.perf_counter() - start >= 0.15
    fake.latency_ms = 0
    fake.chunk_delay_ms = 60
    start = time.perf_counter()
    assert len(_chunks(fake)) == 3
    assert time.perf_counter() - start >= 0.12
    fake.chunk_delay_ms = 0
    fake.hang_next(5)
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(f"{fake.base_url}/models/m:generateContent", json={"contents": HELLO}, timeout=0.2)
    deadline = time.monotonic() + 2
    while fake.cancelled == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert fake.cancelled == 1


def test_record_flag(fake: FakeGemini) -> None:
    fake.record = False
    try:
        assert _post(fake).status_code == 200 and fake.requests == []
    finally:
        fake.record = True


def test_standalone_module() -> None:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.fakes.gemini_upstream", "--port", str(port), "--no-record"],
        cwd=ROOT, stdout=subprocess.PIPE, text=True,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == f"fake-gemini listening on http://127.0.0.1:{port}"
        sdk = genai.Client(api_key="k", http_options=types.HttpOptions(base_url=f"http://127.0.0.1:{port}"))
        assert sdk.models.generate_content(model="gemini-2.5-flash", contents="hi").text == "echo: hi"
    finally:
        proc.terminate()
        assert proc.wait(timeout=10) == 0


# ---- fault injection for the gateway's resilience tests ----------------------------------------

UNAVAILABLE = {"error": {"code": 503, "message": "Overloaded", "status": "UNAVAILABLE"}}


def test_stall_first_chunk(fake: FakeGemini) -> None:
    fake.stall_first_chunk(0.2)
    assert _post(fake).status_code == 200  # not a stream: the stall stays queued
    start = time.perf_counter()
    with httpx.stream("POST", f"{fake.base_url}/models/gemini-2.5-flash:streamGenerateContent",
                      params={"alt": "sse"}, json={"contents": HELLO}, headers={"x-goog-api-key": "k"}) as resp:
        headers_at = time.perf_counter() - start
        first = next(resp.iter_raw())
        first_at = time.perf_counter() - start
    assert resp.status_code == 200 and headers_at < 0.15 and first_at >= 0.2
    assert first.startswith(b"data: {")


def test_error_event_next(fake: FakeGemini, client: genai.Client) -> None:
    fake.error_event_next(count=2)
    assert _chunks(fake) == [UNAVAILABLE]
    resp = _post(fake, "streamGenerateContent")  # the JSON-array stream carries it as its only element
    assert resp.status_code == 200 and resp.json() == [UNAVAILABLE]
    fake.error_event_next("Quota exceeded mid-stream", "RESOURCE_EXHAUSTED")
    with pytest.raises(errors.APIError) as caught:
        list(client.models.generate_content_stream(model="gemini-2.5-flash", contents="hi"))
    assert (caught.value.code, caught.value.status, caught.value.message) == (
        429, "RESOURCE_EXHAUSTED", "Quota exceeded mid-stream")
    assert _chunks(fake)[-1]["candidates"][0]["finishReason"] == "STOP"


def test_fail_for_model(fake: FakeGemini, client: genai.Client) -> None:
    fake.fail_for_model("gemini-broken", 503)
    for action in ("generateContent", "streamGenerateContent"):
        resp = _post(fake, action, model="gemini-broken")
        assert resp.status_code == 503 and resp.json()["error"]["status"] == "UNAVAILABLE"
    with pytest.raises(errors.APIError) as caught:
        client.models.generate_content(model="gemini-broken", contents="x")
    assert caught.value.code == 503
    assert _post(fake).status_code == 200
    fake.clear()
    assert _post(fake, model="gemini-broken").status_code == 200


def test_chaos_retry_after(fake: FakeGemini) -> None:
    fake.chaos(seed=2, rate=1.0, kinds=("retry-after",))
    resp = _post(fake)
    assert (resp.status_code, resp.headers["retry-after"]) == (429, "1")
    assert resp.json()["error"]["status"] == "RESOURCE_EXHAUSTED"
    assert fake.chaos_counts == {"retry-after": 1}


def test_fail_model_option() -> None:
    with FakeGemini.from_args(["--port", "0", "--fail-model", "gemini-x=400:The input token count exceeds"]) as other:
        resp = httpx.post(f"{other.base_url}/models/gemini-x:generateContent", json={"contents": HELLO})
        assert resp.status_code == 400
        assert resp.json() == {"error": {"code": 400, "message": "The input token count exceeds",
                                         "status": "INVALID_ARGUMENT"}}
