"""/api/provider-nodes: custom upstreams as providers, live in the registry, stored with headers encrypted."""

from __future__ import annotations

import time
import uuid

import anthropic
import httpx
import openai
import pytest

from omniroute.settings import normalize_database_url
from omniroute.store import tables as t
from omniroute.store.engine import create_engine, migrate
from omniroute.store.repos import ProviderNodesRepo
from tests.support import free_port

FIELDS = {"id", "name", "prefix", "type", "baseUrl", "chatPath", "modelsPath", "headers", "models",
          "createdAt", "updatedAt"}


def unique(stem: str) -> str:
    return f"{stem}{uuid.uuid4().hex[:8]}"


def data_files_bytes(data_dir) -> bytes:
    return b"".join((data_dir / name).read_bytes() for name in ("storage.sqlite", "storage.sqlite-wal")
                    if (data_dir / name).exists())


def chat(gateway, model: str, **fields) -> httpx.Response:
    body = {"model": model, "max_tokens": 20, "messages": [{"role": "user", "content": "hi"}], **fields}
    return httpx.post(gateway.url + "/v1/chat/completions", json=body, timeout=30)


@pytest.fixture
def node(admin):
    """Factory: create a provider node; it and its connections are removed after the test."""
    made: list[str] = []

    def make(**fields) -> dict:
        body = {"name": "My node", "prefix": unique("n"), "type": "openai-compatible",
                "baseUrl": "http://127.0.0.1:9/v1", **fields}
        resp = admin.post("/api/provider-nodes", json=body)
        assert resp.status_code == 201, resp.text
        made.append(resp.json()["id"])
        return resp.json()

    yield make
    connections = admin.get("/api/providers").json()["connections"]
    for node_id in made:
        for conn in connections:
            if conn["provider"] == node_id:
                admin.delete(f"/api/providers/{conn['id']}")
        admin.delete(f"/api/provider-nodes/{node_id}")


@pytest.fixture
def node_connection(admin):
    """Factory: a connection of a node; removed after the test."""
    made: list[str] = []

    def make(node_id: str, **fields) -> dict:
        resp = admin.post("/api/providers", json={"provider": node_id, "name": unique("c"), **fields})
        assert resp.status_code == 201, resp.text
        made.append(resp.json()["id"])
        return resp.json()

    yield make
    for conn_id in made:
        admin.delete(f"/api/providers/{conn_id}")


@pytest.fixture
def claude_node(node, node_connection, anthropic_upstream):
    """An anthropic-compatible node on the fake Anthropic upstream, with one connection."""
    made = node(type="anthropic-compatible", name="Claude proxy", baseUrl=anthropic_upstream.base_url,
                headers={"X-Team": "team-secret-value-1"}, models=["claude-sonnet-4-5"])
    conn = node_connection(made["id"], apiKey="sk-ant-node-key")
    return {**made, "connection": conn}


# ---- create, read, update, delete ------------------------------------------------------------------


def test_create_read_update_delete(admin):
    prefix = unique("crud")
    body = {"name": "Local vLLM", "prefix": prefix, "type": "openai-compatible",
            "baseUrl": "http://127.0.0.1:8000/v1/", "models": ["llama-3-8b", "llama-3-8b", "qwen"]}
    resp = admin.post("/api/provider-nodes", json=body)
    assert resp.status_code == 201, resp.text
    made = resp.json()
    try:
        assert set(made) == FIELDS
        assert made["id"].startswith("openai-compatible-") and "/" not in made["id"]
        assert made["name"] == "Local vLLM" and made["prefix"] == prefix and made["type"] == "openai-compatible"
        assert made["baseUrl"] == "http://127.0.0.1:8000/v1", "the trailing slash is dropped"
        assert made["chatPath"] == "/chat/completions" and made["modelsPath"] == "/models"
        assert made["headers"] == {} and made["models"] == ["llama-3-8b", "qwen"]
        assert abs(made["createdAt"] - time.time()) < 120 and made["updatedAt"] == made["createdAt"]

        assert made in admin.get("/api/provider-nodes").json()["nodes"]
        assert admin.get(f"/api/provider-nodes/{made['id']}").json() == made

        resp = admin.put(f"/api/provider-nodes/{made['id']}", json={"name": "Renamed", "chatPath": "/v2/chat"})
        assert resp.status_code == 200, resp.text
        updated = resp.json()
        assert updated["name"] == "Renamed" and updated["chatPath"] == "/v2/chat"
        assert updated["prefix"] == prefix and updated["models"] == ["llama-3-8b", "qwen"]
        assert updated["updatedAt"] >= made["updatedAt"]
        reset = admin.put(f"/api/provider-nodes/{made['id']}", json={"chatPath": None, "type": "anthropic-compatible"})
        assert reset.json()["chatPath"] == "/messages", "a cleared path follows the type's default"
    finally:
        deleted = admin.delete(f"/api/provider-nodes/{made['id']}")
    assert deleted.status_code == 200 and deleted.json() == {"ok": True, "deleted": made["id"]}
    assert admin.get(f"/api/provider-nodes/{made['id']}").status_code == 404
    assert made["id"] not in admin.get("/api/provider-nodes").text


def test_an_id_can_be_chosen_and_the_anthropic_defaults_apply(node):
    node_id = unique("corp-claude-")
    made = node(id=node_id, type="anthropic-compatible")
    assert made["id"] == node_id
    assert made["chatPath"] == "/messages" and made["modelsPath"] == "/models"


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
def test_unknown_node_is_404(admin, method):
    resp = admin.request(method, "/api/provider-nodes/no-such-node", json={"name": "x"})
    assert resp.status_code == 404 and "no-such-node" in resp.json()["error"]


def test_requires_login(gateway):
    resp = httpx.get(gateway.url + "/api/provider-nodes")
    assert resp.status_code == 401


# ---- validation --------------------------------------------------------------------------------


BASE = {"name": "n", "type": "openai-compatible", "baseUrl": "https://llm.example.com/v1"}


@pytest.mark.parametrize(("body", "names"), [
    ({"type": "openai-compatible", "baseUrl": "https://x.example/v1"}, ["'name'", "Field required"]),
    ({**BASE, "prefix": None}, ["'prefix'"]),
    ({**BASE, "baseUrl": None}, ["'baseUrl'"]),
    ({**BASE, "type": "gemini-compatible"}, ["type", "openai-compatible", "anthropic-compatible"]),
    ({**BASE, "baseUrl": "ftp://x.example"}, ["baseUrl", "http"]),
    ({**BASE, "baseUrl": "llm.example.com"}, ["baseUrl"]),
    ({**BASE, "chatPath": "chat/completions"}, ["chatPath", "'/'"]),
    ({**BASE, "modelsPath": "models"}, ["modelsPath", "'/'"]),
    ({**BASE, "apiKey": "sk-x"}, ["apiKey", "not permitted"]),
    ({**BASE, "prefix": "a/b"}, ["prefix"]),
    ({**BASE, "id": "has space"}, ["id"]),
    ({**BASE, "headers": {"Bad Header": "x"}}, ["headers", "Bad Header"]),
    ({**BASE, "headers": {"X-Ok": "line\r\nInjected: 1"}}, ["headers", "X-Ok"]),
    ({**BASE, "models": ["ok", ""]}, ["models"]),
    ({**BASE, "models": "gpt-4o"}, ["models"]),
])
def test_bad_node_is_400_naming_the_problem(admin, body, names):
    body = {"prefix": unique("bad"), **body}
    resp = admin.post("/api/provider-nodes", json=body)
    assert resp.status_code == 400, resp.text
    for name in names:
        assert name in resp.json()["error"], (name, resp.json())


@pytest.mark.parametrize(("field", "name", "owner"), [
    ("prefix", "openai", "provider 'openai'"),
    ("prefix", "claude", "provider 'anthropic'"),  # an alias of a catalog provider
    ("id", "anthropic", "provider 'anthropic'"),
    ("id", "oai", "provider 'openai'"),
])
def test_names_of_catalog_providers_are_409(admin, field, name, owner):
    body = {**BASE, "prefix": unique("p"), field: name}
    resp = admin.post("/api/provider-nodes", json=body)
    assert resp.status_code == 409, resp.text
    assert f"{field} '{name}'" in resp.json()["error"] and owner in resp.json()["error"]


def test_names_of_other_nodes_are_409(admin, node):
    first = node()
    for clash in ({"prefix": first["prefix"]}, {"prefix": first["id"]}, {"id": first["prefix"]},
                  {"id": first["id"]}):
        resp = admin.post("/api/provider-nodes", json={**BASE, "prefix": unique("q"), **clash})
        assert resp.status_code == 409, (clash, resp.text)
        assert f"provider node '{first['id']}'" in resp.json()["error"]
    second = node()
    resp = admin.put(f"/api/provider-nodes/{second['id']}", json={"prefix": first["prefix"]})
    assert resp.status_code == 409 and first["id"] in resp.json()["error"]
    same = admin.put(f"/api/provider-nodes/{second['id']}", json={"prefix": second["prefix"]})
    assert same.status_code == 200, "a node's own prefix is no clash"


def test_bad_update_is_4xx_and_changes_nothing(admin, node):
    made = node()
    for body, status, name in (({"id": "other-id"}, 400, "id"), ({"name": None}, 400, "name"),
                               ({"baseUrl": "file:///etc"}, 400, "baseUrl"), ({"color": "red"}, 400, "color"),
                               ({"prefix": "gemini"}, 409, "gemini")):
        resp = admin.put(f"/api/provider-nodes/{made['id']}", json=body)
        assert resp.status_code == status and name in resp.json()["error"], (body, resp.text)
    assert admin.get(f"/api/provider-nodes/{made['id']}").json() == made


def test_connections_need_a_known_provider(admin):
    resp = admin.post("/api/providers", json={"provider": unique("nowhere-"), "apiKey": "sk-x"})
    assert resp.status_code == 400 and "unknown provider" in resp.json()["error"]


# ---- secrets ---------------------------------------------------------------------------------------


def test_header_values_are_masked_and_kept_when_sent_back_masked(gateway, admin, node, node_connection, upstream):
    secret = "hdr-" + uuid.uuid4().hex
    made = node(baseUrl=upstream.base_url, headers={"X-Upstream-Token": secret}, models=["m1"])
    assert made["headers"]["X-Upstream-Token"] != secret and secret not in str(made)
    assert secret not in admin.get("/api/provider-nodes").text
    assert secret not in admin.get(f"/api/provider-nodes/{made['id']}").text
    node_connection(made["id"], apiKey="sk-node")

    assert chat(gateway, f"{made['prefix']}/m1").status_code == 200
    assert upstream.requests[-1].headers["x-upstream-token"] == secret

    # A dashboard sends back what it was shown: the masked value keeps the stored one.
    resp = admin.put(f"/api/provider-nodes/{made['id']}", json={"headers": {**made["headers"], "X-More": "1"}})
    assert resp.status_code == 200, resp.text
    assert chat(gateway, f"{made['prefix']}/m1").status_code == 200
    sent = upstream.requests[-1].headers
    assert sent["x-upstream-token"] == secret and sent["x-more"] == "1"


def test_header_values_are_encrypted_at_rest(gateway, node):
    secret = "at-rest-" + uuid.uuid4().hex
    node(headers={"X-Api-Token": secret})
    stored = data_files_bytes(gateway.data_dir)
    assert stored, "the SQLite files exist"
    assert secret.encode() not in stored


# ---- an anthropic-compatible node --------------------------------------------------------------


def test_openai_sdk_over_an_anthropic_node_keeps_the_system_prompt(gateway, claude_node, anthropic_upstream):
    oai = openai.OpenAI(base_url=gateway.url + "/v1", api_key="sk-anything", max_retries=0)
    model = f"{claude_node['prefix']}/claude-sonnet-4-5"
    answer = oai.chat.completions.create(model=model, max_tokens=50,
                                         messages=[{"role": "system", "content": "Be brief."},
                                                   {"role": "user", "content": "hello there"}])
    assert answer.choices[0].message.content == "echo: hello there"
    sent = anthropic_upstream.requests[-1]
    assert sent.path == "/v1/messages" and sent.body["model"] == "claude-sonnet-4-5"
    assert sent.body["system"] == "Be brief.", "the system prompt must reach an Anthropic-compatible upstream"
    assert sent.api_key == "sk-ant-node-key" and sent.headers["x-api-key"] == "sk-ant-node-key"
    assert "authorization" not in sent.headers
    assert sent.headers["anthropic-version"] == "2023-06-01"
    assert sent.headers["x-team"] == "team-secret-value-1"

    chunks = list(oai.chat.completions.create(
        model=model, max_tokens=50, stream=True,
        messages=[{"role": "system", "content": "Answer in French."}, {"role": "user", "content": "one two"}]))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "echo: one two"
    sent = anthropic_upstream.requests[-1]
    assert sent.body["stream"] is True and sent.body["system"] == "Answer in French."


def test_node_id_works_as_the_model_prefix_too(gateway, claude_node, anthropic_upstream):
    resp = chat(gateway, f"{claude_node['id']}/claude-opus-4-1")
    assert resp.status_code == 200, resp.text
    assert resp.headers["x-omniroute-provider"] == claude_node["id"]
    assert anthropic_upstream.requests[-1].body["model"] == "claude-opus-4-1"


def test_bare_model_listed_by_a_node_is_routed_to_it(gateway, admin, node, node_connection, upstream):
    model = unique("only-here-")
    made = node(baseUrl=upstream.base_url, models=[model])
    node_connection(made["id"], apiKey="sk-bare")
    resp = chat(gateway, model)
    assert resp.status_code == 200, resp.text
    assert upstream.requests[-1].body["model"] == model and upstream.requests[-1].api_key == "sk-bare"


def test_anthropic_sdk_passes_through_an_anthropic_node(gateway, claude_node, anthropic_upstream):
    claude = anthropic.Anthropic(base_url=gateway.url, api_key="sk-anything", max_retries=0)
    model = f"{claude_node['prefix']}/claude-sonnet-4-5"
    msg = claude.messages.create(model=model, max_tokens=64, system="Be terse.",
                                 thinking={"type": "enabled", "budget_tokens": 1024},
                                 messages=[{"role": "user", "content": "think about it"}])
    assert msg.content[0].type == "thinking" and msg.content[-1].text == "echo: think about it"
    sent = anthropic_upstream.requests[-1].body
    assert sent["thinking"] == {"type": "enabled", "budget_tokens": 1024} and sent["system"] == "Be terse."
    assert sent["model"] == "claude-sonnet-4-5"
    with claude.messages.stream(model=model, max_tokens=64, system="Be terse.",
                                messages=[{"role": "user", "content": "a b c"}]) as stream:
        assert "".join(stream.text_stream) == "echo: a b c"
    assert anthropic_upstream.requests[-1].body["system"] == "Be terse."


def test_connection_test_and_models_of_an_anthropic_node(admin, claude_node, anthropic_upstream):
    conn_id = claude_node["connection"]["id"]
    resp = admin.post(f"/api/providers/{conn_id}/test")
    assert resp.status_code == 200 and resp.json()["ok"] is True, resp.text
    probe = anthropic_upstream.requests[-1]
    assert probe.method == "GET" and probe.path == "/v1/models"
    assert probe.headers["x-api-key"] == "sk-ant-node-key" and probe.headers["anthropic-version"] == "2023-06-01"
    models = admin.get(f"/api/providers/{conn_id}/models")
    assert models.status_code == 200
    assert "claude-sonnet-4-5" in [m["id"] for m in models.json()["models"]]

    anthropic_upstream.valid_keys = {"some-other-key"}
    failed = admin.post(f"/api/providers/{conn_id}/test").json()
    assert failed["ok"] is False and failed["error"]


def test_validate_accepts_a_node_id(admin, claude_node):
    resp = admin.post("/api/providers/validate", json={"provider": claude_node["id"], "apiKey": "sk-v"})
    assert resp.status_code == 200 and resp.json() == {"valid": True}


# ---- an openai-compatible node -----------------------------------------------------------------


def test_openai_node_with_custom_paths_and_no_key(gateway, admin, node, node_connection, upstream):
    made = node(baseUrl=upstream.url, chatPath="/v1/chat/completions", modelsPath="/v1/models",
                models=["fake-model"])
    conn = node_connection(made["id"])  # a node may front a keyless server
    oai = openai.OpenAI(base_url=gateway.url + "/v1", api_key="sk-anything", max_retries=0)
    answer = oai.chat.completions.create(model=f"{made['prefix']}/fake-model",
                                         messages=[{"role": "system", "content": "sys"},
                                                   {"role": "user", "content": "hi"}])
    assert answer.choices[0].message.content
    sent = upstream.requests[-1]
    assert sent.path == "/v1/chat/completions" and sent.body["model"] == "fake-model"
    assert sent.body["messages"][0] == {"role": "system", "content": "sys"} and sent.api_key is None
    chunks = list(oai.chat.completions.create(model=f"{made['prefix']}/fake-model", stream=True,
                                              messages=[{"role": "user", "content": "hi"}]))
    assert any(c.choices and c.choices[0].delta.content for c in chunks)
    assert admin.post(f"/api/providers/{conn['id']}/test").json()["ok"] is True
    assert upstream.requests[-1].path == "/v1/models"


def test_openai_node_uses_bearer_auth(gateway, node, node_connection, upstream):
    made = node(baseUrl=upstream.base_url, models=["fake-model"])
    node_connection(made["id"], apiKey="sk-bearer-node")
    assert chat(gateway, f"{made['prefix']}/fake-model").status_code == 200
    sent = upstream.requests[-1]
    assert sent.headers["authorization"] == "Bearer sk-bearer-node" and "x-api-key" not in sent.headers


# ---- /v1/models --------------------------------------------------------------------------------


def test_node_models_are_listed_under_the_prefix(gateway, node, node_connection, upstream):
    made = node(baseUrl=upstream.base_url, models=["listed-a", "listed-b"])
    listing = httpx.get(gateway.url + "/v1/models").json()["data"]
    assert not [m for m in listing if m["owned_by"] == made["id"]], "no connection yet: nothing is served"

    node_connection(made["id"], apiKey="sk-1", defaultModel="declared-c")
    listing = httpx.get(gateway.url + "/v1/models").json()["data"]
    mine = {m["id"] for m in listing if m["owned_by"] == made["id"]}
    prefix = made["prefix"]
    assert mine == {f"{prefix}/listed-a", f"{prefix}/listed-b", f"{prefix}/declared-c"}
    one = httpx.get(f"{gateway.url}/v1/models/{prefix}/listed-a")
    assert one.status_code == 200 and one.json()["owned_by"] == made["id"]


# ---- the live registry -------------------------------------------------------------------------


def test_put_takes_effect_without_a_restart(gateway, admin, node, node_connection, upstream):
    made = node(baseUrl=f"http://127.0.0.1:{free_port()}/v1", models=["fake-model"])
    node_connection(made["id"], apiKey="sk-live")
    before = chat(gateway, f"{made['prefix']}/fake-model")
    assert before.status_code >= 500, before.text

    resp = admin.put(f"/api/provider-nodes/{made['id']}", json={"baseUrl": upstream.base_url})
    assert resp.status_code == 200, resp.text
    after = chat(gateway, f"{made['prefix']}/fake-model")
    assert after.status_code == 200, after.text
    assert upstream.requests[-1].api_key == "sk-live"

    new_prefix = unique("moved")
    assert admin.put(f"/api/provider-nodes/{made['id']}", json={"prefix": new_prefix}).status_code == 200
    assert chat(gateway, f"{new_prefix}/fake-model").status_code == 200
    gone = chat(gateway, f"{made['prefix']}/fake-model")
    assert gone.status_code == 404 and gone.json()["error"]["code"] == "model_not_found"


def test_delete_with_connections_is_409_naming_them(gateway, admin, node, node_connection, upstream):
    made = node(baseUrl=upstream.base_url, models=["fake-model"])
    conn = node_connection(made["id"], apiKey="sk-del", name="still-here")
    resp = admin.delete(f"/api/provider-nodes/{made['id']}")
    assert resp.status_code == 409
    assert "still-here" in resp.json()["error"] and conn["id"] in resp.json()["error"]
    assert chat(gateway, f"{made['prefix']}/fake-model").status_code == 200, "nothing was removed"

    assert admin.delete(f"/api/providers/{conn['id']}").status_code == 200
    assert admin.delete(f"/api/provider-nodes/{made['id']}").status_code == 200
    gone = chat(gateway, f"{made['prefix']}/fake-model")
    assert gone.status_code == 404 and gone.json()["error"]["code"] == "model_not_found"
    again = admin.post("/api/providers", json={"provider": made["id"], "apiKey": "sk-x"})
    assert again.status_code == 400 and made["id"] in again.json()["error"]


def test_nodes_survive_a_restart(make_gateway, tmp_path, anthropic_upstream):
    data_dir = tmp_path / "restart"
    gw = make_gateway(data_dir=data_dir)
    adm = gw.admin()
    made = adm.post("/api/provider-nodes", json={
        "name": "Persisted", "prefix": "persisted", "type": "anthropic-compatible",
        "baseUrl": anthropic_upstream.base_url, "headers": {"X-Keep": "kept-value-123"},
        "models": ["claude-sonnet-4-5"]}).json()
    assert adm.post("/api/providers", json={"provider": "persisted", "apiKey": "sk-restart"}).status_code == 201
    adm.close()
    gw.stop()

    gw = make_gateway(data_dir=data_dir)
    adm = gw.admin()
    assert adm.get(f"/api/provider-nodes/{made['id']}").json() == made
    assert adm.get("/api/providers").json()["connections"][0]["provider"] == made["id"]
    adm.close()
    resp = chat(gw, "persisted/claude-sonnet-4-5", messages=[{"role": "system", "content": "S"},
                                                              {"role": "user", "content": "after restart"}])
    assert resp.status_code == 200, resp.text
    assert resp.json()["choices"][0]["message"]["content"] == "echo: after restart"
    sent = anthropic_upstream.requests[-1]
    assert sent.body["system"] == "S" and sent.headers["x-keep"] == "kept-value-123"
    assert sent.api_key == "sk-restart"
    assert "persisted/claude-sonnet-4-5" in httpx.get(gw.url + "/v1/models").text


# ---- storage ---------------------------------------------------------------------------------------


async def test_migration_0002_keeps_existing_nodes(tmp_path):
    engine = create_engine(normalize_database_url(f"sqlite:///{tmp_path / 'old.sqlite'}"))
    try:
        await migrate(engine, revision="0001")
        async with engine.begin() as conn:
            await conn.execute(t.provider_nodes.insert().values(
                id="old-node", name="Old", prefix="old", type="openai-compatible",
                base_url="http://127.0.0.1:1/v1", created_at=1000.0))
        await migrate(engine)
        repo = ProviderNodesRepo(engine)
        old = await repo.get("old-node")
        assert old["createdAt"] == old["updatedAt"] == 1000.0 and old["models"] == []
        updated = await repo.update("old-node", {"models": ["m"], "name": "New"})
        assert updated["models"] == ["m"] and updated["name"] == "New" and updated["updatedAt"] > 1000.0
        assert await repo.delete("old-node") and await repo.get("old-node") is None
    finally:
        await engine.dispose()
