"""/v1/embeddings through the official openai SDK: shapes, encodings, providers, fallback, usage, errors."""

from __future__ import annotations

import httpx
import openai
import pytest

from tests.fakes.gemini_embed_upstream import FakeGeminiEmbed
from tests.fakes.openai_answers import EMBEDDING_DIMS, embedding_vector
from tests.support import usage_rows

MODEL = "openai/text-embedding-3-small"


def sdk(gateway, key: str = "sk-anything") -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.url + "/v1", api_key=key, max_retries=0)


def post(gateway, body: dict, **kwargs) -> httpx.Response:
    return httpx.post(gateway.url + "/v1/embeddings", json=body, timeout=30, **kwargs)




@pytest.fixture(scope="module")
def gemini_fake():
    fake = FakeGeminiEmbed().start()
    yield fake
    fake.stop()


def test_single_input_floats(gateway, upstream, connection):
    connection()
    result = sdk(gateway).embeddings.create(model=MODEL, input="hello world", encoding_format="float")
    assert len(result.data) == 1 and result.data[0].index == 0
    assert result.data[0].embedding == embedding_vector("hello world")
    assert result.usage.prompt_tokens == 2 and result.usage.total_tokens == 2
    sent = upstream.requests[-1]
    assert sent.path == "/v1/embeddings"
    assert sent.body == {"model": "text-embedding-3-small", "input": "hello world", "encoding_format": "float"}


def test_batch_input_keeps_order(gateway, upstream, connection):
    connection()
    texts = ["one", "two words", "three little words"]
    result = sdk(gateway).embeddings.create(model=MODEL, input=texts, encoding_format="float")
    assert [d.index for d in result.data] == [0, 1, 2]
    assert [d.embedding for d in result.data] == [embedding_vector(t) for t in texts]
    assert result.usage.prompt_tokens == 6


def test_base64_decodes_to_the_same_floats(gateway, upstream, connection):
    connection()
    client = sdk(gateway)
    as_floats = client.embeddings.create(model=MODEL, input=["alpha", "beta"], encoding_format="float")
    as_b64 = client.embeddings.create(model=MODEL, input=["alpha", "beta"])  # the SDK asks for base64
    assert upstream.requests[-1].body["encoding_format"] == "base64"
    assert [d.embedding for d in as_b64.data] == [d.embedding for d in as_floats.data]
    raw = post(gateway, {"model": MODEL, "input": "alpha", "encoding_format": "base64"}).json()
    assert isinstance(raw["data"][0]["embedding"], str)


def test_base64_made_by_the_gateway_for_upstreams_that_send_floats(gateway, upstream, connection):
    connection(provider="mistral")
    result = sdk(gateway).embeddings.create(model="mistral/mistral-embed", input="bonjour le monde")
    assert "encoding_format" not in upstream.requests[-1].body
    assert result.data[0].embedding == embedding_vector("bonjour le monde")


def test_dimensions(gateway, upstream, connection):
    connection()
    result = sdk(gateway).embeddings.create(model=MODEL, input="short", dimensions=8, encoding_format="float")
    assert len(result.data[0].embedding) == 8
    assert upstream.requests[-1].body["dimensions"] == 8
    default = sdk(gateway).embeddings.create(model=MODEL, input="short")
    assert len(default.data[0].embedding) == EMBEDDING_DIMS


def test_token_array_input(gateway, upstream, connection):
    connection()
    result = sdk(gateway).embeddings.create(model=MODEL, input=[[1, 2, 3], [4, 5]], encoding_format="float")
    assert [d.embedding for d in result.data] == [embedding_vector([1, 2, 3]), embedding_vector([4, 5])]
    assert result.usage.prompt_tokens == 5


def test_bare_model_name_resolves(gateway, upstream, connection):
    connection()
    resp = post(gateway, {"model": "text-embedding-3-large", "input": "hi"})
    assert resp.status_code == 200, resp.text
    assert upstream.requests[-1].body["model"] == "text-embedding-3-large"
    assert resp.headers["x-omniroute-provider"] == "openai"


def test_fallback_to_the_next_account_on_5xx(gateway, upstream, connection):
    connection(priority=1, apiKey="sk-a")
    connection(priority=2, apiKey="sk-b")
    upstream.fail_next(503)
    resp = post(gateway, {"model": MODEL, "input": "hi"})
    assert resp.status_code == 200, resp.text
    assert [r.api_key for r in upstream.requests] == ["sk-a", "sk-b"]
    assert resp.headers["x-omniroute-fallback-attempts"] == "1"


def test_every_account_failing_keeps_the_status_and_names_each(gateway, upstream, connection):
    connection(priority=1, apiKey="sk-a", name="alpha")
    connection(priority=2, apiKey="sk-b", name="beta")
    upstream.fail_next(500, count=2)
    resp = post(gateway, {"model": MODEL, "input": "hi"})
    assert resp.status_code == 500
    assert "alpha" in resp.json()["error"]["message"] and "beta" in resp.json()["error"]["message"]


def test_usage_row_written(gateway, upstream, connection, api_key, admin):
    connection()
    key = api_key()
    sdk(gateway, key["key"]).embeddings.create(model=MODEL, input=["a b c", "d e"])
    rows = usage_rows(admin, key["id"])
    assert len(rows) == 1
    row = rows[0]
    assert row["provider"] == "openai" and row["model"] == "text-embedding-3-small"
    assert row["requestedModel"] == MODEL and row["clientFormat"] == "embeddings"
    assert row["promptTokens"] == 5 and row["completionTokens"] == 0 and row["status"] == 200


def test_failed_request_writes_a_usage_row_too(gateway, upstream, connection, api_key, admin):
    connection()
    key = api_key()
    upstream.fail_next(500)
    assert post(gateway, {"model": MODEL, "input": "x"},
                headers={"Authorization": f"Bearer {key['key']}"}).status_code == 500
    rows = usage_rows(admin, key["id"])
    assert rows and rows[0]["status"] == 500 and rows[0]["error"]


def test_key_allowed_models_enforced(gateway, upstream, connection, api_key):
    connection()
    key = api_key(allowedModels=["openai/text-embedding-3-small"])
    client = sdk(gateway, key["key"])
    assert client.embeddings.create(model=MODEL, input="ok").data
    with pytest.raises(openai.PermissionDeniedError) as caught:
        client.embeddings.create(model="openai/text-embedding-3-large", input="no")
    assert caught.value.body["code"] == "model_not_allowed"
    with pytest.raises(openai.PermissionDeniedError):
        client.embeddings.create(model="text-embedding-3-large", input="no")
    assert len(upstream.requests) == 1
    listed = httpx.get(gateway.url + "/v1/embeddings", headers={"Authorization": f"Bearer {key['key']}"}).json()
    assert [m["id"] for m in listed["data"]] == [MODEL]


def test_get_lists_embedding_models_of_active_connections(gateway, connection):
    connection()
    data = httpx.get(gateway.url + "/v1/embeddings").json()
    assert data["object"] == "list"
    ids = {m["id"] for m in data["data"]}
    assert {MODEL, "openai/text-embedding-3-large"} <= ids
    assert "openai/gpt-4o" not in ids and not any(i.startswith("mistral/") for i in ids)
    assert all(m["object"] == "model" for m in data["data"])


@pytest.mark.parametrize("provider, model", [
    ("together", "BAAI/bge-large-en-v1.5"),
    ("fireworks", "nomic-ai/nomic-embed-text-v1.5"),
    ("nebius", "BAAI/bge-en-icl"),
    ("nvidia", "nvidia/nv-embedqa-e5-v5"),
    ("mistral", "mistral-embed"),
])
def test_openai_shaped_providers(gateway, upstream, connection, provider, model):
    connection(provider=provider, apiKey=f"sk-{provider}")
    result = sdk(gateway).embeddings.create(model=f"{provider}/{model}", input=["x y", "z"], dimensions=4)
    dims = EMBEDDING_DIMS if provider == "mistral" else 4  # the OpenAI fake knows only `dimensions`
    assert [d.embedding for d in result.data] == [embedding_vector("x y", dims), embedding_vector("z", dims)]
    sent = upstream.requests[-1]
    assert sent.path == "/v1/embeddings" and sent.api_key == f"sk-{provider}"
    assert sent.body["model"] == model and sent.body["input"] == ["x y", "z"]
    assert "encoding_format" not in sent.body
    if provider == "mistral":
        assert sent.body["output_dimension"] == 4 and "dimensions" not in sent.body
    if provider == "nvidia":
        assert sent.body["input_type"] == "query"


def test_nvidia_keeps_the_clients_input_type(gateway, upstream, connection):
    connection(provider="nvidia")
    resp = post(gateway, {"model": "nvidia/nvidia/nv-embedqa-e5-v5", "input": "doc", "input_type": "passage"})
    assert resp.status_code == 200, resp.text
    assert upstream.requests[-1].body["input_type"] == "passage"


def test_openai_compatible_provider_node(gateway, upstream, admin):
    node = admin.post("/api/provider-nodes", json={"name": "Embed node", "prefix": "embnode",
                                                   "type": "openai-compatible", "baseUrl": upstream.base_url})
    assert node.status_code == 201, node.text
    node_id = node.json()["id"]
    conn = admin.post("/api/providers", json={"provider": node_id, "name": "n", "apiKey": "sk-node"}).json()
    try:
        result = sdk(gateway).embeddings.create(model="embnode/my-embedder", input="node text")
        assert result.data[0].embedding == embedding_vector("node text")
        assert upstream.requests[-1].body["model"] == "my-embedder"
        assert upstream.requests[-1].api_key == "sk-node"
    finally:
        admin.delete(f"/api/providers/{conn['id']}")
        admin.delete(f"/api/provider-nodes/{node_id}")


def test_gemini_batch_embed_contents(gateway, admin, gemini_fake):
    gemini_fake.clear()
    conn = admin.post("/api/providers", json={"provider": "gemini", "name": "g", "apiKey": "g-key",
                                              "baseUrl": gemini_fake.base_url}).json()
    try:
        client = sdk(gateway)
        result = client.embeddings.create(model="gemini/gemini-embedding-001", input=["uno", "dos tres"],
                                          dimensions=6)
        assert [d.embedding for d in result.data] == [embedding_vector("uno", 6), embedding_vector("dos tres", 6)]
        assert result.usage.prompt_tokens > 0
        sent = gemini_fake.requests[-1]
        assert sent.path == "/v1beta/models/gemini-embedding-001:batchEmbedContents"
        assert sent.api_key == "g-key"
        assert sent.body["requests"][1] == {"model": "models/gemini-embedding-001",
                                            "content": {"parts": [{"text": "dos tres"}]},
                                            "outputDimensionality": 6}
        floats = client.embeddings.create(model="gemini/gemini-embedding-001", input="uno", encoding_format="float")
        b64 = client.embeddings.create(model="gemini/gemini-embedding-001", input="uno")
        assert floats.data[0].embedding == b64.data[0].embedding == embedding_vector("uno")
        before = len(gemini_fake.requests)
        resp = post(gateway, {"model": "gemini/gemini-embedding-001", "input": [[1, 2]]})
        assert resp.status_code == 400 and "token arrays" in resp.json()["error"]["message"]
        assert len(gemini_fake.requests) == before
    finally:
        admin.delete(f"/api/providers/{conn['id']}")


@pytest.mark.parametrize("body, field", [
    ({"model": MODEL}, "input"),
    ({"model": MODEL, "input": None}, "input"),
    ({"model": MODEL, "input": []}, "input"),
    ({"model": MODEL, "input": ""}, "input[0]"),
    ({"model": MODEL, "input": 42}, "input"),
    ({"model": MODEL, "input": ["ok", 3]}, "input[1]"),
    ({"model": MODEL, "input": [[1, "x"]]}, "input[0]"),
    ({"input": "hi"}, "model"),
    ({"model": "", "input": "hi"}, "model"),
    ({"model": MODEL, "input": "hi", "encoding_format": "int8"}, "encoding_format"),
    ({"model": MODEL, "input": "hi", "dimensions": 0}, "dimensions"),
    ({"model": MODEL, "input": "hi", "dimensions": "8"}, "dimensions"),
    ({"model": MODEL, "input": "hi", "user": 5}, "user"),
    ({"model": "openai/gpt-4o", "input": "hi"}, "model"),
])
def test_bad_input_is_400_naming_the_field(gateway, upstream, connection, body, field):
    connection()
    resp = post(gateway, body)
    assert resp.status_code == 400, resp.text
    error = resp.json()["error"]
    assert f"'{field}'" in error["message"] and error["type"] == "invalid_request_error"
    assert upstream.requests == []


def test_provider_without_the_capability_is_400(gateway, upstream, connection):
    connection(provider="groq")
    resp = post(gateway, {"model": "groq/llama-3.3-70b-versatile", "input": "hi"})
    assert resp.status_code == 400
    assert "groq" in resp.json()["error"]["message"] and "embeddings" in resp.json()["error"]["message"]
    assert upstream.requests == []


def test_unknown_model_is_404_and_malformed_json_is_400(gateway, upstream, connection):
    connection()
    resp = post(gateway, {"model": "no-such-embedder", "input": "hi"})
    assert resp.status_code == 404 and resp.json()["error"]["code"] == "model_not_found"
    bad = httpx.post(gateway.url + "/v1/embeddings", content=b"{oops", headers={"content-type": "application/json"})
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_json"
    assert upstream.requests == []


@pytest.mark.parametrize("raw, content_type", [
    (b"<html>proxy error page</html>", "text/html"),
    (b'{"object": "list", "data": "nope"}', "application/json"),
    (b'{"object": "list", "data": [{"index": 0, "embedding": ["x"]}]}', "application/json"),
    (b'{"object": "list", "data": []}', "application/json"),
])
def test_malformed_upstream_answer_is_502_with_status_and_excerpt(gateway, upstream, connection, raw, content_type):
    connection()
    upstream.fail_next(200, raw=raw, content_type=content_type)
    resp = post(gateway, {"model": MODEL, "input": "hi"})
    assert resp.status_code == 502, resp.text
    message = resp.json()["error"]["message"]
    assert "HTTP 200" in message and raw[:12].decode() in message


def test_malformed_answer_moves_to_the_next_account(gateway, upstream, connection):
    connection(priority=1, apiKey="sk-a")
    connection(priority=2, apiKey="sk-b")
    upstream.fail_next(200, raw=b"garbage")
    resp = post(gateway, {"model": MODEL, "input": "hi"})
    assert resp.status_code == 200
    assert [r.api_key for r in upstream.requests] == ["sk-a", "sk-b"]


def test_upstream_error_keeps_its_status(gateway, upstream, connection):
    connection()
    upstream.fail_next(400, {"error": {"message": "bad 'dimensions' for this model", "type": "invalid_request_error"}})
    resp = post(gateway, {"model": MODEL, "input": "hi", "dimensions": 9999})
    assert resp.status_code == 400 and "bad 'dimensions'" in resp.json()["error"]["message"]


def test_missing_upstream_usage_is_estimated(gateway, upstream, connection):
    connection()
    upstream.send_usage = False
    resp = post(gateway, {"model": MODEL, "input": "some words here"})
    assert resp.status_code == 200 and resp.json()["usage"]["prompt_tokens"] > 0


def test_method_not_allowed(gateway):
    resp = httpx.delete(gateway.url + "/v1/embeddings")
    assert resp.status_code == 405
