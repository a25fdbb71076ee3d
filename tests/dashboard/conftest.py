"""Browser tests of the dashboard: Debian's Chromium driven by Playwright against a real gateway and the
fake upstream. Each test gets a fresh browser context, logged in; any console error or uncaught page
error fails the test. Screenshots go to test-artifacts/screenshots/ (see the README)."""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path

import pytest

from tests.support import PASSWORD, ROOT, Gateway

CHROMIUM = os.environ.get("OMNIROUTE_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"


def _browser_missing() -> str | None:
    try:
        import playwright  # noqa: F401
    except ImportError:
        return "the playwright package is not installed (pip install -e '.[dev]')"
    if not Path(CHROMIUM).exists():
        return f"Chromium is not installed at {CHROMIUM} (apt-get install chromium)"
    return None


@pytest.fixture(scope="module")
def browser():
    """Chromium for one test module. Playwright's sync API keeps an event loop running in this thread
    while it is started, which would break every later test that runs asyncio: so it stops with the module."""
    missing = _browser_missing()
    if missing:
        if os.environ.get("CI") == "true":
            pytest.fail(f"browser tests need a browser under CI: {missing}")
        pytest.skip(missing)
    from playwright.sync_api import sync_playwright

    pw = sync_playwright().start()
    chromium = pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                                  args=["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"])
    yield chromium
    chromium.close()
    pw.stop()


@pytest.fixture(scope="session")
def dash(tmp_path_factory, fake_upstream):
    """One gateway for the dashboard tests, with an account on the fake OpenAI upstream."""
    gw = Gateway(tmp_path_factory.mktemp("dash")).start()
    admin = gw.admin()
    resp = admin.post("/api/providers", json={"provider": "openai", "name": "fake-openai", "apiKey": "sk-fake-upstream-1",
                                              "baseUrl": fake_upstream.base_url})
    assert resp.status_code == 201, resp.text
    gw.admin_client = admin
    yield gw
    admin.close()
    gw.stop()


class Console:
    """Console errors and uncaught exceptions of a page; ``allow`` names expected ones by substring."""

    def __init__(self, page):
        self.errors: list[str] = []
        self.allowed: list[str] = []
        page.on("console", lambda msg: msg.type == "error" and self.errors.append(f"console: {msg.text}"))
        page.on("pageerror", lambda exc: self.errors.append(f"page error: {exc}"))

    def allow(self, fragment: str) -> None:
        self.allowed.append(fragment)

    def unexpected(self) -> list[str]:
        return [e for e in self.errors if not any(a in e for a in self.allowed)]


LAPTOP = {"width": 1366, "height": 860}
PHONE = {"width": 390, "height": 844}


@contextlib.contextmanager
def checked_page(browser, gateway, viewport=LAPTOP, login: bool = True):
    """A page of a fresh browser context on ``gateway`` (logged in unless ``login`` is false); any
    unexpected console error or uncaught page error fails the test when the block ends."""
    context = browser.new_context(base_url=gateway.url, viewport=viewport)
    context.set_default_timeout(10_000)
    if login:
        resp = context.request.post("/api/auth/login", data={"password": PASSWORD})
        assert resp.ok, resp.text()
    pg = context.new_page()
    pg.console = Console(pg)
    try:
        yield pg
    finally:
        errors = pg.console.unexpected()
        context.close()
    assert not errors, "\n".join(errors)


@pytest.fixture
def page(browser, dash):
    """A logged-in page at laptop size; fails the test on any unexpected console error."""
    with checked_page(browser, dash) as pg:
        yield pg


@pytest.fixture
def anon_page(browser, dash):
    with checked_page(browser, dash, login=False) as pg:
        yield pg


@pytest.fixture
def phone_page(browser, dash):
    with checked_page(browser, dash, PHONE) as pg:
        yield pg


def shot(page, name: str) -> Path:
    """Save a full-page screenshot under test-artifacts/screenshots/."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def open_page(page, slug: str = ""):
    """Go to a dashboard page and wait until its module has rendered (main.js marks <body data-ready>)."""
    page.goto(f"/dashboard/{slug}" if slug else "/dashboard")
    page.wait_for_selector("body[data-ready='true']")
    return page
