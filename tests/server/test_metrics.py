"""GET /metrics: the Prometheus exposition moves by exactly the requests sent (compared before and
after, the gateway being shared by the session), and who may scrape it from another address."""

from __future__ import annotations

import socket
import subprocess
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from omniroute import __version__
from tests.support import Gateway, usage_rows

MODEL = "openai/gpt-4o-mini"
PROVIDER, UPSTREAM_MODEL = "openai", "gpt-4o-mini"


def scrape(client: httpx.Client | None, url: str) -> dict:
    """{(sample name, sorted labels): value} of one scrape, plus the content type under None."""
    resp = (client or httpx).get(url + "/metrics", timeout=10)
    assert resp.status_code == 200, resp.text
    samples: dict = {None: resp.headers["content-type"]}
    for family in text_string_to_metric_families(resp.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: dict, name: str, **labels) -> float:
    """The sum of the samples named ``name`` whose labels include ``labels`` (0 when none)."""
    want = set(labels.items())
    return sum(v for k, v in samples.items() if k is not None and k[0] == name and want <= set(k[1]))


def delta(before: dict, after: dict, name: str, **labels) -> float:
    return value(after, name, **labels) - value(before, name, **labels)


def chat(gateway, key: str, **extra) -> httpx.Response:
    body = {"model": MODEL, "messages": [{"role": "user", "content": f"metrics {uuid.uuid4().hex[:8]}"}], **extra}
    return httpx.post(gateway.url + "/v1/chat/completions", json=body, timeout=30,
                      headers={"Authorization": f"Bearer {key}"})


def test_counters_move_by_exactly_the_requests_sent(gateway, admin, connection, api_key, upstream):
    connection(priority=1, apiKey="sk-m1")
    connection(priority=2, apiKey="sk-m2")
    key = api_key(name="metrics")
    before = scrape(None, gateway.url)

    # 1 and 2: a deterministic request, then the same again (a cache miss, then a hit).
    cached = {"model": MODEL, "temperature": 0, "max_tokens": 20,
              "messages": [{"role": "user", "content": f"cache me {uuid.uuid4().hex[:8]}"}]}
    headers = {"Authorization": f"Bearer {key['key']}"}
    first = httpx.post(gateway.url + "/v1/chat/completions", json=cached, headers=headers, timeout=30)
    second = httpx.post(gateway.url + "/v1/chat/completions", json=cached, headers=headers, timeout=30)
    assert first.headers.get("x-omniroute-cache") == "MISS" and second.headers.get("x-omniroute-cache") == "HIT"
    # 3: a stream.
    streamed = chat(gateway, key["key"], stream=True, stream_options={"include_usage": True})
    assert streamed.status_code == 200 and "[DONE]" in streamed.text
    # 4: the first account fails with 503, the second serves it (one fallback attempt).
    upstream.fail_next(503)
    fell_back = chat(gateway, key["key"])
    assert fell_back.status_code == 200 and fell_back.headers["x-omniroute-fallback-attempts"] == "1"
    # 5: an upstream error that is not retried.
    upstream.fail_next(400, {"error": {"message": "bad 'foo' value", "type": "invalid_request_error"}})
    assert chat(gateway, key["key"]).status_code == 400
    sent = 5

    # The ledger of this key: what the token and cost series must have moved by.
    rows = usage_rows(admin, key["id"], count=sent)
    assert len(rows) == sent
    # A stream's row may be observed a moment after its last byte reached the client.
    deadline = time.monotonic() + 5
    while True:
        after = scrape(None, gateway.url)
        if delta(before, after, "omniroute_requests_total") >= sent or time.monotonic() > deadline:
            break
        time.sleep(0.05)

    assert after[None].startswith("text/plain")
    assert delta(before, after, "omniroute_requests_total") == sent
    ours = {"provider": PROVIDER, "model": UPSTREAM_MODEL, "client_format": "openai"}
    assert delta(before, after, "omniroute_requests_total", status="200", **ours) == 3
    assert delta(before, after, "omniroute_requests_total", status="400", status_class="4xx", **ours) == 1
    # A cache hit was served by no provider: it counts under provider "cache" and the requested model.
    hit = {"provider": "cache", "model": MODEL}
    assert delta(before, after, "omniroute_requests_total", status="200", client_format="openai", **hit) == 1
    assert delta(before, after, "omniroute_request_duration_seconds_count", provider=PROVIDER) == 4
    assert delta(before, after, "omniroute_request_duration_seconds_bucket", provider=PROVIDER, le="+Inf") == 4
    assert delta(before, after, "omniroute_request_duration_seconds_count", provider="cache") == 1
    assert delta(before, after, "omniroute_request_duration_seconds_count") == sent
    assert delta(before, after, "omniroute_request_duration_seconds_sum", provider=PROVIDER) > 0
    # Buckets are cumulative: each is at least the one below it, and +Inf is the count.
    buckets = sorted((float(dict(k[1])["le"]), v) for k, v in after.items()
                     if k is not None and k[0] == "omniroute_request_duration_seconds_bucket"
                     and dict(k[1])["provider"] == PROVIDER)
    assert [v for _, v in buckets] == sorted(v for _, v in buckets)
    assert buckets[-1][1] == value(after, "omniroute_request_duration_seconds_count", provider=PROVIDER)

    # Tokens and cost: exactly what the ledger rows of these requests say, label by label.
    labels = {(r["provider"] or "cache", r["model"] or r["requestedModel"]) for r in rows}
    assert labels == {(PROVIDER, UPSTREAM_MODEL), ("cache", MODEL)}
    for provider, model in labels:
        mine = [r for r in rows if (r["provider"] or "cache", r["model"] or r["requestedModel"]) == (provider, model)]
        pm = {"provider": provider, "model": model}
        for kind, field in (("prompt", "promptTokens"), ("completion", "completionTokens"),
                            ("cached", "cachedTokens"), ("reasoning", "reasoningTokens")):
            got = delta(before, after, "omniroute_tokens_total", type=kind, **pm)
            assert got == sum(r[field] for r in mine), (pm, kind)
        got = delta(before, after, "omniroute_cost_usd_total", **pm)
        assert got == pytest.approx(sum(r["cost"] for r in mine), rel=1e-9, abs=1e-12)
    pm = {"provider": PROVIDER, "model": UPSTREAM_MODEL}
    assert delta(before, after, "omniroute_tokens_total", type="completion", **pm) > 0
    assert delta(before, after, "omniroute_cost_usd_total", **pm) > 0
    assert delta(before, after, "omniroute_cache_hits_total", **hit) == 1
    assert delta(before, after, "omniroute_cache_hits_total") == 1
    assert delta(before, after, "omniroute_cache_lookups_total") == 2
    assert delta(before, after, "omniroute_fallback_attempts_total", **pm) == 1
    assert delta(before, after, "omniroute_fallback_attempts_total") == 1
    assert delta(before, after, "omniroute_errors_total", **pm) == 1
    assert delta(before, after, "omniroute_errors_total") == 1

    assert ("omniroute_in_flight_requests", ()) in after and after[("omniroute_in_flight_requests", ())] >= 0
    assert after[("omniroute_circuit_breaker_state", (("provider", PROVIDER),))] in (0, 1, 2)
    assert ("omniroute_usage_rows_pending", ()) in after
    assert ("omniroute_usage_rows_dropped_total", ()) in after
    assert after[("omniroute_uptime_seconds", ())] > 0
    assert value(after, "omniroute_build_info", version=__version__) == 1


def test_the_in_flight_gauge_counts_a_request_being_served(gateway, connection, upstream):
    connection()
    upstream.latency_ms = 1500
    with ThreadPoolExecutor(1) as pool:
        pending = pool.submit(httpx.post, gateway.url + "/v1/chat/completions", timeout=30,
                              json={"model": MODEL, "messages": [{"role": "user", "content": "slow"}]})
        deadline, seen = time.monotonic() + 1.2, 0.0
        while time.monotonic() < deadline and not seen:
            seen = scrape(None, gateway.url)[("omniroute_in_flight_requests", ())]
            time.sleep(0.02)
        assert pending.result().status_code == 200
    assert seen >= 1
    deadline = time.monotonic() + 2
    while scrape(None, gateway.url)[("omniroute_in_flight_requests", ())] and time.monotonic() < deadline:
        time.sleep(0.02)
    assert scrape(None, gateway.url)[("omniroute_in_flight_requests", ())] == 0


def test_loopback_scrapes_without_credentials(gateway):
    resp = httpx.get(gateway.url + "/metrics", timeout=10)
    assert resp.status_code == 200
    assert "# TYPE omniroute_requests_total counter" in resp.text


# ---- from another address ------------------------------------------------------------------------------


def non_loopback_ipv4() -> str | None:
    """An IPv4 address of this machine that is not loopback, or None."""
    candidates = []
    try:
        candidates.append(socket.gethostbyname(socket.gethostname()))
    except OSError:
        pass
    try:
        out = subprocess.run(["hostname", "-I"], capture_output=True, text=True, timeout=5).stdout
        candidates += out.split()
    except (OSError, subprocess.SubprocessError):
        pass
    for address in candidates:
        parts = address.split(".")
        if len(parts) == 4 and all(p.isdigit() for p in parts) and not address.startswith("127."):
            try:  # usable: something bound to 0.0.0.0 answers on it
                with socket.socket() as sock:
                    sock.bind((address, 0))
                return address
            except OSError:
                continue
    return None


@pytest.fixture(scope="module")
def private(tmp_path_factory):
    """A gateway of this module's own, bound to every address."""
    gw = Gateway(tmp_path_factory.mktemp("metrics-gw"), {"HOST": "0.0.0.0"}).start()
    yield gw
    gw.stop()


@pytest.fixture
def exposed(private):
    """The private gateway and its URL on a non-loopback address of this machine."""
    address = non_loopback_ipv4()
    if address is None:
        pytest.skip("this machine has no non-loopback IPv4 address to scrape from")
    return private, f"http://{address}:{private.port}"


def test_an_open_breaker_reads_2(private, upstream):
    with closing(private.admin()) as admin:
        conn = admin.post("/api/providers", json={"provider": "openai", "name": "brk", "apiKey": "sk-brk",
                                                  "baseUrl": upstream.base_url}).json()
        try:
            assert admin.put("/api/resilience", json={
                "profiles": {"apikey": {"failureThreshold": 1, "resetTimeoutMs": 60_000}},
                "failureDedupeMs": 0}).status_code == 200
            assert scrape(None, private.url)[("omniroute_circuit_breaker_state", (("provider", PROVIDER),))] == 0
            upstream.fail_next(503)
            resp = httpx.post(private.url + "/v1/chat/completions", timeout=30,
                              json={"model": MODEL, "messages": [{"role": "user", "content": "x"}]})
            assert resp.status_code == 503
            samples = scrape(None, private.url)
            assert samples[("omniroute_circuit_breaker_state", (("provider", PROVIDER),))] == 2
            assert delta({}, samples, "omniroute_errors_total", provider=PROVIDER) >= 1
            assert admin.post("/api/resilience/reset").status_code == 200
            samples = scrape(None, private.url)
            assert samples[("omniroute_circuit_breaker_state", (("provider", PROVIDER),))] == 0
        finally:
            admin.put("/api/resilience", json={"profiles": {"apikey": {"failureThreshold": 12,
                                                                       "resetTimeoutMs": 30_000}},
                                               "failureDedupeMs": 5_000})
            admin.post("/api/resilience/reset")
            admin.delete(f"/api/providers/{conn['id']}")


def test_another_address_needs_management_credentials(exposed):
    gw, remote = exposed
    resp = httpx.get(remote + "/metrics", timeout=10)
    assert resp.status_code == 401 and "error" in resp.json()
    # The forwarded-for header is the client's word: not trusted.
    resp = httpx.get(remote + "/metrics", headers={"X-Forwarded-For": "127.0.0.1", "X-Real-IP": "127.0.0.1"},
                     timeout=10)
    assert resp.status_code == 401
    assert httpx.get(remote + "/metrics", headers={"Authorization": "Bearer sk-nobody"}, timeout=10).status_code == 401
    # Loopback still scrapes without credentials.
    assert httpx.get(gw.url + "/metrics", timeout=10).status_code == 200

    with closing(gw.admin()) as admin:
        plain = admin.post("/api/keys", json={"name": "client"}).json()
        manage = admin.post("/api/keys", json={"name": "ops", "scopes": ["manage"]}).json()
        resp = httpx.get(remote + "/metrics", headers={"Authorization": f"Bearer {plain['key']}"}, timeout=10)
        assert resp.status_code == 403 and "manage" in resp.json()["error"]
        resp = httpx.get(remote + "/metrics", headers={"Authorization": f"Bearer {manage['key']}"}, timeout=10)
        assert resp.status_code == 200 and "omniroute_requests_total" in resp.text
        # The dashboard session cookie works too.
        resp = httpx.get(remote + "/metrics", cookies=dict(admin.cookies), timeout=10)
        assert resp.status_code == 200 and "omniroute_build_info" in resp.text


def test_the_public_setting_opens_it_to_every_address(exposed):
    gw, remote = exposed
    with closing(gw.admin()) as admin:
        try:
            assert admin.put("/api/settings", json={"metrics": {"public": True}}).status_code == 200
            resp = httpx.get(remote + "/metrics", timeout=10)
            assert resp.status_code == 200 and "omniroute_in_flight_requests" in resp.text
        finally:
            assert admin.put("/api/settings", json={"metrics": {"public": False}}).status_code == 200
    assert httpx.get(remote + "/metrics", timeout=10).status_code == 401
