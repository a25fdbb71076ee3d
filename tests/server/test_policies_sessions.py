"""Routing policies (/api/policies CRUD and validation; deny and route through the client routes) and
client sessions (/api/sessions, under each session header name)."""

from __future__ import annotations

import uuid

import pytest

from tests.support import usage_rows

CHAT = {"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
ANTHROPIC = {"model": "openai/gpt-4o-mini", "max_tokens": 16, "messages": [{"role": "user", "content": "hi"}]}



@pytest.fixture
def policy(admin):
    """Factory: POST /api/policies; every policy made is deleted after the test (the gateway is shared)."""
    made: list[str] = []

    def make(**fields) -> dict:
        resp = admin.post("/api/policies", json={"name": f"policy-{uuid.uuid4().hex[:6]}", **fields})
        assert resp.status_code == 201, resp.text
        made.append(resp.json()["id"])
        return resp.json()

    yield make
    for policy_id in made:
        admin.delete("/api/policies", params={"id": policy_id})


# ---- /api/policies -----------------------------------------------------------------------------


def test_crud(admin, policy):
    deny = policy(match={"apiKeyIds": ["k1"], "models": ["openai/*"]}, action="deny")
    route = policy(name="to mini", match={"models": ["cheap"]}, action="route", target="openai/gpt-4o-mini")
    assert deny["action"] == "deny" and deny["target"] is None and deny["id"]
    assert deny["match"] == {"apiKeyIds": ["k1"], "models": ["openai/*"]}
    assert route == {"id": route["id"], "name": "to mini", "match": {"models": ["cheap"]}, "action": "route",
                     "target": "openai/gpt-4o-mini"}
    listed = admin.get("/api/policies").json()["policies"]
    assert [p["id"] for p in listed if p["id"] in (deny["id"], route["id"])] == [deny["id"], route["id"]]
    resp = admin.delete("/api/policies", params={"id": deny["id"]})
    assert resp.status_code == 200 and resp.json() == {"deleted": deny["id"]}
    assert deny["id"] not in [p["id"] for p in admin.get("/api/policies").json()["policies"]]
    assert admin.delete("/api/policies", params={"id": deny["id"]}).status_code == 404
    assert admin.delete("/api/policies").status_code == 400


@pytest.mark.parametrize(("body", "words"), [
    ({"action": "deny", "colour": "red"}, "colour"),
    ({"action": "allow"}, "action"),
    ({}, "action"),
    ({"action": "route"}, "target"),
    ({"action": "route", "target": "nope/not-a-model"}, "does not resolve"),
    ({"action": "route", "target": "no-such-bare-model-xyz"}, "does not resolve"),
    ({"action": "deny", "target": "openai/gpt-4o-mini"}, "target"),
    ({"action": "deny", "match": {"models": [1]}}, "match.models.0"),
    ({"action": "deny", "match": {"models": "openai/*"}}, "match.models"),
    ({"action": "deny", "match": {"apiKeyIds": []}}, "match.apiKeyIds"),
    ({"action": "deny", "match": {"keys": ["a"]}}, "keys"),
])
def test_validation(admin, body, words):
    before = admin.get("/api/policies").json()["policies"]
    resp = admin.post("/api/policies", json={"name": "bad", **body})
    assert resp.status_code == 400, resp.text
    assert words in resp.json()["error"]
    assert admin.get("/api/policies").json()["policies"] == before


def test_needs_admin(gateway):
    assert gateway.client().get("/api/policies").status_code == 401


# ---- policies at work --------------------------------------------------------------------------


def test_deny_by_key_in_the_openai_and_anthropic_dialects(gateway, admin, connection, api_key, policy):
    connection()
    denied, allowed = api_key(), api_key()
    rule = policy(name="no-entry", match={"apiKeyIds": [denied["id"]]}, action="deny")
    resp = gateway.client(denied["key"]).post("/v1/chat/completions", json=CHAT)
    assert resp.status_code == 403, resp.text
    err = resp.json()["error"]
    assert err["code"] == "policy_denied" and err["type"] == "permission_error"
    assert "no-entry" in err["message"] and rule["id"] in err["message"]
    resp = gateway.client(denied["key"]).post("/v1/messages", json=ANTHROPIC)
    assert resp.status_code == 403
    assert resp.json()["type"] == "error" and resp.json()["error"]["type"] == "permission_error"
    assert gateway.client(allowed["key"]).post("/v1/chat/completions", json=CHAT).status_code == 200
    rows = usage_rows(admin, denied["id"], 2)
    assert [r["status"] for r in rows] == [403, 403]


def test_deny_by_model_glob(gateway, connection, api_key, policy):
    connection()
    key = api_key()
    policy(match={"apiKeyIds": [key["id"]], "models": ["openai/gpt-4o-m*"]}, action="deny")
    client = gateway.client(key["key"])
    resp = client.post("/v1/chat/completions", json=CHAT)
    assert resp.status_code == 403 and resp.json()["error"]["code"] == "policy_denied"
    assert client.post("/v1/chat/completions", json={**CHAT, "model": "openai/gpt-4o"}).status_code == 200
    assert client.post("/v1/chat/completions", json={**CHAT, "model": "openai/GPT-4o-mini"}).status_code == 200


def test_route_sends_the_request_to_the_target(gateway, upstream, connection, api_key, policy):
    connection()
    key = api_key()
    policy(match={"apiKeyIds": [key["id"]], "models": ["openai/gpt-4*"]}, action="route",
           target="openai/gpt-4o-mini")
    upstream.clear()
    resp = gateway.client(key["key"]).post("/v1/chat/completions", json={**CHAT, "model": "openai/gpt-4.1"})
    assert resp.status_code == 200, resp.text
    assert resp.headers["x-omniroute-model"] == "gpt-4o-mini"
    assert upstream.requests[-1].body["model"] == "gpt-4o-mini"


# ---- /api/sessions -----------------------------------------------------------------------------


def _sessions(admin) -> dict[str, dict]:
    listed = admin.get("/api/sessions").json()
    assert listed["count"] == len(listed["sessions"])
    return {s["id"]: s for s in listed["sessions"]}


def test_sessions_are_listed_with_request_counts(gateway, admin, connection, api_key):
    connection()
    key = api_key()
    client = gateway.client(key["key"])
    plain, claude, codex, too_long = (f"sess-{uuid.uuid4().hex}", f"cc-{uuid.uuid4().hex}",
                                      f"cx-{uuid.uuid4().hex}", "x" * 201)
    for _ in range(3):
        assert client.post("/v1/chat/completions", json=CHAT, headers={"X-Session-Id": plain}).status_code == 200
    assert client.post("/v1/messages", json=ANTHROPIC,
                       headers={"X-Claude-Code-Session-Id": claude}).status_code == 200
    assert gateway.client().post("/v1/chat/completions", json=CHAT,
                                 headers={"session_id": codex}).status_code == 200
    assert client.post("/v1/chat/completions", json=CHAT, headers={"X-Session-Id": too_long}).status_code == 200
    sessions = _sessions(admin)
    assert sessions[plain]["requests"] == 3 and sessions[plain]["apiKeyId"] == key["id"]
    assert sessions[claude]["requests"] == 1 and sessions[claude]["apiKeyId"] == key["id"]
    assert sessions[codex]["requests"] == 1 and sessions[codex]["apiKeyId"] is None
    assert too_long not in sessions
    order = [s["id"] for s in admin.get("/api/sessions").json()["sessions"]]
    assert order.index(codex) < order.index(claude) < order.index(plain)  # newest first
    assert sessions[codex]["lastSeen"] >= sessions[plain]["lastSeen"] > 1_600_000_000


def test_sessions_need_admin(gateway):
    assert gateway.client().get("/api/sessions").status_code == 401


def test_a_session_sticks_to_the_account_that_served_it(gateway, admin, upstream, connection):
    for i in range(3):
        connection(name=f"aff-{i}", apiKey=f"sk-aff-{i}")
    assert admin.put("/api/settings", json={"accountSelection": {"strategy": "round-robin",
                                                                 "stickyUses": 1}}).status_code == 200
    try:
        client = gateway.client()

        def served(session: str | None) -> str:
            headers = {"X-Session-Id": session} if session else {}
            assert client.post("/v1/chat/completions", json=CHAT, headers=headers).status_code == 200
            return upstream.requests[-1].api_key

        assert len({served(None) for _ in range(6)}) == 3, "without a session, round-robin moves on"
        session = f"sticky-{uuid.uuid4().hex}"
        first = served(session)
        assert {served(session) for _ in range(6)} == {first}, "a session stays on its account"
        upstream.fail_for_key(first, 503)  # its account fails: the session moves, then stays put
        moved = served(session)
        assert moved != first
        assert {served(session) for _ in range(4)} == {moved}
    finally:
        admin.put("/api/settings", json={"accountSelection": {"strategy": "fill-first", "stickyUses": 3,
                                                              "perProvider": {}}})
