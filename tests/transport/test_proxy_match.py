"""Proxy URLs, noProxy matching (curl's NO_PROXY rules), masking, and the router's sessions."""

from __future__ import annotations

import asyncio

import pytest

from omniroute.settings import Settings
from omniroute.transport.proxy import (
    NoProxy,
    ProxyRouter,
    ProxySpec,
    check_no_proxy,
    check_proxy_url,
    hide_secrets,
    mask_url,
    unmask_url,
)
from tests.fakes.openai_upstream import FakeOpenAI
from tests.fakes.proxies import HttpProxy, Socks5Proxy

# ---- noProxy ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("spec, url, direct", [
    ("example.com", "https://example.com/v1", True),
    ("example.com", "https://api.example.com/v1", True),
    ("example.com", "https://notexample.com/v1", False),
    ("example.com", "https://example.com.evil.net/v1", False),
    (".example.com", "https://example.com/v1", True),
    (".example.com", "https://a.b.example.com/v1", True),
    ("*.example.com", "https://a.example.com/v1", True),
    ("EXAMPLE.com", "https://Api.Example.COM/v1", True),
    ("example.com.", "https://api.example.com./v1", True),
    ("*", "https://anything.at.all/", True),
    ("", "https://example.com/", False),
    ("localhost", "http://127.0.0.1:8080/", False),  # loopback is not implied
    ("localhost", "http://localhost:8080/", True),
    ("127.0.0.1", "http://127.0.0.1:8080/", True),
    ("127.0.0.1", "http://127.0.0.2:8080/", False),
    ("10.0.0.0/8", "http://10.20.30.40/", True),
    ("10.0.0.0/8", "http://11.0.0.1/", False),
    ("10.0.0.0/8", "http://ten.example/", False),
    ("::1", "http://[::1]:8080/", True),
    ("[::1]", "http://[::1]:8080/", True),
    ("fd00::/8", "http://[fd12::1]/", True),
    ("127.0.0.0/8", "http://[::ffff:127.0.0.1]/", True),
    ("example.com:8443", "https://example.com:8443/", True),
    ("example.com:8443", "https://example.com/", False),
    ("example.com:443", "https://example.com/", True),  # the scheme's default port
    ("example.com:80", "http://api.example.com/", True),
    ("127.0.0.1:9000", "http://127.0.0.1:9001/", False),
    ("[::1]:9000", "http://[::1]:9000/", True),
    ("a.com, b.com ,c.com", "https://c.com/", True),
    ("a.com b.com", "https://b.com/", True),
    (["a.com", "10.0.0.0/8,b.com"], "https://b.com/", True),
    (["a.com"], "https://b.com/", False),
])
def test_no_proxy_matching(spec, url, direct):
    assert NoProxy(spec).matches(url) is direct


@pytest.mark.parametrize("spec", ["a b/c", "10.0.0.0/99", "host:0", "host:70000", "host:x", "[::1", "[::1]x",
                                  "bad_host!", "*.", ".", ["ok.com", 5], 5])
def test_no_proxy_rejects(spec):
    with pytest.raises(ValueError):
        check_no_proxy(spec)


def test_no_proxy_empty_is_falsy():
    assert not NoProxy(None) and not NoProxy("") and not NoProxy(" , ") and NoProxy("*")
    assert ProxySpec.build("http://h:1", " , ").no_proxy is None


# ---- proxy URLs ------------------------------------------------------------------------------------


@pytest.mark.parametrize("url, normalized", [
    ("http://127.0.0.1:3128", "http://127.0.0.1:3128"),
    ("HTTP://proxy.local", "http://proxy.local:80"),
    ("https://proxy.local/", "https://proxy.local:443"),
    ("socks5://u:p%40ss@h", "socks5://u:p%40ss@h:1080"),
    ("socks5h://h:9050", "socks5h://h:9050"),
    ("socks4://h:1080", "socks4://h:1080"),
    ("socks4a://h:1080", "socks4a://h:1080"),
    ("http://[::1]:3128", "http://[::1]:3128"),
    (" http://h:1 ", "http://h:1"),
])
def test_proxy_urls(url, normalized):
    assert check_proxy_url(url) == normalized


@pytest.mark.parametrize("url", ["ftp://h:21", "h:3128", "http://:3128", "http://h:0", "http://h:99999",
                                 "http://h:port", "http://h:1/path", "http://h:1?q", "http://h:1#f",
                                 "http://h h:1", "socks://h:1", "x" * 3000])
def test_bad_proxy_urls(url):
    with pytest.raises(ValueError):
        check_proxy_url(url)


def test_masking():
    assert mask_url("http://user:pw@h:1") == "http://user:****@h:1"
    assert mask_url("http://token@h:1") == "http://****@h:1"
    assert mask_url("socks5://h:1") == "socks5://h:1"
    assert mask_url(None) is None
    stored = "http://user:pw@h:1"
    assert unmask_url("http://user:****@h:1", stored) == stored
    assert unmask_url("http://user:new@h:1", stored) == "http://user:new@h:1"
    assert unmask_url("http://h:2", stored) == "http://h:2"
    for other in ("http://user:****@h:2", "http://bob:****@h:1", "https://user:****@h:1"):
        with pytest.raises(ValueError):
            unmask_url(other, stored)
    with pytest.raises(ValueError):
        unmask_url("http://user:****@h:1", None)
    assert "pw" not in hide_secrets("failed via http://user:pw@h:1 (pw)", stored)


def test_spec_json_round_trip():
    spec = ProxySpec.from_json({"url": "socks5://h", "noProxy": ["a.com"]})
    assert spec.to_json() == {"url": "socks5://h:1080", "noProxy": ["a.com"]}
    assert spec.public() == {"url": "socks5://h:1080", "noProxy": ["a.com"]}
    with pytest.raises(ValueError):
        ProxySpec.from_json({"noProxy": "a.com"})


# ---- the router ------------------------------------------------------------------------------------


class _Account:
    def __init__(self, proxy=None):
        self.proxy = proxy


@pytest.fixture(scope="module")
def servers():
    up, http, socks = FakeOpenAI().start(), HttpProxy().start(), Socks5Proxy().start()
    yield up, http, socks
    for server in (up, http, socks):
        server.stop()


async def test_router_picks_sessions(servers):
    up, http, socks = servers
    http.reset()
    socks.reset()
    router = ProxyRouter(Settings())
    direct = router.open()
    url = up.base_url + "/models"
    assert router.session_for(url) is direct and router.session_for(url, _Account()) is direct
    router.configure(ProxySpec.build(f"http://127.0.0.1:{http.port}"))
    via_http = router.session_for(url)
    assert via_http is not direct and router.session_for(url, _Account()) is via_http
    own = _Account(ProxySpec.build(f"socks5://127.0.0.1:{socks.port}"))
    via_socks = router.session_for(url, own)
    assert via_socks not in (direct, via_http) and router.session_for(url, own) is via_socks
    bypass = _Account(ProxySpec.build(f"socks5://127.0.0.1:{socks.port}", "127.0.0.1"))
    assert router.session_for(url, bypass) is direct  # its own noProxy, not the global proxy
    for session in (via_http, via_socks):
        async with session.get(url) as resp:
            assert resp.status == 200
    async with router.request("GET", url) as resp:
        assert resp.status == 200
    assert http.requests == 2 and socks.requests == 1
    await router.close()
    assert direct.closed and via_http.closed and via_socks.closed


async def test_retired_sessions_close_once_idle(servers):
    up, http, _ = servers
    router = ProxyRouter(Settings())
    router.RETIRE_GRACE_S = router.RETIRE_POLL_S = 0.05
    router.open()
    router.configure(ProxySpec.build(f"http://127.0.0.1:{http.port}"))
    url = up.base_url + "/chat/completions"
    session = router.session_for(url)
    up.chunk_delay_ms = 100
    try:
        body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}], "stream": True}
        resp = await session.post(url, json=body)
        router.configure(None)  # the proxy is switched off while a stream is being read
        assert router.session_for(url) is router.direct
        await asyncio.sleep(0.3)
        assert not session.closed and router.open_sessions == 1
        assert b"[DONE]" in await resp.read()
        resp.release()
        for _ in range(50):  # closed first, then counted out once its close has finished
            if session.closed and router.open_sessions == 0:
                break
            await asyncio.sleep(0.05)
        assert session.closed and router.open_sessions == 0
    finally:
        up.chunk_delay_ms = 0
        await router.close()


async def test_switching_proxies_keeps_one_session_per_proxy(servers):
    _, http, socks = servers
    router = ProxyRouter(Settings())
    router.RETIRE_GRACE_S = 0.01
    router.open()
    for _ in range(5):
        for url in (f"http://127.0.0.1:{http.port}", f"socks5://127.0.0.1:{socks.port}"):
            router.configure(ProxySpec.build(url))
            router.session_for("http://example.com/")
    await asyncio.sleep(0.2)
    assert router.open_sessions == 1
    await router.close()
    assert router.open_sessions == 0
