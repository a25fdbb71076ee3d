"""Token counting: the upstream's own counter where the provider has one, tiktoken otherwise."""

from __future__ import annotations

import anthropic
import httpx
import pytest
import tiktoken
from google import genai
from google.genai import types

from tests.fakes.gemini_upstream import FakeGemini

MESSAGES = [{"role": "user", "content": "how many tokens are in this little question"}]


@pytest.fixture
def claude(gateway):
    return anthropic.Anthropic(base_url=gateway.url, api_key="sk-local", max_retries=0)


@pytest.fixture
def via_anthropic(connection, anthropic_upstream):
    connection(provider="anthropic", apiKey="a-key", baseUrl=anthropic_upstream.base_url)
    return anthropic_upstream


def test_anthropic_upstream_counts(claude, via_anthropic):
    raw = claude.messages.with_raw_response.count_tokens(
        model="anthropic/claude-sonnet-4-5", system="Be brief.", messages=MESSAGES)
    assert raw.headers["x-omniroute-token-count"] == "upstream"
    assert raw.parse().input_tokens == via_anthropic.counted == 8 + 2 + 5
    sent = via_anthropic.requests[-1]
    assert sent.path == "/v1/messages/count_tokens" and sent.body["model"] == "claude-sonnet-4-5"
    assert "max_tokens" not in sent.body and sent.api_key == "a-key"


def test_falls_back_to_a_local_count_when_the_upstream_counter_fails(claude, via_anthropic):
    via_anthropic.fail_for_key("a-key", 503)
    raw = claude.messages.with_raw_response.count_tokens(model="anthropic/claude-sonnet-4-5", messages=MESSAGES)
    assert raw.headers["x-omniroute-token-count"] == "local"
    assert raw.parse().input_tokens > 0


def test_local_count_for_an_openai_upstream(claude, connection, upstream):
    connection()
    text = MESSAGES[0]["content"]
    short = claude.messages.with_raw_response.count_tokens(model="openai/gpt-4o-mini", messages=MESSAGES)
    assert short.headers["x-omniroute-token-count"] == "local"
    counted = short.parse().input_tokens
    words = len(tiktoken.get_encoding("o200k_base").encode(text))
    assert words <= counted <= words + 10  # the text's tokens plus a small per-message overhead
    longer = claude.messages.count_tokens(
        model="openai/gpt-4o-mini", system="You answer in French, briefly and politely.",
        messages=MESSAGES, tools=[{"name": "lookup", "description": "Find a thing",
                                   "input_schema": {"type": "object", "properties": {"q": {"type": "string"}}}}])
    assert longer.input_tokens > counted + 10
    assert upstream.requests == []  # counting never calls an OpenAI upstream


def test_bad_count_requests_are_anthropic_errors(gateway, claude, connection):
    connection()
    resp = httpx.post(gateway.url + "/v1/messages/count_tokens", json={"model": "openai/gpt-4o-mini"})
    assert resp.status_code == 400 and resp.json()["type"] == "error"
    assert "messages" in resp.json()["error"]["message"]
    with pytest.raises(anthropic.NotFoundError):
        claude.messages.count_tokens(model="nope/none", messages=MESSAGES)


@pytest.fixture(scope="module")
def fake_gemini():
    fake = FakeGemini().start()
    yield fake
    fake.stop()


def test_gemini_count_tokens_uses_the_upstream(gateway, connection, fake_gemini):
    fake_gemini.clear()
    connection(provider="gemini", apiKey="g-key", baseUrl=fake_gemini.base_url)
    client = genai.Client(api_key="sk-local", http_options=types.HttpOptions(base_url=gateway.url))
    answer = client.models.count_tokens(model="gemini/gemini-2.5-flash", contents="one two three four")
    assert answer.total_tokens == fake_gemini.counted == 4 + 3
    sent = fake_gemini.requests[-1]
    assert sent.path.endswith("/models/gemini-2.5-flash:countTokens") and sent.api_key == "g-key"


def test_gemini_count_tokens_over_openai_counts_locally(gateway, connection, upstream):
    connection()
    client = genai.Client(api_key="sk-local", http_options=types.HttpOptions(base_url=gateway.url))
    answer = client.models.count_tokens(model="openai/gpt-4o-mini", contents="one two three four")
    assert 4 <= answer.total_tokens <= 14
    assert upstream.requests == []


def test_a_count_leaves_a_usage_row_that_costs_nothing(gateway, admin, api_key, via_anthropic):
    from tests.support import usage_rows

    key = api_key()
    client = anthropic.Anthropic(base_url=gateway.url, api_key=key["key"], max_retries=0)
    client.messages.count_tokens(model="anthropic/claude-sonnet-4-5", messages=MESSAGES)
    [row] = usage_rows(admin, key["id"])
    assert (row["status"], row["provider"], row["model"], row["cost"]) == (200, "anthropic", "claude-sonnet-4-5", 0)
    assert row["requestedModel"] == "anthropic/claude-sonnet-4-5" and row["clientFormat"] == "anthropic"
