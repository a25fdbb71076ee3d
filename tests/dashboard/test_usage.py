"""The usage page: totals, charts, breakdowns, the request log (server-side pages, filters) and the
detail dialog of one request."""

from __future__ import annotations

import time
import uuid

import httpx

from tests.dashboard.conftest import open_page, shot


def _chat(dash, model: str, content: str) -> httpx.Response:
    return httpx.post(dash.url + "/v1/chat/completions", timeout=10,
                      json={"model": model, "messages": [{"role": "user", "content": content}]})


def _wait_for_rows(dash, model: str, count: int) -> None:
    """Usage rows are written in batches (about every 0.5 s): wait until the API lists them."""
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        logs = dash.admin_client.get("/api/usage/request-logs", params={"limit": 50}).json()["logs"]
        if sum(1 for row in logs if row["requestedModel"] == model) >= count:
            return
        time.sleep(0.2)
    raise AssertionError(f"the usage rows of {model} were not written")


def test_usage_page_lists_filters_and_details_requests(page, dash):
    tag = uuid.uuid4().hex[:8]
    for i in range(3):
        assert _chat(dash, "openai/gpt-4o-mini", f"usage page {tag} {i}").status_code == 200
    bad_model = f"nope-{tag}/missing-model"
    assert _chat(dash, bad_model, f"usage page {tag} bad").status_code == 404
    _wait_for_rows(dash, bad_model, 1)

    open_page(page, "usage")
    # totals, charts (SVG drawn by the page) and the by-model breakdown
    assert int(page.locator("#stat-requests .stat-value").inner_text().replace(",", "")) >= 4
    assert page.locator("#charts svg.chart path.line").count() >= 3
    assert page.locator("#charts svg.chart path.line").first.get_attribute("d").startswith("M")
    assert "gpt-4o-mini" in page.locator("#by-model").inner_text()
    log = page.locator("#request-log")
    log.get_by_text(bad_model).wait_for()
    assert log.locator("tbody tr").count() >= 4

    # the period selector redraws the charts by day
    page.get_by_label("Period").select_option("7d")
    page.wait_for_function("() => document.querySelector('#charts figcaption').textContent.includes('per day')")
    assert page.locator("#charts svg.chart path.line").count() >= 3
    shot(page, "usage")

    # status "error" narrows the log to the failing request
    page.get_by_label("Status").select_option("error")
    page.get_by_role("button", name="Apply filters").click()
    page.wait_for_function("() => [...document.querySelectorAll('#request-log tbody tr')]"
                           ".every(tr => tr.dataset.status && Number(tr.dataset.status) >= 400)")
    assert log.get_by_text(bad_model).count() == 1  # (other tests' failed requests may be listed too)

    # the model filter (the served model) keeps only gpt-4o-mini rows
    page.get_by_label("Status").select_option("ok")
    page.get_by_label("Model", exact=True).fill("gpt-4o-mini")
    page.get_by_role("button", name="Apply filters").click()
    page.wait_for_function("() => document.querySelectorAll('#request-log tbody tr[data-status=\"200\"]').length >= 3 && "
                           "![...document.querySelectorAll('#request-log tbody tr')].some(tr => tr.dataset.status !== '200')")
    assert log.get_by_text(bad_model).count() == 0

    # an invalid range is refused with a message
    page.get_by_label("Since").fill("2030-01-02T00:00")
    page.get_by_label("Until").fill("2030-01-01T00:00")
    page.get_by_role("button", name="Apply filters").click()
    page.locator("#log-filters .form-error").filter(has_text="Since").wait_for()
    page.get_by_role("button", name="Clear filters").click()
    log.get_by_text(bad_model).wait_for()

    # the detail dialog of a successful request: tokens, cost, latency, no failed attempts
    row = log.locator("tbody tr[data-status='200']").first
    row.get_by_role("button", name="Details").click()
    dialog = page.get_by_role("dialog", name="Request details")
    dialog.locator("#detail-tokens").wait_for()
    tokens = dialog.locator("#detail-tokens").inner_text()
    for label in ("Prompt", "Completion", "Cached (read)", "Cache write", "Reasoning"):
        assert label in tokens
    assert dialog.locator("#detail-cost .stat-value").inner_text().startswith("$")
    assert dialog.locator("#detail-latency .stat-value").inner_text().endswith("ms")
    assert "gpt-4o-mini" in dialog.inner_text()
    assert "Not logged" in dialog.inner_text()  # detailed logging is off by default
    shot(page, "usage-detail")
    dialog.get_by_role("button", name="Close").click()
    dialog.wait_for(state="detached")

    # clicking the failing row shows its error
    log.get_by_text(bad_model).click()
    dialog = page.get_by_role("dialog", name="Request details")
    dialog.locator(".detail-error").wait_for()
    assert "does not exist" in dialog.locator(".detail-error").inner_text()
    assert dialog.locator("#detail-status .stat-value").inner_text().strip() == "404"


def test_usage_log_pages_on_the_server(page, dash):
    tag = uuid.uuid4().hex[:8]
    model = f"paging-{tag}/none"
    for i in range(27):  # more than one page of 25, all refused (unknown model): cheap and filterable
        assert _chat(dash, model, f"paging {tag} {i}").status_code == 404
    _wait_for_rows(dash, model, 27)
    seen = []
    page.on("request", lambda req: "/api/usage/request-logs?" in req.url and seen.append(req.url))
    open_page(page, "usage")
    pager = page.locator("#request-log nav.pager")
    assert "Page 1 of" in pager.inner_text()
    first_ids = page.locator("#request-log tbody tr").evaluate_all("rows => rows.map(r => r.dataset.id)")
    assert len(first_ids) == 25
    pager.get_by_role("button", name="Next").click()
    page.wait_for_function("() => document.querySelector('#request-log nav.pager').textContent.includes('Page 2 of')")
    second_ids = page.locator("#request-log tbody tr").evaluate_all("rows => rows.map(r => r.dataset.id)")
    assert second_ids and not set(first_ids) & set(second_ids)
    assert any("offset=25" in url and "limit=25" in url for url in seen), seen


def test_usage_on_a_phone(phone_page, dash):
    assert _chat(dash, "openai/gpt-4o-mini", f"phone {uuid.uuid4().hex}").status_code == 200
    open_page(phone_page, "usage")
    phone_page.locator("#request-log tbody tr").first.wait_for()
    assert phone_page.locator("#charts svg.chart").count() >= 3
    width = phone_page.evaluate("document.documentElement.scrollWidth")
    assert width <= 400, f"the page scrolls sideways on a phone ({width}px)"
    shot(phone_page, "usage-phone")


def test_detail_shows_redacted_headers_and_bodies_when_detailed_logging_is_on(page, dash):
    admin = dash.admin_client
    assert admin.put("/api/settings", json={"usage": {"detailedLogging": True}}).status_code == 200
    try:
        key = admin.post("/api/keys", json={"name": f"usage-detail-{uuid.uuid4().hex[:6]}"}).json()
        content = f"detailed {uuid.uuid4().hex}"
        resp = httpx.post(dash.url + "/v1/chat/completions", timeout=10,
                          headers={"Authorization": f"Bearer {key['key']}"},
                          json={"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": content}]})
        assert resp.status_code == 200
        deadline = time.monotonic() + 15
        while not admin.get("/api/usage/request-logs", params={"apiKeyId": key["id"]}).json()["logs"]:
            assert time.monotonic() < deadline, "the usage row was not written"
            time.sleep(0.2)

        open_page(page, "usage")
        page.get_by_label("API key", exact=True).select_option(key["id"])  # the filter lists keys by name
        page.get_by_role("button", name="Apply filters").click()
        page.wait_for_function("() => document.querySelectorAll('#request-log tbody tr[data-id]').length === 1")
        assert key["name"] in page.locator("#request-log tbody").inner_text()
        page.locator("#request-log tbody tr[data-id]").click()
        bodies = page.get_by_role("dialog", name="Request details").locator("#detail-bodies")
        bodies.wait_for()
        text = bodies.inner_text()
        assert content in text and f"echo: {content}" in text  # the request and the answer
        assert "[REDACTED]" in text and key["key"] not in text
    finally:
        admin.put("/api/settings", json={"usage": {"detailedLogging": False}})
