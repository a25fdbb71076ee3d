"""Every provider of the OpenAI-compatible family is reachable by id and by alias."""

from __future__ import annotations

import httpx
import pytest

from omniroute.providers.catalog import CATALOG
from omniroute.providers.registry import ProviderRegistry

FAMILY = ["openai", "openrouter", "groq", "together", "fireworks", "deepseek", "mistral", "xai", "nvidia",
          "nebius", "cerebras", "perplexity", "siliconflow", "hyperbolic"]


def test_catalog_has_the_family_with_https_defaults():
    registry = ProviderRegistry()
    for provider_id in FAMILY:
        spec = registry.get(provider_id)
        assert spec is not None, provider_id
        assert spec.dialect == "openai" and spec.auth == "bearer"
        assert spec.base_url.startswith("https://") and not spec.base_url.endswith("/")
        assert spec.models, f"{provider_id} needs a default model list"


def test_aliases_are_unique():
    names = [n for spec in CATALOG for n in (spec.id, *spec.aliases)]
    assert len(names) == len(set(names))


@pytest.mark.parametrize("provider_id", FAMILY)
def test_chat_reaches_each_provider_through_its_base_url_override(gateway, upstream, connection, provider_id):
    conn = connection(provider=provider_id, apiKey=f"sk-{provider_id}")
    model = ProviderRegistry().get(provider_id).models[0]
    resp = httpx.post(gateway.url + "/v1/chat/completions",
                      json={"model": f"{provider_id}/{model}", "messages": [{"role": "user", "content": "hi"}]})
    assert resp.status_code == 200, resp.text
    assert resp.headers["x-omniroute-provider"] == provider_id
    sent = upstream.requests[-1]
    assert sent.api_key == f"sk-{provider_id}" and sent.body["model"] == model
    assert sent.path == "/v1/chat/completions"
    assert conn["provider"] == provider_id
