"""A Gemini-dialect upstream: served to OpenAI, Anthropic and Ollama clients (translated) and to
Gemini clients (passed through)."""

from __future__ import annotations

import anthropic
import httpx
import ollama
import openai
import orjson
import pytest
from google import genai
from google.genai import types

from tests.fakes.gemini_upstream import FakeGemini

MODEL = "gemini/gemini-2.5-flash"
TOOL_OAI = {"type": "function", "function": {"name": "lookup", "description": "Look up",
                                             "parameters": {"type": "object",
                                                            "properties": {"query": {"type": "string"}}}}}
TOOL_GENAI = types.Tool(function_declarations=[types.FunctionDeclaration(
    name="lookup", description="Look up",
    parameters=types.Schema(type="OBJECT", properties={"query": types.Schema(type="STRING")}))])


@pytest.fixture(scope="module")
def fake_gemini():
    fake = FakeGemini().start()
    yield fake
    fake.stop()


@pytest.fixture
def gemini(fake_gemini):
    """The module's fake Gemini upstream, cleared for this test."""
    fake_gemini.clear()
    fake_gemini.latency_ms = 0
    fake_gemini.chunk_delay_ms = 0
    fake_gemini.valid_keys = None
    fake_gemini.send_done = True
    yield fake_gemini
    fake_gemini.clear()


@pytest.fixture
def key(connection, gemini, api_key) -> str:
    connection(provider="gemini", apiKey="g-key", baseUrl=gemini.base_url)
    return api_key()["key"]


@pytest.fixture
def oai(gateway, key):
    return openai.OpenAI(base_url=gateway.url + "/v1", api_key=key, max_retries=0)


def _sent(gemini: FakeGemini, stream: bool = False):
    """The last generate request the upstream got, checked for key, model and method."""
    sent = [r for r in gemini.requests if r.method == "POST"][-1]
    assert sent.api_key == "g-key" and sent.headers.get("x-goog-api-key") == "g-key"
    assert sent.model == "gemini-2.5-flash"
    if stream:
        assert sent.path.endswith("/models/gemini-2.5-flash:streamGenerateContent")
        assert sent.query.get("alt") == "sse"
    else:
        assert sent.path.endswith("/models/gemini-2.5-flash:generateContent")
    return sent


def _system_text(body: dict) -> str:
    return " ".join(p.get("text", "") for p in body["systemInstruction"]["parts"])


# ---- OpenAI clients ----------------------------------------------------------------------------


def test_openai_client_text(oai, gemini):
    answer = oai.chat.completions.create(model=MODEL, max_tokens=50,
                                         messages=[{"role": "system", "content": "Be brief."},
                                                   {"role": "user", "content": "hello there"}])
    assert answer.choices[0].message.content == "echo: hello there"
    assert answer.choices[0].finish_reason == "stop"
    sent = _sent(gemini)
    assert _system_text(sent.body) == "Be brief."
    assert sent.body["contents"][-1]["parts"][0]["text"] == "hello there"
    assert sent.body["generationConfig"]["maxOutputTokens"] == 50
    assert (answer.usage.prompt_tokens, answer.usage.completion_tokens) == (2, 3)


def test_openai_client_streaming(oai, gemini):
    chunks = list(oai.chat.completions.create(model=MODEL, stream=True,
                                              messages=[{"role": "system", "content": "Be brief."},
                                                        {"role": "user", "content": "one two three"}]))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "echo: one two three"
    assert [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason] == ["stop"]
    assert _system_text(_sent(gemini, stream=True).body) == "Be brief."


def test_openai_client_tool_call(oai, gemini):
    answer = oai.chat.completions.create(model=MODEL, tools=[TOOL_OAI],
                                         messages=[{"role": "user", "content": "find cats"}])
    call = answer.choices[0].message.tool_calls[0]
    assert call.function.name == "lookup" and orjson.loads(call.function.arguments) == {"query": "find cats"}
    assert answer.choices[0].finish_reason == "tool_calls"
    declared = _sent(gemini).body["tools"][0]["functionDeclarations"][0]
    assert declared["name"] == "lookup"


def test_openai_client_tool_call_streaming(oai, gemini):
    chunks = list(oai.chat.completions.create(model=MODEL, stream=True, tools=[TOOL_OAI],
                                              messages=[{"role": "user", "content": "find dogs"}]))
    args, names = "", []
    for chunk in chunks:
        for call in (chunk.choices[0].delta.tool_calls or []) if chunk.choices else []:
            if call.function and call.function.name:
                names.append(call.function.name)
            args += (call.function.arguments or "") if call.function else ""
    assert names == ["lookup"] and orjson.loads(args) == {"query": "find dogs"}
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishes == ["tool_calls"]
    _sent(gemini, stream=True)


def test_openai_client_tool_result_round_trip(oai, gemini):
    first = oai.chat.completions.create(model=MODEL, tools=[TOOL_OAI],
                                        messages=[{"role": "user", "content": "find owls"}])
    call = first.choices[0].message.tool_calls[0]
    final = oai.chat.completions.create(model=MODEL, tools=[TOOL_OAI], messages=[
        {"role": "user", "content": "find owls"},
        {"role": "assistant", "tool_calls": [call.model_dump()]},
        {"role": "tool", "tool_call_id": call.id, "content": '{"hits": 2}'}])
    assert final.choices[0].message.content == 'echo: result {"hits":2}'
    parts = _sent(gemini).body["contents"][-1]["parts"]
    assert parts[0]["functionResponse"] == {"name": "lookup", "response": {"hits": 2}}


def test_upstream_errors_reach_openai_client(oai, gemini):
    gemini.fail_next(429, headers={"Retry-After": "3"})
    with pytest.raises(openai.RateLimitError):
        oai.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hi"}])
    gemini.fail_next(400)
    with pytest.raises(openai.BadRequestError):
        oai.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hi"}])


def test_openai_usage_maps_cached_tokens(oai, gemini):
    answer = oai.chat.completions.create(model=MODEL, messages=[{"role": "system", "content": "CACHE this"},
                                                                {"role": "user", "content": "hi"}])
    usage = answer.usage
    assert usage.prompt_tokens_details.cached_tokens == 100
    assert usage.prompt_tokens == 101, "Gemini's promptTokenCount already includes cached tokens"
    assert usage.completion_tokens == 2 and usage.total_tokens == 103
    assert "CACHE" in _system_text(_sent(gemini).body)


def test_openai_streaming_usage_maps_cached_tokens(oai, gemini):
    chunks = list(oai.chat.completions.create(model=MODEL, stream=True, stream_options={"include_usage": True},
                                              messages=[{"role": "system", "content": "CACHE this"},
                                                        {"role": "user", "content": "hi"}]))
    usage = [c.usage for c in chunks if c.usage][-1]
    assert usage.prompt_tokens == 101 and usage.prompt_tokens_details.cached_tokens == 100


# ---- Anthropic clients -------------------------------------------------------------------------


def test_anthropic_client_text_and_stream(gateway, key, gemini):
    claude = anthropic.Anthropic(base_url=gateway.url, api_key=key, max_retries=0)
    msg = claude.messages.create(model=MODEL, max_tokens=64, system="Be brief.",
                                 messages=[{"role": "user", "content": "hello there"}])
    assert msg.content[0].text == "echo: hello there" and msg.stop_reason == "end_turn"
    assert (msg.usage.input_tokens, msg.usage.output_tokens) == (2, 3)
    assert _system_text(_sent(gemini).body) == "Be brief."
    with claude.messages.stream(model=MODEL, max_tokens=64, system="Be brief.",
                                messages=[{"role": "user", "content": "a b c"}]) as stream:
        assert "".join(stream.text_stream) == "echo: a b c"
        final = stream.get_final_message()
    assert final.stop_reason == "end_turn"
    assert _system_text(_sent(gemini, stream=True).body) == "Be brief."


# ---- Gemini clients (pass-through) -------------------------------------------------------------


@pytest.fixture
def google_client(gateway, key):
    return genai.Client(api_key=key, http_options=types.HttpOptions(base_url=gateway.url))


def test_genai_client_text(google_client, gemini):
    answer = google_client.models.generate_content(
        model=MODEL, contents="hello there",
        config=types.GenerateContentConfig(system_instruction="CACHE be brief", max_output_tokens=40))
    assert answer.text == "echo: hello there"
    assert answer.usage_metadata.cached_content_token_count == 100
    assert answer.usage_metadata.prompt_token_count == 102
    sent = _sent(gemini)
    assert _system_text(sent.body) == "CACHE be brief"
    assert sent.body["generationConfig"]["maxOutputTokens"] == 40


def test_genai_client_stream(google_client, gemini):
    chunks = list(google_client.models.generate_content_stream(model=MODEL, contents="one two three"))
    assert "".join(c.text or "" for c in chunks) == "echo: one two three"
    assert chunks[-1].candidates[0].finish_reason == types.FinishReason.STOP
    assert chunks[-1].usage_metadata.candidates_token_count == 4
    _sent(gemini, stream=True)


def test_genai_client_function_call(google_client, gemini):
    config = types.GenerateContentConfig(tools=[TOOL_GENAI])
    answer = google_client.models.generate_content(model=MODEL, contents="find bats", config=config)
    call = answer.function_calls[0]
    assert call.name == "lookup" and call.args == {"query": "find bats"}
    assert _sent(gemini).body["tools"][0]["functionDeclarations"][0]["name"] == "lookup"


# ---- Ollama clients ----------------------------------------------------------------------------


@pytest.fixture
def ollama_client(gateway, key):
    return ollama.Client(host=gateway.url, headers={"Authorization": f"Bearer {key}"})


def test_ollama_client_chat(ollama_client, gemini):
    answer = ollama_client.chat(model=MODEL, stream=False,
                                messages=[{"role": "system", "content": "Be brief."},
                                          {"role": "user", "content": "hello there"}])
    assert answer.message.content == "echo: hello there" and answer.done
    assert _system_text(_sent(gemini).body) == "Be brief."


def test_ollama_client_chat_stream(ollama_client, gemini):
    parts = list(ollama_client.chat(model=MODEL, stream=True,
                                    messages=[{"role": "user", "content": "one two three"}]))
    assert "".join(p.message.content or "" for p in parts) == "echo: one two three"
    assert parts[-1].done
    _sent(gemini, stream=True)


def test_genai_stream_without_alt_sse_over_gemini_upstream(gateway, key, gemini):
    """The upstream is asked for SSE; a client that did not ask for it still gets one JSON array."""
    resp = httpx.post(gateway.url + f"/v1beta/models/{MODEL}:streamGenerateContent",
                      headers={"x-goog-api-key": key},
                      json={"contents": [{"role": "user", "parts": [{"text": "one two three"}]}]})
    assert resp.status_code == 200
    chunks = resp.json()
    text = "".join(p.get("text", "") for c in chunks for p in c["candidates"][0]["content"]["parts"])
    assert text == "echo: one two three"
    _sent(gemini, stream=True)
