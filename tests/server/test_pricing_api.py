"""/api/pricing: the default table, overrides merged by PUT (null removes one), validation, and the
override pricing the next request."""

from __future__ import annotations

import httpx
import pytest

from tests.support import usage_rows


def test_get_lists_defaults_and_put_merges(gateway, admin):
    table = admin.get("/api/pricing").json()
    assert table["pricing"]["openai/gpt-4o-mini"] == {"input": 0.15, "output": 0.6, "cacheRead": 0.075,
                                                      "cacheWrite": 0.15, "reasoning": 0.6}
    assert table["pricing"]["anthropic/claude-sonnet-4-5"]["cacheWrite"] > table["pricing"][
        "anthropic/claude-sonnet-4-5"]["input"]
    first = admin.put("/api/pricing", json={"pricing": {"my-local-model": {"input": 0.1, "output": 0.2}}})
    assert first.status_code == 200
    second = admin.put("/api/pricing", json={"pricing": {"openai/gpt-4o-mini": {"input": 1, "output": 2,
                                                                                  "cacheRead": 0.5}}})
    overrides = second.json()["overrides"]
    assert set(overrides) >= {"my-local-model", "openai/gpt-4o-mini"}  # merged, not replaced
    assert second.json()["pricing"]["openai/gpt-4o-mini"]["cacheRead"] == 0.5
    removed = admin.put("/api/pricing", json={"pricing": {"openai/gpt-4o-mini": None, "my-local-model": None}})
    assert "openai/gpt-4o-mini" not in removed.json()["overrides"]
    assert removed.json()["pricing"]["openai/gpt-4o-mini"]["input"] == 0.15  # the default is back


@pytest.mark.parametrize(("body", "words"), [
    ({"pricing": {"x": {"input": 1}}}, "output"),
    ({"pricing": {"x": {"input": -1, "output": 1}}}, "input"),
    ({"pricing": {"x": {"input": 1, "output": 1, "perToken": 3}}}, "perToken"),
    ({"pricing": {"x": {"input": "1", "output": 1}}}, "input"),
    ({"pricing": {"/": {"input": 1, "output": 1}}}, "key"),
    ({"pricing": []}, "pricing"),
    ({"prices": {}}, "pricing"),
])
def test_bad_prices_are_400_and_change_nothing(gateway, admin, body, words):
    before = admin.get("/api/pricing").json()
    resp = admin.put("/api/pricing", json=body)
    assert resp.status_code == 400 and words in resp.json()["error"]
    assert admin.get("/api/pricing").json() == before


def test_removing_an_unknown_override_is_404(gateway, admin):
    resp = admin.put("/api/pricing", json={"pricing": {"never-set": None}})
    assert resp.status_code == 404 and "never-set" in resp.json()["error"]


def test_an_override_prices_the_next_request(gateway, admin, connection, api_key):
    connection()
    key = api_key()
    assert admin.put("/api/pricing", json={"pricing": {"openai/gpt-4o-mini": {"input": 1000, "output": 2000}}}
                     ).status_code == 200
    try:
        resp = httpx.post(gateway.url + "/v1/chat/completions", timeout=30,
                          headers={"Authorization": f"Bearer {key['key']}"},
                          json={"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "a b c"}]})
    finally:
        admin.put("/api/pricing", json={"pricing": {"openai/gpt-4o-mini": None}})
    usage = resp.json()["usage"]
    expected = (usage["prompt_tokens"] * 1000 + usage["completion_tokens"] * 2000) / 1e6
    assert float(resp.headers["x-omniroute-response-cost"]) == pytest.approx(expected)
    assert usage_rows(admin, key["id"])[0]["cost"] == pytest.approx(expected)


def test_pricing_needs_the_admin(gateway):
    assert httpx.get(gateway.url + "/api/pricing").status_code == 401
