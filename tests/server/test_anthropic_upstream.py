"""An Anthropic-dialect upstream: served to OpenAI clients (translated) and Anthropic clients (passed through)."""

from __future__ import annotations

import time

import anthropic
import httpx
import openai
import orjson
import pytest

TOOL_OAI = {"type": "function", "function": {"name": "lookup", "description": "Look up",
                                             "parameters": {"type": "object",
                                                            "properties": {"query": {"type": "string"}}}}}


@pytest.fixture
def claude_conn(connection, anthropic_upstream):
    return connection(provider="anthropic", apiKey="sk-ant-test", baseUrl=anthropic_upstream.base_url)


@pytest.fixture
def oai(gateway, claude_conn, api_key):
    return openai.OpenAI(base_url=gateway.url + "/v1", api_key=api_key()["key"], max_retries=0)


def test_openai_client_text(oai, anthropic_upstream):
    answer = oai.chat.completions.create(model="anthropic/claude-sonnet-4-5", max_tokens=50,
                                         messages=[{"role": "system", "content": "Be brief."},
                                                   {"role": "user", "content": "hello there"}])
    assert answer.choices[0].message.content == "echo: hello there"
    assert answer.choices[0].finish_reason == "stop"
    sent = anthropic_upstream.requests[-1]
    assert sent.api_key == "sk-ant-test" and sent.headers["anthropic-version"]
    assert sent.body["system"] == "Be brief." and sent.body["max_tokens"] == 50
    assert sent.body["model"] == "claude-sonnet-4-5"
    assert answer.usage.prompt_tokens == sent_prompt_words(sent.body)


def sent_prompt_words(body) -> int:
    words = 0
    for message in body["messages"]:
        content = message["content"]
        texts = [content] if isinstance(content, str) else [b.get("text", "") for b in content]
        words += sum(len(t.split()) for t in texts)
    return max(words, 1)


def test_openai_client_streaming(oai):
    chunks = list(oai.chat.completions.create(model="anthropic/claude-sonnet-4-5", stream=True, max_tokens=50,
                                              messages=[{"role": "user", "content": "one two three"}]))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "echo: one two three"
    assert [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason] == ["stop"]


def test_openai_client_tool_call_streaming(oai):
    chunks = list(oai.chat.completions.create(model="anthropic/claude-sonnet-4-5", stream=True, tools=[TOOL_OAI],
                                              messages=[{"role": "user", "content": "find dogs"}]))
    args, names = "", []
    for chunk in chunks:
        for call in (chunk.choices[0].delta.tool_calls or []) if chunk.choices else []:
            if call.function.name:
                names.append(call.function.name)
            args += call.function.arguments or ""
    assert names == ["lookup"] and orjson.loads(args) == {"query": "find dogs"}
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


def test_anthropic_client_passes_through(gateway, claude_conn, anthropic_upstream, api_key):
    claude = anthropic.Anthropic(base_url=gateway.url, api_key=api_key()["key"], max_retries=0)
    msg = claude.messages.create(model="anthropic/claude-sonnet-4-5", max_tokens=64,
                                 thinking={"type": "enabled", "budget_tokens": 1024},
                                 messages=[{"role": "user", "content": "think about it"}])
    assert msg.content[0].type == "thinking" and msg.content[0].signature
    assert msg.content[-1].text == "echo: think about it"
    assert anthropic_upstream.requests[-1].body["thinking"] == {"type": "enabled", "budget_tokens": 1024}
    with claude.messages.stream(model="anthropic/claude-sonnet-4-5", max_tokens=64,
                                messages=[{"role": "user", "content": "a b c"}]) as stream:
        assert "".join(stream.text_stream) == "echo: a b c"


def test_usage_row_maps_anthropic_cache_tokens(gateway, claude_conn, admin, api_key):
    key = api_key()
    resp = httpx.post(gateway.url + "/v1/chat/completions", headers={"Authorization": f"Bearer {key['key']}"},
                      json={"model": "anthropic/claude-sonnet-4-5", "max_tokens": 20,
                            "messages": [{"role": "system", "content": "CACHE this"},
                                         {"role": "user", "content": "hi"}]})
    usage = resp.json()["usage"]
    assert usage["prompt_tokens_details"]["cached_tokens"] == 100
    assert usage["prompt_tokens"] > 100, "prompt_tokens counts input plus cache reads"
    assert usage["cache_creation_input_tokens"] == 50 and usage["prompt_tokens"] < 150, "writes not added"

    for _ in range(60):
        logs = admin.get("/api/usage/logs", params={"apiKeyId": key["id"]}).json()["logs"]
        if logs:
            break
        time.sleep(0.05)
    assert logs[0]["cachedTokens"] == 100 and logs[0]["upstreamFormat"] == "anthropic"
    assert logs[0]["promptTokens"] == usage["prompt_tokens"]


def test_gemini_client_over_anthropic(gateway, claude_conn, anthropic_upstream, api_key):
    from google import genai
    from google.genai import types

    client = genai.Client(api_key=api_key()["key"], http_options=types.HttpOptions(base_url=gateway.url))
    answer = client.models.generate_content(
        model="anthropic/claude-sonnet-4-5", contents="hello gemini",
        config=types.GenerateContentConfig(system_instruction="Be brief.", max_output_tokens=30))
    assert answer.text == "echo: hello gemini"
    sent = anthropic_upstream.requests[-1].body
    assert sent["system"] == "Be brief." and sent["max_tokens"] == 30
    chunks = list(client.models.generate_content_stream(model="anthropic/claude-sonnet-4-5", contents="x y z"))
    assert "".join(c.text or "" for c in chunks) == "echo: x y z"


def test_ollama_client_over_anthropic(gateway, claude_conn, anthropic_upstream, api_key):
    import ollama

    client = ollama.Client(host=gateway.url, headers={"Authorization": f"Bearer {api_key()['key']}"})
    answer = client.chat(model="anthropic/claude-sonnet-4-5", stream=False,
                         messages=[{"role": "user", "content": "hello ollama"}])
    assert answer.message.content == "echo: hello ollama" and answer.done
    parts = list(client.chat(model="anthropic/claude-sonnet-4-5", stream=True,
                             messages=[{"role": "user", "content": "p q"}]))
    assert "".join(p.message.content for p in parts) == "echo: p q" and parts[-1].done
    assert anthropic_upstream.requests[-1].body["stream"] is True


def test_openai_client_thinking_tool_loop(oai, anthropic_upstream):
    """An OpenAI client cannot hand back Anthropic's signed thinking: the loop's next turn must still work."""
    messages = [{"role": "user", "content": "find cats"}]
    first = oai.chat.completions.create(model="anthropic/claude-sonnet-4-5", messages=messages, tools=[TOOL_OAI],
                                        reasoning_effort="low", max_tokens=2000)
    assert anthropic_upstream.requests[-1].body["thinking"]["type"] == "enabled"
    call = first.choices[0].message.tool_calls[0]
    messages += [{"role": "assistant", "content": None, "tool_calls": [call.model_dump(exclude_none=True)]},
                 {"role": "tool", "tool_call_id": call.id, "content": "3 cats"}]
    second = oai.chat.completions.create(model="anthropic/claude-sonnet-4-5", messages=messages, tools=[TOOL_OAI],
                                         reasoning_effort="low", max_tokens=2000)
    assert second.choices[0].message.content == "echo: result 3 cats"
    assert anthropic_upstream.requests[-1].body["thinking"] == {"type": "disabled"}  # this turn only


def test_model_switch_mid_conversation_keeps_foreign_signatures_away(gateway, claude_conn, anthropic_upstream):
    """Claude Code switched from a Gemini model to Claude: the Gemini signature it kept (wrapped)
    must not reach Anthropic, even though client and upstream now speak the same dialect."""
    from omniroute.dialects.provenance import wrap

    claude = anthropic.Anthropic(base_url=gateway.url, api_key="sk-local", max_retries=0)
    history = [{"role": "user", "content": "find cats"},
               {"role": "assistant", "content": [
                   {"type": "thinking", "thinking": "look", "signature": wrap("gemini", "s", "R0VNSU5J")},
                   {"type": "text", "text": "Looking."}]},
               {"role": "user", "content": "and dogs?"}]
    answer = claude.messages.create(model="anthropic/claude-sonnet-4-5", max_tokens=64, messages=history)
    assert answer.content[0].text == "echo: and dogs?"
    sent = anthropic_upstream.requests[-1].body
    assert "R0VNSU5J" not in str(sent) and "omr1." not in str(sent)
    assert sent["messages"][1]["content"] == [{"type": "text", "text": "Looking."}]
    native = [{"role": "user", "content": "hi"},
              {"role": "assistant", "content": [{"type": "thinking", "thinking": "t", "signature": "sig-native"},
                                                {"type": "text", "text": "ok"}]},
              {"role": "user", "content": "again"}]
    claude.messages.create(model="anthropic/claude-sonnet-4-5", max_tokens=64, messages=native)
    assert anthropic_upstream.requests[-1].raw.count(b"sig-native") == 1  # passed through untouched
