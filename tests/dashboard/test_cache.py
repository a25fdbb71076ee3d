"""The cache page: its figures after a cache hit, clearing one model, clearing everything."""

from __future__ import annotations

import uuid

import httpx

from tests.dashboard.conftest import open_page, shot


def _cached_chat(dash, content: str) -> httpx.Response:
    return httpx.post(dash.url + "/v1/chat/completions", timeout=10,
                      json={"model": "openai/gpt-4o-mini", "temperature": 0,
                            "messages": [{"role": "user", "content": content}]})


def _stat(page, name: str) -> int:
    return int(page.locator(f"#stat-{name} .stat-value").inner_text().replace(",", ""))


def test_cache_page_shows_entries_and_clears_them(page, dash):
    content = f"cache page {uuid.uuid4().hex}"
    assert _cached_chat(dash, content).headers.get("x-omniroute-cache") == "MISS"
    assert _cached_chat(dash, content).headers.get("x-omniroute-cache") == "HIT"

    open_page(page, "cache")
    assert _stat(page, "memory-entries") > 0
    assert page.locator("#stat-mode .stat-value").inner_text().strip() == "deterministic"
    assert float(page.locator("#stat-hit-rate .stat-value").inner_text().rstrip("%")) > 0
    assert "hits" in page.locator("#stat-hit-rate").inner_text()
    shot(page, "cache")

    # the per-model form validates, then clears only that model (cancelling first changes nothing)
    form = page.locator("#clear-model")
    form.get_by_role("button", name="Clear this model").click()
    form.locator(".form-error").filter(has_text="Model").wait_for()
    form.get_by_label("Model").fill("openai/some-other-model")
    form.get_by_role("button", name="Clear this model").click()
    page.get_by_role("button", name="Cancel").click()
    form.get_by_role("button", name="Clear this model").click()
    page.get_by_role("button", name="Confirm").click()
    page.locator("#toasts").get_by_text("Cleared openai/some-other-model").wait_for()
    assert dash.admin_client.get("/api/cache").json()["semanticCache"]["memorySize"] > 0

    # the model as clients name it clears its entries
    form.get_by_label("Model").fill("openai/gpt-4o-mini")
    form.get_by_role("button", name="Clear this model").click()
    page.get_by_role("button", name="Confirm").click()
    page.locator("#toasts").get_by_text("Cleared openai/gpt-4o-mini (1 memory").wait_for()
    assert _cached_chat(dash, content).headers.get("x-omniroute-cache") == "MISS"
    page.get_by_role("button", name="Refresh").click()
    page.wait_for_function("() => document.querySelector('#stat-memory-entries .stat-value').textContent.trim() !== '0'")

    # clear everything, after a confirmation
    page.get_by_role("button", name="Clear the whole cache").click()
    page.get_by_role("button", name="Confirm").click()
    page.locator("#toasts").get_by_text("Cache cleared").wait_for()
    page.wait_for_function("() => document.querySelector('#stat-memory-entries .stat-value').textContent.trim() === '0'")
    stats = dash.admin_client.get("/api/cache").json()["semanticCache"]
    assert stats["memorySize"] == 0 and stats["dbSize"] == 0
    assert _cached_chat(dash, content).headers.get("x-omniroute-cache") == "MISS"
