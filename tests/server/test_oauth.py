"""/api/oauth/{provider}/{action} on a running gateway pointed at the fake OAuth server."""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

import httpx
import pytest

from omniroute.oauth.providers import PROVIDERS
from tests.fakes.oauth_server import FakeOAuthServer, s256

BROWSER = [p.id for p in PROVIDERS if p.uses_browser]
DEVICE = [p.id for p in PROVIDERS if p.uses_device]
CHAT = {"model": "qw/qwen3-coder-plus", "messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture(scope="module")
def oauth_server():
    fake = FakeOAuthServer().start()
    yield fake
    fake.stop()


@pytest.fixture
def oauth(oauth_server):
    oauth_server.expires_in, oauth_server.fail_refresh_status = 3600, None
    oauth_server.refreshes.clear()
    return oauth_server


@pytest.fixture(scope="module")
def gw(oauth_server, tmp_path_factory):
    from tests.support import Gateway

    gateway = Gateway(tmp_path_factory.mktemp("oauth-gw"), oauth_server.endpoints_env()).start()
    yield gateway
    gateway.stop()


@pytest.fixture
def api(gw):
    client = gw.admin()
    yield client
    for conn in client.get("/api/providers").json()["connections"]:
        client.delete(f"/api/providers/{conn['id']}")
    client.close()


def _browser_sign_in(api, pid, **extra):
    started = api.get(f"/api/oauth/{pid}/authorize")
    assert started.status_code == 200, started.text
    body = started.json()
    assert {"authUrl", "state"} <= set(body)
    resp = httpx.get(body["authUrl"], follow_redirects=False)
    code = parse_qs(urlparse(resp.headers["location"]).query)["code"][0]
    return api.post(f"/api/oauth/{pid}/exchange", json={"code": code, "state": body["state"], **extra})


def _device_sign_in(api, oauth, pid, **extra):
    started = api.post(f"/api/oauth/{pid}/device-code")
    assert started.status_code == 200, started.text
    body = started.json()
    assert {"userCode", "verificationUri", "deviceCode", "interval"} <= set(body)
    pending = api.post(f"/api/oauth/{pid}/poll", json={"deviceCode": body["deviceCode"]})
    assert pending.status_code == 202 and pending.json()["status"] == "pending", pending.text
    oauth.approve(body["userCode"])
    return api.post(f"/api/oauth/{pid}/poll", json={"deviceCode": body["deviceCode"], **extra})


def _assert_masked(resp, oauth, pid):
    for token in oauth.valid_access(pid) | set(oauth.refresh_tokens):
        assert token not in resp.text, "a token leaked into an answer"


@pytest.mark.parametrize("pid", BROWSER)
def test_browser_sign_in_creates_an_oauth_connection(api, oauth, pid):
    resp = _browser_sign_in(api, pid)
    assert resp.status_code == 201, resp.text
    conn = resp.json()
    assert conn["provider"] == pid and conn["authType"] == "oauth" and conn["status"] == "active"
    assert conn["oauth"]["accessToken"] and "****" in conn["oauth"]["accessToken"]
    _assert_masked(resp, oauth, pid)
    listed = api.get("/api/providers")
    _assert_masked(listed, oauth, pid)
    assert [c["id"] for c in listed.json()["connections"]] == [conn["id"]]
    again = _browser_sign_in(api, pid)  # the same account signing in again updates its connection
    assert again.status_code == 200 and again.json()["id"] == conn["id"], again.text


@pytest.mark.parametrize("pid", DEVICE)
def test_device_sign_in_creates_an_oauth_connection(api, oauth, pid):
    resp = _device_sign_in(api, oauth, pid, name="mine")
    assert resp.status_code == 201, resp.text
    body = resp.json()
    assert body["status"] == "complete"
    conn = body["connection"]
    assert conn["provider"] == pid and conn["authType"] == "oauth" and conn["name"] == "mine"
    _assert_masked(resp, oauth, pid)


def test_pkce_mismatch_and_bad_requests_are_refused(api, oauth, gw):
    started = api.get("/api/oauth/cx/authorize").json()
    resp = httpx.get(started["authUrl"], follow_redirects=False)
    code = parse_qs(urlparse(resp.headers["location"]).query)["code"][0]
    oauth.codes[code].challenge = s256("another-verifier")
    refused = api.post("/api/oauth/cx/exchange", json={"code": code, "state": started["state"]})
    assert refused.status_code == 400 and "PKCE" in refused.json()["error"]
    assert api.post("/api/oauth/cx/exchange", json={"code": "x", "state": "nope"}).status_code == 400
    assert api.post("/api/oauth/gh/authorize").status_code == 400  # a device-code provider
    assert api.post("/api/oauth/openai/authorize").status_code == 404
    assert api.post("/api/oauth/qw/poll", json={"deviceCode": "unknown"}).status_code == 410
    assert httpx.get(gw.url + "/api/oauth/cx/authorize").status_code == 401


def test_denied_device_sign_in_is_answered_clearly(api, oauth):
    body = api.post("/api/oauth/qwen/device-code").json()
    oauth.deny(body["userCode"])
    resp = api.post("/api/oauth/qwen/poll", json={"deviceCode": body["deviceCode"]})
    assert resp.status_code == 403 and "refused" in resp.json()["error"]


def _chat_ready(api, oauth, upstream):
    conn = _device_sign_in(api, oauth, "qwen", baseUrl=upstream.base_url).json()["connection"]
    return conn


def test_upstream_401_refreshes_once_and_retries(gw, api, oauth, upstream):
    conn = _chat_ready(api, oauth, upstream)
    first = oauth.latest_bearer("qwen")
    ok = httpx.post(gw.url + "/v1/chat/completions", json=CHAT)
    assert ok.status_code == 200, ok.text
    assert upstream.requests[-1].api_key == first
    upstream.fail_for_key(first, 401)
    resp = httpx.post(gw.url + "/v1/chat/completions", json=CHAT)
    assert resp.status_code == 200, resp.text
    assert oauth.refreshes["qwen"] == 1
    assert [r.api_key for r in upstream.requests[-2:]] == [first, oauth.latest_bearer("qwen")]
    row = api.get(f"/api/providers/{conn['id']}").json()
    assert row["status"] == "active"


def test_refresh_ahead_of_expiry_and_rejected_refresh(gw, api, oauth, upstream):
    oauth.expires_in = 60  # inside the refresh margin
    conn = _chat_ready(api, oauth, upstream)
    oauth.expires_in = 60
    resp = httpx.post(gw.url + "/v1/chat/completions", json=CHAT)
    assert resp.status_code == 200 and oauth.refreshes["qwen"] == 1
    assert upstream.requests[-1].api_key == oauth.latest_bearer("qwen")

    oauth.revoke(provider="qwen")
    failed = httpx.post(gw.url + "/v1/chat/completions", json=CHAT)
    assert failed.status_code >= 400 and "refresh token rejected" in failed.json()["error"]["message"]
    shown = api.get(f"/api/providers/{conn['id']}").json()
    assert shown["status"] == "expired" and "invalid_grant" in shown["lastError"]
    calls = oauth.token_calls["qwen"]
    skipped = httpx.post(gw.url + "/v1/chat/completions", json=CHAT)
    assert skipped.status_code == 503, skipped.text
    message = skipped.json()["error"]["message"]
    assert "sign-in expired" in message and "invalid_grant" in message
    assert oauth.token_calls["qwen"] == calls

    again = _device_sign_in(api, oauth, "qwen")  # signing in again brings it back
    assert again.status_code == 200 and again.json()["connection"]["id"] == conn["id"]
    assert again.json()["connection"]["status"] == "active"
    assert httpx.post(gw.url + "/v1/chat/completions", json=CHAT).status_code == 200
