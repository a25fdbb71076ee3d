"""Invariants every catalog row keeps."""

from __future__ import annotations

from urllib.parse import urlparse

import pytest

from omniroute.providers.catalog import AUTH_STYLES, CAPABILITIES, CATALOG, ProviderSpec
from omniroute.providers.registry import ProviderRegistry
from omniroute.routing.accounts import Account

SUBSCRIPTIONS = {"claude-code": "cc", "codex": "cx", "github-copilot": "gh", "gemini-cli": "gc",
                 "antigravity": "ag", "qwen": "qw", "iflow": "if", "kiro": "kr"}


def test_at_least_forty_providers_and_the_registry_takes_them_all():
    assert len(CATALOG) >= 40
    assert len(list(ProviderRegistry())) == len(CATALOG)


def test_ids_aliases_and_prefixes_are_unique():
    names = [n for spec in CATALOG for n in (spec.id, *spec.aliases)]
    assert len(names) == len(set(names))
    with pytest.raises(ValueError):
        ProviderRegistry([*CATALOG, ProviderSpec("dup", "Dup", "https://x.example/v1", aliases=("cc",))])


@pytest.mark.parametrize("spec", CATALOG, ids=lambda s: s.id)
def test_row_invariants(spec: ProviderSpec):
    url = urlparse(spec.base_url.replace("{", "").replace("}", ""))
    assert url.scheme == ("http" if spec.local else "https") and url.netloc, spec.base_url
    assert not spec.base_url.endswith("/")
    assert spec.capabilities and spec.capabilities <= CAPABILITIES
    assert spec.auth in AUTH_STYLES
    assert spec.models, "every provider has a short default model list"
    assert (spec.auth == "oauth") == (spec.executor is not None)
    assert spec.local or spec.auth != "none"
    hash(spec)  # frozen and hashable


def test_every_capability_has_a_provider():
    for capability in CAPABILITIES:
        assert any(capability in spec.capabilities for spec in CATALOG), capability


def test_subscription_prefixes():
    registry = ProviderRegistry()
    for provider_id, prefix in SUBSCRIPTIONS.items():
        spec = registry.get(prefix)
        assert spec is not None and spec.id == provider_id and spec.prefix == prefix
        assert spec.auth == "oauth" and spec.executor == provider_id


def test_named_base_urls():
    registry = ProviderRegistry()
    expected = {
        "vertex-express": "https://aiplatform.googleapis.com/v1/publishers/google",
        "cohere": "https://api.cohere.ai/compatibility/v1",
        "deepgram": "https://api.deepgram.com/v1",
        "assemblyai": "https://api.assemblyai.com/v2",
        "claude-code": "https://api.anthropic.com/v1",
        "codex": "https://chatgpt.com/backend-api/codex",
        "github-copilot": "https://api.githubcopilot.com",
        "gemini-cli": "https://cloudcode-pa.googleapis.com/v1internal",
        "qwen": "https://portal.qwen.ai/v1",
        "iflow": "https://apis.iflow.cn/v1",
    }
    for provider_id, base in expected.items():
        assert registry.get(provider_id).base_url == base
    assert registry.get("codex").chat_path == "/responses" and registry.get("codex").dialect == "responses"
    assert registry.get("azure-openai").url_fields == ("resource", "deployment")
    assert registry.get("cloudflare-workers-ai").url_fields == ("accountId",)


def _headers(provider_id: str, key: str = "k1") -> dict[str, str]:
    spec = ProviderRegistry().get(provider_id)
    return Account(id="x", provider=spec, name="x", api_key=key, base_url=spec.base_url, priority=0,
                   default_model=None).auth_headers()


def test_auth_styles_reach_the_headers():
    assert _headers("deepgram")["Authorization"] == "Token k1"
    assert _headers("assemblyai")["Authorization"] == "k1"
    assert _headers("azure-openai")["api-key"] == "k1"
    assert _headers("vertex-express")["x-goog-api-key"] == "k1"
    assert _headers("cohere")["Authorization"] == "Bearer k1"
    assert "Authorization" not in _headers("ollama", None)


def test_vertex_express_urls_follow_the_gemini_dialect():
    spec = ProviderRegistry().get("vertex-express")
    account = Account(id="v", provider=spec, name="v", api_key="k", base_url=spec.base_url, priority=0,
                      default_model=None)
    assert account.url_for("gemini-2.5-flash", False) == (
        "https://aiplatform.googleapis.com/v1/publishers/google/models/gemini-2.5-flash:generateContent")
