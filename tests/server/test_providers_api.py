"""/api/providers: connections CRUD, validation, secrets at rest, test/models/validate probes."""

from __future__ import annotations

import time
import uuid

import httpx
import pytest

from tests.support import free_port

CHAT = {"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
FIELDS = {"id", "provider", "name", "authType", "apiKey", "baseUrl", "priority", "isActive", "defaultModel",
          "status", "rateLimitedUntil", "lastError", "createdAt"}


def data_files_bytes(data_dir) -> bytes:
    return b"".join((data_dir / name).read_bytes() for name in ("storage.sqlite", "storage.sqlite-wal")
                    if (data_dir / name).exists())


# ---- create, read, update, delete ------------------------------------------------------------------


def test_create_returns_every_field_with_the_key_masked(admin, upstream):
    secret = "sk-create-" + uuid.uuid4().hex
    body = {"provider": "openai", "name": "primary", "apiKey": secret, "baseUrl": upstream.base_url,
            "priority": 3, "isActive": True, "defaultModel": "gpt-4o-mini"}
    resp = admin.post("/api/providers", json=body)
    assert resp.status_code == 201, resp.text
    conn = resp.json()
    try:
        assert FIELDS <= set(conn), FIELDS - set(conn)
        assert isinstance(conn["id"], str) and conn["id"]
        assert conn["provider"] == "openai"
        assert conn["name"] == "primary"
        assert conn["authType"] == "apikey"
        assert isinstance(conn["apiKey"], str) and conn["apiKey"] != secret and secret not in resp.text
        assert conn["baseUrl"] == upstream.base_url
        assert conn["priority"] == 3
        assert conn["isActive"] is True
        assert conn["defaultModel"] == "gpt-4o-mini"
        assert conn["status"] == "active"
        assert conn["rateLimitedUntil"] is None
        assert conn["lastError"] is None
        assert isinstance(conn["createdAt"], int | float) and abs(conn["createdAt"] - time.time()) < 120

        listed = admin.get("/api/providers")
        assert listed.status_code == 200 and secret not in listed.text
        mine = [c for c in listed.json()["connections"] if c["id"] == conn["id"]]
        assert mine == [conn]
        one = admin.get(f"/api/providers/{conn['id']}")
        assert one.status_code == 200 and secret not in one.text
        assert one.json() == conn
    finally:
        admin.delete(f"/api/providers/{conn['id']}")


def test_put_updates_only_the_given_fields(gateway, admin, upstream, connection):
    conn = connection(name="before", priority=7, defaultModel="gpt-4o", apiKey="sk-original-1234")
    resp = admin.put(f"/api/providers/{conn['id']}", json={"name": "after"})
    assert resp.status_code == 200, resp.text
    assert resp.json() == {**conn, "name": "after"}
    assert admin.get(f"/api/providers/{conn['id']}").json() == {**conn, "name": "after"}

    httpx.post(gateway.url + "/v1/chat/completions", json=CHAT)
    assert upstream.requests[-1].api_key == "sk-original-1234"
    rotated = "sk-rotated-" + uuid.uuid4().hex
    resp = admin.put(f"/api/providers/{conn['id']}", json={"apiKey": rotated})
    assert resp.status_code == 200
    updated = resp.json()
    assert updated["apiKey"] != conn["apiKey"] and rotated not in resp.text
    assert {k: v for k, v in updated.items() if k != "apiKey"} == {
        k: v for k, v in {**conn, "name": "after"}.items() if k != "apiKey"}
    assert updated["priority"] == 7 and updated["defaultModel"] == "gpt-4o" and updated["name"] == "after"
    chat = httpx.post(gateway.url + "/v1/chat/completions", json=CHAT)
    assert chat.status_code == 200
    assert upstream.requests[-1].api_key == rotated, "the new key must be the one sent upstream"


def test_delete_then_get_is_404(admin, connection):
    conn = connection()
    resp = admin.delete(f"/api/providers/{conn['id']}")
    assert resp.status_code == 200
    assert admin.get(f"/api/providers/{conn['id']}").status_code == 404
    assert conn["id"] not in {c["id"] for c in admin.get("/api/providers").json()["connections"]}
    assert admin.delete(f"/api/providers/{conn['id']}").status_code == 404


@pytest.mark.parametrize(("method", "suffix"), [
    ("GET", ""), ("PUT", ""), ("DELETE", ""), ("POST", "/test"), ("GET", "/models"),
])
def test_unknown_id_is_404(admin, method, suffix):
    resp = admin.request(method, f"/api/providers/no-such-connection{suffix}",
                         json={"name": "x"} if method == "PUT" else None)
    assert resp.status_code == 404
    assert "no-such-connection" in resp.json()["error"]


# ---- validation ---------------------------------------------------------------------------------------

BAD_BODIES = [
    ({"provider": "no-such-provider", "name": "n", "apiKey": "sk-x"}, "no-such-provider"),
    ({"name": "n", "apiKey": "sk-x"}, "provider"),
    ({"provider": "openai", "name": "n"}, "apiKey"),
    ({"provider": "openai", "name": "n", "apiKey": "sk-x", "baseUrl": "ftp://x"}, "baseUrl"),
    ({"provider": "openai", "name": "n", "apiKey": "sk-x", "baseUrl": "not a url"}, "baseUrl"),
    ({"provider": "openai", "name": "n", "apiKey": "sk-x", "priority": "high"}, "priority"),
    ({"provider": "openai", "name": "n", "apiKey": "sk-x", "priority": "5"}, "priority"),
    ({"provider": "openai", "name": "n", "apiKey": "sk-x", "isActive": "yes"}, "isActive"),
]


@pytest.mark.parametrize(("body", "names"), BAD_BODIES,
                         ids=["unknown-provider", "no-provider", "no-apiKey", "ftp-baseUrl", "text-baseUrl",
                              "word-priority", "numeric-string-priority", "string-isActive"])
def test_bad_connection_is_400_naming_the_field(admin, body, names):
    before = len(admin.get("/api/providers").json()["connections"])
    resp = admin.post("/api/providers", json=body)
    if resp.status_code == 201:
        admin.delete(f"/api/providers/{resp.json()['id']}")
    assert resp.status_code == 400, resp.text
    assert names in resp.json()["error"]
    assert len(admin.get("/api/providers").json()["connections"]) == before


def test_bad_update_is_400_and_changes_nothing(admin, connection):
    conn = connection()
    resp = admin.put(f"/api/providers/{conn['id']}", json={"baseUrl": "ftp://x"})
    assert resp.status_code == 400 and "baseUrl" in resp.json()["error"]
    resp = admin.put(f"/api/providers/{conn['id']}", content=b"{oops", headers={"content-type": "application/json"})
    assert resp.status_code == 400
    assert admin.get(f"/api/providers/{conn['id']}").json() == conn


# ---- secrets -------------------------------------------------------------------------------------------


def test_api_key_is_never_stored_nor_logged_in_clear(gateway, admin, upstream, connection):
    secret = "sk-distinctive-" + uuid.uuid4().hex
    conn = connection(apiKey=secret)
    assert httpx.post(gateway.url + "/v1/chat/completions", json=CHAT).status_code == 200
    assert upstream.requests[-1].api_key == secret, "the key must really be the one in use"
    upstream.valid_keys = {"other"}
    failed = httpx.post(gateway.url + "/v1/chat/completions", json=CHAT)
    assert failed.status_code == 401 and secret not in failed.text
    probe = admin.post(f"/api/providers/{conn['id']}/test")
    assert probe.json()["ok"] is False and secret not in probe.text
    assert secret not in admin.get(f"/api/providers/{conn['id']}").text
    time.sleep(0.7)  # let the usage rows of those calls reach the database
    stored = data_files_bytes(gateway.data_dir)
    assert stored, "the SQLite database must exist"
    assert secret.encode() not in stored
    assert secret not in gateway.output()


def test_header_values_are_masked_but_sent(gateway, admin, upstream, connection):
    value = "hdr-secret-" + uuid.uuid4().hex
    conn = connection(headers={"X-Org-Secret": value})
    assert set(conn["headers"]) == {"X-Org-Secret"}
    assert conn["headers"]["X-Org-Secret"] != value
    fetched = admin.get(f"/api/providers/{conn['id']}")
    assert value not in fetched.text and value not in admin.get("/api/providers").text
    assert httpx.post(gateway.url + "/v1/chat/completions", json=CHAT).status_code == 200
    assert upstream.requests[-1].headers.get("x-org-secret") == value


def test_header_values_are_not_stored_in_clear(gateway, connection):
    # Header values are masked like the key (they often carry credentials), so they are secrets at rest too.
    value = "hdr-secret-" + uuid.uuid4().hex
    connection(headers={"X-Org-Secret": value})
    assert value.encode() not in data_files_bytes(gateway.data_dir)


# ---- probes --------------------------------------------------------------------------------------------


def test_connection_test_ok_and_rejected(admin, upstream, connection):
    conn = connection(apiKey="sk-probe-1")
    resp = admin.post(f"/api/providers/{conn['id']}/test")
    assert resp.status_code == 200
    body = resp.json()
    assert body["ok"] is True
    assert isinstance(body["latencyMs"], int | float) and body["latencyMs"] >= 0
    assert [(r.method, r.path, r.api_key) for r in upstream.requests] == [("GET", "/v1/models", "sk-probe-1")]

    upstream.valid_keys = {"other"}
    resp = admin.post(f"/api/providers/{conn['id']}/test")
    assert resp.status_code == 200
    body = resp.json()
    assert body["ok"] is False
    assert isinstance(body["error"], str) and body["error"]
    assert len(upstream.requests) == 2


def test_connection_test_against_unreachable_upstream(admin, connection):
    conn = connection(baseUrl=f"http://127.0.0.1:{free_port()}/v1")
    resp = admin.post(f"/api/providers/{conn['id']}/test")
    assert resp.status_code == 200, resp.text
    assert resp.json()["ok"] is False and resp.json()["error"]
    models = admin.get(f"/api/providers/{conn['id']}/models")
    assert models.status_code != 500 and models.status_code >= 400
    assert models.json()["error"]


def test_models_come_from_the_upstream(admin, upstream, connection):
    conn = connection()
    upstream.models = ["gpt-4o-mini", "gpt-4o", "fake-model", "only-on-this-upstream"]
    try:
        resp = admin.get(f"/api/providers/{conn['id']}/models")
    finally:
        upstream.models = ["gpt-4o-mini", "gpt-4o", "fake-model"]
    assert resp.status_code == 200, resp.text
    ids = [m["id"] for m in resp.json()["models"]]
    assert sorted(ids) == sorted(["gpt-4o-mini", "gpt-4o", "fake-model", "only-on-this-upstream"])
    assert upstream.requests[-1].path == "/v1/models"


def test_validate_calls_the_upstream(admin, upstream):
    before = len(admin.get("/api/providers").json()["connections"])
    resp = admin.post("/api/providers/validate",
                      json={"provider": "openai", "apiKey": "sk-candidate", "baseUrl": upstream.base_url})
    assert resp.status_code == 200
    assert resp.json() == {"valid": True}
    assert [(r.path, r.api_key) for r in upstream.requests] == [("/v1/models", "sk-candidate")]

    upstream.valid_keys = {"other"}
    resp = admin.post("/api/providers/validate",
                      json={"provider": "openai", "apiKey": "sk-candidate", "baseUrl": upstream.base_url})
    assert resp.status_code == 200
    assert resp.json()["valid"] is False and resp.json()["error"]
    assert len(upstream.requests) == 2
    assert len(admin.get("/api/providers").json()["connections"]) == before, "validation creates nothing"


def test_validate_rejects_bad_input(admin):
    resp = admin.post("/api/providers/validate", json={"provider": "no-such-provider", "apiKey": "k"})
    assert resp.status_code == 400 and "no-such-provider" in resp.json()["error"]
    resp = admin.post("/api/providers/validate", json={"provider": "openai", "apiKey": "k", "baseUrl": "ftp://x"})
    assert resp.status_code == 400 and "baseUrl" in resp.json()["error"]
