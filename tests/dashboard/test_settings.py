"""The settings tabs: general, login & password, proxy, IP filter, thinking budget, system prompt,
resilience. Each test changes a value through the page, checks the API stored it, checks that a bad
value shows the API's own error, and puts the shared gateway back as it was."""

from __future__ import annotations

import time

import httpx
import pytest
from playwright.sync_api import expect

from tests.dashboard.conftest import Console, shot
from tests.fakes.proxies import HttpProxy
from tests.support import PASSWORD, Gateway, free_port

PROXY_OFF = {"enabled": False, "url": None, "noProxy": None}
IP_FILTER_OFF = {"enabled": False, "mode": "blocklist", "allow": [], "block": [], "trustedProxies": []}
THINKING_DEFAULT = {"mode": "passthrough", "budgetTokens": None}
PROMPT_DEFAULT = {"enabled": False, "prompt": "", "position": "prefix"}


def open_tab(page, tab: str):
    page.goto(f"/dashboard/settings#{tab}")
    page.wait_for_selector("body[data-ready='true']")
    assert page.locator(f"#tab-{tab}").get_attribute("aria-selected") == "true"
    return page


def eventually(check, timeout: float = 10.0):
    """Poll ``check`` until it is true (a save answered by a toast that may already be showing)."""
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out waiting for the change to be stored"
        time.sleep(0.1)


def form_error(form):
    return form.locator(".form-error")


def test_general_sections_save_alone_and_show_api_errors(page, dash):
    admin = dash.admin_client
    before = admin.get("/api/settings").json()
    page.console.allow("400")  # the browser logs the refused saves
    try:
        open_tab(page, "general")
        assert page.locator("#tab-general").get_attribute("aria-selected") == "true"
        acct = page.locator("#settings-accountSelection")
        acct.get_by_label("Strategy").select_option("round-robin")
        acct.get_by_label("Sticky uses").fill("7")
        acct.get_by_role("button", name="Save").click()
        page.get_by_text("Account selection saved").wait_for()
        after = admin.get("/api/settings").json()
        assert after["accountSelection"]["strategy"] == "round-robin"
        assert after["accountSelection"]["stickyUses"] == 7
        assert after["cache"] == before["cache"], "saving one section leaves the others alone"

        cache = page.locator("#settings-cache")
        cache.get_by_label("Time to live (ms)").fill("999")
        cache.get_by_role("button", name="Save").click()
        form_error(cache).filter(has_text="'cache.ttlMs': Input should be greater than or equal to 1000").wait_for()
        assert admin.get("/api/settings").json()["cache"]["ttlMs"] == before["cache"]["ttlMs"]

        cache.get_by_label("Time to live (ms)").fill("120000")
        cache.get_by_label("Mode").select_option("all")
        cache.get_by_label("Max entries").fill("300")
        cache.get_by_role("button", name="Save").click()
        page.get_by_text("Response cache saved").wait_for()
        stored = admin.get("/api/settings").json()["cache"]
        assert (stored["ttlMs"], stored["mode"], stored["maxEntries"]) == (120000, "all", 300)
        assert form_error(cache).inner_text() == ""

        acct.get_by_label("Per-provider strategies").fill("no-such-provider: random")
        acct.get_by_role("button", name="Save").click()
        form_error(acct).filter(has_text="unknown provider(s) no-such-provider").wait_for()

        usage = page.locator("#settings-usage")
        usage.get_by_label("Keep usage rows for (days)").fill("30")
        usage.get_by_role("button", name="Save").click()
        page.get_by_text("Usage log saved").wait_for()
        assert admin.get("/api/settings").json()["usage"]["retentionDays"] == 30

        page.reload()
        page.wait_for_selector("body[data-ready='true']")
        assert page.locator("#settings-cache").get_by_label("Time to live (ms)").input_value() == "120000"
        assert page.locator("#settings-accountSelection").get_by_label("Sticky uses").input_value() == "7"
        shot(page, "settings-general")
    finally:
        restore = {k: before[k] for k in ("accountSelection", "cache", "idempotency", "usage", "metrics")}
        assert admin.put("/api/settings", json=restore).status_code == 200


def test_require_login_toggle_and_password_repeat_check(page, dash):
    admin = dash.admin_client
    try:
        open_tab(page, "security")
        login_form = page.locator("#require-login-form")
        box = login_form.get_by_label("Require login from this machine too")
        assert box.is_checked()
        box.uncheck()
        login_form.get_by_role("button", name="Save").click()
        page.get_by_text("Loopback clients no longer need to log in").wait_for()
        assert admin.get("/api/settings/require-login").json() == {"requireLogin": False}
        box.check()
        login_form.get_by_role("button", name="Save").click()
        eventually(lambda: admin.get("/api/settings/require-login").json() == {"requireLogin": True})
        page.get_by_text("Login is required").wait_for()

        pw = page.locator("#password-form")
        pw.get_by_label("Current password").fill("whatever-1")
        pw.get_by_label("New password", exact=True).fill("first-choice-1")
        pw.get_by_label("Repeat the new password").fill("second-choice-2")
        pw.get_by_role("button", name="Change password").click()
        form_error(pw).filter(has_text="the new password and its repetition differ").wait_for()
    finally:
        admin.put("/api/settings/require-login", json={"requireLogin": True})
    assert admin.get("/api/settings/require-login").json() == {"requireLogin": True}


def test_password_change_on_its_own_gateway(browser, tmp_path):
    gw = Gateway(tmp_path / "pw").start()
    context = None
    try:
        context = browser.new_context(base_url=gw.url, viewport={"width": 1366, "height": 860})
        context.set_default_timeout(10_000)
        assert context.request.post("/api/auth/login", data={"password": PASSWORD}).ok
        page = context.new_page()
        console = Console(page)
        console.allow("400")  # the browser logs the refused password changes
        open_tab(page, "security")
        pw = page.locator("#password-form")

        pw.get_by_label("Current password").fill("not-the-password")
        pw.get_by_label("New password", exact=True).fill("brand-new-secret-9")
        pw.get_by_label("Repeat the new password").fill("brand-new-secret-9")
        pw.get_by_role("button", name="Change password").click()
        form_error(pw).filter(has_text="'currentPassword' is wrong").wait_for()

        pw.get_by_label("Current password").fill(PASSWORD)
        pw.get_by_label("New password", exact=True).fill("short")
        pw.get_by_label("Repeat the new password").fill("short")
        pw.get_by_role("button", name="Change password").click()
        form_error(pw).filter(has_text="'newPassword': String should have at least 8 characters").wait_for()

        pw.get_by_label("New password", exact=True).fill("brand-new-secret-9")
        pw.get_by_label("Repeat the new password").fill("brand-new-secret-9")
        pw.get_by_role("button", name="Change password").click()
        page.get_by_text("Password changed").wait_for()
        assert pw.get_by_label("New password", exact=True).input_value() == "", "the form is cleared after a change"
        shot(page, "settings-security")
        assert not console.unexpected(), console.unexpected()

        assert httpx.post(gw.url + "/api/auth/login", json={"password": "brand-new-secret-9"}).status_code == 200
        assert httpx.post(gw.url + "/api/auth/login", json={"password": PASSWORD}).status_code == 401
    finally:
        if context is not None:
            context.close()
        gw.stop()


@pytest.fixture
def auth_proxy():
    proxy = HttpProxy(auth=("alice", "s3cret-pw")).start()
    yield proxy
    proxy.stop()


def test_proxy_masked_url_test_button_and_errors(page, dash, auth_proxy, fake_upstream):
    admin = dash.admin_client
    page.console.allow("400")
    try:
        open_tab(page, "proxy")
        f = page.locator("#proxy-form")
        f.get_by_label("Proxy URL").fill("ftp://files.example:21")
        f.get_by_role("button", name="Save").click()
        form_error(f).filter(has_text="unsupported proxy scheme 'ftp'").wait_for()

        url = f"http://alice:s3cret-pw@{auth_proxy.host_port}"
        f.get_by_label("Send upstream calls through this proxy").check()
        f.get_by_label("Proxy URL").fill(url)
        # Loopback bypasses it, so the shared gateway's calls to the fake upstream stay direct.
        f.get_by_label("Bypass (no proxy for)").fill("localhost, 127.0.0.1")
        f.get_by_role("button", name="Save").click()
        page.get_by_text("Proxy saved and in use").wait_for()
        stored = admin.get("/api/settings/proxy").json()
        masked = f"http://alice:****@{auth_proxy.host_port}"
        assert stored == {"enabled": True, "url": masked, "noProxy": "localhost, 127.0.0.1"}
        assert f.get_by_label("Proxy URL").input_value() == masked
        assert "s3cret-pw" not in page.content()

        # The masked URL, sent back as shown, still carries the stored password: the proxy lets it through.
        page.get_by_label("Target URL (optional)").fill(fake_upstream.base_url + "/models")
        page.get_by_role("button", name="Test").click()
        result = page.locator("#proxy-test-result")
        result.filter(has_text="reached the target through the proxy").wait_for()
        assert auth_proxy.requests >= 1
        f.get_by_role("button", name="Save").click()  # saved again unchanged: the password is kept
        page.get_by_text("Proxy saved and in use").nth(1).wait_for()
        page.get_by_role("button", name="Test").click()
        result.filter(has_text="reached the target").wait_for()

        f.get_by_label("Proxy URL").fill(f"http://alice:wrong@{auth_proxy.host_port}")
        page.get_by_role("button", name="Test").click()
        result.filter(has_text="refused the credentials").wait_for()
        f.get_by_label("Proxy URL").fill(f"http://127.0.0.1:{free_port()}")
        page.get_by_role("button", name="Test").click()
        result.filter(has_text="failed").wait_for()
        f.get_by_label("Proxy URL").fill(masked)
        page.get_by_role("button", name="Test").click()
        result.filter(has_text="reached the target").wait_for()
        shot(page, "settings-proxy")
    finally:
        assert admin.put("/api/settings/proxy", json=PROXY_OFF).status_code == 200
    assert admin.get("/api/settings/proxy").json() == PROXY_OFF


def test_ip_filter_lists_and_refusals(page, dash):
    admin = dash.admin_client
    page.console.allow("400")
    try:
        open_tab(page, "ipfilter")
        f = page.locator("#ipfilter-form")
        f.get_by_label("Filter client addresses").check()
        f.get_by_label("Blocked networks").fill("203.0.113.0/24\n10.0.0.0/33")
        f.get_by_role("button", name="Save").click()
        form_error(f).filter(has_text="entry 1 ('10.0.0.0/33') is not an IPv4 or IPv6 address or CIDR").wait_for()
        assert admin.get("/api/settings/ip-filter").json()["enabled"] is False

        f.get_by_label("Blocked networks").fill("203.0.113.0/24\n# a comment\n2001:db8::/32\n")
        f.get_by_label("Trusted reverse proxies").fill("10.9.8.7")
        f.get_by_role("button", name="Save").click()
        page.get_by_text("IP filter saved and on (blocklist)").wait_for()
        stored = admin.get("/api/settings/ip-filter").json()
        assert stored["enabled"] is True and stored["mode"] == "blocklist"
        assert stored["block"] == ["203.0.113.0/24", "2001:db8::/32"]
        assert len(stored["trustedProxies"]) == 1 and stored["trustedProxies"][0].startswith("10.9.8.7")

        f.get_by_label("Mode").select_option("allowlist")
        f.get_by_label("Allowed networks").fill("192.0.2.0/24")
        f.get_by_role("button", name="Save").click()
        form_error(f).filter(has_text="would refuse your own address 127.0.0.1").wait_for()
        assert admin.get("/api/settings/ip-filter").json()["mode"] == "blocklist"
        shot(page, "settings-ipfilter")
    finally:
        assert admin.put("/api/settings/ip-filter", json=IP_FILTER_OFF).status_code == 200
    assert admin.get("/api/settings/ip-filter").json() == IP_FILTER_OFF


def test_thinking_budget_modes(page, dash):
    admin = dash.admin_client
    page.console.allow("400")
    try:
        open_tab(page, "thinking")
        f = page.locator("#thinking-form")
        budget = f.get_by_label("Budget (tokens)")
        assert not budget.is_visible(), "passthrough needs no budget"
        f.get_by_label("Mode").select_option("custom")
        assert budget.is_visible()
        budget.fill("")
        f.get_by_role("button", name="Save").click()
        form_error(f).filter(has_text="'budgetTokens' is required when 'mode' is 'custom'").wait_for()
        assert admin.get("/api/settings/thinking-budget").json() == THINKING_DEFAULT

        budget.fill("2048")
        f.get_by_role("button", name="Save").click()
        page.get_by_text("Thinking budget saved").wait_for()
        assert admin.get("/api/settings/thinking-budget").json() == {"mode": "custom", "budgetTokens": 2048}
        shot(page, "settings-thinking")

        f.get_by_label("Mode").select_option("adaptive")
        assert budget.is_visible()
        budget.fill("")
        f.get_by_role("button", name="Save").click()
        # The answer re-fills the form: wait for it before changing the mode again.
        expect(f.get_by_role("button", name="Save")).to_be_enabled()
        eventually(lambda: admin.get("/api/settings/thinking-budget").json() == {"mode": "adaptive",
                                                                                 "budgetTokens": None})
        f.get_by_label("Mode").select_option("off")
        expect(budget).to_be_hidden()
    finally:
        assert admin.put("/api/settings/thinking-budget", json=THINKING_DEFAULT).status_code == 200
    assert admin.get("/api/settings/thinking-budget").json() == THINKING_DEFAULT


def test_system_prompt(page, dash):
    admin = dash.admin_client
    page.console.allow("400")
    try:
        open_tab(page, "prompt")
        f = page.locator("#prompt-form")
        f.get_by_label("Add this prompt to every chat request").check()
        f.get_by_label("Prompt", exact=True).fill("   ")
        f.get_by_role("button", name="Save").click()
        form_error(f).filter(has_text="'prompt' must not be empty while 'enabled' is true").wait_for()
        assert admin.get("/api/settings/system-prompt").json() == PROMPT_DEFAULT

        f.get_by_label("Prompt", exact=True).fill("Answer in French.")
        f.get_by_label("Position").select_option("suffix")
        f.get_by_role("button", name="Save").click()
        page.get_by_text("System prompt saved and in use").wait_for()
        assert admin.get("/api/settings/system-prompt").json() == {
            "enabled": True, "prompt": "Answer in French.", "position": "suffix"}
        assert page.locator("#prompt-count").inner_text() == "17 characters"
        shot(page, "settings-prompt")
    finally:
        assert admin.put("/api/settings/system-prompt", json=PROMPT_DEFAULT).status_code == 200
    assert admin.get("/api/settings/system-prompt").json() == PROMPT_DEFAULT


def test_resilience_profiles_errors_and_reset(page, dash):
    admin = dash.admin_client
    before = admin.get("/api/resilience").json()
    page.console.allow("400")
    try:
        open_tab(page, "resilience")
        f = page.locator("#resilience-form")
        apikey = f.get_by_role("group", name="API-key accounts")
        apikey.get_by_label("First cooldown (ms)").fill("900000")
        apikey.get_by_label("Longest cooldown (ms)").fill("1000")
        f.get_by_role("button", name="Save").click()
        form_error(f).filter(has_text="'profiles.apikey': cooldownMaxMs must not be below cooldownBaseMs").wait_for()
        assert admin.get("/api/resilience").json() == before

        apikey.get_by_label("First cooldown (ms)").fill(str(before["profiles"]["apikey"]["cooldownBaseMs"]))
        apikey.get_by_label("Longest cooldown (ms)").fill(str(before["profiles"]["apikey"]["cooldownMaxMs"]))
        f.get_by_label("First-byte timeout (ms)").fill("50")
        f.get_by_role("button", name="Save").click()
        form_error(f).filter(has_text="'firstByteTimeoutMs': Input should be greater than or equal to 100").wait_for()

        f.get_by_label("First-byte timeout (ms)").fill("90000")
        apikey.get_by_label("Failures to open the breaker").fill("15")
        f.get_by_role("group", name="Local servers").get_by_label("Open for (ms)").fill("20000")
        f.get_by_role("button", name="Save").click()
        page.get_by_text("Resilience settings saved").wait_for()
        stored = admin.get("/api/resilience").json()
        assert stored["firstByteTimeoutMs"] == 90000
        assert stored["profiles"]["apikey"]["failureThreshold"] == 15
        assert stored["profiles"]["local"]["resetTimeoutMs"] == 20000
        assert stored["profiles"]["oauth"] == before["profiles"]["oauth"]
        shot(page, "settings-resilience")

        page.get_by_role("button", name="Reset breakers, cooldowns and lockouts").click()
        page.get_by_role("dialog").get_by_role("button", name="Confirm").click()
        page.get_by_text("Every breaker is closed").wait_for()
        health = admin.get("/api/monitoring/health").json()
        assert health["providers"], health
        assert all(p["breaker"] == "closed" for p in health["providers"].values())
    finally:
        assert admin.put("/api/resilience", json=before).status_code == 200
    assert admin.get("/api/resilience").json() == before


@pytest.mark.parametrize("tab", ["general", "security", "proxy", "ipfilter", "thinking", "prompt", "resilience"])
def test_settings_tabs_fit_a_phone(phone_page, tab):
    open_tab(phone_page, tab)
    phone_page.locator("#settings-panel form").first.wait_for()
    width = phone_page.evaluate("document.documentElement.scrollWidth")
    assert width <= 400, f"the {tab} tab scrolls sideways on a phone ({width}px)"
    if tab == "resilience":
        shot(phone_page, "settings-resilience-phone")
