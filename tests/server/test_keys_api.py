"""/api/keys and the client API's key rules (required or not, revoked, expired, allowed models)."""

from __future__ import annotations

import time
from contextlib import closing

import httpx
import pytest

CHAT = {"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}


def chat(gw, key: str | None = None, header: str = "authorization", **body) -> httpx.Response:
    headers = {}
    if key is not None:
        headers[header] = f"Bearer {key}" if header == "authorization" else key
    return httpx.post(gw.url + "/v1/chat/completions", json={**CHAT, **body}, headers=headers, timeout=30)


def assert_openai_error(resp: httpx.Response, status: int) -> dict:
    assert resp.status_code == status, resp.text
    error = resp.json()["error"]
    assert {"message", "type", "code"} <= set(error)
    assert isinstance(error["message"], str) and error["message"]
    return error


def data_files_bytes(data_dir) -> bytes:
    return b"".join((data_dir / name).read_bytes() for name in ("storage.sqlite", "storage.sqlite-wal")
                    if (data_dir / name).exists())


@pytest.fixture
def revoke_after(admin):
    """Revoke every key id appended to the list once the test is over."""
    ids: list[str] = []
    yield ids
    for key_id in ids:
        admin.delete(f"/api/keys/{key_id}")


# ---- management -----------------------------------------------------------------------------------


def test_full_key_is_shown_once_and_stored_hashed(gateway, admin, revoke_after):
    resp = admin.post("/api/keys", json={"name": "shown-once"})
    assert resp.status_code == 201, resp.text
    created = resp.json()
    revoke_after.append(created["id"])
    raw = created["key"]
    assert raw.startswith("sk-omni-") and len(raw) > len("sk-omni-") + 16
    assert created["name"] == "shown-once"

    listed = admin.get("/api/keys")
    assert listed.status_code == 200
    assert raw not in listed.text
    mine = [k for k in listed.json()["keys"] if k["id"] == created["id"]]
    assert len(mine) == 1 and mine[0]["name"] == "shown-once"
    assert mine[0].get("key") != raw, "a listed key is masked"
    one = admin.get(f"/api/keys/{created['id']}")
    assert one.status_code == 200 and raw not in one.text
    assert one.json().get("key") != raw
    assert raw[len("sk-omni-"):-4] not in listed.text + one.text, "not even the key's body shows"
    assert admin.get("/api/keys/no-such-key").status_code == 404

    assert raw.encode() not in data_files_bytes(gateway.data_dir), "keys are hashed at rest"


def test_revoked_key_is_401_even_when_keys_are_not_required(gateway, admin, upstream, connection, api_key):
    connection()
    key = api_key(name="to-revoke")
    assert chat(gateway, key["key"]).status_code == 200
    resp = admin.delete(f"/api/keys/{key['id']}")
    assert resp.status_code == 200
    error = assert_openai_error(chat(gateway, key["key"]), 401)
    assert "revoked" in error["message"].lower()
    assert_openai_error(httpx.get(gateway.url + "/v1/models", headers={"Authorization": f"Bearer {key['key']}"}),
                        401)
    assert len(upstream.requests) == 1, "a refused request never goes upstream"
    assert chat(gateway).status_code == 200, "anonymous use is still open"


def test_patch_updates_name_and_allowed_models(gateway, admin, connection, api_key, revoke_after):
    connection()
    key = api_key(name="before")
    revoke_after.append(key["id"])
    resp = admin.patch(f"/api/keys/{key['id']}", json={"name": "after", "allowedModels": ["openai/gpt-4o-mini"]})
    assert resp.status_code == 200, resp.text
    assert resp.json()["name"] == "after" and resp.json()["allowedModels"] == ["openai/gpt-4o-mini"]
    fetched = admin.get(f"/api/keys/{key['id']}").json()
    assert fetched["name"] == "after" and fetched["allowedModels"] == ["openai/gpt-4o-mini"]
    assert_openai_error(chat(gateway, key["key"], model="openai/gpt-4o"), 403)
    assert chat(gateway, key["key"]).status_code == 200

    resp = admin.patch(f"/api/keys/{key['id']}", json={"scopes": ["root"]})
    assert resp.status_code == 400 and "root" in resp.json()["error"]
    assert admin.patch("/api/keys/no-such-key", json={"name": "x"}).status_code == 404


def test_allowed_models_restrict_chat_and_model_list(gateway, upstream, connection, api_key, revoke_after):
    connection()
    key = api_key(name="limited", allowedModels=["openai/gpt-4o-mini"])
    revoke_after.append(key["id"])
    error = assert_openai_error(chat(gateway, key["key"], model="openai/gpt-4o"), 403)
    assert "openai/gpt-4o" in error["message"]
    assert upstream.requests == []
    assert chat(gateway, key["key"]).status_code == 200
    assert upstream.requests[-1].body["model"] == "gpt-4o-mini"

    limited = httpx.get(gateway.url + "/v1/models", headers={"Authorization": f"Bearer {key['key']}"})
    assert limited.status_code == 200
    assert [m["id"] for m in limited.json()["data"]] == ["openai/gpt-4o-mini"]
    everyone = {m["id"] for m in httpx.get(gateway.url + "/v1/models").json()["data"]}
    assert {"openai/gpt-4o-mini", "openai/gpt-4o"} <= everyone


def test_key_expires(gateway, connection, api_key, revoke_after):
    connection()
    key = api_key(name="short-lived", expiresAt=time.time() + 1.5)
    revoke_after.append(key["id"])
    assert chat(gateway, key["key"]).status_code == 200
    time.sleep(max(0.0, key["expiresAt"] - time.time()) + 0.3)
    error = assert_openai_error(chat(gateway, key["key"]), 401)
    assert "expired" in error["message"].lower()
    assert httpx.get(gateway.url + "/v1/models", headers={"x-api-key": key["key"]}).status_code == 401


@pytest.mark.parametrize("expires_at", [time.time() - 60, 1.0], ids=["a-minute-ago", "1970"])
def test_expiry_in_the_past_is_400(admin, expires_at):
    resp = admin.post("/api/keys", json={"name": "already-expired", "expiresAt": expires_at})
    assert resp.status_code == 400
    assert "expiresAt" in resp.json()["error"]


@pytest.mark.parametrize(("body", "names"), [
    ({}, "name"),
    ({"name": ""}, "name"),
    ({"name": "x", "scopes": ["admin"]}, "admin"),
    ({"name": "x", "allowedModels": "openai/gpt-4o"}, "allowedModels"),
    ({"name": "x", "expiresAt": "tomorrow"}, "expiresAt"),
])
def test_bad_key_body_is_400(admin, body, names):
    resp = admin.post("/api/keys", json=body)
    if resp.status_code == 201:
        admin.delete(f"/api/keys/{resp.json()['id']}")
    assert resp.status_code == 400, resp.text
    assert names in resp.json()["error"]


# ---- keys not required (the default) ------------------------------------------------------------------


def test_without_required_keys_anonymous_and_placeholder_keys_pass(gateway, connection):
    connection()
    assert chat(gateway).status_code == 200
    assert chat(gateway, "sk-placeholder").status_code == 200
    assert chat(gateway, "sk-placeholder", header="x-api-key").status_code == 200
    assert httpx.get(gateway.url + "/v1/models", headers={"Authorization": "Bearer sk-placeholder"}).status_code == 200


# ---- REQUIRE_API_KEY=true ------------------------------------------------------------------------------


def test_required_keys(make_gateway, upstream):
    gw = make_gateway({"REQUIRE_API_KEY": "true"})
    with closing(gw.admin()) as admin:
        resp = admin.post("/api/providers", json={"provider": "openai", "name": "fake", "apiKey": "sk-up",
                                                  "baseUrl": upstream.base_url})
        assert resp.status_code == 201, resp.text
        key = admin.post("/api/keys", json={"name": "client"}).json()
        gone = admin.post("/api/keys", json={"name": "gone"}).json()
        assert admin.delete(f"/api/keys/{gone['id']}").status_code == 200

    error = assert_openai_error(chat(gw), 401)
    assert "key" in error["message"].lower()
    assert_openai_error(chat(gw, "sk-placeholder"), 401)
    assert_openai_error(chat(gw, "sk-placeholder", header="x-api-key"), 401)
    assert_openai_error(chat(gw, gone["key"]), 401)
    assert upstream.requests == [], "refused requests never go upstream"

    for header in ("authorization", "x-api-key", "x-goog-api-key"):
        resp = chat(gw, key["key"], header=header)
        assert resp.status_code == 200, (header, resp.text)
    assert len(upstream.requests) == 3

    assert_openai_error(httpx.get(gw.url + "/v1/models"), 401)
    assert_openai_error(httpx.get(gw.url + "/v1/models", headers={"Authorization": "Bearer sk-placeholder"}), 401)
    models = httpx.get(gw.url + "/v1/models", headers={"Authorization": f"Bearer {key['key']}"})
    assert models.status_code == 200 and "openai/gpt-4o-mini" in {m["id"] for m in models.json()["data"]}
