"""The API keys page: a key created with a budget is shown whole once and never again, works against the
client API, is edited, and once revoked is refused; a bad name shows the API's error; the page fits a phone."""

from __future__ import annotations

import uuid

import httpx

from tests.dashboard.conftest import open_page, shot


def _key(dash, name):
    keys = dash.admin_client.get("/api/keys").json()["keys"]
    return next((k for k in keys if k["name"] == name), None)


def _row(page, name):
    page.locator("#key-filter").fill(name)
    return page.locator("#key-list tbody tr", has_text=name)


def test_create_shown_once_use_edit_revoke(page, dash):
    name = f"dash-key-{uuid.uuid4().hex[:8]}"
    open_page(page, "keys")
    form = page.locator("#key-form")
    form.get_by_label("Name").fill(name)
    form.get_by_label("Budget limit (USD)").fill("5")
    form.get_by_label("Budget period").select_option("daily")
    form.get_by_label("Warn at (% of limit)").fill("50")
    form.get_by_role("button", name="Create key").click()

    dlg = page.locator("dialog[open]")
    raw = dlg.locator("#new-key").inner_text().strip()
    assert raw.startswith("sk-omni-") and len(raw) > 30
    assert "shown only this once" in dlg.inner_text()
    dlg.get_by_role("button", name="Copy key").wait_for()
    shot(page, "key-created")
    dlg.get_by_role("button", name="I have copied it").click()
    page.locator("#new-key").wait_for(state="detached")
    assert raw not in page.content()

    hint = f"{raw[:12]}…{raw[-4:]}"
    row = _row(page, name)
    row.wait_for()
    text = row.inner_text()
    assert hint in text and raw not in text
    assert "active" in text and "$0 / $5.0000 daily" in text
    shot(page, "keys")
    stored = _key(dash, name)
    assert stored["key"] == hint
    budget = dash.admin_client.get(f"/api/usage/budget?keyId={stored['id']}").json()["budgets"]
    assert [(b["limit"], b["period"], b["warnAt"]) for b in budget] == [(5, "daily", 0.5)]

    # the key works on the client API
    resp = httpx.get(dash.url + "/v1/models", headers={"Authorization": f"Bearer {raw}"})
    assert resp.status_code == 200, resp.text

    # edit: new name, one allowed model picked from the catalog, and the manage scope
    page.get_by_role("button", name=f"Edit {name}").click()
    dlg = page.locator("dialog[open]")
    new_name = name + "-renamed"
    dlg.get_by_label("Name", exact=True).fill(new_name)
    page.locator("#edit-key-pick-search").fill("gpt-4o-mini")
    page.locator("#edit-key-pick-results button[data-model='openai/gpt-4o-mini']").click()
    dlg.get_by_role("button", name="Save key").click()
    page.locator("dialog[open]").wait_for(state="detached")
    stored = _key(dash, new_name)
    assert stored is not None and stored["allowedModels"] == ["openai/gpt-4o-mini"]
    row = _row(page, new_name).filter(has_text="openai/gpt-4o-mini")
    row.wait_for()

    # revoke, after a confirmation: the list says so and the key is refused
    page.get_by_role("button", name=f"Revoke {new_name}").click()
    page.locator("dialog[open]").get_by_role("button", name="Confirm").click()
    _row(page, new_name).filter(has_text="revoked").wait_for()
    assert page.get_by_role("button", name=f"Revoke {new_name}").count() == 0
    assert _key(dash, new_name)["revoked"] is True
    resp = httpx.get(dash.url + "/v1/models", headers={"Authorization": f"Bearer {raw}"})
    assert resp.status_code == 401, resp.text
    assert raw not in page.content()


def test_empty_name_and_past_expiry_show_the_api_error(page, dash):
    page.console.allow("status of 400")  # the browser logs the refused creates
    open_page(page, "keys")
    form = page.locator("#key-form")
    form.get_by_role("button", name="Create key").click()
    error = form.locator(".form-error")
    error.filter(has_text="'name'").wait_for()
    assert "at least 1 character" in error.inner_text()
    form.get_by_label("Name").fill(f"dash-old-{uuid.uuid4().hex[:8]}")
    form.get_by_label("Expires on").fill("2001-01-01")
    form.get_by_role("button", name="Create key").click()
    error.filter(has_text="expiresAt").wait_for()
    assert "must be in the future" in error.inner_text()
    assert page.locator("#new-key").count() == 0


def test_keys_on_a_phone(phone_page, dash):
    name = f"dash-phone-{uuid.uuid4().hex[:8]}"
    resp = dash.admin_client.post("/api/keys", json={"name": name, "allowedModels": ["openai/gpt-4o-mini"]})
    assert resp.status_code == 201
    dash.admin_client.post("/api/usage/budget", json={"keyId": resp.json()["id"], "limit": 2.5, "period": "monthly"})
    open_page(phone_page, "keys")
    _row(phone_page, name).wait_for()
    width = phone_page.evaluate("document.documentElement.scrollWidth")
    assert width <= 420, f"the keys page scrolls sideways on a phone ({width}px)"
    shot(phone_page, "keys-phone")
