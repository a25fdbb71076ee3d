"""Model management: /api/provider-models, /api/models/alias, /api/models/catalog, and the cached
upstream model list of /api/providers/{id}/models; aliases and custom models seen from clients."""

from __future__ import annotations

import uuid

import anthropic
import httpx
import openai
import pytest
from google import genai
from google.genai import types

from omniroute.errors import ModelNotFound
from omniroute.providers.registry import ProviderRegistry
from omniroute.routing.accounts import AccountPool
from omniroute.routing.resolve import ModelTable, resolve
from tests.support import usage_rows


def unique(stem: str) -> str:
    return f"{stem}-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def provider_model(admin):
    """Factory: POST /api/provider-models; every row made is deleted after the test."""
    made: list[str] = []

    def make(**body) -> dict:
        resp = admin.post("/api/provider-models", json=body)
        assert resp.status_code == 201, resp.text
        made.append(resp.json()["id"])
        return resp.json()

    yield make
    for row_id in made:
        admin.delete("/api/provider-models", params={"id": row_id})


@pytest.fixture
def alias(admin):
    """Factory: POST /api/models/alias; every alias made is deleted after the test (newest first)."""
    made: list[str] = []

    def make(name: str, model: str) -> dict:
        resp = admin.post("/api/models/alias", json={"alias": name, "model": model})
        assert resp.status_code == 201, resp.text
        made.append(name)
        return resp.json()

    yield make
    for name in reversed(made):
        admin.delete("/api/models/alias", params={"alias": name})


def chat(gateway, model: str, **kwargs) -> httpx.Response:
    return httpx.post(gateway.url + "/v1/chat/completions", timeout=30, **kwargs,
                      json={"model": model, "messages": [{"role": "user", "content": "hi"}]})


def listed_ids(gateway, path: str = "/v1/models") -> list[str]:
    resp = httpx.get(gateway.url + path)
    assert resp.status_code == 200, resp.text
    return [m["id"] for m in resp.json()["data"]]




# ---- /api/provider-models: CRUD and validation --------------------------------------------------------


def test_provider_models_crud(admin, provider_model):
    name = unique("my-model")
    row = provider_model(provider="oai", model=name, type="chat")
    assert row["provider"] == "openai", "a provider alias is stored as the provider id"
    assert row["model"] == name and row["type"] == "chat" and row["hidden"] is False
    assert isinstance(row["id"], str) and row["createdAt"] > 0

    everything = admin.get("/api/provider-models").json()["models"]
    assert row in everything
    mine = admin.get("/api/provider-models", params={"provider": "openai"}).json()["models"]
    assert row in mine and all(r["provider"] == "openai" for r in mine)
    assert row not in admin.get("/api/provider-models", params={"provider": "groq"}).json()["models"]
    assert row not in admin.get("/api/provider-models", params={"type": "image"}).json()["models"]

    embed = provider_model(provider="openai", model=name, type="embedding")  # same name, another type
    resp = admin.delete("/api/provider-models", params={"provider": "openai", "model": name, "type": "chat"})
    assert resp.status_code == 200 and resp.json() == {"ok": True, "deleted": [row["id"]]}
    left = admin.get("/api/provider-models", params={"provider": "openai"}).json()["models"]
    assert row not in left and embed in left
    resp = admin.delete("/api/provider-models", params={"id": embed["id"]})
    assert resp.status_code == 200 and resp.json()["deleted"] == [embed["id"]]
    again = admin.delete("/api/provider-models", params={"id": embed["id"]})
    assert again.status_code == 404 and again.json()["error"]


def test_provider_models_default_type_is_chat(admin, provider_model):
    assert provider_model(provider="groq", model=unique("m"))["type"] == "chat"


@pytest.mark.parametrize(("body", "field"), [
    ({"provider": "no-such-provider", "model": "m"}, "provider"),
    ({"provider": "", "model": "m"}, "provider"),
    ({"provider": "openai", "model": ""}, "model"),
    ({"provider": "openai", "model": "two words"}, "model"),
    ({"provider": "openai"}, "model"),
    ({"model": "m"}, "provider"),
    ({"provider": "openai", "model": "m", "type": "video"}, "type"),
    ({"provider": "openai", "model": "m", "hidden": "yes"}, "hidden"),
    ({"provider": "openai", "model": "m", "colour": "red"}, "colour"),
    ({"provider": "groq", "model": "m", "type": "embedding"}, "type"),  # groq serves no embeddings
    ({"provider": "deepgram", "model": "m", "type": "chat"}, "type"),  # nor deepgram chat
])
def test_provider_models_validation(admin, body, field):
    resp = admin.post("/api/provider-models", json=body)
    assert resp.status_code == 400, resp.text
    assert f"'{field}'" in resp.json()["error"]


def test_provider_models_duplicates_are_409(admin, provider_model):
    name = unique("dup")
    provider_model(provider="openai", model=name)
    resp = admin.post("/api/provider-models", json={"provider": "openai", "model": name})
    assert resp.status_code == 409 and name in resp.json()["error"]
    resp = admin.post("/api/provider-models", json={"provider": "openai", "model": name, "hidden": True})
    assert resp.status_code == 409
    resp = admin.post("/api/provider-models", json={"provider": "openai", "model": "gpt-4o"})
    assert resp.status_code == 409 and "catalog" in resp.json()["error"]


def test_provider_models_delete_needs_a_target(admin):
    assert admin.delete("/api/provider-models").status_code == 400
    assert "'model'" in admin.delete("/api/provider-models", params={"provider": "openai"}).json()["error"]
    resp = admin.delete("/api/provider-models", params={"provider": "openai", "model": unique("none")})
    assert resp.status_code == 404
    assert admin.delete("/api/provider-models", params={"provider": "nope", "model": "m"}).status_code == 400
    assert admin.delete("/api/provider-models", params={"modle": "m"}).status_code == 400


# ---- custom and hidden models seen by clients ---------------------------------------------------------


def test_custom_model_resolves_bare_and_is_listed(gateway, admin, connection, upstream, provider_model):
    connection()
    name = unique("custom-chat")
    assert chat(gateway, name).status_code == 404
    assert f"openai/{name}" not in listed_ids(gateway)
    provider_model(provider="openai", model=name)
    assert f"openai/{name}" in listed_ids(gateway)
    assert httpx.get(gateway.url + f"/v1/models/openai/{name}").status_code == 200
    resp = chat(gateway, name)
    assert resp.status_code == 200, resp.text
    assert resp.headers["x-omniroute-provider"] == "openai"
    assert upstream.requests[-1].body["model"] == name
    admin.delete("/api/provider-models", params={"provider": "openai", "model": name})
    assert chat(gateway, name).status_code == 404, "a removed model stops resolving at once"
    assert f"openai/{name}" not in listed_ids(gateway)


def test_custom_embedding_and_image_models_are_listed(gateway, connection, provider_model):
    connection()
    embed, image = unique("embed"), unique("image")
    provider_model(provider="openai", model=embed, type="embedding")
    provider_model(provider="openai", model=image, type="image")
    assert f"openai/{embed}" in listed_ids(gateway, "/v1/embeddings")
    assert f"openai/{image}" in listed_ids(gateway, "/v1/images/generations")
    assert f"openai/{embed}" not in listed_ids(gateway, "/v1/images/generations")
    everything = listed_ids(gateway)
    assert f"openai/{embed}" in everything and f"openai/{image}" in everything


def test_custom_embedding_model_resolves_bare(gateway, connection, upstream, provider_model):
    connection()
    name = unique("embed")
    provider_model(provider="openai", model=name, type="embedding")
    resp = httpx.post(gateway.url + "/v1/embeddings", json={"model": name, "input": "hello"}, timeout=30)
    assert resp.status_code == 200, resp.text
    assert upstream.requests[-1].path == "/v1/embeddings" and upstream.requests[-1].body["model"] == name


def test_hidden_model_leaves_the_lists_but_works_with_its_prefix(gateway, connection, upstream, provider_model):
    connection()
    assert "openai/gpt-4o" in listed_ids(gateway)
    assert "openai/text-embedding-3-large" in listed_ids(gateway, "/v1/embeddings")
    provider_model(provider="openai", model="gpt-4o", hidden=True)
    provider_model(provider="openai", model="text-embedding-3-large", type="embedding", hidden=True)
    everything = listed_ids(gateway)
    assert "openai/gpt-4o" not in everything and "openai/gpt-4o-mini" in everything
    assert "openai/text-embedding-3-large" not in everything
    assert "openai/text-embedding-3-large" not in listed_ids(gateway, "/v1/embeddings")
    assert httpx.get(gateway.url + "/v1/models/openai/gpt-4o").status_code == 404

    assert chat(gateway, "gpt-4o").status_code == 404, "a hidden model is no bare name of its provider"
    resp = chat(gateway, "openai/gpt-4o")
    assert resp.status_code == 200, resp.text
    assert upstream.requests[-1].body["model"] == "gpt-4o"
    resp = httpx.post(gateway.url + "/v1/embeddings", json={"model": "openai/text-embedding-3-large",
                                                             "input": "x"}, timeout=30)
    assert resp.status_code == 200, resp.text


def test_hidden_connection_default_model_is_not_listed(gateway, connection, provider_model):
    name = unique("default")
    connection(defaultModel=name)
    assert f"openai/{name}" in listed_ids(gateway)
    provider_model(provider="openai", model=name, hidden=True)
    assert f"openai/{name}" not in listed_ids(gateway)


# ---- /api/models/alias ---------------------------------------------------------------------------------


def test_alias_crud(admin, alias):
    name = unique("fast")
    assert alias(name, "openai/gpt-4o-mini") == {"alias": name, "model": "openai/gpt-4o-mini"}
    assert admin.get("/api/models/alias").json()["aliases"][name] == "openai/gpt-4o-mini"
    resp = admin.post("/api/models/alias", json={"alias": name, "model": "openai/gpt-4o"})
    assert resp.status_code == 409
    resp = admin.delete("/api/models/alias", params={"alias": name})
    assert resp.status_code == 200 and resp.json() == {"ok": True, "deleted": name}
    assert name not in admin.get("/api/models/alias").json()["aliases"]
    assert admin.delete("/api/models/alias", params={"alias": name}).status_code == 404
    assert admin.delete("/api/models/alias").status_code == 400


@pytest.mark.parametrize(("body", "field"), [
    ({"alias": "", "model": "openai/gpt-4o"}, "alias"),
    ({"alias": "a b", "model": "openai/gpt-4o"}, "alias"),
    ({"alias": "x", "model": ""}, "model"),
    ({"alias": "x"}, "model"),
    ({"model": "openai/gpt-4o"}, "alias"),
    ({"alias": "x", "model": 5}, "model"),
    ({"alias": "x", "model": "openai/gpt-4o", "extra": 1}, "extra"),
    ({"alias": "openai", "model": "openai/gpt-4o"}, "alias"),  # a provider id
    ({"alias": "cc", "model": "openai/gpt-4o"}, "alias"),  # a provider prefix
    ({"alias": "oai/my-model", "model": "openai/gpt-4o"}, "alias"),  # under a provider prefix
    ({"alias": "self-loop", "model": "self-loop"}, "model"),
    ({"alias": "x", "model": "openai/"}, "model"),
])
def test_alias_validation(admin, body, field):
    resp = admin.post("/api/models/alias", json=body)
    assert resp.status_code == 400, resp.text
    assert f"'{field}'" in resp.json()["error"]


def test_alias_chains_resolve_and_protect_their_links(gateway, admin, alias, connection, upstream):
    connection()
    a, b, c = unique("a"), unique("b"), unique("c")
    alias(b, "openai/gpt-4o")
    alias(a, b)
    resp = admin.post("/api/models/alias", json={"alias": b + "-x", "model": a})
    assert resp.status_code == 201
    admin.delete("/api/models/alias", params={"alias": b + "-x"})
    alias(c, a)  # c → a → b → openai/gpt-4o
    resp = admin.delete("/api/models/alias", params={"alias": b})
    assert resp.status_code == 409 and a in resp.json()["error"]
    resp = chat(gateway, c)
    assert resp.status_code == 200, resp.text
    assert upstream.requests[-1].body["model"] == "gpt-4o"


def test_alias_cycle_through_a_chain(admin, alias):
    a, b = unique("a"), unique("b")
    alias(a, b)  # b is not an alias yet: a bare name
    resp = admin.post("/api/models/alias", json={"alias": b, "model": a})
    assert resp.status_code == 400 and "cycle" in resp.json()["error"]


def test_alias_from_openai_sdk_with_usage_row(gateway, admin, alias, connection, upstream, api_key):
    connection()
    key = api_key()
    name = unique("my-fast")
    alias(name, "openai/gpt-4o-mini")
    client = openai.OpenAI(base_url=gateway.url + "/v1", api_key=key["key"], max_retries=0)
    answer = client.chat.completions.create(model=name, messages=[{"role": "user", "content": "hello"}])
    assert answer.choices[0].message.content == "echo: hello"
    assert upstream.requests[-1].body["model"] == "gpt-4o-mini"
    rows = usage_rows(admin, key["id"])
    assert rows and rows[0]["requestedModel"] == name and rows[0]["model"] == "gpt-4o-mini"
    assert rows[0]["provider"] == "openai"


def test_alias_from_anthropic_sdk(gateway, alias, connection, anthropic_upstream):
    connection(provider="anthropic", apiKey="sk-ant-alias", baseUrl=anthropic_upstream.base_url)
    name = unique("claude")
    alias(name, "anthropic/claude-sonnet-4-5")
    client = anthropic.Anthropic(base_url=gateway.url, api_key="sk-anything", max_retries=0)
    answer = client.messages.create(model=name, max_tokens=50, messages=[{"role": "user", "content": "hi there"}])
    assert answer.content[0].text == "echo: hi there"
    sent = anthropic_upstream.requests[-1]
    assert sent.api_key == "sk-ant-alias" and sent.body["model"] == "claude-sonnet-4-5"


def test_alias_from_gemini_sdk(gateway, alias, connection, upstream):
    connection()
    name = unique("gem")
    alias(name, "gpt-4o")  # a bare target: a provider that lists it serves it
    client = genai.Client(api_key="sk-anything", http_options=types.HttpOptions(base_url=gateway.url))
    answer = client.models.generate_content(model=name, contents="hello gemini")
    assert answer.text == "echo: hello gemini"
    assert upstream.requests[-1].body["model"] == "gpt-4o"


def test_alias_shadows_a_bare_model_name(gateway, alias, connection, upstream, anthropic_upstream):
    connection()
    connection(provider="anthropic", apiKey="sk-ant-shadow", baseUrl=anthropic_upstream.base_url)
    assert chat(gateway, "gpt-4o").headers["x-omniroute-provider"] == "openai"
    alias("gpt-4o", "anthropic/claude-haiku-4-5")
    resp = chat(gateway, "gpt-4o")
    assert resp.status_code == 200 and resp.headers["x-omniroute-provider"] == "anthropic"
    assert anthropic_upstream.requests[-1].body["model"] == "claude-haiku-4-5"
    assert chat(gateway, "openai/gpt-4o").headers["x-omniroute-provider"] == "openai"


def test_alias_on_embeddings(gateway, alias, connection, upstream):
    connection()
    name = unique("emb")
    alias(name, "text-embedding-3-small")
    resp = httpx.post(gateway.url + "/v1/embeddings", json={"model": name, "input": "x"}, timeout=30)
    assert resp.status_code == 200, resp.text
    assert upstream.requests[-1].body["model"] == "text-embedding-3-small"


def test_alias_on_transcriptions(gateway, alias, connection, upstream):
    connection()
    name = unique("stt")
    alias(name, "whisper-1")  # a bare transcription model: found across every model type
    resp = httpx.post(gateway.url + "/v1/audio/transcriptions", data={"model": name}, timeout=30,
                      files={"file": ("a.wav", b"RIFF\x24\x7d\x00\x00WAVEfmt " + bytes(2000), "audio/wav")})
    assert resp.status_code == 200, resp.text
    assert resp.headers["x-omniroute-provider"] == "openai" and resp.headers["x-omniroute-model"] == "whisper-1"
    assert upstream.requests[-1].path == "/v1/audio/transcriptions"


def test_alias_to_nothing_served_is_model_not_found(gateway, alias, connection):
    connection()
    name = unique("dangling")
    alias(name, unique("not-a-model"))
    resp = chat(gateway, name)
    assert resp.status_code == 404 and resp.json()["error"]["code"] == "model_not_found"
    assert name in resp.json()["error"]["message"]


def test_resolve_order_without_a_gateway():
    """Pure resolution: prefix, alias, then a provider's list; a bare registry has no table."""
    registry = ProviderRegistry()

    class Box:
        def decrypt(self, value):
            return value

        def decrypt_json(self, value, default):
            return default

    from omniroute.state import MemoryState

    pool = AccountPool(registry, Box(), MemoryState())
    pool.load([{"id": "c1", "provider": "openai", "name": "c", "isActive": True, "status": "active",
                "apiKeyEnc": "k", "baseUrl": None, "priority": 1, "defaultModel": None, "headersEnc": None,
                "providerData": {}}])
    assert resolve("gpt-4o", registry, pool).provider.id == "openai"
    table = ModelTable()
    registry.model_table = table
    table.load([{"provider": "openai", "model": "mine", "type": "chat", "hidden": False},
                {"provider": "openai", "model": "gpt-4o", "type": "chat", "hidden": True}],
               {"quick": "fast", "fast": "openai/gpt-4.1"})
    assert resolve("quick", registry, pool).model == "gpt-4.1"
    assert resolve("mine", registry, pool).model == "mine"
    assert resolve("openai/gpt-4o", registry, pool).model == "gpt-4o"
    with pytest.raises(ModelNotFound, match="gpt-4o"):
        resolve("gpt-4o", registry, pool)
    assert table.models("openai", "chat", ("gpt-4o", "o3")) == ("o3", "mine")


# ---- /api/models/catalog ---------------------------------------------------------------------------


def test_catalog_shape(admin, connection, provider_model):
    conn = connection(defaultModel=unique("default"))
    extra, image = unique("extra"), unique("img")
    provider_model(provider="openai", model=extra)
    provider_model(provider="openai", model=image, type="image")
    provider_model(provider="openai", model="o3", hidden=True)
    resp = admin.get("/api/models/catalog")
    assert resp.status_code == 200, resp.text
    providers = {p["id"]: p for p in resp.json()["providers"]}
    assert {spec.id for spec in ProviderRegistry()} <= set(providers)
    for entry in providers.values():
        assert {"id", "name", "prefix", "custom", "configured", "active", "capabilities", "models",
                "hidden"} <= set(entry)
        assert set(entry["models"]) == {"chat", "embedding", "image", "audio"}
    oai = providers["openai"]
    assert oai["configured"] is True and oai["active"] is True and oai["custom"] is False
    assert oai["prefix"] == "oai"
    chat_ids = {m["id"]: m["source"] for m in oai["models"]["chat"]}
    assert chat_ids["gpt-4o"] == "catalog" and chat_ids[extra] == "custom"
    assert chat_ids[conn["defaultModel"]] == "connection"
    assert "o3" not in chat_ids and {"model": "o3", "type": "chat"} in oai["hidden"]
    assert {"id": image, "source": "custom"} in oai["models"]["image"]
    assert any(m["id"] == "text-embedding-3-small" for m in oai["models"]["embedding"])
    assert any(m["id"] == "whisper-1" for m in oai["models"]["audio"])
    assert providers["deepgram"]["models"]["chat"] == []
    assert any(m["id"] == "nova-3" for m in providers["deepgram"]["models"]["audio"])
    assert providers["groq"]["models"]["embedding"] == []
    one = admin.get("/api/models/catalog", params={"provider": "claude"}).json()["providers"]
    assert [p["id"] for p in one] == ["anthropic"]
    assert admin.get("/api/models/catalog", params={"provider": "nope"}).status_code == 400


def test_catalog_lists_unconfigured_providers_and_nodes(admin, upstream):
    resp = admin.post("/api/provider-nodes", json={"name": "Local", "prefix": unique("loc"),
                                                   "type": "openai-compatible", "baseUrl": upstream.base_url,
                                                   "models": ["node-model"]})
    assert resp.status_code == 201, resp.text
    node = resp.json()
    try:
        providers = {p["id"]: p for p in admin.get("/api/models/catalog").json()["providers"]}
        entry = providers[node["id"]]
        assert entry["custom"] is True and entry["configured"] is False and entry["active"] is False
        assert entry["prefix"] == node["prefix"]
        assert entry["models"]["chat"] == [{"id": "node-model", "source": "catalog"}]
    finally:
        admin.delete(f"/api/provider-nodes/{node['id']}")


# ---- /api/providers/{id}/models: the cached upstream list ----------------------------------------------


def test_live_models_are_cached_per_connection(admin, upstream, connection):
    conn = connection()

    def model_gets() -> int:
        return sum(1 for r in upstream.requests if r.method == "GET" and r.path == "/v1/models")

    first = admin.get(f"/api/providers/{conn['id']}/models")
    assert first.status_code == 200, first.text
    assert first.headers["x-omniroute-cache"] == "MISS" and model_gets() == 1
    second = admin.get(f"/api/providers/{conn['id']}/models")
    assert second.json() == first.json() and second.headers["x-omniroute-cache"] == "HIT"
    assert model_gets() == 1, "the second call is served from the cache"
    assert set(second.json()) == {"models"} and all("id" in m for m in second.json()["models"])

    upstream.models = ["gpt-4o-mini", "brand-new"]
    try:
        fresh = admin.get(f"/api/providers/{conn['id']}/models", params={"refresh": "true"})
    finally:
        upstream.models = ["gpt-4o-mini", "gpt-4o", "fake-model"]
    assert fresh.headers["x-omniroute-cache"] == "MISS" and model_gets() == 2
    assert [m["id"] for m in fresh.json()["models"]] == ["gpt-4o-mini", "brand-new"]
    assert admin.get(f"/api/providers/{conn['id']}/models").json() == fresh.json()
    assert model_gets() == 2

    other = connection(name="other")
    admin.get(f"/api/providers/{other['id']}/models")
    assert model_gets() == 3, "each connection has its own entry"

    admin.put(f"/api/providers/{conn['id']}", json={"name": "renamed"})
    admin.get(f"/api/providers/{conn['id']}/models")
    assert model_gets() == 4, "a changed connection is asked again"
    assert admin.get(f"/api/providers/{conn['id']}/models", params={"refresh": "maybe"}).status_code == 400


def test_management_routes_need_auth(gateway):
    with gateway.client() as anon:
        for method, path in (("GET", "/api/provider-models"), ("POST", "/api/provider-models"),
                             ("DELETE", "/api/provider-models"), ("GET", "/api/models/alias"),
                             ("POST", "/api/models/alias"), ("DELETE", "/api/models/alias"),
                             ("GET", "/api/models/catalog")):
            assert anon.request(method, path).status_code == 401, (method, path)
