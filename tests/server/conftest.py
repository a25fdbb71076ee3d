"""Fixtures for tests that talk to a running gateway."""

from __future__ import annotations

import uuid

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


@pytest.fixture
def combo(request, admin):
    """Factory: POST /api/combos; every combo made is deleted after the test (newest first). A test
    module's ``COMBO_MODELS`` are the default targets."""
    made: list[str] = []
    default = getattr(request.module, "COMBO_MODELS", ("openai/gpt-4o-mini", "openai/gpt-4o"))

    def make(models=None, strategy: str | None = None, name: str | None = None, **fields) -> dict:
        body = {"name": name or f"combo-{uuid.uuid4().hex[:8]}", "models": list(models or default), **fields}
        if strategy is not None:
            body["strategy"] = strategy
        resp = admin.post("/api/combos", json=body)
        assert resp.status_code == 201, resp.text
        made.append(resp.json()["id"])
        return resp.json()

    yield make
    for combo_id in reversed(made):
        admin.delete(f"/api/combos/{combo_id}")
