"""Two gateway processes sharing one PostgreSQL database and one Redis behave as one gateway:
configuration written through either is served by both at once (a revoked key stops working on the
other instance too), and one budget, one rate limit and one circuit breaker hold across both."""

from __future__ import annotations

import asyncio
import secrets
import time
import uuid

import httpx
import pytest

from tests.server.test_budgets import MAX_TOKENS, PRICE, budget_of, chat, set_budget


@pytest.fixture
def pair(make_gateway, pg_url, redis_url, upstream):
    """Two instances on the same database, Redis and secrets; one account on the fake upstream."""
    env = {"DATABASE_URL": pg_url, "REDIS_URL": redis_url, "REDIS_PREFIX": f"omniroute-test:{uuid.uuid4().hex}:",
           "JWT_SECRET": secrets.token_urlsafe(32), "STORAGE_ENCRYPTION_KEY": secrets.token_urlsafe(32)}
    first = make_gateway(env)  # migrates the empty database before the second one starts
    second = make_gateway(env)
    a, b = first.admin(), second.admin()
    resp = a.post("/api/providers", json={"provider": "openai", "name": "fake", "apiKey": "sk-upstream",
                                          "baseUrl": upstream.base_url})
    assert resp.status_code == 201, resp.text
    yield first, second, a, b
    a.close()
    b.close()
    import redis

    client = redis.Redis.from_url(redis_url)
    keys = list(client.scan_iter(match=env["REDIS_PREFIX"] + "*"))
    if keys:
        client.delete(*keys)
    client.close()


def until(check, timeout: float = 3.0):
    """The first truthy answer of ``check()``, polled until ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        answer = check()
        if answer or time.monotonic() > deadline:
            return answer
        time.sleep(0.02)


def ask(gw, key: str, model: str = "openai/gpt-4o-mini") -> httpx.Response:
    return httpx.post(gw.url + "/v1/chat/completions", headers={"Authorization": f"Bearer {key}"}, timeout=30,
                      json={"model": model, "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]})


def test_configuration_written_on_one_instance_is_served_by_the_other(pair):
    first, second, a, b = pair
    key = a.post("/api/keys", json={"name": "shared"}).json()
    assert until(lambda: ask(second, key["key"]).status_code == 200), "the other instance never took the new key"
    # A dashboard session made on one instance is valid on the other (shared secrets and state).
    assert b.get("/api/keys").status_code == 200
    combo = f"both-{uuid.uuid4().hex[:6]}"
    assert b.post("/api/combos", json={"name": combo, "models": ["openai/gpt-4o-mini"]}).status_code == 201
    assert until(lambda: ask(first, key["key"], combo).status_code == 200)

    # The response cache: one table, a memory tier per instance; a clear on one clears both.
    body = {"model": "openai/gpt-4o-mini", "temperature": 0, "max_tokens": 20,
            "messages": [{"role": "user", "content": f"what is {uuid.uuid4().hex[:8]}?"}]}

    def cached(gw) -> str:
        resp = httpx.post(gw.url + "/v1/chat/completions", json=body, timeout=30,
                          headers={"Authorization": f"Bearer {key['key']}"})
        assert resp.status_code == 200, resp.text
        return resp.headers["x-omniroute-cache"]

    assert [cached(second), cached(second)] == ["MISS", "HIT"]
    assert until(lambda: cached(first) == "HIT"), "the cache table is not shared"
    assert b.delete("/api/cache").json()["cleared"] is True
    time.sleep(0.3)
    assert cached(first) == "MISS", "the other instance kept a cleared entry in memory"

    assert a.delete(f"/api/keys/{key['id']}").status_code == 200
    started = time.monotonic()
    refused = until(lambda: ask(second, key["key"]).status_code == 401)
    assert refused, "a key revoked on one instance still works on the other"
    assert time.monotonic() - started < 3


def test_one_budget_holds_across_both_instances(pair):
    first, second, a, b = pair
    model = f"budget-{uuid.uuid4().hex[:8]}"
    assert a.put("/api/pricing", json={"pricing": {f"openai/{model}": PRICE}}).status_code == 200
    key = a.post("/api/keys", json={"name": "budgeted"}).json()
    limit = 0.2
    set_budget(a, key["id"], limit)
    headers = {"Authorization": f"Bearer {key['key']}"}
    assert until(lambda: [x for x in b.get("/api/usage/budget", params={"keyId": key["id"]}).json()["budgets"]
                          if x["limit"] == limit]), "the other instance never took the budget"

    async def wave() -> list[httpx.Response]:
        async with httpx.AsyncClient(timeout=30, limits=httpx.Limits(max_connections=60)) as client:
            return await asyncio.gather(*(client.post(gw.url + "/v1/chat/completions", headers=headers,
                                                      json=chat(f"openai/{model}"))
                                          for gw in (first, second) for _ in range(20)))

    served = {first.url: 0, second.url: 0}
    refused = {first.url: 0, second.url: 0}
    for _ in range(15):  # waves of 20 requests to each instance at once, until the budget is spent
        for resp in asyncio.run(wave()):
            assert resp.status_code in (200, 429), resp.text
            tally = served if resp.status_code == 200 else refused
            tally[str(resp.request.url).split("/v1/")[0]] += 1
            if resp.status_code == 429:
                assert resp.json()["error"]["code"] == "budget_exceeded"
        if budget_of(a, key["id"])["state"] == "exceeded":
            break
    # Both instances took requests and both refused some: each saw the spend and reservations of the
    # other (which instance admits the first ones under concurrency is up to timing).
    assert sum(served.values()) and all(refused.values()), (served, refused)
    rows = until(lambda: (lambda got: got if len(got) >= sum(served.values()) else None)(
        [r for r in a.get("/api/usage/logs", params={"apiKeyId": key["id"], "limit": 1000}).json()["logs"]
         if r["status"] == 200]), timeout=5)
    assert rows and len(rows) == sum(served.values())
    spent = sum(r["cost"] for r in rows)
    estimate = max(r["promptTokens"] for r in rows) * 2 + MAX_TOKENS
    # Two separate ledgers would each admit up to the limit: twice the limit in all.
    assert limit <= spent < limit + estimate * 0.001, (spent, served)
    for admin in (a, b):
        seen = budget_of(admin, key["id"])
        assert seen["spent"] == pytest.approx(spent, abs=1e-6) and seen["reserved"] == 0


def test_rate_limit_and_breaker_are_shared(pair, upstream):
    first, second, a, b = pair
    key = a.post("/api/keys", json={"name": "limited"}).json()
    assert a.put("/api/rate-limit", json={"perKeyRpm": 4}).status_code == 200
    assert until(lambda: ask(second, key["key"]).status_code == 200)  # the key and the limit reached it: 1
    answers = [ask(gw, key["key"]).status_code for gw in (first, second, first, second)]
    assert answers == [200, 200, 200, 429], answers  # four in the minute across both, then refused
    assert a.put("/api/rate-limit", json={}).status_code == 200

    assert b.put("/api/resilience", json={"profiles": {"apikey": {"failureThreshold": 3, "resetTimeoutMs": 30000}},
                                          "failureDedupeMs": 0}).status_code == 200
    time.sleep(0.3)  # the new profile reaches the first instance
    upstream.fail_next(503, count=3)
    assert [ask(gw, key["key"]).status_code for gw in (first, second, first)] == [503, 503, 503]
    assert b.get("/api/monitoring/health").json()["providers"]["openai"]["breaker"] == "open"
    time.sleep(0.3)  # the hot path may answer "is it tripped?" from a 0.25 s local cache
    sent = len(upstream.requests)
    resp = ask(second, key["key"])  # the other instance fails fast without calling the upstream
    assert resp.status_code == 503 and resp.json()["error"]["code"] == "circuit_open", resp.text
    assert len(upstream.requests) == sent
    assert a.post("/api/resilience/reset").status_code == 200
    time.sleep(0.3)
    assert ask(second, key["key"]).status_code == 200  # one reset, on either instance, closes it for both


@pytest.fixture
def own_redis(tmp_path):
    """A Redis server of this test's own on a free port, that the test may stop and start again."""
    import shutil
    import subprocess

    from tests.support import free_port, service_reachable

    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed")
    port = free_port()

    class Server:
        url = f"redis://127.0.0.1:{port}/0"
        proc: subprocess.Popen | None = None

        def start(self):
            self.proc = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                                          "--appendonly", "no", "--dir", str(tmp_path)],
                                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            assert until(lambda: service_reachable("127.0.0.1", port), timeout=10), "redis-server did not start"

        def stop(self):
            self.proc.terminate()
            self.proc.wait(10)

    server = Server()
    server.start()
    yield server
    if server.proc.poll() is None:
        server.stop()


def test_redis_down_is_a_503_that_names_it_and_service_resumes(make_gateway, pg_url, own_redis, upstream, tmp_path):
    from tests.support import Gateway, free_port

    # An instance that cannot reach its Redis refuses to start, saying so.
    lonely = Gateway(tmp_path / "lonely", {"DATABASE_URL": pg_url, "REDIS_URL": f"redis://127.0.0.1:{free_port()}/0"})
    with pytest.raises(RuntimeError, match="Redis at redis://127.0.0.1:[0-9]+/0 is not reachable"):
        lonely.start(timeout=15)

    gw = make_gateway({"DATABASE_URL": pg_url, "REDIS_URL": own_redis.url})
    admin = gw.admin()
    assert admin.post("/api/providers", json={"provider": "openai", "name": "fake", "apiKey": "sk-upstream",
                                              "baseUrl": upstream.base_url}).status_code == 201
    key = admin.post("/api/keys", json={"name": "k"}).json()
    set_budget(admin, key["id"], 100)
    assert ask(gw, key["key"]).status_code == 200
    assert admin.get("/api/monitoring/health").json()["sharedState"]["backend"] == "redis"
    spent = until(lambda: budget_of(admin, key["id"])["spent"])
    assert spent > 0

    own_redis.stop()
    time.sleep(0.3)  # past the hot path's 0.25 s local answers
    resp = ask(gw, key["key"])
    assert resp.status_code == 503, resp.text
    error = resp.json()["error"]
    assert error["code"] == "state_unavailable" and "Redis" in error["message"]
    assert resp.headers["retry-after"] == "1"
    health = admin.get("/api/monitoring/health")
    assert health.status_code == 200 and health.json()["status"] == "degraded"
    assert "not reachable" in health.json()["sharedState"]["status"]
    assert "Traceback" not in gw.output()

    own_redis.start()  # the same address again, empty: the gateway reconnects by itself
    # The budget's ledger went with Redis: it is counted again from the usage table on reconnecting.
    assert until(lambda: budget_of(admin, key["id"])["spent"] >= spent, timeout=10), budget_of(admin, key["id"])
    assert until(lambda: ask(gw, key["key"]).status_code == 200, timeout=10)
    assert admin.get("/api/monitoring/health").json()["status"] == "ok"
    admin.close()
