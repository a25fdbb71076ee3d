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
FIREFOX = (os.environ.get("OMNIROUTE_FIREFOX") or shutil.which("firefox-esr") or shutil.which("firefox")
           or "/usr/bin/firefox-esr")
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"


def _browser_missing(executable: str, package: str) -> str | None:
    try:
        import playwright  # noqa: F401
    except ImportError:
        return "the playwright package is not installed (pip install -e '.[dev]')"
    if not Path(executable).exists():
        return f"{package} is not installed at {executable} (apt-get install {package})"
    return None


@contextlib.contextmanager
def launched(kind: str):
    """A running browser of ``kind`` ("chromium" or "firefox"). Playwright's sync API keeps an event loop
    running in this thread while it is started, which would break every later test that runs asyncio: so
    callers hold it for one module at most. Without the browser the test skips, and fails under CI."""
    executable, package = (CHROMIUM, "chromium") if kind == "chromium" else (FIREFOX, "firefox-esr")
    missing = _browser_missing(executable, package)
    if missing:
        if os.environ.get("CI") == "true":
            pytest.fail(f"browser tests need {package} under CI: {missing}")
        pytest.skip(missing)
    from playwright.sync_api import sync_playwright

    pw = sync_playwright().start()
    try:
        if kind == "chromium":
            browser = pw.chromium.launch(executable_path=executable, headless=True,
                                         args=["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"])
        else:
            # The distribution's own Firefox, driven over WebDriver BiDi (Playwright's patched build cannot be
            # downloaded here).
            browser = pw.firefox.launch(channel="moz-firefox", executable_path=executable, headless=True)
        try:
            yield browser
        finally:
            browser.close()
    finally:
        pw.stop()


@pytest.fixture(scope="module")
def browser():
    """Chromium for one test module (``test_firefox.py`` overrides this with Firefox)."""
    with launched("chromium") as chromium:
        yield chromium


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
    """Save a full-page screenshot under test-artifacts/screenshots/ (Firefox's under its firefox/ folder)."""
    kind = page.context.browser.browser_type.name
    folder = SCREENSHOTS if kind == "chromium" else SCREENSHOTS / kind
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def open_page(page, slug: str = ""):
    """Go to a dashboard page and wait until its module has rendered (main.js marks <body data-ready>)."""
    page.goto(f"/dashboard/{slug}" if slug else "/dashboard")
    page.wait_for_selector("body[data-ready='true']")
    return page
