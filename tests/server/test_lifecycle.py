"""Lifecycle over the API: /api/shutdown drains a stream in flight and flushes its usage row; /api/restart
re-executes the server on the same port and data, with the same process id."""

from __future__ import annotations

import sqlite3
import threading
import time
from contextlib import closing

import httpx
import pytest


def _provider(gw, upstream) -> None:
    with closing(gw.admin()) as admin:
        resp = admin.post("/api/providers", json={"provider": "openai", "name": "fake", "apiKey": "sk-up",
                                                  "baseUrl": upstream.base_url})
        assert resp.status_code == 201, resp.text


@pytest.mark.timeout(60)
def test_shutdown_drains_a_stream_in_flight_and_flushes_usage(make_gateway, upstream):
    upstream.chunk_delay_ms = 150  # a stream of several seconds
    gw = make_gateway({"USAGE_FLUSH_INTERVAL_MS": "600000", "SHUTDOWN_TIMEOUT_S": "20"})
    _provider(gw, upstream)
    first_chunk = threading.Event()
    result: dict = {}

    def stream() -> None:
        body = {"model": "openai/gpt-4o-mini", "stream": True,
                "messages": [{"role": "user", "content": "tell me a rather long story please"}]}
        with httpx.stream("POST", gw.url + "/v1/chat/completions", json=body, timeout=30) as resp:
            lines = []
            for line in resp.iter_lines():
                if line.startswith("data: "):
                    first_chunk.set()
                    lines.append(line[6:])
            result["status"], result["lines"] = resp.status_code, lines

    reader = threading.Thread(target=stream)
    reader.start()
    assert first_chunk.wait(10), "the stream never started"
    with closing(gw.admin()) as admin:
        resp = admin.post("/api/shutdown")
    assert resp.status_code == 202, resp.text
    answer = resp.json()
    assert answer["action"] == "shutdown" and answer["inFlight"] >= 1 and answer["drainTimeoutS"] == 20
    # New requests are no longer taken while the stream finishes.
    time.sleep(0.5)
    with pytest.raises(httpx.HTTPError):
        httpx.get(gw.url + "/v1/models", timeout=2)
    reader.join(30)
    assert result.get("status") == 200 and result["lines"][-1] == "[DONE]", result
    assert len(result["lines"]) > 3
    code = gw.proc.wait(15)
    assert code == 0, gw.output()[-2000:]
    gw.stop()
    with closing(sqlite3.connect(gw.data_dir / "storage.sqlite")) as db:
        rows = db.execute("SELECT status FROM usage").fetchall()
        audit = db.execute("SELECT action FROM audit_log WHERE action = 'server.shutdown'").fetchall()
    assert rows == [(200,)], "the drained stream's usage row was flushed at the stop"
    assert audit, "the shutdown is in the audit log"


def test_shutdown_needs_an_admin(make_gateway):
    gw = make_gateway()
    assert httpx.post(gw.url + "/api/shutdown").status_code == 401
    assert httpx.post(gw.url + "/api/restart").status_code == 401
    assert httpx.get(gw.url + "/api/init").status_code == 200, "still serving"


@pytest.mark.timeout(60)
def test_restart_reexecutes_the_server(make_gateway, upstream):
    gw = make_gateway()
    _provider(gw, upstream)
    with closing(gw.admin()) as admin:
        before = admin.get("/api/monitoring/health").json()["uptimeS"]
        time.sleep(1.2)
        resp = admin.post("/api/restart")
        assert resp.status_code == 202, resp.text
        assert resp.json()["pid"] == gw.proc.pid
    deadline = time.monotonic() + 20
    up = False
    while time.monotonic() < deadline and not up:
        time.sleep(0.2)
        assert gw.proc.poll() is None, f"the process exited instead of restarting:\n{gw.output()[-2000:]}"
        try:
            health = gw.admin().get("/api/monitoring/health").json()
            up = health["uptimeS"] < before + 1.0
        except (httpx.HTTPError, AssertionError):
            continue
    assert up, gw.output()[-2000:]
    assert "restarting" in gw.output()
    # Same data: the provider is still there and serves.
    chat = httpx.post(gw.url + "/v1/chat/completions", timeout=10,
                      json={"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]})
    assert chat.status_code == 200, chat.text
