"""The health page: gateway status, breakers with the reset, cooldowns, availability, latency."""

from __future__ import annotations

import uuid

import httpx

from tests.dashboard.conftest import open_page, shot


def test_health_page_shows_breakers_and_resets_them(page, dash):
    chat = httpx.post(dash.url + "/v1/chat/completions", timeout=10,
                      json={"model": "openai/gpt-4o-mini",
                            "messages": [{"role": "user", "content": f"health {uuid.uuid4().hex}"}]})
    assert chat.status_code == 200
    resets = []
    page.on("request", lambda req: req.method == "POST" and req.url.endswith("/api/resilience/reset")
            and resets.append(req))
    open_page(page, "health")

    assert page.locator("#stat-status .stat-value").inner_text().strip() == "ok"
    assert page.locator("#stat-db .stat-value").inner_text().strip() == "ok"
    assert "one instance" in page.locator("#stat-shared-state .stat-value").inner_text()
    assert page.locator("#stat-uptime .stat-value").inner_text().strip()
    assert "/" in page.locator("#stat-usage-writer .stat-value").inner_text()
    breaker = page.locator("#breakers [data-provider='openai']")
    assert breaker.get_attribute("data-breaker") == "closed"
    assert "closed" in breaker.inner_text()
    assert "fake-openai" in page.locator("#cooldowns").inner_text()
    assert "ready" in page.locator("#cooldowns").inner_text()
    availability = page.locator("#availability")
    assert "gpt-4o-mini" in availability.inner_text()
    page.locator("#latency").get_by_text("openai").wait_for()  # the chat above left a latency sample
    assert "ms" in page.locator("#latency").inner_text()
    shot(page, "health")

    # the reset asks first; cancelling sends nothing, confirming posts and says so
    page.get_by_role("button", name="Reset breakers and cooldowns").click()
    page.get_by_role("button", name="Cancel").click()
    assert not resets
    page.get_by_role("button", name="Reset breakers and cooldowns").click()
    page.get_by_role("button", name="Confirm").click()
    page.locator("#toasts").get_by_text("Breakers closed").wait_for()
    assert len(resets) == 1
    assert page.locator("#breakers [data-provider='openai']").get_attribute("data-breaker") == "closed"

    # it refreshes on its own: a changed telemetry window is fetched again
    with page.expect_request(lambda req: "/api/monitoring/health" in req.url, timeout=12_000):
        pass
    page.get_by_label("Window").select_option("60000")
    page.wait_for_function("() => !document.querySelector('#latency .error-box')")
