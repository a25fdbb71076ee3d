"""Every chat provider of the catalog, added with the management API and used through the openai SDK.

Each entry is served by the fake upstream of its dialect; the test checks what the provider's own
API would check: the path, the auth style and version headers of the catalog row, its query
parameters, and that the upstream got the model without the gateway's prefix.
"""

from __future__ import annotations

import openai
import pytest

from omniroute.providers.catalog import CATALOG, ProviderSpec

# Subscription providers go through executors (tests/server/test_subscriptions.py).
CHAT = [spec for spec in CATALOG if "chat" in spec.capabilities and not spec.executor]


def _fake(dialect: str):
    if dialect == "openai":
        from tests.fakes.openai_upstream import FakeOpenAI as Fake
    elif dialect == "anthropic":
        from tests.fakes.anthropic_upstream import FakeAnthropic as Fake
    elif dialect == "gemini":
        from tests.fakes.gemini_upstream import FakeGemini as Fake
    elif dialect == "ollama":
        from tests.fakes.ollama_upstream import FakeOllama as Fake
    else:
        from tests.fakes.responses_upstream import FakeResponses as Fake
    return Fake()


@pytest.fixture(scope="module")
def fakes():
    started = {d: _fake(d).start() for d in {spec.dialect for spec in CHAT}}
    yield started
    for fake in started.values():
        fake.stop()


def _auth_ok(spec: ProviderSpec, headers: dict[str, str], key: str) -> bool:
    style = spec.auth
    if style == "bearer" or (style == "none" and spec.local):
        return headers.get("authorization") == f"Bearer {key}"
    if style in ("x-api-key", "api-key", "x-goog-api-key"):
        return headers.get(style) == key and "authorization" not in headers
    raise AssertionError(f"no check for auth style {style!r}")


def test_every_chat_dialect_has_a_fake():
    assert {spec.dialect for spec in CHAT} <= {"openai", "anthropic", "gemini", "ollama", "responses"}
    assert len(CHAT) >= 35


@pytest.mark.parametrize("spec", CHAT, ids=[spec.id for spec in CHAT])
def test_catalog_provider_chat(gateway, admin, fakes, spec):
    fake = fakes[spec.dialect]
    fake.clear()
    key = f"key-{spec.id}"
    resp = admin.post("/api/providers", json={"provider": spec.id, "name": f"catalog-{spec.id}", "apiKey": key,
                                              "baseUrl": fake.base_url})
    assert resp.status_code == 201, resp.text
    try:
        model = spec.models[0] if spec.models else "some-model"
        client = openai.OpenAI(base_url=gateway.url + "/v1", api_key="sk-local", max_retries=0)
        answer = client.chat.completions.create(model=f"{spec.prefix}/{model}",
                                                messages=[{"role": "user", "content": "hello there"}])
        assert answer.choices[0].message.content == "echo: hello there"
        sent = [r for r in fake.requests if r.method == "POST"][-1]
        assert _auth_ok(spec, sent.headers, key), sent.headers
        for name, value in spec.headers:
            assert sent.headers.get(name.lower()) == value
        for name, value in spec.query:
            assert f"{name}={value}" in sent.query_string
        if spec.dialect == "gemini":
            assert f"/models/{model}:" in sent.path
        else:
            assert sent.body["model"] == model
    finally:
        admin.delete(f"/api/providers/{resp.json()['id']}")
