"""The Providers page: adding API-key accounts and custom nodes through the UI, testing, re-prioritising,
disabling, listing models and deleting accounts, the catalog's groups and search, and the sign-in flows of
subscriptions against the fake OAuth server."""

from __future__ import annotations

import re
import uuid
from urllib.parse import parse_qs, urlparse

import httpx
import pytest

from tests.dashboard.conftest import checked_page, open_page, shot


def _row(page, name: str):
    return page.locator("#accounts-list tr").filter(has=page.locator("strong", has_text=re.compile(f"^{re.escape(name)}$")))


def _connection(dash, name: str) -> dict | None:
    return next((c for c in dash.admin_client.get("/api/providers").json()["connections"] if c["name"] == name), None)


def _add_openai(page, fake_upstream, name: str, secret: str, priority: str = "7"):
    page.locator("#add-account").click()
    dlg = page.locator("#add-dialog")
    dlg.wait_for()
    assert dlg.get_by_label("Provider").input_value() == "openai"
    dlg.get_by_label("API key").fill(secret)
    dlg.get_by_label("Name (optional)").fill(name)
    dlg.get_by_label("Base URL (optional)").fill(fake_upstream.base_url)
    dlg.get_by_label("Priority (optional)").fill(priority)
    return dlg


def test_add_test_reprioritise_list_models_and_delete_an_api_key_account(page, dash, fake_upstream):
    name = f"ui-openai-{uuid.uuid4().hex[:6]}"
    secret = f"sk-ui-secret-{uuid.uuid4().hex}"
    open_page(page, "providers")
    dlg = _add_openai(page, fake_upstream, name, secret)
    shot(page, "providers-add")
    dlg.get_by_role("button", name="Add account").click()
    dlg.wait_for(state="detached")
    row = _row(page, name)
    row.wait_for()

    conn = _connection(dash, name)
    assert conn is not None and conn["provider"] == "openai" and conn["priority"] == 7
    assert conn["baseUrl"] == fake_upstream.base_url
    assert secret not in conn["apiKey"]
    assert secret not in page.content(), "the full key must never be on the page"
    assert row.locator("code.masked").inner_text() == conn["apiKey"]
    assert row.get_by_text("active", exact=True).is_visible()

    row.get_by_role("button", name="Test").click()
    _row(page, name).locator(".test-result.ok").wait_for()
    assert "Test passed" in _row(page, name).locator(".test-result").inner_text()

    _row(page, name).get_by_label(f"Priority of {name}").fill("3")
    _row(page, name).get_by_role("button", name="Set").click()
    page.get_by_text(f"Priority of {name} set to 3").wait_for()
    assert _connection(dash, name)["priority"] == 3
    open_page(page, "providers")  # persisted: the page shows it after a reload
    assert _row(page, name).get_by_label(f"Priority of {name}").input_value() == "3"

    _row(page, name).get_by_role("button", name="Disable").click()
    _row(page, name).get_by_text("disabled", exact=True).wait_for()
    assert _connection(dash, name)["isActive"] is False
    _row(page, name).get_by_role("button", name="Enable").click()
    _row(page, name).get_by_role("button", name="Disable").wait_for()
    assert _connection(dash, name)["isActive"] is True
    shot(page, "providers")

    _row(page, name).get_by_role("button", name="Models").click()
    models = page.locator("dialog").filter(has_text=f"Models of {name}")
    models.get_by_text("gpt-4o-mini", exact=True).wait_for()
    assert models.get_by_text("fake-model", exact=True).is_visible()
    models.get_by_label("Filter models").fill("fake")
    assert not models.get_by_text("gpt-4o-mini", exact=True).count()
    models.get_by_role("button", name="Close").click()

    _row(page, name).get_by_role("button", name="Delete").click()
    confirm = page.locator("dialog").filter(has_text="Please confirm")
    assert name in confirm.inner_text()
    confirm.get_by_role("button", name="Confirm").click()
    _row(page, name).wait_for(state="detached")
    assert _connection(dash, name) is None
    assert secret not in page.content()


def test_missing_key_and_api_refusals_are_shown_in_the_form(page, dash):
    name = f"ui-nokey-{uuid.uuid4().hex[:6]}"
    open_page(page, "providers")
    page.locator("#add-account").click()
    dlg = page.locator("#add-dialog")
    dlg.get_by_label("Name (optional)").fill(name)
    dlg.get_by_role("button", name="Add account").click()
    alert = dlg.locator("#add-key-form .form-error")
    alert.filter(has_text="API key").wait_for()
    assert _connection(dash, name) is None

    # Azure needs its resource and deployment (or a whole base URL): the API says so and the form shows it.
    page.console.allow("400")
    dlg.get_by_label("Provider").select_option("azure-openai")
    dlg.get_by_label("API key").fill("azure-key-" + uuid.uuid4().hex)
    dlg.get_by_label("Name (optional)").fill(name)
    dlg.get_by_role("button", name="Add account").click()
    alert.filter(has_text="needs 'baseUrl' or 'providerData'").wait_for()
    assert _connection(dash, name) is None
    shot(page, "providers-add-error")


def test_catalog_is_grouped_and_searchable(page, dash):
    open_page(page, "providers")
    groups = page.locator("#catalog-groups")
    for title in ("Subscriptions (sign in)", "API key", "Local servers", "Custom nodes"):
        assert groups.get_by_role("heading", name=re.compile(re.escape(title))).count() == 1, title
    openai = groups.locator("[data-group='apikey'] [data-provider='openai']")
    assert not openai.is_visible(), "the long API-key list starts folded"
    groups.locator("[data-group='apikey'] summary").click()
    openai.wait_for()
    assert re.search(r"\d+ accounts?", openai.inner_text()), "providers with accounts say how many"
    assert groups.locator("[data-group='oauth'] [data-provider='claude-code']").get_by_role("button", name=re.compile("Sign in")).count() == 1

    page.get_by_label("Search providers").fill("ollama")
    assert groups.locator("[data-provider]").count() >= 1
    assert groups.locator("[data-provider='ollama']").is_visible()
    assert not groups.locator("[data-provider='openai']").count()
    page.get_by_label("Search providers").fill("no-such-provider-xyz")
    page.get_by_text('No provider matches "no-such-provider-xyz".').wait_for()

    page.get_by_label("Search providers").fill("ollama")
    groups.get_by_role("button", name="Add Ollama (local) account").click()
    dlg = page.locator("#add-dialog")
    assert dlg.get_by_label("Provider").input_value() == "ollama"
    assert dlg.get_by_label("API key (optional)").count() == 1  # a local server needs no key
    dlg.get_by_role("button", name="Close").click()


def test_add_and_delete_a_custom_node(page, dash, fake_upstream):
    prefix = f"node{uuid.uuid4().hex[:6]}"
    name = f"My box {prefix}"
    open_page(page, "providers")
    nodes = page.locator("#nodes")
    nodes.get_by_role("button", name="Add node").click()
    nodes.locator(".form-error").filter(has_text="Name").wait_for()  # required fields are checked first

    page.console.allow("409")
    nodes.get_by_label("Type").select_option("anthropic-compatible")
    nodes.get_by_label("Name").fill(name)
    nodes.get_by_label("Prefix").fill("openai")
    nodes.get_by_label("Base URL").fill(fake_upstream.base_url)
    nodes.get_by_role("button", name="Add node").click()
    nodes.locator(".form-error").filter(has_text="already used by provider 'openai'").wait_for()

    nodes.get_by_label("Prefix").fill(prefix)
    nodes.get_by_role("button", name="Add node").click()
    nodes.locator("#nodes-list").get_by_text(name).wait_for()
    made = [n for n in dash.admin_client.get("/api/provider-nodes").json()["nodes"] if n["prefix"] == prefix]
    assert len(made) == 1 and made[0]["type"] == "anthropic-compatible" and made[0]["baseUrl"] == fake_upstream.base_url
    assert page.locator(f"#catalog-groups [data-group='custom'] [data-provider='{made[0]['id']}']").count() == 1

    # an account on the node: a custom node needs no key
    nodes.get_by_role("button", name=f"Add account on {name}").click()
    dlg = page.locator("#add-dialog")
    assert dlg.get_by_label("Provider").input_value() == made[0]["id"]
    dlg.get_by_label("Name (optional)").fill(f"acct-{prefix}")
    dlg.get_by_role("button", name="Add account").click()
    _row(page, f"acct-{prefix}").wait_for()
    shot(page, "providers-nodes")

    _row(page, f"acct-{prefix}").get_by_role("button", name="Delete").click()
    page.locator("dialog").filter(has_text="Please confirm").get_by_role("button", name="Confirm").click()
    _row(page, f"acct-{prefix}").wait_for(state="detached")
    nodes.get_by_role("button", name=f"Delete node {name}").click()
    page.locator("dialog").filter(has_text="Please confirm").get_by_role("button", name="Confirm").click()
    nodes.locator("#nodes-list").get_by_text(name).wait_for(state="detached")
    assert not [n for n in dash.admin_client.get("/api/provider-nodes").json()["nodes"] if n["prefix"] == prefix]


def test_cooldown_and_error_are_shown(page, dash):
    """A connection in cooldown shows its countdown; a failed test shows the error."""
    name = f"ui-broken-{uuid.uuid4().hex[:6]}"
    resp = dash.admin_client.post("/api/providers", json={"provider": "openai", "name": name, "apiKey": "sk-x",
                                                          "baseUrl": "http://127.0.0.1:9/v1"})
    assert resp.status_code == 201, resp.text
    conn_id = resp.json()["id"]
    try:
        open_page(page, "providers")
        _row(page, name).get_by_role("button", name="Test").click()
        _row(page, name).locator(".test-result.bad").wait_for()
        assert "unreachable" in _row(page, name).locator(".last-error").inner_text()
        assert _row(page, name).get_by_text("error", exact=True).is_visible()
    finally:
        dash.admin_client.delete(f"/api/providers/{conn_id}")


def test_cooldown_countdown_after_a_rate_limit(page, dash, fake_upstream):
    """An account the upstream rate-limited shows 'cooldown' and a ticking countdown from rateLimitedUntil."""
    admin = dash.admin_client
    prefix = f"cool{uuid.uuid4().hex[:6]}"
    node = admin.post("/api/provider-nodes", json={"name": prefix, "prefix": prefix, "type": "openai-compatible",
                                                   "baseUrl": fake_upstream.base_url})
    assert node.status_code == 201, node.text
    conn = admin.post("/api/providers", json={"provider": node.json()["id"], "name": f"acct-{prefix}", "apiKey": "k"})
    assert conn.status_code == 201, conn.text
    try:
        fake_upstream.fail_next(429, headers={"Retry-After": "120"})
        chat = httpx.post(dash.url + "/v1/chat/completions", timeout=10,
                          json={"model": f"{prefix}/gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]})
        assert chat.status_code == 429, chat.text
        open_page(page, "providers")
        row = _row(page, f"acct-{prefix}")
        assert row.get_by_text("cooldown", exact=True).is_visible()
        countdown = row.locator(".countdown")
        first = countdown.inner_text()
        assert re.fullmatch(r"(\dm \d+s|\d+s) left", first), first
        page.wait_for_function("(t) => document.querySelector('#accounts-list .countdown').textContent !== t", arg=first)
        shot(page, "providers-cooldown")
    finally:
        admin.delete(f"/api/providers/{conn.json()['id']}")
        admin.delete(f"/api/provider-nodes/{node.json()['id']}")


def test_providers_on_a_phone(phone_page, dash):
    open_page(phone_page, "providers")
    assert phone_page.locator("#accounts-list tr").filter(has_text="fake-openai").count() == 1
    width = phone_page.evaluate("document.documentElement.scrollWidth")
    assert width <= 420, f"the providers page scrolls sideways on a phone ({width}px)"
    shot(phone_page, "providers-phone")


# ---- subscriptions against the fake OAuth server --------------------------------------------------------


@pytest.fixture(scope="module")
def oauth_server():
    from tests.fakes.oauth_server import FakeOAuthServer

    fake = FakeOAuthServer().start()
    yield fake
    fake.stop()


@pytest.fixture(scope="module")
def oauth_gw(oauth_server, tmp_path_factory):
    from tests.support import Gateway

    gateway = Gateway(tmp_path_factory.mktemp("dash-oauth"), oauth_server.endpoints_env()).start()
    gateway.admin_client = gateway.admin()
    yield gateway
    gateway.admin_client.close()
    gateway.stop()


@pytest.fixture
def oauth_page(browser, oauth_gw):
    with checked_page(browser, oauth_gw) as pg:
        yield pg


def test_device_code_sign_in(oauth_page, oauth_gw, oauth_server):
    page = oauth_page
    name = f"qwen-{uuid.uuid4().hex[:6]}"
    open_page(page, "providers")
    page.locator("#catalog-groups [data-provider='qwen']").get_by_role("button", name="Sign in").click()
    dlg = page.locator("#add-dialog")
    assert dlg.get_by_label("Provider").input_value() == "qwen"
    dlg.get_by_label("Name (optional)").fill(name)
    dlg.get_by_role("button", name="Get a sign-in code").click()
    user_code = dlg.locator("#oauth-user-code").inner_text()
    assert user_code.startswith("USER-")
    assert dlg.locator("#oauth-link").get_attribute("href").startswith(oauth_server.url)
    page.wait_for_timeout(1500)  # at least one poll answered "pending"
    assert "Waiting" in dlg.locator("#oauth-waiting").inner_text()
    shot(page, "providers-device-code")
    oauth_server.approve(user_code)
    dlg.wait_for(state="detached", timeout=15_000)
    row = _row(page, name)
    row.wait_for()
    conns = [c for c in oauth_gw.admin_client.get("/api/providers").json()["connections"] if c["name"] == name]
    assert len(conns) == 1 and conns[0]["provider"] == "qwen" and conns[0]["authType"] == "oauth"
    content = page.content()
    for token in oauth_server.valid_access("qwen") | set(oauth_server.refresh_tokens):
        assert token not in content, "a token leaked onto the page"
    assert "sign-in" in row.inner_text()


def test_browser_sign_in_with_a_pasted_callback(oauth_page, oauth_gw, oauth_server):
    page = oauth_page
    name = f"codex-{uuid.uuid4().hex[:6]}"
    open_page(page, "providers")
    page.locator("#add-account").click()
    dlg = page.locator("#add-dialog")
    dlg.get_by_label("Provider").select_option("codex")
    dlg.get_by_label("Name (optional)").fill(name)
    dlg.get_by_role("button", name="Start sign-in").click()
    auth_url = dlg.locator("#oauth-link").get_attribute("href")
    assert auth_url.startswith(oauth_server.url)
    # the operator signs in elsewhere and pastes the address the browser landed on
    landed = httpx.get(auth_url, follow_redirects=False).headers["location"]
    assert parse_qs(urlparse(landed).query)["code"]
    dlg.get_by_label("Code or the address you ended on").fill(landed)
    dlg.get_by_role("button", name="Finish sign-in").click()
    dlg.wait_for(state="detached")
    _row(page, name).wait_for()
    conns = [c for c in oauth_gw.admin_client.get("/api/providers").json()["connections"] if c["name"] == name]
    assert len(conns) == 1 and conns[0]["provider"] == "codex" and conns[0]["authType"] == "oauth"
