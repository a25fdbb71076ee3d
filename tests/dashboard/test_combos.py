"""The combos page: build a combo from catalog models, order it with the buttons, test, edit and delete it,
and see the API's own error for a duplicate or empty name."""

from __future__ import annotations

import uuid

from tests.dashboard.conftest import open_page, shot


def _combo(dash, name):
    combos = dash.admin_client.get("/api/combos").json()["combos"]
    return next((c for c in combos if c["name"] == name), None)


def _pick(page, model):
    search = page.locator("#combo-pick-search")
    search.fill(model)
    page.locator(f"#combo-pick-results button[data-model='{model}']").click()


def _row(page, name):
    page.locator("#combo-filter").fill(name)
    return page.locator("#combo-list tbody tr", has_text=name)


def test_build_reorder_test_edit_delete(page, dash):
    name = f"dash-combo-{uuid.uuid4().hex[:8]}"
    page.console.allow("status of 400")  # the refused unknown target, on purpose
    open_page(page, "combos")
    page.get_by_role("button", name="New combo").click()
    dlg = page.locator("dialog[open]")
    dlg.get_by_label("Name").fill(name)
    _pick(page, "openai/gpt-4o-mini")
    _pick(page, "openai/gpt-4o")
    rows = page.locator("#combo-targets li")
    assert rows.all_inner_texts()[0].count("openai/gpt-4o-mini") == 1
    # keyboard order: the second target moves up with its button, and keeps the focus
    page.get_by_role("button", name="Move openai/gpt-4o up").click()
    assert page.locator("#combo-targets li").nth(0).get_attribute("data-model") == "openai/gpt-4o"
    assert page.locator("#combo-targets li").nth(1).get_attribute("data-model") == "openai/gpt-4o-mini"
    focused = page.evaluate("document.activeElement.getAttribute('aria-label')")
    assert focused == "Move openai/gpt-4o down"
    # typed names work too (here, one the API refuses, removed again)
    page.locator("#combo-pick-search").fill("nosuchprovider-model")
    page.locator("#combo-pick-search").press("Enter")
    assert page.locator("#combo-targets li").count() == 3
    dlg.get_by_role("button", name="Create combo").click()
    dlg.locator(".form-error", has_text="no known model").wait_for()
    page.get_by_role("button", name="Remove nosuchprovider-model").click()
    page.locator("#combo-maxRetries").fill("1")
    shot(page, "combos-edit")
    dlg.get_by_role("button", name="Create combo").click()
    page.locator("dialog[open]").wait_for(state="detached")

    combo = _combo(dash, name)
    assert combo is not None
    assert combo["models"] == ["openai/gpt-4o", "openai/gpt-4o-mini"]
    assert combo["strategy"] == "priority" and combo["config"] == {"maxRetries": 1}
    row = _row(page, name).filter(has_text="Max retries: 1")
    row.wait_for()
    assert "openai/gpt-4o-mini" in row.inner_text()
    page.locator("#combo-filter").fill("")
    shot(page, "combos")

    # test: one row per target, each a success
    page.get_by_role("button", name=f"Test {name}").click()
    results = page.locator("#combo-test-results table tbody tr")
    results.first.wait_for()
    texts = results.all_inner_texts()
    assert len(texts) == 2
    assert "openai/gpt-4o" in texts[0] and "openai/gpt-4o-mini" in texts[1]
    assert all("success" in t and " ms" in t for t in texts), texts
    assert "2 of 2 target(s) answered" in page.locator("#combo-test-results").inner_text()
    shot(page, "combo-test")
    page.locator("dialog[open]").get_by_role("button", name="Close").click()

    # edit: weighted with weights, the order swapped back by dragging-free buttons
    page.get_by_role("button", name=f"Edit {name}").click()
    dlg = page.locator("dialog[open]")
    assert dlg.get_by_label("Name").input_value() == name
    dlg.get_by_label("Strategy").select_option("weighted")
    dlg.get_by_label("Weight of openai/gpt-4o", exact=True).fill("3")
    dlg.get_by_label("Weight of openai/gpt-4o-mini").fill("1")
    page.get_by_role("button", name="Move openai/gpt-4o-mini up").click()
    page.locator("#combo-maxRetries").fill("")
    page.locator("#combo-targetTimeoutMs").fill("20000")
    dlg.get_by_role("button", name="Save combo").click()
    page.locator("dialog[open]").wait_for(state="detached")
    combo = _combo(dash, name)
    assert combo["strategy"] == "weighted"
    assert combo["models"] == [{"model": "openai/gpt-4o-mini", "weight": 1}, {"model": "openai/gpt-4o", "weight": 3}]
    assert combo["config"] == {"targetTimeoutMs": 20000}

    # delete, after a confirmation
    _row(page, name)
    page.get_by_role("button", name=f"Delete {name}").click()
    page.locator("dialog[open]").get_by_role("button", name="Confirm").click()
    page.get_by_text(f"Combo {name} deleted").wait_for()
    assert _combo(dash, name) is None
    assert _row(page, name).count() == 0


def test_duplicate_and_empty_names_show_the_api_error(page, dash):
    name = f"dash-dup-{uuid.uuid4().hex[:8]}"
    resp = dash.admin_client.post("/api/combos", json={"name": name, "models": ["openai/gpt-4o-mini"]})
    assert resp.status_code == 201, resp.text
    page.console.allow("status of 400")  # the browser logs the refused saves
    page.console.allow("status of 409")
    open_page(page, "combos")
    page.get_by_role("button", name="New combo").click()
    dlg = page.locator("dialog[open]")
    _pick(page, "openai/gpt-4o-mini")
    # empty name: the API's validation message, naming the field
    dlg.get_by_role("button", name="Create combo").click()
    error = dlg.locator(".form-error")
    error.filter(has_text="'name'").wait_for()
    assert "at least 1 character" in error.inner_text()
    # a name that is taken
    dlg.get_by_label("Name").fill(name)
    dlg.get_by_role("button", name="Create combo").click()
    error.filter(has_text="already exists").wait_for()
    assert f"combo '{name}' already exists" in error.inner_text()
    # the dialog is still open with the work kept; Escape closes it without saving
    assert page.locator("#combo-targets li").count() == 1
    page.keyboard.press("Escape")
    page.locator("dialog[open]").wait_for(state="detached")
    assert [c["name"] for c in dash.admin_client.get("/api/combos").json()["combos"]].count(name) == 1
    dash.admin_client.delete(f"/api/combos/{_combo(dash, name)['id']}")


def test_drag_to_reorder_and_phone_layout(page, phone_page, dash):
    name = f"dash-drag-{uuid.uuid4().hex[:8]}"
    models = ["openai/gpt-4o-mini", "openai/gpt-4o", "openai/gpt-4.1"]
    resp = dash.admin_client.post("/api/combos", json={"name": name, "models": models})
    assert resp.status_code == 201, resp.text
    open_page(page, "combos")
    _row(page, name).wait_for()
    page.get_by_role("button", name=f"Edit {name}").click()
    rows = page.locator("#combo-targets li")
    rows.nth(2).drag_to(rows.nth(0))
    assert [rows.nth(i).get_attribute("data-model") for i in range(3)] == [models[2], models[0], models[1]]
    page.locator("dialog[open]").get_by_role("button", name="Save combo").click()
    page.locator("dialog[open]").wait_for(state="detached")
    assert _combo(dash, name)["models"] == [models[2], models[0], models[1]]

    open_page(phone_page, "combos")
    _row(phone_page, name).wait_for()
    width = phone_page.evaluate("document.documentElement.scrollWidth")
    assert width <= 420, f"the combos page scrolls sideways on a phone ({width}px)"
    phone_page.get_by_role("button", name=f"Edit {name}").click()
    width = phone_page.evaluate("document.documentElement.scrollWidth")
    assert width <= 420, f"the combo editor scrolls sideways on a phone ({width}px)"
    shot(phone_page, "combos-phone")
    phone_page.keyboard.press("Escape")
    dash.admin_client.delete(f"/api/combos/{_combo(dash, name)['id']}")
