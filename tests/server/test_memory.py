"""Memory reaches a plateau under sustained traffic instead of growing with every request."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx

BODY = {"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "hello memory"}]}


def rss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as fh:
        return next(int(line.split()[1]) for line in fh if line.startswith("VmRSS:"))


def burst(url: str, requests: int, stream: bool) -> None:
    def worker(n: int) -> None:
        with httpx.Client(timeout=30) as client:
            for _ in range(n):
                resp = client.post(url, json={**BODY, "stream": stream})
                assert resp.status_code == 200

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(worker, [requests // 8] * 8))


def test_rss_plateaus_under_sustained_load(make_gateway, upstream):
    upstream.record = False  # the fake must not grow either: it shares nothing with the gateway
    gw = make_gateway()
    admin = gw.admin()
    admin.post("/api/providers", json={"provider": "openai", "apiKey": "sk-m", "baseUrl": upstream.base_url})
    url = gw.url + "/v1/chat/completions"
    try:
        burst(url, 800, stream=False)  # warm: pools, caches and allocator arenas fill up
        burst(url, 400, stream=True)
        warm = rss_kb(gw.proc.pid)
        for _ in range(3):
            burst(url, 800, stream=False)
            burst(url, 400, stream=True)
        grown = rss_kb(gw.proc.pid) - warm
    finally:
        upstream.record = True
        admin.close()
    assert grown < 4096, f"RSS grew by {grown} kB over 3,600 more requests"
