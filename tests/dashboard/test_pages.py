"""Every dashboard page and settings tab loads, renders without console errors, is reachable from the
navigation by keyboard, and gets its screenshot (laptop and phone)."""

from __future__ import annotations

import pytest

from omniroute.dashboard.routes import PAGES
from tests.dashboard.conftest import open_page, shot

SETTINGS_TABS = ["general", "security", "proxy", "ipfilter", "thinking", "prompt", "resilience", "backups", "sync",
                 "clitools", "evals"]


def check_page(page, slug: str) -> None:
    """The page opens with its heading and no error box (console errors fail the ``page`` fixture)."""
    open_page(page, "" if slug == "home" else slug)
    assert not page.locator("main .error-box").count(), page.locator("main .error-box").all_inner_texts()
    assert page.locator("main h1").count() >= 1
    assert "Loading…" not in page.locator("main h1").first.inner_text()
    shot(page, f"page-{slug}")


def check_settings_tab(page, tab: str) -> None:
    page.goto(f"/dashboard/settings#{tab}")
    page.wait_for_selector("body[data-ready='true']")
    panel = page.locator("#settings-panel")
    panel.locator(":scope > *").first.wait_for()
    page.wait_for_function("() => !document.querySelector('#settings-panel')?.textContent.startsWith('Loading')")
    assert not panel.locator(".error-box").count(), panel.locator(".error-box").all_inner_texts()
    assert page.locator(f"#tab-{tab}").get_attribute("aria-selected") == "true"


def check_phone_page(phone_page, slug: str) -> None:
    open_page(phone_page, slug)
    width = phone_page.evaluate("document.documentElement.scrollWidth")
    assert width <= 420, f"/dashboard/{slug} scrolls sideways on a phone ({width}px)"
    shot(phone_page, f"phone-{slug}")


PHONE_PAGES = ["providers", "keys", "usage", "settings"]


@pytest.mark.parametrize("slug", [slug for slug, _ in PAGES])
def test_page_loads_without_errors(page, slug):
    check_page(page, slug)


@pytest.mark.parametrize("tab", SETTINGS_TABS)
def test_settings_tab_loads_without_errors(page, tab):
    check_settings_tab(page, tab)


@pytest.mark.parametrize("slug", PHONE_PAGES)
def test_page_on_a_phone(phone_page, slug):
    check_phone_page(phone_page, slug)


def test_navigation_by_keyboard(page):
    open_page(page)
    page.keyboard.press("Tab")  # the skip link first
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    for _ in range(20):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.textContent") == "API keys":
            break
    else:
        pytest.fail("the navigation link 'API keys' cannot be reached with the Tab key")
    page.keyboard.press("Enter")
    page.wait_for_url("**/dashboard/keys")
    page.wait_for_selector("body[data-ready='true']")
