"""Usage rows (/api/usage/logs), graceful-shutdown flush, and /api/monitoring/health."""

from __future__ import annotations

import time
from contextlib import closing

import httpx
import orjson
import pytest

from omniroute import __version__
from tests.fakes.openai_answers import Plan

MESSAGES = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "count these four words"}]
CHAT = {"model": "openai/gpt-4o-mini", "messages": MESSAGES}
ROW_FIELDS = {"id", "timestamp", "apiKeyId", "provider", "connectionId", "model", "requestedModel", "combo",
              "clientFormat", "upstreamFormat", "promptTokens", "completionTokens", "cachedTokens",
              "reasoningTokens", "cost", "latencyMs", "ttftMs", "status", "cache", "error",
              "cacheWriteTokens", "estimated"}


def logs(admin, **params) -> dict:
    resp = admin.get("/api/usage/logs", params=params)
    assert resp.status_code == 200, resp.text
    return resp.json()


def wait_for_rows(admin, count: int, timeout: float = 3.0, **params) -> dict:
    """Poll until the filter matches at least `count` rows (the recorder writes in batches)."""
    deadline = time.monotonic() + timeout
    while True:
        data = logs(admin, **params)
        # The page and the total are two reads: a row written between them is counted, not listed.
        if len(data["logs"]) >= min(count, params.get("limit", 100)) or time.monotonic() > deadline:
            return data
        time.sleep(0.1)


def post(gw, body: dict | None = None, key: str | None = None, raw: bytes | None = None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    if raw is not None:
        headers["content-type"] = "application/json"
        return httpx.post(gw.url + "/v1/chat/completions", content=raw, headers=headers, timeout=30)
    return httpx.post(gw.url + "/v1/chat/completions", json=body or CHAT, headers=headers, timeout=30)


@pytest.fixture
def client_key(admin, api_key):
    key = api_key(name="usage")
    yield key
    admin.delete(f"/api/keys/{key['id']}")


# ---- one row per request -------------------------------------------------------------------------------


def test_non_stream_request_writes_one_complete_row(gateway, admin, connection, client_key):
    conn = connection()
    started = time.time()
    resp = post(gateway, key=client_key["key"])
    assert resp.status_code == 200
    usage = resp.json()["usage"]
    data = wait_for_rows(admin, 1, apiKeyId=client_key["id"])
    assert data["total"] == 1, data
    row = data["logs"][0]
    assert ROW_FIELDS <= set(row), ROW_FIELDS - set(row)
    assert row["apiKeyId"] == client_key["id"]
    assert row["provider"] == "openai"
    assert row["connectionId"] == conn["id"]
    assert row["model"] in ("gpt-4o-mini", "openai/gpt-4o-mini")
    assert row["requestedModel"] == "openai/gpt-4o-mini"
    assert row["clientFormat"] == "openai"
    assert row["promptTokens"] == usage["prompt_tokens"] == Plan(CHAT).prompt_tokens
    assert row["completionTokens"] == usage["completion_tokens"]
    assert row["status"] == 200
    assert row["error"] is None
    assert isinstance(row["latencyMs"], int | float) and row["latencyMs"] >= 0
    assert started - 5 <= row["timestamp"] <= time.time() + 5
    time.sleep(0.7)
    assert logs(admin, apiKeyId=client_key["id"])["total"] == 1, "exactly one row per request"


def test_stream_records_upstream_usage_the_client_did_not_ask_for(gateway, admin, connection, client_key):
    connection()
    body = {**CHAT, "stream": True}
    resp = post(gateway, body, key=client_key["key"])
    assert resp.status_code == 200
    events = [orjson.loads(line[6:]) for line in resp.text.split("\n")
              if line.startswith("data: ") and line != "data: [DONE]"]
    assert events and not any(e.get("usage") for e in events), "the client did not ask for a usage chunk"
    expected = Plan(body).usage
    data = wait_for_rows(admin, 1, apiKeyId=client_key["id"])
    assert data["total"] == 1, data
    row = data["logs"][0]
    assert row["status"] == 200
    assert row["promptTokens"] == expected["prompt_tokens"]
    assert row["completionTokens"] == expected["completion_tokens"] > 0
    assert isinstance(row["ttftMs"], int | float) and 0 <= row["ttftMs"] <= row["latencyMs"]


@pytest.mark.parametrize(("path", "body"), [
    ("/v1/chat/completions", CHAT),
    ("/v1/chat/completions", {**CHAT, "stream": True}),
    ("/v1/messages", {"model": "openai/gpt-4o-mini", "max_tokens": 64, "messages": MESSAGES[1:]}),
    ("/v1/messages", {"model": "openai/gpt-4o-mini", "max_tokens": 64, "messages": MESSAGES[1:], "stream": True}),
], ids=["openai", "openai-stream", "anthropic", "anthropic-stream"])
def test_usage_is_estimated_and_marked_when_the_upstream_reports_none(gateway, admin, connection, upstream,
                                                                      client_key, path, body):
    connection()
    upstream.send_usage = False
    resp = httpx.post(gateway.url + path, json=body, headers={"Authorization": f"Bearer {client_key['key']}"})
    assert resp.status_code == 200
    row = wait_for_rows(admin, 1, apiKeyId=client_key["id"])["logs"][0]
    assert row["estimated"] is True
    assert row["promptTokens"] > 0 and row["completionTokens"] > 0
    upstream.send_usage = True
    again = httpx.post(gateway.url + path, json=body, headers={"Authorization": f"Bearer {client_key['key']}"})
    assert again.status_code == 200, again.text
    rows = wait_for_rows(admin, 2, apiKeyId=client_key["id"])["logs"]
    assert len(rows) == 2, rows
    second = next(r for r in rows if r["id"] != row["id"])
    assert second["estimated"] is False  # reported usage is never marked as estimated


def test_failed_requests_write_rows_too(gateway, admin, connection, client_key):
    connection()
    assert post(gateway, {**CHAT, "model": "no-such-model-xyz"}, key=client_key["key"]).status_code == 404
    assert post(gateway, key=client_key["key"], raw=b"{not json").status_code == 400
    data = wait_for_rows(admin, 2, apiKeyId=client_key["id"])
    assert data["total"] == 2, data
    by_status = {row["status"]: row for row in data["logs"]}
    assert set(by_status) == {404, 400}
    assert "no-such-model-xyz" in by_status[404]["error"]
    assert by_status[404]["requestedModel"] == "no-such-model-xyz"
    assert by_status[400]["error"] and "JSON" in by_status[400]["error"]
    assert all(row["apiKeyId"] == client_key["id"] for row in data["logs"])


def test_filters_and_paging(gateway, admin, connection, api_key):
    connection()
    first, second = api_key(name="pager-a"), api_key(name="pager-b")
    try:
        for _ in range(3):
            assert post(gateway, key=first["key"]).status_code == 200
        assert post(gateway, key=second["key"]).status_code == 200
        data = wait_for_rows(admin, 3, apiKeyId=first["id"])
        assert data["total"] == 3 and len(data["logs"]) == 3
        assert {row["apiKeyId"] for row in data["logs"]} == {first["id"]}
        assert wait_for_rows(admin, 1, apiKeyId=second["id"])["total"] == 1

        page1 = logs(admin, apiKeyId=first["id"], limit=2)
        page2 = logs(admin, apiKeyId=first["id"], limit=2, offset=2)
        assert page1["total"] == page2["total"] == 3
        assert len(page1["logs"]) == 2 and len(page2["logs"]) == 1
        ids = [r["id"] for r in page1["logs"] + page2["logs"]]
        assert sorted(ids) == sorted(r["id"] for r in data["logs"]), "pages split the rows without overlap"
        assert logs(admin, apiKeyId=first["id"], offset=3)["logs"] == []

        assert logs(admin, apiKeyId=first["id"], provider="openai")["total"] == 3
        assert logs(admin, apiKeyId=first["id"], provider="anthropic")["total"] == 0
        everything = logs(admin, provider="openai", limit=1000)
        assert everything["total"] >= 4
        assert {row["provider"] for row in everything["logs"]} == {"openai"}
        assert logs(admin, limit=1)["total"] >= everything["total"]
    finally:
        admin.delete(f"/api/keys/{first['id']}")
        admin.delete(f"/api/keys/{second['id']}")


@pytest.mark.parametrize(("params", "names"), [
    ({"limit": "abc"}, "limit"), ({"limit": 0}, "limit"), ({"limit": 5000}, "limit"),
    ({"limit": -1}, "limit"), ({"offset": "x"}, "offset"), ({"offset": -1}, "offset"),
])
def test_bad_paging_is_400(admin, params, names):
    resp = admin.get("/api/usage/logs", params=params)
    assert resp.status_code == 400
    assert names in resp.json()["error"]


# ---- graceful shutdown ----------------------------------------------------------------------------------


def test_graceful_shutdown_loses_no_usage_row(make_gateway, upstream):
    gw = make_gateway({"USAGE_FLUSH_INTERVAL_MS": "600000"})
    with closing(gw.admin()) as admin:
        resp = admin.post("/api/providers", json={"provider": "openai", "name": "fake", "apiKey": "sk-up",
                                                  "baseUrl": upstream.base_url})
        assert resp.status_code == 201
        for i in range(20):
            body = {**CHAT, "stream": True} if i % 4 == 0 else CHAT
            assert post(gw, body).status_code == 200
        assert logs(admin)["total"] == 0, "with this flush interval rows wait in memory until shutdown"
    gw.stop()

    again = make_gateway(data_dir=gw.data_dir)
    with closing(again.admin()) as admin:
        data = logs(admin, limit=100)
    assert data["total"] == 20
    assert [row["status"] for row in data["logs"]] == [200] * 20
    assert sum(1 for row in data["logs"] if row["ttftMs"] is not None) == 5
    assert all(row["promptTokens"] == Plan(CHAT).prompt_tokens for row in data["logs"])


# ---- health --------------------------------------------------------------------------------------------


def test_health(gateway, admin, connection):
    connection()
    resp = admin.get("/api/monitoring/health")
    assert resp.status_code == 200
    health = resp.json()
    assert health["status"] == "ok"
    assert health["db"] == "ok"
    assert health["version"] == __version__
    assert isinstance(health["uptimeS"], int | float) and health["uptimeS"] >= 0
    assert "openai" in health["providers"]
    assert health["providers"]["openai"]["breaker"] in ("closed", "open", "half-open")
    time.sleep(0.2)
    assert admin.get("/api/monitoring/health").json()["uptimeS"] >= health["uptimeS"]

