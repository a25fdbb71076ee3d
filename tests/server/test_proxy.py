"""Outbound proxy: /api/settings/proxy, per-connection proxies, and upstream calls through real proxies.

The proxies are real servers on loopback (tests/fakes/proxies.py) that count what they carry;
the gateway is a real process and the upstream the fake OpenAI server.
"""

from __future__ import annotations

import uuid

import pytest

from tests.fakes.proxies import HttpProxy, Socks5Proxy
from tests.support import free_port

CHAT = {"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
OFF = {"enabled": False, "url": None, "noProxy": None}


@pytest.fixture(scope="module")
def proxies():
    servers = {"http": HttpProxy().start(), "http2": HttpProxy().start(), "socks": Socks5Proxy().start(),
               "http_auth": HttpProxy(auth=("alice", "s3cret-pw")).start(),
               "socks_auth": Socks5Proxy(auth=("bob", "socks-pw")).start()}
    yield servers
    for server in servers.values():
        server.stop()


@pytest.fixture
def px(admin, proxies):
    """The proxies with their counts cleared; the global proxy is switched off after the test."""
    for server in proxies.values():
        server.reset()
    yield proxies
    assert admin.put("/api/settings/proxy", json=OFF).status_code == 200


def set_proxy(admin, **body) -> dict:
    resp = admin.put("/api/settings/proxy", json=body)
    assert resp.status_code == 200, resp.text
    return resp.json()


def chat(gateway, **extra) -> dict:
    with gateway.client() as client:
        resp = client.post("/v1/chat/completions", json={**CHAT, **extra})
    assert resp.status_code == 200, resp.text
    return resp


def upstream_target(upstream) -> str:
    return upstream.url.removeprefix("http://")


# ---- the global proxy -------------------------------------------------------------------------------


def test_http_proxy_carries_chat_requests(gateway, admin, connection, upstream, px):
    connection()
    proxy = px["http"]
    out = set_proxy(admin, enabled=True, url=f"http://127.0.0.1:{proxy.port}")
    assert out == {"enabled": True, "url": f"http://127.0.0.1:{proxy.port}", "noProxy": None}
    answer = chat(gateway).json()
    assert answer["choices"][0]["message"]["content"]
    assert proxy.requests == 1 and proxy.targets == [upstream_target(upstream)]
    assert len(upstream.requests) == 1
    streamed = chat(gateway, stream=True).text
    assert "data: [DONE]" in streamed
    assert proxy.requests == 2
    assert admin.get("/api/settings/proxy").json()["enabled"] is True


@pytest.mark.parametrize("scheme", ["socks5", "socks5h"])
def test_socks5_proxy_carries_chat_requests(gateway, admin, connection, upstream, px, scheme):
    connection()
    proxy = px["socks"]
    set_proxy(admin, enabled=True, url=f"{scheme}://127.0.0.1:{proxy.port}")
    chat(gateway)
    assert "data: [DONE]" in chat(gateway, stream=True).text
    assert proxy.requests >= 1 and set(proxy.targets) == {upstream_target(upstream)}
    assert len(upstream.requests) == 2
    assert px["http"].requests == 0


def test_proxy_credentials_reach_the_proxy_and_are_masked(gateway, admin, connection, upstream, px):
    connection()
    proxy = px["http_auth"]
    url = f"http://alice:s3cret-pw@127.0.0.1:{proxy.port}"
    out = set_proxy(admin, enabled=True, url=url)
    masked = f"http://alice:****@127.0.0.1:{proxy.port}"
    assert out["url"] == masked
    got = admin.get("/api/settings/proxy")
    assert got.json()["url"] == masked and "s3cret-pw" not in got.text
    chat(gateway)
    assert proxy.requests == 1 and proxy.refused == 0  # the stored password was decrypted and sent
    # The masked URL sent back (as a form round-trip does) keeps the stored password.
    set_proxy(admin, enabled=True, url=masked, noProxy="example.com")
    chat(gateway)
    assert proxy.requests == 2 and proxy.refused == 0
    # A masked URL for another proxy cannot be completed.
    resp = admin.put("/api/settings/proxy", json={"enabled": True, "url": "http://alice:****@10.0.0.1:3128"})
    assert resp.status_code == 400 and "'url'" in resp.json()["error"]


def test_socks5_credentials(gateway, admin, connection, upstream, px):
    connection()
    proxy = px["socks_auth"]
    set_proxy(admin, enabled=True, url=f"socks5://bob:socks-pw@127.0.0.1:{proxy.port}")
    chat(gateway)
    assert proxy.requests == 1 and proxy.refused == 0


def test_no_proxy_host_goes_direct(gateway, admin, connection, upstream, px):
    connection()
    proxy = px["http"]
    # localhost and other names do not cover 127.0.0.1: still proxied.
    set_proxy(admin, enabled=True, url=f"http://127.0.0.1:{proxy.port}", noProxy="localhost, .example.com")
    chat(gateway)
    assert proxy.requests == 1
    for no_proxy in ("127.0.0.1", ["example.com", "127.0.0.0/8"], f"127.0.0.1:{upstream.port}", "*"):
        out = set_proxy(admin, enabled=True, url=f"http://127.0.0.1:{proxy.port}", noProxy=no_proxy)
        assert out["noProxy"] == no_proxy
        chat(gateway)
        assert proxy.requests == 1, no_proxy
    # Another port of the same host is not covered by host:port.
    set_proxy(admin, enabled=True, url=f"http://127.0.0.1:{proxy.port}", noProxy=f"127.0.0.1:{free_port()}")
    chat(gateway)
    assert proxy.requests == 2
    assert len(upstream.requests) == 6


def test_disabling_stops_the_proxy(gateway, admin, connection, upstream, px):
    connection()
    proxy = px["http"]
    set_proxy(admin, enabled=True, url=f"http://127.0.0.1:{proxy.port}")
    chat(gateway)
    assert proxy.requests == 1
    out = set_proxy(admin, enabled=False)
    assert out == {"enabled": False, "url": f"http://127.0.0.1:{proxy.port}", "noProxy": None}  # URL kept
    chat(gateway)
    chat(gateway, stream=True)
    assert proxy.requests == 1
    assert len(upstream.requests) == 3
    set_proxy(admin, enabled=True)  # back on with the stored URL
    chat(gateway)
    assert proxy.requests == 2


def test_a_dead_proxy_fails_the_call_cleanly(gateway, admin, connection, upstream, px):
    connection()
    set_proxy(admin, enabled=True, url=f"socks5://127.0.0.1:{free_port()}")
    with gateway.client() as client:
        resp = client.post("/v1/chat/completions", json=CHAT)
        assert 500 < resp.status_code < 600 and "error" in resp.json()
        set_proxy(admin, enabled=True, url=f"http://127.0.0.1:{free_port()}")
        resp = client.post("/v1/chat/completions", json=CHAT)
        assert 500 < resp.status_code < 600 and "error" in resp.json()
    assert upstream.requests == []


# ---- per-connection proxies ---------------------------------------------------------------------------


def test_connection_proxy_overrides_the_global_one(gateway, admin, connection, upstream, px):
    first, second = px["http"], px["http2"]
    set_proxy(admin, enabled=True, url=f"http://127.0.0.1:{first.port}")
    conn = connection(proxy={"url": f"http://127.0.0.1:{second.port}"})
    assert conn["proxy"] == {"url": f"http://127.0.0.1:{second.port}", "noProxy": None}
    chat(gateway)
    chat(gateway, stream=True)
    assert second.requests == 2 and first.requests == 0
    # The connection's test and model list go through its proxy too.
    assert admin.post(f"/api/providers/{conn['id']}/test").json()["ok"] is True
    assert second.requests == 3 and first.requests == 0
    # Its own noProxy sends it direct, not through the global proxy.
    resp = admin.put(f"/api/providers/{conn['id']}",
                     json={"proxy": {"url": f"http://127.0.0.1:{second.port}", "noProxy": "127.0.0.1"}})
    assert resp.status_code == 200, resp.text
    chat(gateway)
    assert second.requests == 3 and first.requests == 0
    # Cleared: back to the global proxy.
    resp = admin.put(f"/api/providers/{conn['id']}", json={"proxy": None})
    assert resp.status_code == 200 and resp.json()["proxy"] is None
    chat(gateway)
    assert first.requests == 1 and second.requests == 3
    assert len(upstream.requests) == 5


def test_connection_proxy_without_a_global_one(gateway, admin, connection, upstream, px):
    proxy = px["socks_auth"]
    url = f"socks5h://bob:socks-pw@127.0.0.1:{proxy.port}"
    conn = connection(proxy={"url": url, "noProxy": ["example.com"]})
    masked = f"socks5h://bob:****@127.0.0.1:{proxy.port}"
    assert conn["proxy"] == {"url": masked, "noProxy": ["example.com"]}
    listed = admin.get("/api/providers")
    assert "socks-pw" not in listed.text
    assert admin.get(f"/api/providers/{conn['id']}").json()["proxy"]["url"] == masked
    chat(gateway)
    assert proxy.requests == 1 and proxy.refused == 0
    # Other fields updated, proxy untouched; then the masked URL sent back keeps the password.
    assert admin.put(f"/api/providers/{conn['id']}", json={"priority": 2}).json()["proxy"]["url"] == masked
    resp = admin.put(f"/api/providers/{conn['id']}", json={"proxy": {"url": masked}})
    assert resp.status_code == 200, resp.text
    chat(gateway)  # a stored "****" would be a new proxy session whose handshake the proxy refuses
    assert proxy.refused == 0 and len(upstream.requests) == 2
    assert b"socks-pw" not in b"".join(p.read_bytes() for p in gateway.data_dir.glob("storage.sqlite*"))


@pytest.mark.parametrize("proxy, field", [
    ({"url": "ftp://127.0.0.1:21"}, "proxy.url"),
    ({"url": "http://:8080"}, "proxy.url"),
    ({"url": 5}, "proxy.url"),
    ({"noProxy": "x"}, "proxy.url"),
    ({"url": "http://127.0.0.1:3128", "user": "x"}, "proxy.user"),
    ({"url": "http://127.0.0.1:3128", "noProxy": "10.0.0.0/99"}, "proxy.noProxy"),
    ("http://127.0.0.1:3128", "proxy"),
])
def test_connection_proxy_bad_input(admin, upstream, proxy, field):
    body = {"provider": "openai", "name": "bad-proxy", "apiKey": "sk-x", "baseUrl": upstream.base_url,
            "proxy": proxy}
    resp = admin.post("/api/providers", json=body)
    assert resp.status_code == 400, resp.text
    assert f"'{field}" in resp.json()["error"]


# ---- POST /api/settings/proxy/test -------------------------------------------------------------------


def test_proxy_test_endpoint(admin, upstream, px):
    proxy = px["http"]
    target = upstream.base_url + "/models"
    resp = admin.post("/api/settings/proxy/test",
                      json={"url": f"http://127.0.0.1:{proxy.port}", "target": target})
    out = resp.json()
    assert resp.status_code == 200 and out["ok"] is True, out
    assert isinstance(out["latencyMs"], (int, float)) and out["latencyMs"] >= 0 and "error" not in out
    assert proxy.requests == 1
    socks = px["socks"]
    out = admin.post("/api/settings/proxy/test",
                     json={"url": f"socks5://127.0.0.1:{socks.port}", "target": target}).json()
    assert out["ok"] is True and socks.requests == 1
    # A dead port, and a proxy that refuses the credentials.
    for url in (f"http://127.0.0.1:{free_port()}", f"socks5://127.0.0.1:{free_port()}",
                f"http://alice:wrong@127.0.0.1:{px['http_auth'].port}"):
        out = admin.post("/api/settings/proxy/test", json={"url": url, "target": target}).json()
        assert out["ok"] is False and out["latencyMs"] is None and out["error"], (url, out)
        assert "wrong" not in out["error"]
    # No URL: the stored one (even while disabled).
    assert admin.post("/api/settings/proxy/test", json={"target": target}).status_code == 400
    set_proxy(admin, enabled=False, url=f"http://alice:s3cret-pw@127.0.0.1:{px['http_auth'].port}")
    out = admin.post("/api/settings/proxy/test", json={"target": target}).json()
    assert out["ok"] is True and px["http_auth"].requests == 1
    masked = admin.get("/api/settings/proxy").json()["url"]
    out = admin.post("/api/settings/proxy/test", json={"url": masked, "target": target}).json()
    assert out["ok"] is True and px["http_auth"].requests == 2


# ---- bad input ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("body, field", [
    ({"enabled": True, "url": "ftp://127.0.0.1:21"}, "url"),
    ({"enabled": True, "url": "gopher://h:1"}, "url"),
    ({"enabled": True, "url": "http://:3128"}, "url"),
    ({"enabled": True, "url": "127.0.0.1:3128"}, "url"),
    ({"enabled": True, "url": "http://127.0.0.1:99999"}, "url"),
    ({"enabled": True, "url": "http://127.0.0.1:3128/path"}, "url"),
    ({"enabled": True, "url": 3128}, "url"),
    ({"enabled": "yes", "url": "http://127.0.0.1:3128"}, "enabled"),
    ({"enabled": None}, "enabled"),
    ({"enabled": True, "url": "http://127.0.0.1:3128", "noProxy": 5}, "noProxy"),
    ({"enabled": True, "url": "http://127.0.0.1:3128", "noProxy": [5]}, "noProxy"),
    ({"enabled": True, "url": "http://127.0.0.1:3128", "noProxy": "a b/c"}, "noProxy"),
    ({"enabled": True, "url": "http://127.0.0.1:3128", "noProxy": "host:0"}, "noProxy"),
    ({"enabled": True, "url": "http://127.0.0.1:3128", "extra": 1}, "extra"),
    ({"enabled": True}, "url"),
])
def test_settings_bad_input(admin, px, body, field):
    resp = admin.put("/api/settings/proxy", json=body)
    assert resp.status_code == 400, resp.text
    assert f"'{field}'" in resp.json()["error"], resp.json()
    assert admin.get("/api/settings/proxy").json() == {"enabled": False, "url": None, "noProxy": None}


@pytest.mark.parametrize("body, field", [
    ({"url": "ftp://127.0.0.1:21"}, "url"),
    ({"url": "http://127.0.0.1:3128", "target": "ftp://example.com"}, "target"),
    ({"url": "http://127.0.0.1:3128", "target": 5}, "target"),
    ({"url": "http://127.0.0.1:3128", "timeout": 5}, "timeout"),
])
def test_proxy_test_bad_input(admin, px, body, field):
    resp = admin.post("/api/settings/proxy/test", json=body)
    assert resp.status_code == 400, resp.text
    assert f"'{field}'" in resp.json()["error"]


@pytest.mark.parametrize("raw", [b"", b"[]", b"not json", b'{"enabled": true, "url": null}'])
def test_settings_bodies_that_are_not_objects(admin, px, raw):
    resp = admin.put("/api/settings/proxy", content=raw, headers={"Content-Type": "application/json"})
    assert resp.status_code == 400 and resp.json()["error"]


def test_the_proxy_routes_need_a_login(gateway):
    import httpx

    for method, path in (("GET", "/api/settings/proxy"), ("PUT", "/api/settings/proxy"),
                         ("POST", "/api/settings/proxy/test")):
        resp = httpx.request(method, gateway.url + path, json={"enabled": False}, timeout=10)
        assert resp.status_code == 401, (method, path, resp.status_code)


def test_setting_survives_a_restart_encrypted(make_gateway, tmp_path, proxies):
    data = tmp_path / "gw"
    gw = make_gateway(data_dir=data)
    admin = gw.admin()
    password = uuid.uuid4().hex
    resp = admin.put("/api/settings/proxy", json={
        "enabled": True, "url": f"http://alice:{password}@127.0.0.1:3128", "noProxy": ".example.com"})
    assert resp.status_code == 200, resp.text
    admin.close()
    gw.stop()
    assert password.encode() not in b"".join(p.read_bytes() for p in data.glob("storage.sqlite*"))
    gw = make_gateway(data_dir=data)
    admin = gw.admin()
    assert admin.get("/api/settings/proxy").json() == {
        "enabled": True, "url": "http://alice:****@127.0.0.1:3128", "noProxy": ".example.com"}
    admin.close()
    assert "'proxy' is ignored" not in gw.output()


# ---- sign-in and token calls --------------------------------------------------------------------------


def test_sign_in_and_token_refresh_go_through_the_proxies(make_gateway, upstream, px):
    from tests.fakes.oauth_server import FakeOAuthServer

    first, second = px["http"], px["http2"]
    with FakeOAuthServer() as oauth:
        gw = make_gateway(env=oauth.endpoints_env())
        admin = gw.admin()
        set_proxy(admin, enabled=True, url=f"http://127.0.0.1:{first.port}")
        started = admin.post("/api/oauth/qwen/device-code").json()
        oauth.approve(started["userCode"])
        resp = admin.post("/api/oauth/qwen/poll", json={"deviceCode": started["deviceCode"],
                                                        "baseUrl": upstream.base_url})
        assert resp.status_code in (200, 201), resp.text
        conn = resp.json()["connection"]
        sign_in = f"127.0.0.1:{oauth.port}"
        assert first.targets.count(sign_in) >= 2  # device code and token calls
        # The connection's own proxy carries its chat calls and its token refresh.
        resp = admin.put(f"/api/providers/{conn['id']}",
                         json={"proxy": {"url": f"http://127.0.0.1:{second.port}"}})
        assert resp.status_code == 200, resp.text
        first.reset()
        upstream.fail_for_key(oauth.latest_bearer("qwen"), 401)
        chat_body = {"model": "qw/qwen3-coder-plus", "messages": [{"role": "user", "content": "hi"}]}
        with gw.client() as client:
            assert client.post("/v1/chat/completions", json=chat_body).status_code == 200
        assert oauth.refreshes["qwen"] == 1
        assert second.targets.count(sign_in) == 1 and second.targets.count(upstream_target(upstream)) == 2
        assert first.requests == 0
        admin.close()
