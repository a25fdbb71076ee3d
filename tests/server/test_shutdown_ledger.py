"""Graceful shutdown under load loses no usage row: SIGTERM while ~40 clients have requests in flight,
then every request that got a whole answer has its row in the ledger (and no request has two)."""

from __future__ import annotations

import asyncio
import signal
import sqlite3
import subprocess
import time
from contextlib import closing

import httpx
import orjson
import pytest

CLIENTS = 40
LOAD_S = 2.0
MESSAGES = [{"role": "user", "content": "count these four words"}]


class Tally:
    def __init__(self) -> None:
        self.started = 0  # requests whose first byte was sent (or about to be)
        self.completed = 0  # a 200 with its whole body: JSON with choices, or a stream ending in [DONE]
        self.finished = 0  # any outcome: answered, refused, cut
        self.other: dict[str, int] = {}  # what the rest got, for the failure message

    def note(self, what: str) -> None:
        self.other[what] = self.other.get(what, 0) + 1


def complete(resp: httpx.Response, stream: bool) -> bool:
    if resp.status_code != 200:
        return False
    if stream:
        data = [line[6:] for line in resp.text.split("\n") if line.startswith("data: ")]
        return bool(data) and data[-1] == "[DONE]"
    try:
        return bool(orjson.loads(resp.content).get("choices"))
    except orjson.JSONDecodeError:
        return False


async def client(n: int, url: str, tally: Tally, stop: asyncio.Event, hard_stop: float) -> None:
    async with httpx.AsyncClient(base_url=url, timeout=10) as http:
        i = n
        while not stop.is_set() and time.monotonic() < hard_stop:
            stream = i % 2 == 0
            i += 1
            body = {"model": "openai/gpt-4o-mini", "messages": MESSAGES, "stream": stream}
            tally.started += 1
            try:
                resp = await http.post("/v1/chat/completions", json=body)
            except httpx.HTTPError as exc:  # the gateway stopped listening or closed the connection
                tally.finished += 1
                tally.note(type(exc).__name__)
                return
            tally.finished += 1
            if complete(resp, stream):
                tally.completed += 1
            else:
                tally.note(f"status {resp.status_code}")


async def load_then_sigterm(gw, tally: Tally) -> int:
    """Run the clients, SIGTERM the gateway after LOAD_S; the requests in flight at that moment."""
    stop = asyncio.Event()
    hard_stop = time.monotonic() + LOAD_S + 10
    tasks = [asyncio.create_task(client(n, gw.url, tally, stop, hard_stop)) for n in range(CLIENTS)]
    await asyncio.sleep(LOAD_S)
    in_flight = tally.started - tally.finished
    gw.proc.send_signal(signal.SIGTERM)
    # The clients keep going (their next requests are refused) until the gateway is gone.
    try:
        await asyncio.to_thread(gw.proc.wait, max(0.1, hard_stop - time.monotonic()))
    except subprocess.TimeoutExpired:
        pass  # reported by the caller
    stop.set()
    await asyncio.wait_for(asyncio.gather(*tasks), timeout=15)
    return in_flight


@pytest.mark.timeout(60)
def test_sigterm_under_load_loses_no_usage_row(make_gateway, upstream):
    upstream.latency_ms = 40
    upstream.chunk_delay_ms = 10
    # Rows wait in memory until the shutdown flush: nothing is written while the load runs.
    gw = make_gateway({"USAGE_FLUSH_INTERVAL_MS": "600000"})
    with closing(gw.admin()) as admin:
        resp = admin.post("/api/providers", json={"provider": "openai", "name": "fake", "apiKey": "sk-up",
                                                  "baseUrl": upstream.base_url})
        assert resp.status_code == 201, resp.text

    tally = Tally()
    began = time.monotonic()
    in_flight = asyncio.run(load_then_sigterm(gw, tally))
    try:
        code = gw.proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        pytest.fail(f"the gateway did not exit within 15 s of SIGTERM:\n{gw.output()[-3000:]}")
    elapsed = time.monotonic() - began
    gw.stop()  # closes its log (the process has exited: no second signal)

    assert in_flight > 0, "SIGTERM must find requests in flight"
    assert tally.completed >= CLIENTS, f"the load hardly ran: {vars(tally)}"
    with closing(sqlite3.connect(gw.data_dir / "storage.sqlite")) as db:
        rows = db.execute("SELECT count(*) FROM usage").fetchone()[0]
        statuses = dict(db.execute("SELECT status, count(*) FROM usage GROUP BY status").fetchall())
    report = (f"rows={rows} statuses={statuses} started={tally.started} completed={tally.completed} "
              f"in flight at SIGTERM={in_flight} other={tally.other} elapsed={elapsed:.1f}s")
    assert rows >= tally.completed, f"usage rows were lost: {report}"
    assert rows <= tally.started, f"more rows than requests: {report}"
    assert elapsed < 20, report
    # Last, so that a wrong exit status does not hide what the ledger says.
    assert code == 0, f"exit status {code} after a graceful shutdown ({report}):\n{gw.output()[-3000:]}"


@pytest.mark.timeout(60)
def test_a_crash_loses_at_most_the_last_second(make_gateway, upstream):
    """SIGKILL (no shutdown, no flush): every request answered more than a second before is in the
    ledger, since rows are written every USAGE_FLUSH_INTERVAL_MS (500 ms)."""
    gw = make_gateway()
    with closing(gw.admin()) as admin:
        resp = admin.post("/api/providers", json={"provider": "openai", "name": "fake", "apiKey": "sk-up",
                                                  "baseUrl": upstream.base_url})
        assert resp.status_code == 201, resp.text
    with httpx.Client(base_url=gw.url, timeout=10) as http:
        for i in range(60):
            body = {"model": "openai/gpt-4o-mini", "messages": MESSAGES, "stream": i % 2 == 0}
            assert http.post("/v1/chat/completions", json=body).status_code == 200
    time.sleep(1.0)
    gw.proc.send_signal(signal.SIGKILL)
    gw.proc.wait(timeout=10)
    gw.stop()
    with closing(sqlite3.connect(gw.data_dir / "storage.sqlite")) as db:
        rows = db.execute("SELECT count(*) FROM usage WHERE client_format = 'openai'").fetchone()[0]
    assert rows == 60
