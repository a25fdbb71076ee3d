"""An Ollama-dialect upstream (POST /api/chat, NDJSON) behind the gateway, driven by every client SDK."""

from __future__ import annotations

import anthropic
import ollama
import openai
import orjson
import pytest
from google import genai
from google.genai import types

from tests.fakes.ollama_upstream import Answer, FakeOllama

MODEL = "ollama/llama3.2"
SYSTEM = {"role": "system", "content": "Be brief."}
TOOL = {"type": "function", "function": {"name": "lookup", "description": "Look up",
                                         "parameters": {"type": "object",
                                                        "properties": {"query": {"type": "string"}}}}}


@pytest.fixture(scope="module")
def fake_ollama():
    with FakeOllama() as fake:
        yield fake


@pytest.fixture
def ollama_up(fake_ollama):
    fake_ollama.clear()
    fake_ollama.latency_ms = 0
    fake_ollama.chunk_delay_ms = 0
    fake_ollama.valid_keys = None
    fake_ollama.send_done = True
    fake_ollama.strict_models = False
    yield fake_ollama
    fake_ollama.clear()


@pytest.fixture
def ollama_conn(connection, ollama_up):
    return connection(provider="ollama", apiKey=None, baseUrl=ollama_up.base_url)


@pytest.fixture
def key(ollama_conn, api_key) -> str:
    return api_key()["key"]


@pytest.fixture
def oai(gateway, key):
    return openai.OpenAI(base_url=gateway.url + "/v1", api_key=key, max_retries=0, timeout=20)


def _sent(fake: FakeOllama) -> dict:
    """The body of the only chat request the upstream got."""
    chats = [r for r in fake.requests if r.path == "/api/chat"]
    assert len(chats) == 1, [r.body for r in chats]
    assert chats[0].path == "/api/chat" and chats[0].body["model"] == "llama3.2"
    return chats[0].body


def _counts(body: dict) -> tuple[int, int]:
    """(prompt_eval_count, eval_count) the fake reported for this request body."""
    answer = Answer(body)
    return answer.prompt_eval_count, answer.eval_count


# ---------------------------------------------------------------- OpenAI client (translated)


def test_openai_text(oai, ollama_up):
    answer = oai.chat.completions.create(model=MODEL, max_tokens=50,
                                         messages=[SYSTEM, {"role": "user", "content": "hello there"}])
    assert answer.choices[0].message.content == "echo: hello there"
    assert answer.choices[0].finish_reason == "stop"
    body = _sent(ollama_up)
    assert body["stream"] is False, "a non-streaming client must ask the upstream not to stream"
    assert body["messages"][0] == SYSTEM
    assert body["messages"][-1] == {"role": "user", "content": "hello there"}
    assert body["options"]["num_predict"] == 50
    assert ollama_up.requests[-1].api_key is None, "auth 'none' sends no key"
    prompt, completion = _counts(body)
    assert (answer.usage.prompt_tokens, answer.usage.completion_tokens) == (prompt, completion)
    assert answer.usage.total_tokens == prompt + completion


def test_openai_streaming_text(oai, ollama_up):
    chunks = list(oai.chat.completions.create(model=MODEL, stream=True, stream_options={"include_usage": True},
                                              messages=[SYSTEM, {"role": "user", "content": "one two three"}]))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "echo: one two three"
    assert [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason] == ["stop"]
    body = _sent(ollama_up)
    assert body["stream"] is True and body["messages"][0] == SYSTEM
    usage = [c.usage for c in chunks if c.usage]
    assert usage, "include_usage asks for a usage chunk"
    assert (usage[-1].prompt_tokens, usage[-1].completion_tokens) == _counts(body)


def test_openai_tool_call(oai, ollama_up):
    answer = oai.chat.completions.create(model=MODEL, tools=[TOOL],
                                         messages=[{"role": "user", "content": "find owls"}])
    [call] = answer.choices[0].message.tool_calls
    assert call.function.name == "lookup" and orjson.loads(call.function.arguments) == {"query": "find owls"}
    assert call.id, "Ollama calls carry no id; the gateway must invent one"
    assert answer.choices[0].finish_reason == "tool_calls"
    body = _sent(ollama_up)
    assert body["stream"] is False and body["tools"][0]["function"]["name"] == "lookup"

    ollama_up.clear()
    follow_up = oai.chat.completions.create(model=MODEL, tools=[TOOL], messages=[
        {"role": "user", "content": "find owls"},
        {"role": "assistant", "content": None, "tool_calls": [call.model_dump()]},
        {"role": "tool", "tool_call_id": call.id, "content": "three owls"},
    ])
    assert follow_up.choices[0].message.content == "echo: result three owls"
    sent = _sent(ollama_up)["messages"]
    assert sent[-1] == {"role": "tool", "content": "three owls", "tool_name": "lookup"}
    assert sent[-2]["tool_calls"] == [{"function": {"name": "lookup", "arguments": {"query": "find owls"}}}]


def test_openai_tool_call_streaming(oai, ollama_up):
    chunks = list(oai.chat.completions.create(model=MODEL, stream=True, tools=[TOOL],
                                              messages=[{"role": "user", "content": "find dogs"}]))
    args, names, ids = "", [], set()
    for chunk in chunks:
        for call in (chunk.choices[0].delta.tool_calls or []) if chunk.choices else []:
            if call.function and call.function.name:
                names.append(call.function.name)
            if call.id:
                ids.add(call.id)
            args += (call.function.arguments or "") if call.function else ""
    assert names == ["lookup"] and len(ids) == 1
    assert orjson.loads(args) == {"query": "find dogs"}
    assert [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason] == ["tool_calls"]
    assert _sent(ollama_up)["stream"] is True


# ---------------------------------------------------------------- Anthropic client (translated)


def test_anthropic_text(gateway, key, ollama_up):
    claude = anthropic.Anthropic(base_url=gateway.url, api_key=key, max_retries=0, timeout=20)
    msg = claude.messages.create(model=MODEL, max_tokens=64, system="Be brief.",
                                 messages=[{"role": "user", "content": "hello there"}])
    assert msg.content[-1].type == "text" and msg.content[-1].text == "echo: hello there"
    assert msg.stop_reason == "end_turn"
    body = _sent(ollama_up)
    assert body["stream"] is False and body["messages"][0] == SYSTEM
    assert (msg.usage.input_tokens, msg.usage.output_tokens) == _counts(body)


def test_anthropic_streaming(gateway, key, ollama_up):
    claude = anthropic.Anthropic(base_url=gateway.url, api_key=key, max_retries=0, timeout=20)
    with claude.messages.stream(model=MODEL, max_tokens=64, system="Be brief.",
                                messages=[{"role": "user", "content": "a b c"}]) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == "echo: a b c" and final.stop_reason == "end_turn"
    body = _sent(ollama_up)
    assert body["stream"] is True and body["messages"][0] == SYSTEM
    assert final.usage.output_tokens == _counts(body)[1]


# ---------------------------------------------------------------- ollama client (passed through)


@pytest.fixture
def ollama_client(gateway, key):
    return ollama.Client(host=gateway.url, headers={"Authorization": f"Bearer {key}"}, timeout=20)


def test_ollama_chat_without_stream(ollama_client, ollama_up):
    answer = ollama_client.chat(model=MODEL, stream=False,
                                messages=[SYSTEM, {"role": "user", "content": "hello there"}])
    assert answer.message.content == "echo: hello there" and answer.done and answer.done_reason == "stop"
    body = _sent(ollama_up)
    assert body["stream"] is False and body["messages"][0] == SYSTEM
    assert (answer.prompt_eval_count, answer.eval_count) == _counts(body)
    assert ollama_up.requests[-1].api_key is None, "the client's gateway key must not leak upstream"


def test_ollama_chat_streaming(ollama_client, ollama_up):
    parts = list(ollama_client.chat(model=MODEL, stream=True,
                                    messages=[SYSTEM, {"role": "user", "content": "one two three"}]))
    assert "".join(p.message.content for p in parts) == "echo: one two three"
    assert len(parts) > 2, "the answer arrives in pieces"
    assert parts[-1].done and parts[-1].done_reason == "stop"
    assert not any(p.done for p in parts[:-1])
    body = _sent(ollama_up)
    assert body["stream"] is True and body["messages"][0] == SYSTEM
    assert (parts[-1].prompt_eval_count, parts[-1].eval_count) == _counts(body)


def test_ollama_tool_call(ollama_client, ollama_up):
    answer = ollama_client.chat(model=MODEL, stream=False, tools=[TOOL],
                                messages=[{"role": "user", "content": "find owls"}])
    [call] = answer.message.tool_calls
    assert call.function.name == "lookup" and call.function.arguments == {"query": "find owls"}
    assert _sent(ollama_up)["tools"][0]["function"]["name"] == "lookup"
    ollama_up.clear()
    parts = list(ollama_client.chat(model=MODEL, stream=True, tools=[TOOL],
                                    messages=[{"role": "user", "content": "find bats"}]))
    calls = [c for p in parts for c in p.message.tool_calls or []]
    assert [(c.function.name, c.function.arguments) for c in calls] == [("lookup", {"query": "find bats"})]
    assert parts[-1].done


def test_ollama_thinking_passes_through(ollama_client, ollama_up):
    answer = ollama_client.chat(model=MODEL, stream=False, think=True,
                                messages=[{"role": "user", "content": "ponder this"}])
    assert answer.message.thinking == "Thinking about: ponder this"
    assert answer.message.content == "echo: ponder this"
    assert _sent(ollama_up)["think"] is True


# ---------------------------------------------------------------- google-genai client (translated)


@pytest.fixture
def gemini(gateway, key):
    return genai.Client(api_key=key, http_options=types.HttpOptions(base_url=gateway.url))


def test_genai_generate_content(gemini, ollama_up):
    answer = gemini.models.generate_content(
        model=MODEL, contents="hello there",
        config=types.GenerateContentConfig(system_instruction="Be brief.", max_output_tokens=40))
    assert answer.text == "echo: hello there"
    body = _sent(ollama_up)
    assert body["stream"] is False and body["messages"][0] == SYSTEM
    assert body["options"]["num_predict"] == 40
    prompt, completion = _counts(body)
    assert answer.usage_metadata.prompt_token_count == prompt
    assert answer.usage_metadata.candidates_token_count == completion


def test_genai_generate_content_stream(gemini, ollama_up):
    chunks = list(gemini.models.generate_content_stream(
        model=MODEL, contents="one two three", config=types.GenerateContentConfig(system_instruction="Be brief.")))
    assert "".join(c.text or "" for c in chunks) == "echo: one two three"
    assert chunks[-1].candidates[0].finish_reason == types.FinishReason.STOP
    body = _sent(ollama_up)
    assert body["stream"] is True and body["messages"][0] == SYSTEM


# ---------------------------------------------------------------- upstream faults


def test_upstream_error_and_unknown_model(oai, ollama_up):
    ollama_up.strict_models = True
    with pytest.raises(openai.NotFoundError):
        oai.chat.completions.create(model="ollama/missing-model", messages=[{"role": "user", "content": "hi"}])
    ollama_up.strict_models = False
    ollama_up.clear()
    ollama_up.fail_next(500, count=5)
    with pytest.raises(openai.APIStatusError) as info:
        oai.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hi"}])
    assert info.value.status_code >= 500


def test_stream_cut_mid_answer_is_not_a_clean_finish(oai, ollama_up):
    ollama_up.cut_stream_after(2)
    finishes, text = [], ""
    with pytest.raises(openai.APIError):
        for chunk in oai.chat.completions.create(model=MODEL, stream=True,
                                                 messages=[{"role": "user", "content": "a b c d e"}]):
            if chunk.choices:
                text += chunk.choices[0].delta.content or ""
                finishes += [chunk.choices[0].finish_reason] if chunk.choices[0].finish_reason else []
    assert "stop" not in finishes and text.startswith("echo:")


def test_stream_without_done_line_surfaces_as_error(ollama_client, oai, ollama_up):
    ollama_up.send_done = False
    seen = []
    with pytest.raises(ollama.ResponseError) as info:
        for part in ollama_client.chat(model=MODEL, stream=True, messages=[{"role": "user", "content": "a b"}]):
            seen.append(part)
    assert "final" in info.value.error
    assert "".join(p.message.content for p in seen) == "echo: a b" and not any(p.done for p in seen)
    with pytest.raises(openai.APIError):
        list(oai.chat.completions.create(model=MODEL, stream=True, messages=[{"role": "user", "content": "a b"}]))


def test_upstream_error_message_reaches_ollama_client(ollama_client, ollama_up):
    ollama_up.fail_next(400, body={"error": "bad thing"})
    with pytest.raises(ollama.ResponseError) as info:
        ollama_client.chat(model=MODEL, stream=False, messages=[{"role": "user", "content": "hi"}])
    assert info.value.status_code == 400 and "bad thing" in info.value.error
