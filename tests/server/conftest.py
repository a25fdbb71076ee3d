"""Fixtures for tests that talk to a running gateway."""

from __future__ import annotations

import pytest


@pytest.fixture
def connection(admin, upstream):
    """Factory: add an OpenAI-dialect connection pointing at the fake upstream; removed after the test."""
    made: list[str] = []

    def make(**fields) -> dict:
        body = {"provider": "openai", "name": f"fake-{len(made)}", "apiKey": f"sk-upstream-{len(made)}",
                "baseUrl": upstream.base_url, **fields}
        resp = admin.post("/api/providers", json=body)
        assert resp.status_code == 201, resp.text
        made.append(resp.json()["id"])
        return resp.json()

    yield make
    for conn_id in made:
        admin.delete(f"/api/providers/{conn_id}")


@pytest.fixture
def api_key(admin):
    """Factory: create a client API key; returns the creation answer (with the full key)."""

    def make(**fields) -> dict:
        resp = admin.post("/api/keys", json={"name": "test", **fields})
        assert resp.status_code == 201, resp.text
        return resp.json()

    return make
