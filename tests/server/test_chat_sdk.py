"""The official openai SDK chats through the gateway, streaming and not, with a key."""

from __future__ import annotations

import openai
import pytest


@pytest.fixture
def setup(gateway, admin, upstream):
    conn = admin.post("/api/providers", json={"provider": "openai", "name": "fake", "apiKey": "sk-upstream-1",
                                              "baseUrl": upstream.base_url}).json()
    key = admin.post("/api/keys", json={"name": "sdk"}).json()["key"]
    yield key
    admin.delete(f"/api/providers/{conn['id']}")


def test_non_streaming_chat(gateway, upstream, setup):
    client = openai.OpenAI(base_url=gateway.url + "/v1", api_key=setup)
    answer = client.chat.completions.create(model="openai/gpt-4o-mini",
                                            messages=[{"role": "user", "content": "hello there"}])
    assert answer.choices[0].message.content == "echo: hello there"
    assert answer.usage.prompt_tokens == 2
    sent = upstream.requests[-1]
    assert sent.body["model"] == "gpt-4o-mini"
    assert sent.api_key == "sk-upstream-1"


def test_streaming_chat(gateway, upstream, setup):
    client = openai.OpenAI(base_url=gateway.url + "/v1", api_key=setup)
    stream = client.chat.completions.create(model="openai/gpt-4o-mini", stream=True,
                                            messages=[{"role": "user", "content": "one two three"}])
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "echo: one two three"
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert all(c.usage is None for c in chunks), "usage chunk was not asked for and must not reach the client"
