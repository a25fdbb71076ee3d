"""Sync between two gateways: push, pull, last writer wins, deletions, the sync token, secrets sealed."""

from __future__ import annotations

import sqlite3
import threading
import time
from contextlib import closing
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import orjson
import pytest

from omniroute.sync.transit import Transit
from tests.support import free_port

UPSTREAM_KEY = "sk-upstream-sync-plaintext-7f3a9c"
CHAT = {"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}


def initialize(gw) -> str:
    with closing(gw.admin()) as admin:
        resp = admin.post("/api/sync/initialize")
    assert resp.status_code == 201, resp.text
    body = resp.json()
    assert body["rotated"] is False and body["token"].startswith("omni-sync-")
    return body["token"]


def sync(admin: httpx.Client, action: str, remote=None) -> httpx.Response:
    body = {"action": action, **({"remote": remote} if remote else {})}
    return admin.post("/api/sync/cloud", json=body)


def ok_sync(admin, action, remote=None) -> dict:
    resp = sync(admin, action, remote)
    assert resp.status_code == 200, resp.text
    return resp.json()["counts"]


def data_bytes(gw) -> bytes:
    return b"".join((gw.data_dir / name).read_bytes() for name in ("storage.sqlite", "storage.sqlite-wal")
                    if (gw.data_dir / name).exists())


def combo_named(admin, name) -> dict | None:
    return next((c for c in admin.get("/api/combos").json()["combos"] if c["name"] == name), None)


@pytest.fixture
def pair(make_gateway):
    """Gateway A (the one that pushes and pulls) and B (initialized; client keys required), logged in."""
    a, b = make_gateway(), make_gateway(env={"REQUIRE_API_KEY": "true"})
    token = initialize(b)
    with closing(a.admin()) as admin_a, closing(b.admin()) as admin_b:
        yield a, b, admin_a, admin_b, {"url": b.url, "token": token}


def test_push_copies_configuration_and_secrets_stay_secret(pair, upstream):
    a, b, admin_a, admin_b, remote = pair
    conn = admin_a.post("/api/providers", json={"provider": "openai", "name": "synced", "apiKey": UPSTREAM_KEY,
                                                "baseUrl": upstream.base_url}).json()
    combo = admin_a.post("/api/combos", json={"name": "sync-combo", "models": ["openai/gpt-4o-mini"]}).json()
    assert admin_a.post("/api/models/alias", json={"alias": "sync-alias", "model": "openai/gpt-4o"}
                        ).status_code in (200, 201)
    key = admin_a.post("/api/keys", json={"name": "synced-key"}).json()
    assert admin_a.put("/api/settings", json={"idempotency": {"windowMs": 4321}}).status_code == 200
    assert admin_a.put("/api/settings/require-login", json={"requireLogin": False}).status_code == 200
    proxy = {"enabled": False, "url": "http://user:proxy-pass-5d1e@127.0.0.1:3128"}
    assert admin_a.put("/api/settings/proxy", json=proxy).status_code == 200

    counts = ok_sync(admin_a, "push", remote)
    assert counts["byKind"]["connections"]["added"] == 1
    assert counts["byKind"]["combos"]["added"] == 1
    assert counts["byKind"]["model_aliases"]["added"] == 1
    assert counts["byKind"]["api_keys"]["added"] == 1
    assert counts["added"] >= 5 and counts["deleted"] == 0

    # The connection: same id, its key masked in B's answers, and it works against the upstream.
    listed = admin_b.get("/api/providers")
    assert UPSTREAM_KEY not in listed.text
    mine = [c for c in listed.json()["connections"] if c["id"] == conn["id"]]
    assert len(mine) == 1 and mine[0]["apiKey"] != UPSTREAM_KEY and mine[0]["baseUrl"] == upstream.base_url
    # The client key made on A authenticates on B (which requires one), and B sends A's upstream key.
    assert httpx.post(b.url + "/v1/chat/completions", json=CHAT, timeout=30).status_code == 401
    resp = httpx.post(b.url + "/v1/chat/completions", json=CHAT, timeout=30,
                      headers={"Authorization": f"Bearer {key['key']}"})
    assert resp.status_code == 200, resp.text
    assert upstream.requests and upstream.requests[-1].api_key == UPSTREAM_KEY
    # The combo and alias are live on B.
    assert combo_named(admin_b, "sync-combo")["id"] == combo["id"]
    assert admin_b.get("/api/models/alias").json()["aliases"].get("sync-alias") == "openai/gpt-4o"
    resp = httpx.post(b.url + "/v1/chat/completions", json={**CHAT, "model": "sync-combo"}, timeout=30,
                      headers={"Authorization": f"Bearer {key['key']}"})
    assert resp.status_code == 200, resp.text
    # A general setting travelled; the login requirement (instance-local) did not.
    assert admin_b.get("/api/settings").json()["idempotency"]["windowMs"] == 4321
    assert httpx.get(b.url + "/api/sync/cloud", timeout=10).status_code == 401
    # A secret inside a setting (the proxy's password) arrives readable by B, and masked.
    proxy_b = admin_b.get("/api/settings/proxy")
    assert "127.0.0.1:3128" in proxy_b.json()["url"] and "proxy-pass-5d1e" not in proxy_b.text

    # At rest on B: encrypted with B's own key, never in clear anywhere in its database.
    assert UPSTREAM_KEY.encode() not in data_bytes(b) and b"proxy-pass-5d1e" not in data_bytes(b)
    with sqlite3.connect(b.data_dir / "storage.sqlite") as db:
        (stored,) = db.execute("SELECT api_key_enc FROM connections WHERE id = ?", (conn["id"],)).fetchone()
    assert stored.startswith("enc:v1:")

    # Status on A: the remote with its token masked, the last push and its counts.
    status = admin_a.get("/api/sync/cloud").json()
    assert status["remote"]["url"] == b.url and status["remote"]["token"] != remote["token"]
    assert remote["token"] not in admin_a.get("/api/sync/cloud").text
    assert status["lastPush"]["counts"]["added"] == counts["added"] and status["lastPull"] is None
    # B's own status shows its token masked only.
    status_b = admin_b.get("/api/sync/cloud")
    assert status_b.json()["initialized"] is True and remote["token"] not in status_b.text

    # Pushing again changes nothing: every item is as new on both sides.
    again = ok_sync(admin_a, "push")  # the stored remote is reused
    assert again["added"] == again["updated"] == again["deleted"] == 0 and again["skipped"] >= 5


def test_pull_and_last_writer_wins(pair, upstream):
    a, b, admin_a, admin_b, remote = pair
    made = admin_b.post("/api/combos", json={"name": "shared", "models": ["openai/gpt-4o-mini"]}).json()
    counts = ok_sync(admin_a, "pull", remote)
    assert counts["byKind"]["combos"]["added"] == 1
    assert combo_named(admin_a, "shared")["id"] == made["id"]

    # Edited on B, then (later) on A: A's edit is the newer one.
    assert admin_b.put(f"/api/combos/{made['id']}", json={"strategy": "random"}).status_code == 200
    time.sleep(0.05)
    assert admin_a.put(f"/api/combos/{made['id']}", json={"strategy": "round-robin"}).status_code == 200
    counts = ok_sync(admin_a, "pull")  # B's older edit does not overwrite A's
    assert counts["byKind"]["combos"]["skipped"] == 1 and counts["updated"] == 0
    assert combo_named(admin_a, "shared")["strategy"] == "round-robin"
    counts = ok_sync(admin_a, "push")
    assert counts["byKind"]["combos"]["updated"] == 1
    assert combo_named(admin_b, "shared")["strategy"] == "round-robin"

    # Now B edits last: a pull brings it to A.
    time.sleep(0.05)
    assert admin_b.put(f"/api/combos/{made['id']}", json={"strategy": "least-used"}).status_code == 200
    assert ok_sync(admin_a, "pull")["byKind"]["combos"]["updated"] == 1
    assert combo_named(admin_a, "shared")["strategy"] == "least-used"
    assert admin_a.get("/api/sync/cloud").json()["lastPull"]["counts"]["updated"] == 1


def test_a_deletion_travels_as_a_tombstone(pair, upstream):
    a, b, admin_a, admin_b, remote = pair
    conn = admin_a.post("/api/providers", json={"provider": "openai", "name": "gone", "apiKey": UPSTREAM_KEY,
                                                "baseUrl": upstream.base_url}).json()
    combo = admin_a.post("/api/combos", json={"name": "gone-combo", "models": ["openai/gpt-4o"]}).json()
    admin_a.post("/api/models/alias", json={"alias": "gone-alias", "model": "openai/gpt-4o"})
    kept = admin_a.post("/api/models/alias", json={"alias": "kept-alias", "model": "openai/gpt-4o"})
    assert kept.status_code in (200, 201)
    ok_sync(admin_a, "push", remote)
    assert combo_named(admin_b, "gone-combo") is not None

    assert admin_a.delete(f"/api/combos/{combo['id']}").status_code == 200
    assert admin_a.delete(f"/api/providers/{conn['id']}").status_code == 200
    assert admin_a.delete("/api/models/alias", params={"alias": "gone-alias"}).status_code == 200
    counts = ok_sync(admin_a, "push")
    assert counts["deleted"] == 3, counts
    assert combo_named(admin_b, "gone-combo") is None
    assert all(c["id"] != conn["id"] for c in admin_b.get("/api/providers").json()["connections"])
    aliases = admin_b.get("/api/models/alias").json()["aliases"]
    assert "gone-alias" not in aliases and aliases.get("kept-alias") == "openai/gpt-4o"
    # A pull does not bring the deleted items back to A either.
    assert ok_sync(admin_a, "pull")["added"] == 0
    assert combo_named(admin_a, "gone-combo") is None
    # A deletion older than the other side's edit loses: the edited item stays, and a pull brings it back.
    survivor = admin_a.post("/api/combos", json={"name": "survivor", "models": ["openai/gpt-4o"]}).json()
    ok_sync(admin_a, "push")
    assert admin_a.delete(f"/api/combos/{survivor['id']}").status_code == 200
    time.sleep(0.05)
    assert admin_b.put(f"/api/combos/{survivor['id']}", json={"strategy": "random"}).status_code == 200
    counts = ok_sync(admin_a, "push")
    assert counts["deleted"] == 0 and counts["byKind"]["combos"]["skipped"] >= 1
    assert combo_named(admin_b, "survivor")["strategy"] == "random"
    assert ok_sync(admin_a, "pull")["byKind"]["combos"]["added"] == 1
    assert combo_named(admin_a, "survivor")["strategy"] == "random"
    # An alias made again under the same name is alive again, and travels.
    admin_a.post("/api/models/alias", json={"alias": "gone-alias", "model": "openai/gpt-4o-mini"})
    assert ok_sync(admin_a, "push")["byKind"]["model_aliases"]["added"] == 1
    assert admin_b.get("/api/models/alias").json()["aliases"]["gone-alias"] == "openai/gpt-4o-mini"


def test_the_sync_token_guards_the_remote_side(pair, upstream):
    a, b, admin_a, admin_b, remote = pair
    admin_a.post("/api/combos", json={"name": "never-there", "models": ["openai/gpt-4o"]})
    before = admin_b.get("/api/combos").json()

    resp = sync(admin_a, "push", {"url": b.url, "token": "omni-sync-wrong"})
    assert resp.status_code == 400 and "token" in resp.json()["error"]
    assert sync(admin_a, "pull", {"url": b.url, "token": "omni-sync-wrong"}).status_code == 400
    assert admin_b.get("/api/combos").json() == before

    for headers in ({}, {"Authorization": "Bearer omni-sync-wrong"}, {"Authorization": remote["token"]}):
        assert httpx.get(b.url + "/api/cloud/snapshot", headers=headers).status_code == 401
        assert httpx.post(b.url + "/api/cloud/apply", content=b"{}", headers=headers).status_code == 401
    # A session or a manage key is not a sync token.
    assert admin_b.get("/api/cloud/snapshot").status_code == 401
    auth = {"Authorization": f"Bearer {remote['token']}"}
    assert httpx.get(b.url + "/api/cloud/status", headers=auth).json()["ok"] is True
    for body in (b"not json", b"[]", orjson.dumps({"v": 1, "salt": "AAAA", "sealed": "AAAA"})):
        resp = httpx.post(b.url + "/api/cloud/apply", content=body, headers=auth)
        assert resp.status_code == 400 and resp.json()["error"], resp.text
    # Sealed with the right token but not a well-formed snapshot: 400 naming the problem, nothing written.
    row = {"id": "c1", "name": "n", "models_json": "[]", "strategy": "priority", "config_json": "{}",
           "created_at": 1.0, "updated_at": 2.0}
    conn = {"id": "k1", "provider": "openai", "name": "n", "auth_type": "apikey", "priority": 1,
            "is_active": True, "created_at": 1.0, "updated_at": 2.0, "api_key_enc": "plain-not-sealed"}
    for payload in ({}, {"items": "x"}, {"items": {"bogus": []}}, {"items": {"combos": "x"}},
                    {"items": {"combos": [5]}}, {"items": {"combos": [{"id": 5}]}},
                    {"items": {"combos": [{**row, "name": None}]}}, {"items": {"combos": [{**row, "name": 7}]}},
                    {"items": {"combos": [{**row, "updated_at": "late"}]}},
                    {"items": {"combos": [row, {**row, "updated_at": None}]}},
                    {"items": {"connections": [conn]}},
                    {"items": {}, "tombstones": [{"kind": "users", "id": "x", "deletedAt": 1}]},
                    {"items": {}, "tombstones": [{"kind": "combos", "id": "x", "deletedAt": "now"}]},
                    {"items": {}, "tombstones": "x"}):
        resp = httpx.post(b.url + "/api/cloud/apply", headers=auth,
                          content=orjson.dumps(Transit(remote["token"]).seal(payload)))
        assert resp.status_code == 400 and resp.json()["error"], (payload, resp.text)
    assert admin_b.get("/api/combos").json() == before

    # Rotating the token: the old one stops working at once.
    rotated = admin_b.post("/api/sync/initialize").json()
    assert rotated["rotated"] is True and rotated["token"] != remote["token"]
    assert httpx.get(b.url + "/api/cloud/status", headers=auth).status_code == 401
    assert ok_sync(admin_a, "push", {"url": b.url, "token": rotated["token"]})["added"] >= 1


def test_bad_requests_and_unreachable_remote(pair):
    a, b, admin_a, admin_b, remote = pair
    assert sync(admin_a, "push").status_code == 400  # no remote given nor stored
    for body in ({}, {"action": "merge"}, {"action": "push", "remote": {"url": "ftp://x", "token": "t"}},
                 {"action": "push", "remote": {"url": b.url}}, {"action": "push", "remote": "x"}):
        resp = admin_a.post("/api/sync/cloud", json=body)
        assert resp.status_code == 400 and resp.json()["error"], (body, resp.text)
    resp = sync(admin_a, "push", {"url": f"http://127.0.0.1:{free_port()}", "token": remote["token"]})
    assert resp.status_code == 502 and "unreachable" in resp.json()["error"]
    resp = sync(admin_a, "pull", {"url": a.url + "/nothing", "token": remote["token"]})
    assert resp.status_code == 502
    assert httpx.post(a.url + "/api/sync/initialize").status_code == 401  # the admin guard


class _Capture(BaseHTTPRequestHandler):
    bodies: list[bytes] = []

    def do_POST(self):  # noqa: N802 - the http.server hook
        self.bodies.append(self.rfile.read(int(self.headers["Content-Length"])))
        answer = orjson.dumps({"ok": True, "counts": {"added": 0, "updated": 0, "deleted": 0, "skipped": 0}})
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args):
        pass


def test_secrets_are_sealed_in_transit(make_gateway, upstream):
    a = make_gateway()
    with closing(a.admin()) as admin_a:
        node = admin_a.post("/api/provider-nodes", json={
            "name": "Node", "prefix": "nd", "type": "openai-compatible", "baseUrl": upstream.base_url + "/v1",
            "headers": {"X-Node-Secret": "node-header-plaintext-91b2"}})
        assert node.status_code == 201, node.text
        admin_a.post("/api/providers", json={"provider": "openai", "name": "t", "apiKey": UPSTREAM_KEY,
                                             "baseUrl": upstream.base_url})
        # What a push sends: captured by a stand-in remote.
        server = ThreadingHTTPServer(("127.0.0.1", 0), _Capture)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        token = "omni-sync-" + "t" * 43
        try:
            url = f"http://127.0.0.1:{server.server_address[1]}"
            assert ok_sync(admin_a, "push", {"url": url, "token": token})["added"] == 0
        finally:
            server.shutdown()
        raw = _Capture.bodies[-1]
        for secret in (UPSTREAM_KEY, "node-header-plaintext-91b2"):
            assert secret.encode() not in raw
        # Opened with the token, the snapshot still holds each secret sealed on its own.
        _, payload = Transit.open(token, orjson.loads(raw))
        opened = Transit.open(token, orjson.loads(raw))[0]
        rows = payload["items"]["connections"]
        assert UPSTREAM_KEY not in orjson.dumps(payload).decode()
        assert rows[0]["api_key_enc"].startswith("sync:v1:")
        assert opened.open_secret(rows[0]["api_key_enc"]) == UPSTREAM_KEY
        assert "passwordHash" not in {r["key"] for r in payload["items"]["settings"]}
        # The snapshot endpoint: the same sealing; without the token nothing opens.
        mine = admin_a.post("/api/sync/initialize").json()["token"]
        snap = httpx.get(a.url + "/api/cloud/snapshot", headers={"Authorization": f"Bearer {mine}"})
        assert snap.status_code == 200 and UPSTREAM_KEY not in snap.text
        with pytest.raises(ValueError):
            Transit.open(token, snap.json())
        assert Transit.open(mine, snap.json())[1]["items"]["provider_nodes"][0]["id"] == node.json()["id"]


def test_a_merge_is_preceded_by_a_pre_sync_backup_at_most_hourly(pair):
    a, b, admin_a, admin_b, remote = pair
    assert admin_a.post("/api/combos", json={"name": "backed-up", "models": ["openai/gpt-4o-mini"]}).status_code == 201
    assert admin_b.get("/api/db-backups").json()["backups"] == []
    ok_sync(admin_a, "push", remote)
    taken = admin_b.get("/api/db-backups").json()["backups"]
    assert [x["reason"] for x in taken] == ["pre-sync"], taken
    # The backup holds B as it was before the merge: without the pushed combo.
    with closing(sqlite3.connect(b.data_dir / "backups" / f"{taken[0]['id']}.sqlite")) as db:
        assert db.execute("SELECT count(*) FROM combos WHERE name = 'backed-up'").fetchone()[0] == 0
    assert combo_named(admin_b, "backed-up") is not None

    assert admin_a.post("/api/combos", json={"name": "backed-up-2", "models": ["openai/gpt-4o"]}).status_code == 201
    ok_sync(admin_a, "push")
    assert [x["id"] for x in admin_b.get("/api/db-backups").json()["backups"]] == [taken[0]["id"]], \
        "a second merge within the hour takes no second backup"
    # A pull merges on A, which takes its own.
    ok_sync(admin_a, "pull")
    assert [x["reason"] for x in admin_a.get("/api/db-backups").json()["backups"]] == ["pre-sync"]
