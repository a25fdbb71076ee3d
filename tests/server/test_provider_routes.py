"""/v1/providers/{provider}/…: one provider forced for chat, embeddings and images."""

from __future__ import annotations

import httpx
import openai
import pytest

from tests.fakes.openai_answers import embedding_vector


def forced(gateway, provider: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{gateway.url}/v1/providers/{provider}", api_key="sk-x", max_retries=0)


def test_chat_adds_the_prefix(gateway, upstream, connection):
    connection()
    answer = forced(gateway, "openai").chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "hello"}])
    assert answer.choices[0].message.content == "echo: hello"
    assert upstream.requests[-1].body["model"] == "gpt-4o-mini"


def test_chat_with_its_own_prefix_or_alias(gateway, upstream, connection):
    connection()
    client = forced(gateway, "oai")
    for model in ("openai/gpt-4o", "oai/gpt-4o"):
        client.chat.completions.create(model=model, messages=[{"role": "user", "content": "x"}])
        assert upstream.requests[-1].body["model"] == "gpt-4o"


def test_chat_stream(gateway, upstream, connection):
    connection()
    stream = forced(gateway, "openai").chat.completions.create(
        model="gpt-4o-mini", stream=True, messages=[{"role": "user", "content": "a b"}])
    assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices) == "echo: a b"


def test_model_of_another_provider_is_400_naming_both(gateway, upstream, connection):
    connection()
    connection(provider="together")
    for path, body in (("chat/completions", {"model": "openai/gpt-4o", "messages": [{"role": "user", "content": "x"}]}),
                       ("embeddings", {"model": "openai/text-embedding-3-small", "input": "x"}),
                       ("images/generations", {"model": "openai/dall-e-3", "prompt": "x"})):
        resp = httpx.post(f"{gateway.url}/v1/providers/together/{path}", json=body)
        assert resp.status_code == 400, (path, resp.text)
        message = resp.json()["error"]["message"]
        assert "'openai'" in message and "'together'" in message and resp.json()["error"]["code"] == "provider_mismatch"
    assert upstream.requests == []


def test_model_whose_name_has_a_slash_is_prefixed(gateway, upstream, connection):
    connection(provider="together")
    resp = httpx.post(f"{gateway.url}/v1/providers/together/chat/completions",
                      json={"model": "meta-llama/Llama-3.3-70B-Instruct-Turbo",
                            "messages": [{"role": "user", "content": "x"}]})
    assert resp.status_code == 200, resp.text
    assert upstream.requests[-1].body["model"] == "meta-llama/Llama-3.3-70B-Instruct-Turbo"
    assert resp.headers["x-omniroute-provider"] == "together"


def test_openrouter_model_named_after_another_provider_stays_with_openrouter(gateway, upstream, connection):
    connection(provider="openrouter")
    resp = httpx.post(f"{gateway.url}/v1/providers/openrouter/chat/completions",
                      json={"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "x"}]})
    assert resp.status_code == 200, resp.text
    assert resp.headers["x-omniroute-provider"] == "openrouter"
    assert upstream.requests[-1].body["model"] == "openai/gpt-4o-mini"


def test_embeddings(gateway, upstream, connection):
    connection(provider="mistral")
    result = forced(gateway, "mistral").embeddings.create(model="mistral-embed", input="hola")
    assert result.data[0].embedding == embedding_vector("hola")
    assert upstream.requests[-1].body["model"] == "mistral-embed"
    listed = httpx.get(f"{gateway.url}/v1/providers/mistral/embeddings").json()
    assert {m["id"] for m in listed["data"]} == {"mistral/mistral-embed", "mistral/codestral-embed"}


def test_images(gateway, upstream, connection):
    connection()
    connection(provider="xai")
    result = forced(gateway, "xai").images.generate(model="grok-2-image", prompt="stars", response_format="url")
    assert result.data[0].url
    sent = upstream.requests[-1]
    assert sent.body["model"] == "grok-2-image"
    listed = httpx.get(f"{gateway.url}/v1/providers/xai/images/generations").json()
    assert {m["owned_by"] for m in listed["data"]} == {"xai"}


def test_bare_name_of_another_providers_media_model_is_sent_to_the_forced_one(gateway, upstream, connection):
    connection()
    connection(provider="nebius")
    resp = httpx.post(f"{gateway.url}/v1/providers/nebius/embeddings",
                      json={"model": "text-embedding-3-small", "input": "x"})
    assert resp.status_code == 200, resp.text
    assert resp.headers["x-omniroute-provider"] == "nebius"


@pytest.mark.parametrize("path", ["chat/completions", "embeddings", "images/generations"])
def test_unknown_provider_is_400(gateway, upstream, connection, path):
    connection()
    body = {"model": "m", "messages": [{"role": "user", "content": "x"}], "input": "x", "prompt": "x"}
    resp = httpx.post(f"{gateway.url}/v1/providers/nope/{path}", json=body)
    assert resp.status_code == 400, resp.text
    assert "unknown provider 'nope'" in resp.json()["error"]["message"]
    assert upstream.requests == []


def test_provider_without_the_capability_is_400(gateway, upstream, connection):
    connection(provider="groq")
    resp = httpx.post(f"{gateway.url}/v1/providers/groq/images/generations", json={"model": "x", "prompt": "p"})
    assert resp.status_code == 400 and "does not serve images" in resp.json()["error"]["message"]
    resp = httpx.post(f"{gateway.url}/v1/providers/groq/embeddings", json={"model": "x"})
    assert resp.status_code == 400 and "'input'" in resp.json()["error"]["message"]
    assert upstream.requests == []


def test_key_allowed_models_apply_to_the_prefixed_name(gateway, upstream, connection, api_key):
    connection()
    key = api_key(allowedModels=["openai/gpt-4o-mini"])
    client = openai.OpenAI(base_url=f"{gateway.url}/v1/providers/openai", api_key=key["key"], max_retries=0)
    client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}])
    with pytest.raises(openai.PermissionDeniedError):
        client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "x"}])
    assert len(upstream.requests) == 1


def test_unknown_route_and_wrong_method(gateway):
    assert httpx.post(f"{gateway.url}/v1/providers/openai/completions", json={}).status_code == 404
    assert httpx.get(f"{gateway.url}/v1/providers/openai/chat/completions").status_code == 405
    assert httpx.get(f"{gateway.url}/v1/providers/nope/embeddings").status_code == 400
