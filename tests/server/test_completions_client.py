"""The legacy ``/v1/completions`` endpoint with the official openai SDK, over chat upstreams."""

from __future__ import annotations

import httpx
import openai
import pytest


@pytest.fixture
def oai(gateway, connection, upstream):
    connection()
    return openai.OpenAI(base_url=gateway.url + "/v1", api_key="sk-local", max_retries=0)


def test_completion_over_a_chat_upstream(oai, upstream):
    answer = oai.completions.create(model="openai/gpt-4o-mini", prompt="say these words", max_tokens=30, stop=["\n"])
    assert answer.object == "text_completion"
    assert answer.choices[0].text == "echo: say these words"
    assert answer.choices[0].finish_reason == "stop"
    assert answer.usage.completion_tokens == 4
    sent = upstream.requests[-1].body
    assert sent["messages"] == [{"role": "user", "content": "say these words"}]
    assert sent["max_tokens"] == 30 and sent["stop"] == ["\n"]


def test_completion_default_max_tokens_is_the_legacy_16(oai, upstream):
    oai.completions.create(model="openai/gpt-4o-mini", prompt="hi")
    assert upstream.requests[-1].body["max_tokens"] == 16


def test_streamed_completion_with_usage(oai):
    chunks = list(oai.completions.create(model="openai/gpt-4o-mini", prompt="one two three", stream=True,
                                         stream_options={"include_usage": True}))
    assert "".join(c.choices[0].text for c in chunks if c.choices) == "echo: one two three"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 4


def test_completion_over_an_anthropic_upstream(gateway, connection, anthropic_upstream):
    connection(provider="anthropic", apiKey="a-key", baseUrl=anthropic_upstream.base_url)
    oai = openai.OpenAI(base_url=gateway.url + "/v1", api_key="sk-local", max_retries=0)
    answer = oai.completions.create(model="anthropic/claude-sonnet-4-5", prompt="hello there", max_tokens=40)
    assert answer.choices[0].text == "echo: hello there"
    assert anthropic_upstream.requests[-1].body["messages"][0]["content"] in (
        "hello there", [{"type": "text", "text": "hello there"}])


def test_unsupported_legacy_fields_are_named(oai, upstream):
    with pytest.raises(openai.BadRequestError) as info:
        oai.completions.create(model="openai/gpt-4o-mini", prompt="hi", echo=True)
    assert "echo" in info.value.message
    with pytest.raises(openai.BadRequestError) as info:
        oai.completions.create(model="openai/gpt-4o-mini", prompt=["a", "b"])
    assert "prompt" in info.value.message
    assert upstream.requests == []


def test_bad_body_is_an_openai_error(gateway, oai):
    resp = httpx.post(gateway.url + "/v1/completions", json={"model": "openai/gpt-4o-mini"})
    assert resp.status_code == 400 and "prompt" in resp.json()["error"]["message"]
