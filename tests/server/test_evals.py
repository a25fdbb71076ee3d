"""/api/evals: suites stored and validated, runs through the gateway's own chat pipeline against a model
or a combo (scores, latencies, per-case results, usage rows), upstream failures, background runs."""

from __future__ import annotations

import signal
import time
import uuid

import pytest


def unique(stem: str) -> str:
    return f"{stem}-{uuid.uuid4().hex[:8]}"


# The fake upstream answers "echo: <the last user message>": three checks pass, three fail.
CASES = [
    {"id": "exact", "prompt": "alpha", "check": {"type": "exact", "value": "  echo: alpha\n"}},
    {"id": "contains", "system": "answer briefly",
     "prompt": [{"role": "user", "content": "first"}, {"role": "assistant", "content": "ok"},
                {"role": "user", "content": "Beta Gamma"}],
     "check": {"type": "contains", "value": "GAMMA", "ignoreCase": True}, "maxTokens": 50},
    {"id": "regex", "prompt": "zeta", "check": {"type": "regex", "value": r"^ECHO: \w+$", "ignoreCase": True}},
    {"id": "exact-miss", "prompt": "eta", "check": {"type": "exact", "value": "eta"}},
    {"id": "contains-miss", "prompt": "theta", "check": {"type": "contains", "value": "omega"}},
    {"id": "regex-miss", "prompt": "delta", "check": {"type": "regex", "value": r"^echo: \d+$"}},
]
PASSING = {"exact", "contains", "regex"}


@pytest.fixture
def suite(admin):
    """Factory: store a suite; every suite made is deleted after the test."""
    made: list[str] = []

    def make(cases=None, name: str | None = None, **fields) -> dict:
        body = {"suite": {"name": name or unique("suite"), "cases": cases or CASES, **fields}}
        resp = admin.post("/api/evals", json=body)
        assert resp.status_code == 201, resp.text
        made.append(resp.json()["id"])
        return resp.json()

    yield make
    for suite_id in made:
        admin.delete(f"/api/evals/{suite_id}")


def run(admin, suite_id: str, target: str, expect: int = 200, **fields) -> dict:
    resp = admin.post("/api/evals", json={"suiteId": suite_id, "target": target, **fields})
    assert resp.status_code == expect, resp.text
    return resp.json()


def ledger(admin, model: str, count: int, timeout: float = 5.0) -> list[dict]:
    """The usage rows of one (resolved) model, once at least ``count`` are listed."""
    deadline = time.monotonic() + timeout
    while True:
        rows = admin.get("/api/usage/logs", params={"model": model}).json()["logs"]
        if len(rows) >= count or time.monotonic() > deadline:
            return rows
        time.sleep(0.05)


def test_run_against_a_model(admin, connection, upstream, suite):
    connection()
    made = suite(description="smoke")
    assert made["caseCount"] == 6 and made["description"] == "smoke"
    assert [c["id"] for c in made["cases"]] == [c["id"] for c in CASES]
    model = unique("eval-model")
    result = run(admin, made["id"], f"openai/{model}")
    assert result["status"] == "done"
    assert (result["passed"], result["total"], result["score"]) == (3, 6, 0.5)
    assert {r["caseId"] for r in result["results"] if r["passed"]} == PASSING
    by_case = {r["caseId"]: r for r in result["results"]}
    assert by_case["regex-miss"]["output"] == "echo: delta" and by_case["regex-miss"]["error"] is None
    assert all(r["servedBy"] == f"openai/{model}" for r in result["results"])
    latencies = sorted(r["latencyMs"] for r in result["results"])
    assert result["latencyP50Ms"] == latencies[2] and result["latencyMaxMs"] == latencies[-1]
    assert result["finishedAt"] >= result["startedAt"] and result["suiteName"] == made["name"]

    # Each case went upstream as a non-streaming chat request at temperature 0, system text first.
    sent = {r.body["messages"][-1]["content"]: r.body for r in upstream.requests if r.body.get("model") == model}
    assert set(sent) == {"alpha", "Beta Gamma", "zeta", "eta", "theta", "delta"}
    assert all(b["temperature"] == 0 and b.get("stream") in (False, None) for b in sent.values())
    assert sent["Beta Gamma"]["messages"][0] == {"role": "system", "content": "answer briefly"}
    assert sent["Beta Gamma"]["max_tokens"] == 50

    # Stored: the run by id, in the suite's runs, in GET /api/evals; each call in the usage ledger.
    assert admin.get(f"/api/evals/runs/{result['id']}").json() == result
    listing = admin.get("/api/evals").json()
    assert listing["runs"][0]["id"] == result["id"] and "results" not in listing["runs"][0]
    assert listing["runs"][0]["score"] == result["score"]
    assert {"id": made["id"], "caseCount": 6}.items() <= next(
        s for s in listing["suites"] if s["id"] == made["id"]).items()
    assert admin.get(f"/api/evals/{made['id']}").json()["runs"][0]["id"] == result["id"]
    rows = ledger(admin, model, 6)
    assert len(rows) == 6
    assert all(r["status"] == 200 and r["requestedModel"] == f"openai/{model}" and r["provider"] == "openai"
               for r in rows)

    # A second run measures the model again: never answered from the response cache.
    again = run(admin, made["id"], f"openai/{model}")
    assert again["passed"] == 3 and again["id"] != result["id"]
    assert sum(1 for r in upstream.requests if r.body.get("model") == model) == 12
    assert admin.get("/api/evals").json()["runs"][0]["id"] == again["id"]


def test_run_against_a_combo(admin, connection, upstream, suite, combo):
    connection()
    broken, working = unique("eval-broken"), unique("eval-working")
    upstream.fail_for_model(broken, 500)
    made = combo(models=[f"openai/{broken}", f"openai/{working}"], strategy="priority")
    result = run(admin, suite()["id"], made["name"])
    assert (result["status"], result["passed"], result["total"]) == ("done", 3, 6)
    assert all(r["servedBy"] == f"openai/{working}" and r["error"] is None for r in result["results"])
    rows = ledger(admin, working, 6)
    assert len(rows) == 6 and all(r["combo"] == made["name"] and r["status"] == 200 for r in rows)


def test_upstream_failures_are_failed_cases(admin, connection, upstream, suite):
    connection()
    made = suite()
    model = unique("eval-down")
    upstream.fail_for_model(model, 500)
    result = run(admin, made["id"], f"openai/{model}")
    assert (result["status"], result["passed"], result["total"], result["score"]) == ("failed", 0, 6, 0)
    assert all(not r["passed"] and r["error"] and r["output"] == "" for r in result["results"])
    assert any("500" in r["error"] for r in result["results"])
    rows = ledger(admin, model, 6)
    assert len(rows) == 6 and all(r["status"] >= 500 and r["error"] for r in rows)

    # One failure among answers: that case fails with its error, the run is still done.
    upstream.clear()
    upstream.fail_next(503)
    result = run(admin, made["id"], f"openai/{unique('eval-flaky')}")
    assert result["status"] == "done"
    errored = [r for r in result["results"] if r["error"]]
    assert len(errored) == 1 and not errored[0]["passed"]


def test_case_timeout(admin, connection, upstream, suite):
    connection()
    made = suite(cases=[{"prompt": "slow", "check": {"type": "contains", "value": "slow"}}])
    assert made["cases"][0]["id"] == "case-1"
    upstream.hang_next(3)
    started = time.monotonic()
    result = run(admin, made["id"], f"openai/{unique('eval-slow')}", caseTimeoutMs=400)
    assert time.monotonic() - started < 2.5
    assert result["status"] == "failed" and "timeout" in result["results"][0]["error"]


def test_large_suite_runs_in_the_background(admin, connection, upstream, suite):
    connection()
    cases = [{"prompt": f"word{i}", "check": {"type": "exact", "value": f"echo: word{i}"}} for i in range(25)]
    made = suite(cases=cases)
    started = run(admin, made["id"], f"openai/{unique('eval-big')}", expect=202)
    assert started["status"] == "running" and started["total"] == 25
    deadline = time.monotonic() + 20
    while True:
        current = admin.get(f"/api/evals/runs/{started['id']}").json()
        if current["status"] != "running" or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert (current["status"], current["passed"], current["total"], current["score"]) == ("done", 25, 25, 1.0)
    assert len(current["results"]) == 25


def test_suite_crud(admin, suite):
    made = suite()
    url = f"/api/evals/{made['id']}"
    fetched = admin.get(url).json()
    assert fetched["cases"] == made["cases"] and fetched["runs"] == []
    # A suite as GET shows it goes back with PUT (its read-only fields are ignored).
    fetched["cases"] = fetched["cases"][:1]
    fetched["name"] = unique("renamed")
    resp = admin.put(url, json=fetched)
    assert resp.status_code == 200, resp.text
    assert resp.json()["caseCount"] == 1 and resp.json()["name"] == fetched["name"]
    resp = admin.put(url, json={"suite": {"name": fetched["name"], "cases": CASES}})
    assert resp.status_code == 200 and resp.json()["caseCount"] == 6
    other = suite()
    resp = admin.put(f"/api/evals/{other['id']}", json={"name": fetched["name"], "cases": CASES})
    assert resp.status_code == 409 and fetched["name"] in resp.json()["error"]
    resp = admin.post("/api/evals", json={"suite": {"name": fetched["name"], "cases": CASES}})
    assert resp.status_code == 409
    assert admin.delete(url).status_code == 200
    assert admin.get(url).status_code == 404
    assert all(s["id"] != made["id"] for s in admin.get("/api/evals").json()["suites"])


@pytest.mark.parametrize(("suite_body", "needle"), [
    ({"cases": [{"prompt": "p", "check": {"type": "regex", "value": "(unclosed"}}]}, "invalid regular expression"),
    ({"cases": [{"prompt": "p", "check": {"type": "fuzzy", "value": "x"}}]}, "check.type"),
    ({"cases": [{"prompt": "p", "check": {"type": "exact", "value": "x"}, "extra": 1}]}, "extra"),
    ({"cases": []}, "cases"),
    ({"cases": [{"prompt": "p", "check": {"type": "exact", "value": "x"}}] * 501}, "cases"),
    ({"cases": [{"prompt": "x" * 40_000, "check": {"type": "exact", "value": "x"}}]}, "prompt"),
    ({"cases": [{"prompt": "p", "check": {"type": "regex", "value": "a" * 600}}]}, "at most 500"),
    ({"cases": [{"id": "a", "prompt": "p", "check": {"type": "exact", "value": "x"}},
                {"id": "a", "prompt": "q", "check": {"type": "exact", "value": "y"}}]}, "used twice"),
    ({"cases": [{"prompt": [{"role": "robot", "content": "hi"}], "check": {"type": "exact", "value": "x"}}]},
     "role"),
    ({"name": "", "cases": CASES}, "name"),
    ({"name": "n" * 201, "cases": CASES}, "name"),
])
def test_suite_validation(admin, suite_body, needle):
    body = {"name": unique("bad"), **suite_body}
    resp = admin.post("/api/evals", json={"suite": body})
    assert resp.status_code == 400, resp.text
    assert needle in resp.json()["error"]


def test_request_errors(admin, connection, suite):
    connection()
    made = suite()
    for body, status, needle in [
        ({}, 400, "suiteId"),
        ({"suiteId": made["id"]}, 400, "target"),
        ({"suiteId": made["id"], "target": "openai/x", "bogus": 1}, 400, "bogus"),
        ({"suiteId": made["id"], "target": "no-such-model-zz"}, 400, "no-such-model-zz"),
        ({"suiteId": made["id"], "target": "nowhere/model"}, 400, "nowhere/model"),
        ({"suiteId": made["id"], "target": "anthropic/claude-x"}, 400, "no active connection"),
        ({"suiteId": made["id"], "target": "  "}, 400, "target"),
        ({"suiteId": str(uuid.uuid4()), "target": "openai/x"}, 404, "not found"),
        ({"suite": {"name": "x", "cases": CASES}, "target": "openai/x"}, 400, "not both"),
    ]:
        resp = admin.post("/api/evals", json=body)
        assert resp.status_code == status, (body, resp.text)
        assert needle in resp.json()["error"], (body, resp.text)
    assert admin.post("/api/evals", content=b"{nope", headers={"content-type": "application/json"}
                      ).status_code == 400
    missing = str(uuid.uuid4())
    assert admin.get(f"/api/evals/{missing}").status_code == 404
    assert admin.put(f"/api/evals/{missing}", json={"name": "x", "cases": CASES}).status_code == 404
    assert admin.delete(f"/api/evals/{missing}").status_code == 404
    assert admin.get(f"/api/evals/runs/{missing}").status_code == 404
    # No run was stored for the refused requests.
    assert admin.get("/api/evals/runs", params={"suiteId": made["id"]}).json()["runs"] == []


def test_run_cut_short_by_a_restart_is_failed(make_gateway, upstream, tmp_path):
    gw = make_gateway(data_dir=tmp_path / "gw")
    api = gw.admin()
    resp = api.post("/api/providers", json={"provider": "openai", "name": "fake", "apiKey": "sk-x",
                                            "baseUrl": upstream.base_url})
    assert resp.status_code == 201, resp.text
    cases = [{**case, "id": f"{case['id']}-{i}"} for i in range(4) for case in CASES]
    made = api.post("/api/evals", json={"suite": {"name": "slow", "cases": cases}}).json()
    upstream.latency_ms = 5_000
    started = run(api, made["id"], "openai/gpt-4o-mini", expect=202)
    api.close()
    gw.stop(signal.SIGKILL)
    upstream.latency_ms = 0
    api = make_gateway(data_dir=tmp_path / "gw").admin()
    current = api.get(f"/api/evals/runs/{started['id']}").json()
    assert current["status"] == "failed" and "stopped" in current["results"][0]["error"]
    assert api.get("/api/evals").json()["runs"][0]["status"] == "failed"
    api.close()
