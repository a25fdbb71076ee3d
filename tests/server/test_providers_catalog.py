"""GET /api/providers/catalog: the providers one can add an account for, grouped, with how each signs in."""

from __future__ import annotations

import uuid

import httpx


def test_catalog_groups_every_provider_and_tells_how_it_signs_in(gateway, admin, upstream):
    resp = admin.get("/api/providers/catalog")
    assert resp.status_code == 200, resp.text
    by_id = {p["id"]: p for p in resp.json()["providers"]}
    openai = by_id["openai"]
    assert openai["group"] == "apikey" and openai["keyRequired"] is True and openai["local"] is False
    assert {"name", "prefix", "aliases", "auth", "baseUrl", "urlFields", "capabilities", "connections"} <= set(openai)
    assert by_id["ollama"]["group"] == "local" and by_id["ollama"]["local"] is True
    assert by_id["ollama"]["keyRequired"] is False
    assert by_id["claude-code"]["group"] == "oauth"
    assert by_id["claude-code"]["signIn"] == {"flow": "authorization_code_pkce", "device": False}
    assert by_id["github-copilot"]["signIn"]["device"] is True
    assert "signIn" not in openai
    assert by_id["azure-openai"]["urlFields"] == ["resource", "deployment"], "Azure's URL needs ids from the connection"

    prefix = "cat" + uuid.uuid4().hex[:8]
    node = admin.post("/api/provider-nodes", json={"name": "Mine", "prefix": prefix, "type": "openai-compatible",
                                                   "baseUrl": upstream.base_url})
    assert node.status_code == 201, node.text
    conn = admin.post("/api/providers", json={"provider": node.json()["id"], "name": "on my node"})
    assert conn.status_code == 201, conn.text
    try:
        listed = {p["id"]: p for p in admin.get("/api/providers/catalog").json()["providers"]}
        mine = listed[node.json()["id"]]
        assert mine["group"] == "custom" and mine["custom"] is True and mine["prefix"] == prefix
        assert mine["connections"] == 1
    finally:
        admin.delete(f"/api/providers/{conn.json()['id']}")
        admin.delete(f"/api/provider-nodes/{node.json()['id']}")
    assert httpx.get(gateway.url + "/api/providers/catalog").status_code == 401
