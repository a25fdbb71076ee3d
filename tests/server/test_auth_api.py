"""Management-API authentication: login, sessions, lock-out, manage keys, require-login, first run."""

from __future__ import annotations

import re
from contextlib import closing

import httpx
import pytest

from omniroute import __version__
from tests.support import PASSWORD, Gateway

PROTECTED = [
    ("GET", "/api/providers"),
    ("POST", "/api/providers"),
    ("GET", "/api/providers/x"),
    ("PUT", "/api/providers/x"),
    ("DELETE", "/api/providers/x"),
    ("POST", "/api/providers/x/test"),
    ("GET", "/api/providers/x/models"),
    ("POST", "/api/providers/validate"),
    ("GET", "/api/keys"),
    ("POST", "/api/keys"),
    ("GET", "/api/keys/x"),
    ("PATCH", "/api/keys/x"),
    ("DELETE", "/api/keys/x"),
    ("GET", "/api/monitoring/health"),
    ("GET", "/api/usage/logs"),
    ("GET", "/api/settings/require-login"),
    ("PUT", "/api/settings/require-login"),
]

# Bodies that would be valid for an admin, so a 401 can only come from the missing credentials.
BODIES = {
    ("POST", "/api/providers"): {"provider": "openai", "name": "n", "apiKey": "sk-x"},
    ("PUT", "/api/providers/x"): {"name": "n"},
    ("POST", "/api/providers/validate"): {"provider": "openai", "apiKey": "sk-x"},
    ("POST", "/api/keys"): {"name": "n", "scopes": ["manage"]},
    ("PATCH", "/api/keys/x"): {"name": "n"},
    ("PUT", "/api/settings/require-login"): {"requireLogin": False},
}


def auth_cookie(resp: httpx.Response) -> str:
    cookies = [c for c in resp.headers.get_list("set-cookie") if c.startswith("auth_token=")]
    assert len(cookies) == 1, resp.headers.get_list("set-cookie")
    return cookies[0]


def cookie_value(set_cookie: str) -> str:
    return set_cookie.split(";", 1)[0].split("=", 1)[1]


def generated_password(gw: Gateway) -> str:
    found = re.findall(r"password[^\n:]*:\s*(\S+)", gw.output(), flags=re.IGNORECASE)
    assert found, f"no generated password in the gateway output:\n{gw.output()}"
    return found[-1]


@pytest.fixture(scope="module")
def private_gw(tmp_path_factory):
    """A gateway of this module only (failed logins must not lock the shared one), password generated."""
    gw = Gateway(tmp_path_factory.mktemp("auth-private"), {"INITIAL_PASSWORD": ""}).start()
    yield gw
    gw.stop()


# ---- login, logout, status ----------------------------------------------------------------------


def test_right_password_sets_a_safe_session_cookie(gateway):
    with httpx.Client(base_url=gateway.url) as client:
        resp = client.post("/api/auth/login", json={"password": PASSWORD})
        assert resp.status_code == 200, resp.text
        assert resp.json()["ok"] is True and len(resp.json()["csrfToken"]) >= 24
        cookie = auth_cookie(resp)
        attributes = [part.strip().lower() for part in cookie.split(";")[1:]]
        assert "httponly" in attributes
        assert "samesite=lax" in attributes
        assert cookie_value(cookie)
        assert client.get("/api/providers").status_code == 200


def test_wrong_password_is_401_with_error(private_gw):
    resp = httpx.post(private_gw.url + "/api/auth/login", json={"password": "not-the-password"})
    assert resp.status_code == 401
    body = resp.json()
    assert set(body) == {"error"} and isinstance(body["error"], str) and body["error"]
    assert not [c for c in resp.headers.get_list("set-cookie") if c.startswith("auth_token=")]


@pytest.mark.parametrize(("raw", "names"), [
    (b"{password", None),
    (b"{}", "password"),
    (b'{"pass": "x"}', "password"),
    (b'{"password": 12345}', "password"),
    (b'{"password": null}', "password"),
    (b'{"password": ["x"]}', "password"),
], ids=["not-json", "empty-object", "missing", "number", "null", "list"])
def test_malformed_login_body_is_400(private_gw, raw, names):
    resp = httpx.post(private_gw.url + "/api/auth/login", content=raw, headers={"content-type": "application/json"})
    assert resp.status_code == 400, resp.text
    message = resp.json()["error"]
    assert isinstance(message, str) and message
    if names:
        assert names in message


def test_status_before_and_after_login(gateway, connection):
    connection()
    anonymous = httpx.get(gateway.url + "/api/auth/status")
    assert anonymous.status_code == 200
    assert anonymous.json() == {"authenticated": False, "requireLogin": True, "needsSetup": False}
    client = gateway.admin()
    try:
        status = client.get("/api/auth/status").json()
        assert status == {"authenticated": True, "requireLogin": True, "needsSetup": False,
                          "csrfToken": client.headers["X-CSRF-Token"]}
    finally:
        client.close()


def test_logout_clears_the_cookie(gateway):
    client = gateway.admin()
    try:
        assert client.get("/api/keys").status_code == 200
        resp = client.post("/api/auth/logout")
        assert resp.status_code == 200
        cleared = auth_cookie(resp).lower()
        assert "max-age=0" in cleared or "expires=thu, 01 jan 1970" in cleared, cleared
        assert "auth_token" not in client.cookies
        assert client.get("/api/keys").status_code == 401
        assert client.get("/api/auth/status").json()["authenticated"] is False
    finally:
        client.close()


def test_forged_session_cookie_is_refused(gateway):
    forged = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhZG1pbiIsImV4cCI6OTk5OTk5OTk5OX0.c2lnbmF0dXJl"
    resp = httpx.get(gateway.url + "/api/providers", headers={"Cookie": f"auth_token={forged}"})
    assert resp.status_code == 401


def test_five_failed_logins_lock_the_address_out(private_gw):
    # Another loopback address: the lock-out is per address, so 127.0.0.1 stays usable for the other tests.
    transport = httpx.HTTPTransport(local_address="127.0.0.2")
    with httpx.Client(base_url=private_gw.url, transport=transport) as client:
        statuses = [client.post("/api/auth/login", json={"password": f"wrong-{i}"}).status_code for i in range(5)]
        assert statuses[:4] == [401] * 4, statuses
        if statuses[4] != 429:
            assert statuses[4] == 401
            assert client.post("/api/auth/login", json={"password": "wrong-5"}).status_code == 429
        locked = client.post("/api/auth/login", json={"password": generated_password(private_gw)})
        assert locked.status_code == 429, "the right password must not get through a lock-out"
        assert isinstance(locked.json()["error"], str)
        assert not [c for c in locked.headers.get_list("set-cookie") if c.startswith("auth_token=")]
        assert "auth_token" not in client.cookies
    other_address = httpx.post(private_gw.url + "/api/auth/login", json={"password": generated_password(private_gw)})
    assert other_address.status_code == 200, "the lock-out applies to the failing address only"


# ---- first run ------------------------------------------------------------------------------------


def test_init_is_public(gateway):
    resp = httpx.get(gateway.url + "/api/init")
    assert resp.status_code == 200
    body = resp.json()
    assert body["initialized"] is True
    assert isinstance(body["needsSetup"], bool)
    assert body["version"] == __version__


def test_generated_password_is_printed_and_works(private_gw):
    password = generated_password(private_gw)
    assert password != PASSWORD
    assert httpx.post(private_gw.url + "/api/auth/login", json={"password": PASSWORD}).status_code == 401
    with httpx.Client(base_url=private_gw.url) as client:
        resp = client.post("/api/auth/login", json={"password": password})
        assert resp.status_code == 200, resp.text
        assert client.get("/api/providers").status_code == 200
    init = httpx.get(private_gw.url + "/api/init").json()
    assert init["initialized"] is True and init["needsSetup"] is True


# ---- protected routes -----------------------------------------------------------------------------


@pytest.mark.parametrize(("method", "path"), PROTECTED, ids=[f"{m} {p}" for m, p in PROTECTED])
def test_protected_route_needs_credentials(gateway, method, path):
    resp = httpx.request(method, gateway.url + path, json=BODIES.get((method, path)))
    assert resp.status_code == 401, resp.text
    body = resp.json()
    assert isinstance(body["error"], str) and body["error"]


def test_manage_scope_key_is_a_management_credential(gateway, admin, api_key):
    manager = api_key(name="manager", scopes=["manage"])
    plain = api_key(name="plain")
    try:
        with gateway.client(manager["key"]) as client:
            assert client.get("/api/providers").status_code == 200
            assert client.get("/api/keys").status_code == 200
            assert client.get("/api/monitoring/health").status_code == 200
            assert client.get("/api/auth/status").json()["authenticated"] is True
        with gateway.client(plain["key"]) as client:
            assert client.get("/api/providers").status_code == 401
            assert client.get("/api/keys").status_code == 401
        with gateway.client("sk-omni-not-a-real-key") as client:
            assert client.get("/api/providers").status_code == 401
        assert admin.delete(f"/api/keys/{manager['id']}").status_code == 200
        with gateway.client(manager["key"]) as client:
            assert client.get("/api/providers").status_code == 401
            assert client.get("/api/keys").status_code == 401
    finally:
        admin.delete(f"/api/keys/{manager['id']}")
        admin.delete(f"/api/keys/{plain['id']}")


def test_unknown_scope_is_400(admin):
    resp = admin.post("/api/keys", json={"name": "bad", "scopes": ["manage", "superuser"]})
    assert resp.status_code == 400
    assert "superuser" in resp.json()["error"]
    assert not [k for k in admin.get("/api/keys").json()["keys"] if k["name"] == "bad"]


# ---- persistence across restarts --------------------------------------------------------------------


def test_require_login_and_session_survive_restart(make_gateway, gateway):
    gw = make_gateway()
    assert httpx.get(gw.url + "/api/auth/status").json()["needsSetup"] is True
    assert httpx.get(gw.url + "/api/providers").status_code == 401
    with closing(gw.admin()) as client:
        token = client.cookies["auth_token"]
        assert client.get("/api/settings/require-login").json() == {"requireLogin": True}
        resp = client.put("/api/settings/require-login", json={"requireLogin": False})
        assert resp.status_code == 200 and resp.json() == {"requireLogin": False}
    assert httpx.get(gw.url + "/api/providers").status_code == 200, "loopback needs no login now"
    assert httpx.get(gw.url + "/api/auth/status").json()["requireLogin"] is False
    with closing(gateway.admin()) as other:
        foreign = other.cookies["auth_token"]
    gw.stop()

    again = make_gateway(data_dir=gw.data_dir)
    assert httpx.get(again.url + "/api/settings/require-login").json() == {"requireLogin": False}
    assert httpx.get(again.url + "/api/providers").status_code == 200
    assert httpx.put(again.url + "/api/settings/require-login", json={"requireLogin": True}).status_code == 200
    assert httpx.get(again.url + "/api/providers").status_code == 401
    resp = httpx.get(again.url + "/api/providers", headers={"Cookie": f"auth_token={token}"})
    assert resp.status_code == 200, "the session secret is kept in the data directory"
    resp = httpx.get(again.url + "/api/providers", headers={"Cookie": f"auth_token={foreign}"})
    assert resp.status_code == 401, "a session signed by another gateway is not valid here"


def test_session_cookie_is_renewed_when_under_seven_days_left(gateway):
    from omniroute.auth.sessions import SessionSigner

    secret = (gateway.data_dir / ".jwt_secret").read_text().strip()
    signer = SessionSigner(secret)
    short = signer.issue(ttl_s=3 * 24 * 3600)
    resp = httpx.get(gateway.url + "/api/providers", cookies={"auth_token": short})
    assert resp.status_code == 200
    renewed = resp.cookies.get("auth_token")
    assert renewed and renewed != short
    assert signer.verify(renewed)["exp"] - signer.verify(short)["exp"] > 20 * 24 * 3600
    fresh = signer.issue()
    resp = httpx.get(gateway.url + "/api/providers", cookies={"auth_token": fresh})
    assert resp.status_code == 200 and "auth_token" not in resp.cookies, "a fresh session is left alone"


# ---- CSRF: writes made with the cookie echo the session's token; cross-site origins are refused ------


def test_cookie_writes_need_the_csrf_token(gateway):
    with httpx.Client(base_url=gateway.url) as client:
        token = client.post("/api/auth/login", json={"password": PASSWORD}).json()["csrfToken"]
        body = {"requireLogin": True}
        missing = client.put("/api/settings/require-login", json=body)
        assert missing.status_code == 403 and "X-CSRF-Token" in missing.json()["error"]
        wrong = client.put("/api/settings/require-login", json=body, headers={"X-CSRF-Token": "x" * 32})
        assert wrong.status_code == 403
        assert client.get("/api/settings/require-login").status_code == 200, "reads need no token"
        ok = client.put("/api/settings/require-login", json=body, headers={"X-CSRF-Token": token})
        assert ok.status_code == 200
        assert client.get("/api/auth/status").json()["csrfToken"] == token
        cross = client.put("/api/settings/require-login", json=body,
                           headers={"X-CSRF-Token": token, "Origin": "https://evil.example"})
        assert cross.status_code == 403 and "cross-site" in cross.json()["error"]
        same = client.put("/api/settings/require-login", json=body,
                          headers={"X-CSRF-Token": token, "Origin": gateway.url})
        assert same.status_code == 200
        # A new login is a new token: the old one no longer works with the new cookie.
        second = client.post("/api/auth/login", json={"password": PASSWORD}).json()["csrfToken"]
        assert second != token
        assert client.put("/api/settings/require-login", json=body, headers={"X-CSRF-Token": token}).status_code == 403


def test_bearer_keys_need_no_csrf_token_but_cross_site_origins_are_refused(gateway, admin):
    key = admin.post("/api/keys", json={"name": "csrf-manage", "scopes": ["manage"]}).json()
    headers = {"Authorization": f"Bearer {key['key']}"}
    assert httpx.put(gateway.url + "/api/settings/require-login", json={"requireLogin": True},
                     headers=headers).status_code == 200
    refused = httpx.put(gateway.url + "/api/settings/require-login", json={"requireLogin": True},
                        headers={**headers, "Origin": "null"})
    assert refused.status_code == 403
    admin.delete(f"/api/keys/{key['id']}")


def test_loopback_without_login_refuses_cross_site_writes(make_gateway):
    gw = make_gateway()
    with closing(gw.admin()) as admin:
        assert admin.put("/api/settings/require-login", json={"requireLogin": False}).status_code == 200
    # No cookie, no key: a page of another site cannot make the browser change anything here.
    evil = httpx.post(gw.url + "/api/keys", json={"name": "planted"}, headers={"Origin": "http://evil.example"})
    assert evil.status_code == 403
    local = httpx.post(gw.url + "/api/keys", json={"name": "local-tool"})
    assert local.status_code == 201, "a local tool with no Origin still works without login"


def test_password_change(make_gateway):
    gw = make_gateway()
    with closing(gw.admin()) as admin:
        wrong = admin.put("/api/auth/password", json={"currentPassword": "nope-nope", "newPassword": "new-password-1"})
        assert wrong.status_code == 400 and "currentPassword" in wrong.json()["error"]
        short = admin.put("/api/auth/password", json={"currentPassword": PASSWORD, "newPassword": "short"})
        assert short.status_code == 400 and "newPassword" in short.json()["error"]
        ok = admin.put("/api/auth/password", json={"currentPassword": PASSWORD, "newPassword": "new-password-1"})
        assert ok.status_code == 200
    assert httpx.post(gw.url + "/api/auth/login", json={"password": PASSWORD}).status_code == 401
    assert httpx.post(gw.url + "/api/auth/login", json={"password": "new-password-1"}).status_code == 200
    assert httpx.put(gw.url + "/api/auth/password", json={"currentPassword": "new-password-1",
                                                          "newPassword": "x" * 10}).status_code == 401
