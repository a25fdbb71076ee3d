"""Budgets per API key through the running server: reservations hold under concurrency, every key
is bound (the admin's too), refusals are 429 budget_exceeded in each client dialect, spend survives
a restart, and only the current period counts."""

from __future__ import annotations

import asyncio
import sqlite3
import time
import uuid

import httpx
import pytest

from omniroute.usage.budgets import period_bounds

# A price that makes every token count: $0.001 per token in and out.
PRICE = {"input": 1000.0, "output": 1000.0}
MAX_TOKENS = 20


@pytest.fixture
def priced(admin, connection):
    """A connection to the fake upstream and a model priced at $0.001 per token; returns the model."""
    connection()
    model = f"budget-{uuid.uuid4().hex[:8]}"
    resp = admin.put("/api/pricing", json={"pricing": {f"openai/{model}": PRICE}})
    assert resp.status_code == 200, resp.text
    yield f"openai/{model}"
    admin.put("/api/pricing", json={"pricing": {f"openai/{model}": None}})


def set_budget(admin, key_id: str, limit: float, period: str = "daily", **extra) -> dict:
    resp = admin.post("/api/usage/budget", json={"keyId": key_id, "limit": limit, "period": period, **extra})
    assert resp.status_code == 201, resp.text
    return resp.json()


def budget_of(admin, key_id: str, period: str = "daily") -> dict:
    budgets = admin.get("/api/usage/budget", params={"keyId": key_id}).json()["budgets"]
    return next(b for b in budgets if b["period"] == period)


LONG = "alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike november oscar"


def chat(model: str, text: str = LONG) -> dict:
    return {"model": model, "max_tokens": MAX_TOKENS, "messages": [{"role": "user", "content": text}]}


def test_budget_api_validates_and_lists(gateway, admin, api_key):
    key = api_key()
    for body, status in [({"keyId": key["id"], "limit": -1}, 400),
                         ({"keyId": key["id"], "limit": 5, "period": "yearly"}, 400),
                         ({"keyId": key["id"], "limit": "5"}, 400),
                         ({"keyId": key["id"], "limit": 5, "warnAt": 0}, 400),
                         ({"keyId": key["id"], "limit": 5, "extra": 1}, 400),
                         ({"keyId": "no-such-key", "limit": 5}, 404),
                         ({"limit": 5}, 400)]:
        resp = admin.post("/api/usage/budget", json=body)
        assert resp.status_code == status, (body, resp.text)
        assert resp.json()["error"]
    made = set_budget(admin, key["id"], 12.5, "monthly", warnAt=0.5)
    start, end = period_bounds("monthly", time.time())
    assert made["limit"] == 12.5 and made["spent"] == 0 and made["remaining"] == 12.5 and made["warnAt"] == 0.5
    assert made["resetAt"] == time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(end))
    assert made["state"] == "ok" and made["keyName"] == "test"
    set_budget(admin, key["id"], 1, "daily")
    listed = admin.get("/api/usage/budget", params={"keyId": key["id"]}).json()["budgets"]
    assert sorted(b["period"] for b in listed) == ["daily", "monthly"]
    assert set_budget(admin, key["id"], 20, "monthly")["limit"] == 20  # same period: replaced
    assert len(admin.get("/api/usage/budget", params={"keyId": key["id"]}).json()["budgets"]) == 2
    assert admin.delete("/api/usage/budget", params={"keyId": key["id"], "period": "daily"}).status_code == 200
    assert admin.delete("/api/usage/budget", params={"keyId": key["id"], "period": "daily"}).status_code == 404
    assert admin.delete("/api/usage/budget", params={"keyId": key["id"], "period": "hourly"}).status_code == 400
    assert [b["period"] for b in admin.get("/api/usage/budget", params={"keyId": key["id"]}).json()["budgets"]] \
        == ["monthly"]
    assert admin.delete("/api/usage/budget", params={"keyId": key["id"]}).status_code == 200


def test_concurrent_requests_cannot_overshoot(gateway, admin, api_key, priced, upstream):
    """50 requests at once against a budget that fits a few: spend never passes the limit by more than
    one request's estimate, and the rest get 429 budget_exceeded."""
    upstream.latency_ms = 200
    key = api_key()
    limit = 0.2
    set_budget(admin, key["id"], limit)
    headers = {"Authorization": f"Bearer {key['key']}"}

    async def one(client: httpx.AsyncClient) -> httpx.Response:
        return await client.post("/v1/chat/completions", json=chat(priced), headers=headers)

    async def wave() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=gateway.url, timeout=30,
                                     limits=httpx.Limits(max_connections=60)) as client:
            return await asyncio.gather(*(one(client) for _ in range(50)))

    served = refused = 0
    for _ in range(15):  # waves until the spend itself has reached the limit
        answers = asyncio.run(wave())
        ok = [r for r in answers if r.status_code == 200]
        no = [r for r in answers if r.status_code == 429]
        assert len(ok) + len(no) == 50, {r.status_code for r in answers}
        for resp in no:
            error = resp.json()["error"]
            assert error["code"] == "budget_exceeded" and "budget" in error["message"]
            assert int(resp.headers["retry-after"]) >= 1
        served += len(ok)
        refused += len(no)
        assert len(ok) < 50  # the reservations of the first few fill the budget
        if budget_of(admin, key["id"])["state"] == "exceeded":
            break
    deadline = time.monotonic() + 5
    while True:
        rows = admin.get("/api/usage/logs", params={"apiKeyId": key["id"], "limit": 1000}).json()["logs"]
        if len(rows) >= served + refused or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    billed = [r for r in rows if r["status"] == 200]
    assert len(billed) == served and refused > 0
    spent = sum(r["cost"] for r in billed)
    # Each admission found spend + reservations under the limit and each estimate covers its cost,
    # so at most one request's estimate lies beyond the limit.
    estimate = max(r["promptTokens"] for r in billed) * 2 + MAX_TOKENS
    assert limit <= spent < limit + estimate * 0.001
    assert all(r["cost"] == 0 for r in rows if r["status"] == 429)
    budget = budget_of(admin, key["id"])
    assert budget["spent"] == pytest.approx(spent, abs=1e-6) and budget["remaining"] == 0
    assert budget["reserved"] == 0


def test_no_key_bypasses_and_each_dialect_is_refused(gateway, admin, api_key, priced, anthropic_upstream):
    """A manage-scoped key is bound like any other; once spent, every route answers 429 in its dialect."""
    key = api_key(scopes=["manage"])
    set_budget(admin, key["id"], 0.001)
    auth = {"Authorization": f"Bearer {key['key']}"}
    first = httpx.post(gateway.url + "/v1/chat/completions", json=chat(priced), headers=auth, timeout=30)
    assert first.status_code == 200  # nothing spent yet: admitted
    deadline = time.monotonic() + 5
    while budget_of(admin, key["id"])["state"] != "exceeded" and time.monotonic() < deadline:
        time.sleep(0.05)
    model = priced
    calls = [
        ("/v1/chat/completions", auth, chat(model)),
        ("/v1/chat/completions", auth, {**chat(model), "stream": True}),
        ("/v1/responses", auth, {"model": model, "input": "hi", "max_output_tokens": 20}),
        ("/v1/messages", {"x-api-key": key["key"]}, {**chat(model)}),
        (f"/v1beta/models/{model}:generateContent", {"x-goog-api-key": key["key"]},
         {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}),
        ("/api/chat", auth, {"model": model, "messages": [{"role": "user", "content": "hi"}], "stream": False}),
        ("/v1/embeddings", auth, {"model": "openai/text-embedding-3-small", "input": "hi"}),
        ("/v1/images/generations", auth, {"model": "openai/dall-e-3", "prompt": "a cat"}),
    ]
    for path, headers, body in calls:
        resp = httpx.post(gateway.url + path, json=body, headers=headers, timeout=30)
        assert resp.status_code == 429, (path, resp.text)
        assert resp.headers["content-type"].startswith("application/json"), path
        data = resp.json()
        if path == "/v1/messages":
            assert data["type"] == "error" and data["error"]["type"] == "rate_limit_error"
            assert "budget" in data["error"]["message"]
        elif path.startswith("/v1beta"):
            assert data["error"]["code"] == 429 and data["error"]["status"] == "RESOURCE_EXHAUSTED"
            assert "budget" in data["error"]["message"]
        elif path == "/api/chat":
            assert "budget" in data["error"]
        else:
            assert data["error"]["code"] == "budget_exceeded", path
        assert "resets at" in resp.text
    # The same key still manages the gateway (budgets bind spending, not management).
    assert httpx.get(gateway.url + "/api/usage/budget", headers=auth).status_code == 200
    # Refusals are audited.
    deadline = time.monotonic() + 5
    while True:
        entries = admin.get("/api/compliance/audit-log", params={"limit": 500}).json()["entries"]
        refusals = [e for e in entries if e["action"] == "budget.refused" and e["target"] == key["id"]]
        if len(refusals) >= len(calls) or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert len(refusals) >= len(calls) and all(e["ip"] == "127.0.0.1" for e in refusals)


def test_requests_without_a_budget_are_not_held_back(gateway, admin, api_key, priced):
    budgeted, free = api_key(), api_key()
    set_budget(admin, budgeted["id"], 0)  # a limit of 0 refuses everything
    resp = httpx.post(gateway.url + "/v1/chat/completions", json=chat(priced), timeout=30,
                      headers={"Authorization": f"Bearer {budgeted['key']}"})
    assert resp.status_code == 429 and resp.json()["error"]["code"] == "budget_exceeded"
    resp = httpx.post(gateway.url + "/v1/chat/completions", json=chat(priced), timeout=30,
                      headers={"Authorization": f"Bearer {free['key']}"})
    assert resp.status_code == 200
    admin.delete("/api/usage/budget", params={"keyId": budgeted["id"]})
    resp = httpx.post(gateway.url + "/v1/chat/completions", json=chat(priced), timeout=30,
                      headers={"Authorization": f"Bearer {budgeted['key']}"})
    assert resp.status_code == 200  # removed: no longer bound


def test_only_the_current_period_counts(gateway, admin, api_key):
    """Rows before the period's start do not count; rows after do, including rows written before the
    budget existed (the ledger is seeded from the usage table)."""
    key = api_key()
    now = time.time()
    day_start, _ = period_bounds("daily", now)
    month_start, _ = period_bounds("monthly", now)
    rows = [(day_start - 30, 5.0), (day_start + 1, 0.25), (month_start - 30, 7.0)]
    db = sqlite3.connect(gateway.data_dir / "storage.sqlite", timeout=10)
    with db:
        for ts, cost in rows:
            db.execute("INSERT INTO usage (id, timestamp, api_key_id, status, cost, prompt_tokens, completion_tokens, "
                       "cached_tokens, reasoning_tokens) VALUES (?, ?, ?, 200, ?, 0, 0, 0, 0)",
                       (uuid.uuid4().hex, ts, key["id"], cost))
    db.close()
    daily = set_budget(admin, key["id"], 10, "daily")
    monthly = set_budget(admin, key["id"], 10, "monthly")
    assert daily["spent"] == pytest.approx(0.25)
    # The month holds the day; the row just before today counts when today is not the 1st.
    expected = 0.25 + (5.0 if day_start - 30 >= month_start else 0)
    assert monthly["spent"] == pytest.approx(expected)
    assert daily["periodStart"] == time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(day_start))


def test_warning_threshold_and_restart(make_gateway, tmp_path, upstream):
    """Crossing warnAt shows the warning state and audits it; after a restart the spend is re-read from
    the usage table and the budget still holds."""
    gw = make_gateway(data_dir=tmp_path / "gw")
    admin = gw.admin()
    assert admin.post("/api/providers", json={"provider": "openai", "name": "fake", "apiKey": "sk-up",
                                              "baseUrl": upstream.base_url}).status_code == 201
    assert admin.put("/api/pricing", json={"pricing": {"openai/priced": PRICE}}).status_code == 200
    key = admin.post("/api/keys", json={"name": "w"}).json()
    set_budget(admin, key["id"], 0.05, "weekly", warnAt=0.5)
    auth = {"Authorization": f"Bearer {key['key']}"}
    served = 0
    for _ in range(20):
        resp = httpx.post(gw.url + "/v1/chat/completions", json=chat("openai/priced"), headers=auth, timeout=30)
        if resp.status_code == 429:
            break
        assert resp.status_code == 200
        served += 1
        if budget_of(admin, key["id"], "weekly")["state"] != "ok":
            break
    state = budget_of(admin, key["id"], "weekly")
    assert state["state"] == "warning" and 0.025 <= state["spent"] < 0.05
    deadline = time.monotonic() + 5
    while not [e for e in admin.get("/api/compliance/audit-log").json()["entries"]
               if e["action"] == "budget.warning" and e["actor"] == f"key:{key['id']}"]:
        assert time.monotonic() < deadline, "no budget.warning audit entry"
        time.sleep(0.1)
    spent = state["spent"]
    admin.close()
    assert gw.stop() == 0
    gw.start()
    admin = gw.admin()
    after = budget_of(admin, key["id"], "weekly")
    assert after["spent"] == pytest.approx(spent, abs=1e-9) and after["limit"] == 0.05
    while True:  # spend to the limit: the budget refuses across the restart as before
        resp = httpx.post(gw.url + "/v1/chat/completions", json=chat("openai/priced"), headers=auth, timeout=30)
        if resp.status_code == 429:
            break
        served += 1
        assert served < 60
    assert resp.json()["error"]["code"] == "budget_exceeded"
    admin.close()


def test_rate_limits_and_budgets_side_by_side(gateway, admin, api_key, priced):
    """A per-key rate limit and a budget both apply; each refusal names its own cause."""
    assert admin.put("/api/rate-limit", json={"perKeyRpm": 3}).status_code == 200
    try:
        roomy, broke = api_key(), api_key()
        set_budget(admin, roomy["id"], 100)
        set_budget(admin, broke["id"], 0)
        codes = []
        for _ in range(4):
            resp = httpx.post(gateway.url + "/v1/chat/completions", json=chat(priced), timeout=30,
                              headers={"Authorization": f"Bearer {roomy['key']}"})
            codes.append(resp.json()["error"]["code"] if resp.status_code == 429 else resp.status_code)
        assert codes == [200, 200, 200, "rate_limited"]
        resp = httpx.post(gateway.url + "/v1/chat/completions", json=chat(priced), timeout=30,
                          headers={"Authorization": f"Bearer {broke['key']}"})
        assert resp.status_code == 429 and resp.json()["error"]["code"] == "budget_exceeded"
    finally:
        assert admin.put("/api/rate-limit", json={}).status_code == 200
