"""GET /api/usage/summary: the totals of a time range and the same per provider, model and key."""

from __future__ import annotations

import time
from contextlib import closing

from tests.support import usage_rows


def test_summary_counts_requests_errors_cost_and_cache(make_gateway, upstream):
    gw = make_gateway({"USAGE_FLUSH_INTERVAL_MS": "50"})
    with closing(gw.admin()) as admin:
        assert admin.post("/api/providers", json={"provider": "openai", "name": "fake", "apiKey": "sk-up",
                                                  "baseUrl": upstream.base_url}).status_code == 201
        key = admin.post("/api/keys", json={"name": "summary"}).json()
        before = time.time() - 1
        client = gw.client(key["key"])
        body = {"model": "openai/gpt-4o-mini", "temperature": 0, "messages": [{"role": "user", "content": "same"}]}
        assert client.post("/v1/chat/completions", json=body).status_code == 200
        assert client.post("/v1/chat/completions", json=body).status_code == 200  # a cache hit
        assert client.post("/v1/chat/completions", json={**body, "model": "nope/none"}).status_code >= 400
        usage_rows(admin, key["id"], count=3)
        summary = admin.get("/api/usage/summary", params={"since": before}).json()
        assert summary["requests"] == 3 and summary["errors"] == 1
        assert summary["cacheHits"] == 1 and summary["cacheLookups"] == 2 and summary["cacheHitRate"] == 0.5
        assert summary["cost"] > 0 and summary["promptTokens"] > 0
        by_provider = {p["name"]: p for p in summary["byProvider"]}
        assert by_provider["openai"]["requests"] >= 1
        assert sum(p["requests"] for p in summary["byProvider"]) == 3
        assert [k for k in summary["byKey"] if k["name"] == key["id"]][0]["requests"] == 3
        assert any(m["name"] == "gpt-4o-mini" or "gpt-4o-mini" in (m["name"] or "") for m in summary["byModel"])
        # A range in the future is empty; a bad range is a 400 naming it.
        future = admin.get("/api/usage/summary", params={"since": time.time() + 3600}).json()
        assert future["requests"] == 0 and future["byProvider"] == []
        bad = admin.get("/api/usage/summary", params={"since": 100, "until": 50})
        assert bad.status_code == 400 and "until" in bad.json()["error"]
        assert admin.get("/api/usage/summary", params={"since": "yesterday"}).status_code == 400
        client.close()
