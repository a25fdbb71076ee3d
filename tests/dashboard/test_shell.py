"""The dashboard shell: login, navigation, the home page, security headers, CSRF."""

from __future__ import annotations

import httpx

from tests.dashboard.conftest import open_page, shot
from tests.support import PASSWORD


def test_login_page_then_home(anon_page, dash):
    page = anon_page
    page.goto("/dashboard/keys")
    assert "/dashboard/login" in page.url, "a visitor who is not signed in is sent to the login page"
    page.get_by_label("Dashboard password").fill("wrong-password")
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("alert").filter(has_text="wrong password").wait_for()
    page.console.allow("401")  # the browser logs the refused login request
    shot(page, "login")
    page.get_by_label("Dashboard password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/dashboard/keys")


def test_home_shows_base_url_snippets_and_live_counters(page, dash):
    open_page(page)
    assert page.locator("#base-url").inner_text() == dash.url
    assert page.get_by_role("link", name="Home").get_attribute("aria-current") == "page"
    requests_before = int(page.locator("#stat-requests .stat-value").inner_text().replace(",", ""))
    chat = httpx.post(dash.url + "/v1/chat/completions", timeout=10,
                      json={"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "count me"}]})
    assert chat.status_code == 200
    page.wait_for_function(
        f"() => Number(document.querySelector('#stat-requests .stat-value').textContent.replace(/,/g, '')) > "
        f"{requests_before}", timeout=15_000)
    page.get_by_role("tab", name="Anthropic SDK (Python)").click()
    assert f'base_url="{dash.url}"' in page.locator("#snippet").inner_text()
    page.get_by_role("tab", name="Claude Code").click()
    assert f"ANTHROPIC_BASE_URL=\"{dash.url}\"" in page.locator("#snippet").inner_text()
    shot(page, "home")


def test_home_on_a_phone(phone_page):
    open_page(phone_page)
    assert phone_page.locator("#counters .stat").count() >= 4
    width = phone_page.evaluate("document.documentElement.scrollWidth")
    assert width <= 400, f"the page scrolls sideways on a phone ({width}px)"
    shot(phone_page, "home-phone")


def test_pages_send_security_headers_and_the_csrf_token(dash):
    client = dash.admin_client
    resp = client.get("/dashboard")
    assert resp.status_code == 200
    assert "script-src 'self'" in resp.headers["content-security-policy"]
    assert resp.headers["x-frame-options"] == "DENY"
    assert f'name="csrf-token" content="{client.headers["X-CSRF-Token"]}"' in resp.text
    assert httpx.get(dash.url + "/dashboard/nope", cookies=client.cookies).status_code == 404
    anon = httpx.get(dash.url + "/dashboard", follow_redirects=False)
    assert anon.status_code == 303 and anon.headers["location"].startswith("/dashboard/login")
    assert httpx.get(dash.url + "/dashboard/static/js/ui.js").status_code == 200
    assert httpx.get(dash.url + "/", follow_redirects=False).headers["location"] == "/dashboard"
