"""The dashboard in Firefox: the operator's whole path (log in, every page and settings tab, add an account,
create a key, build a combo, stream in the playground, find the request in the usage log, back up and
restore, keyboard and phone) run again in the distribution's Firefox ESR, driven by Playwright over
WebDriver BiDi. The tests are the Chromium ones, imported here so that this module's ``browser`` fixture
(Firefox) is the one they get; their screenshots land under test-artifacts/screenshots/firefox/."""

from __future__ import annotations

import pytest

from tests.dashboard.conftest import launched
from tests.dashboard.test_combos import (
    test_build_reorder_test_edit_delete,
    test_drag_to_reorder_and_phone_layout,
)
from tests.dashboard.test_keys import test_create_shown_once_use_edit_revoke
from tests.dashboard.test_pages import (
    PAGES,
    PHONE_PAGES,
    SETTINGS_TABS,
    check_page,
    check_phone_page,
    check_settings_tab,
    test_navigation_by_keyboard,
)
from tests.dashboard.test_playground import (
    test_stop_aborts_a_slow_stream,
    test_stream_readers_in_the_browser,
    test_streams_in_each_dialect,
)
from tests.dashboard.test_providers import (
    test_add_test_reprioritise_list_models_and_delete_an_api_key_account,
)
from tests.dashboard.test_settings_ops import (
    test_back_up_now_and_restore_through_the_ui,
    test_corrupt_import_shows_the_api_error_and_changes_nothing,
)
from tests.dashboard.test_shell import test_login_page_then_home
from tests.dashboard.test_usage import test_usage_page_lists_filters_and_details_requests

FIREFOX_TESTS = [
    test_login_page_then_home,
    test_navigation_by_keyboard,
    test_add_test_reprioritise_list_models_and_delete_an_api_key_account,
    test_create_shown_once_use_edit_revoke,
    test_build_reorder_test_edit_delete,
    test_drag_to_reorder_and_phone_layout,
    test_streams_in_each_dialect,
    test_stop_aborts_a_slow_stream,
    test_stream_readers_in_the_browser,
    test_usage_page_lists_filters_and_details_requests,
    test_back_up_now_and_restore_through_the_ui,
    test_corrupt_import_shows_the_api_error_and_changes_nothing,
]


@pytest.fixture(scope="module", autouse=True)
def _fill_over_bidi():
    """A limit of Playwright's ``fill`` over WebDriver BiDi, not of the page (a person typing is not
    affected): on a number input that holds a value it appends instead of replacing ("1" then "3" gives
    "13"). While this module runs, ``fill`` empties a number input first."""
    from playwright.sync_api import Locator

    original = Locator.fill

    def fill(self, value, **kwargs):
        kind = self.evaluate("e => e.type", timeout=kwargs.get("timeout"))
        if kind == "number" and value:
            original(self, "", **kwargs)
        return original(self, value, **kwargs)

    Locator.fill = fill
    yield
    Locator.fill = original


@pytest.fixture(scope="module")
def browser():
    """Firefox ESR for this module, in place of the Chromium of the other modules."""
    with launched("firefox") as firefox:
        yield firefox


def test_the_browser_is_firefox(browser, page):
    assert browser.browser_type.name == "firefox"
    assert "Firefox/" in page.evaluate("navigator.userAgent")


def test_every_page_and_settings_tab_loads_without_errors(page):
    """The pages and tabs of the Chromium tests, in one signed-in Firefox tab (a console error on any
    of them fails the test when the tab closes)."""
    for slug, _ in PAGES:
        check_page(page, slug)
    for tab in SETTINGS_TABS:
        check_settings_tab(page, tab)


def test_pages_on_a_phone(phone_page):
    for slug in PHONE_PAGES:
        check_phone_page(phone_page, slug)
