"""The official ollama client (Open WebUI's dialect) over an OpenAI-dialect upstream."""

from __future__ import annotations

import httpx
import ollama
import pytest

TOOL = {"type": "function", "function": {"name": "lookup", "description": "Look up",
                                         "parameters": {"type": "object",
                                                        "properties": {"query": {"type": "string"}}}}}


@pytest.fixture
def client(gateway, connection, api_key):
    connection()
    return ollama.Client(host=gateway.url, headers={"Authorization": f"Bearer {api_key()['key']}"})


def test_chat_without_stream(client, upstream):
    answer = client.chat(model="openai/gpt-4o-mini", stream=False,
                         messages=[{"role": "system", "content": "Be brief."},
                                   {"role": "user", "content": "hello there"}])
    assert answer.message.content == "echo: hello there" and answer.done
    assert answer.eval_count == 3 and answer.prompt_eval_count > 0
    assert upstream.requests[-1].body["messages"][0] == {"role": "system", "content": "Be brief."}


def test_chat_streams_by_default(gateway, client):
    parts = list(client.chat(model="openai/gpt-4o-mini", stream=True,
                             messages=[{"role": "user", "content": "one two three"}]))
    assert "".join(p.message.content for p in parts) == "echo: one two three"
    assert parts[-1].done and parts[-1].done_reason == "stop"
    raw = httpx.post(gateway.url + "/api/chat", json={"model": "openai/gpt-4o-mini",
                                                      "messages": [{"role": "user", "content": "hi"}]})
    assert raw.headers["content-type"].startswith("application/x-ndjson"), "no 'stream' means streaming"
    assert len(raw.text.strip().splitlines()) > 1


def test_tool_call(client):
    answer = client.chat(model="openai/gpt-4o-mini", stream=False, tools=[TOOL],
                         messages=[{"role": "user", "content": "find owls"}])
    call = answer.message.tool_calls[0]
    assert call.function.name == "lookup" and call.function.arguments == {"query": "find owls"}


def test_tags_and_errors(gateway, client):
    names = [m.model for m in client.list().models]
    assert "openai/gpt-4o-mini" in names
    resp = httpx.post(gateway.url + "/api/chat", json={"model": "nope/x", "messages": []})
    assert resp.status_code in (400, 404) and isinstance(resp.json()["error"], str)
