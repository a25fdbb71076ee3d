"""Settings tabs Backups, Sync, CLI tools and Evals, driven in Chromium against the session gateway."""

from __future__ import annotations

import json
import re
import uuid

from playwright.sync_api import expect

from tests.dashboard.conftest import Console, open_page, shot
from tests.support import PASSWORD, Gateway


def _backup_ids(admin) -> list[str]:
    resp = admin.get("/api/db-backups")
    assert resp.status_code == 200, resp.text
    return [b["id"] for b in resp.json()["backups"]]


def _key_ids(admin) -> set[str]:
    resp = admin.get("/api/keys")
    assert resp.status_code == 200, resp.text
    return {k["id"] for k in resp.json()["keys"]}


def _confirm(page) -> None:
    dialog = page.locator("dialog[open]")
    expect(dialog).to_be_visible()
    dialog.get_by_role("button", name="Confirm").click()


def test_back_up_now_and_restore_through_the_ui(page, dash):
    admin = dash.admin_client
    open_page(page, "settings#backups")
    expect(page.get_by_role("tab", name="Backups")).to_have_attribute("aria-selected", "true")

    # Setup right before the backup: one key that the backup holds.
    first = admin.post("/api/keys", json={"name": f"restore-kept-{uuid.uuid4().hex[:8]}"})
    assert first.status_code == 201, first.text
    before = set(_backup_ids(admin))

    page.get_by_role("button", name="Back up now").click()
    expect(page.get_by_text(re.compile(r"Backup \S+ made"))).to_be_visible()
    made = [b for b in _backup_ids(admin) if b not in before]
    assert len(made) == 1, made
    backup_id = made[0]
    assert "-manual-" in backup_id
    row_button = page.get_by_role("button", name=f"Restore backup {backup_id}")
    expect(row_button).to_be_visible()

    # A key made after the backup, then the restore: it must be gone, the first one still there.
    second = admin.post("/api/keys", json={"name": f"restore-gone-{uuid.uuid4().hex[:8]}"})
    assert second.status_code == 201, second.text
    assert second.json()["id"] in _key_ids(admin)

    row_button.click()
    expect(page.locator("dialog[open]")).to_contain_text("current state is backed up first")
    _confirm(page)
    expect(page.get_by_text(f"Restored {backup_id}.")).to_be_visible()

    keys = _key_ids(admin)
    assert second.json()["id"] not in keys
    assert first.json()["id"] in keys
    # The state before the restore was backed up first.
    assert [b for b in _backup_ids(admin) if b not in before and b != backup_id], "no backup before the restore"
    shot(page, "settings-backups")


def test_corrupt_import_shows_the_api_error_and_changes_nothing(page, dash):
    admin = dash.admin_client
    page.console.allow("status of 400")
    open_page(page, "settings#backups")
    backups, keys = _backup_ids(admin), _key_ids(admin)

    page.get_by_label("Database file (.sqlite)").set_input_files(
        {"name": "broken.sqlite", "mimeType": "application/octet-stream", "buffer": b"this is not a database" * 50})
    page.get_by_role("button", name="Import").click()
    _confirm(page)
    error = page.locator("#import-form .form-error")
    expect(error).to_contain_text(re.compile(r"\S"))
    message = error.inner_text()
    assert "sqlite" in message.lower() or "database" in message.lower(), message
    expect(page.locator("#import-result")).to_be_empty()
    assert _backup_ids(admin) == backups
    assert _key_ids(admin) == keys


def test_backup_schedule_saves_through_settings(page, dash):
    admin = dash.admin_client
    original = admin.get("/api/settings").json()["backups"]
    open_page(page, "settings#backups")
    keep = page.get_by_label("Backups kept")
    expect(keep).to_have_value(str(original["keep"]))
    try:
        keep.fill(str(original["keep"] + 3))
        page.get_by_label("Interval (hours)").fill("48")
        page.get_by_role("button", name="Save schedule").click()
        expect(page.get_by_text("Backup schedule saved")).to_be_visible()
        now = admin.get("/api/settings").json()["backups"]
        assert now == {**original, "keep": original["keep"] + 3, "intervalHours": 48}
    finally:
        assert admin.put("/api/settings", json={"backups": original}).status_code == 200


def test_download_links_send_the_files(page, dash):
    open_page(page, "settings#backups")
    with page.expect_download() as info:
        page.get_by_role("link", name="Download database (.sqlite)").click()
    download = info.value
    assert download.suggested_filename.endswith(".sqlite")
    with open(download.path(), "rb") as fh:
        assert fh.read(16) == b"SQLite format 3\x00"


def test_sync_initialize_shows_the_token_once(page, dash):
    admin = dash.admin_client
    open_page(page, "settings#sync")
    initialized = admin.get("/api/sync/cloud").json()["initialized"]
    if initialized:
        page.get_by_role("button", name="Rotate token").click()
        _confirm(page)
    else:
        page.get_by_role("button", name="Initialize sync").click()
    token_el = page.locator("#sync-token")
    expect(token_el).to_be_visible()
    token = token_el.inner_text().strip()
    assert len(token) >= 20
    dlg = page.locator("dialog[open]")
    expect(dlg).to_contain_text("shown only this once")
    expect(dlg.get_by_role("button", name="Copy token to clipboard")).to_be_visible()
    shot(page, "settings-sync")
    dlg.get_by_role("button", name="Close").click()
    expect(page.locator("dialog[open]")).to_have_count(0)

    status = admin.get("/api/sync/cloud").json()
    assert status["initialized"] is True
    expect(page.locator("#sync-status")).to_contain_text("initialized")
    expect(page.get_by_role("button", name="Rotate token")).to_be_visible()
    # Never again in full: the status shows it masked.
    assert token not in page.content()
    assert status["token"] != token

    # The token authenticates this instance's /api/cloud routes.
    resp = admin.get("/api/cloud/status", headers={"Authorization": f"Bearer {token}"})
    assert resp.status_code == 200, resp.text


def test_sync_form_shows_the_api_error_and_validates(page, dash):
    page.console.allow("status of 502")
    open_page(page, "settings#sync")
    page.get_by_label("Remote URL").fill("http://127.0.0.1:9")
    page.get_by_role("button", name="Push to remote").click()
    expect(page.locator("#sync-error")).to_contain_text("Remote token: required")
    page.get_by_label("Remote token").fill("not-a-real-token")
    page.get_by_role("button", name="Pull from remote").click()
    expect(page.locator("#sync-error")).to_contain_text("unreachable", timeout=20_000)
    expect(page.locator("#sync-result")).to_be_empty()


def test_sync_push_to_another_instance_shows_the_counts(page, dash, tmp_path):
    """Push from the session gateway to a fresh instance: only the remote changes; the counts are shown."""
    other = Gateway(tmp_path / "other").start()
    try:
        remote_admin = other.admin()
        init = remote_admin.post("/api/sync/initialize")
        assert init.status_code == 201, init.text
        open_page(page, "settings#sync")
        page.get_by_label("Remote URL").fill(other.url)
        page.get_by_label("Remote token").fill(init.json()["token"])
        page.get_by_role("button", name="Push to remote").click()
        result = page.locator("#sync-result")
        expect(result).to_contain_text("pushed", timeout=20_000)
        added = int(result.locator("[data-count='added'] .stat-value").inner_text().replace(",", ""))
        assert added >= 1  # at least the session gateway's upstream account
        names = [c["name"] for c in remote_admin.get("/api/providers").json()["connections"]]
        assert "fake-openai" in names
        expect(page.locator("#sync-status")).to_contain_text("Last push:")
        expect(page.locator("#sync-status")).to_contain_text(other.url)
        assert init.json()["token"] not in page.content()
        remote_admin.close()
    finally:
        other.stop()


def test_cli_tools_list(page, dash):
    admin = dash.admin_client
    tools = admin.get("/api/cli-tools").json()["tools"]
    open_page(page, "settings#clitools")
    table = page.locator("#cli-tools table")
    expect(table).to_be_visible()
    for tool in tools:
        expect(table).to_contain_text(tool["name"])
    missing = [t for t in tools if not t["installed"]]
    if missing:
        expect(page.locator("#cli-tools").get_by_text("not installed", exact=True).first).to_be_visible()
        expect(table).to_contain_text(missing[0]["reason"])
    configurable = [t for t in tools if t["configurable"]]
    detect_only = [t for t in tools if not t["configurable"]]
    assert configurable and detect_only
    for t in configurable:
        expect(page.get_by_role("button", name=f"Configure {t['name']}")).to_be_visible()
    expect(page.locator(".detect-only")).to_have_count(len(detect_only))
    expect(page.locator(".detect-only").first).to_contain_text("Detection only")
    shot(page, "settings-clitools")


def test_cli_tool_configure_shows_the_written_and_backup_paths(browser, tmp_path):
    """On a gateway of its own whose home directory is a temporary one: configuring writes a real file."""
    home = tmp_path / "home"
    (home / ".claude").mkdir(parents=True)
    (home / ".claude" / "settings.json").write_text(json.dumps({"theme": "dark"}))
    gw = Gateway(tmp_path / "data", env={"HOME": str(home)}).start()
    context = browser.new_context(base_url=gw.url, viewport={"width": 1366, "height": 860})
    try:
        context.set_default_timeout(10_000)
        assert context.request.post("/api/auth/login", data={"password": PASSWORD}).ok
        pg = context.new_page()
        console = Console(pg)
        open_page(pg, "settings#clitools")
        pg.get_by_role("button", name="Configure Claude Code").click()
        dlg = pg.locator("dialog[open]")
        dlg.get_by_role("button", name="Configure").click()
        written = dlg.locator(".config-path")
        expect(written).to_have_text(str(home / ".claude" / "settings.json"))
        backup = dlg.locator(".backup-path").inner_text()
        assert ".omniroute-backup-" in backup
        assert json.loads(open(backup).read()) == {"theme": "dark"}
        config = json.loads((home / ".claude" / "settings.json").read_text())
        assert config["theme"] == "dark" and gw.url.split("//")[1] in json.dumps(config)
        expect(dlg).to_contain_text("(new key)")
        dlg.get_by_role("button", name="Close").click()
        expect(pg.locator("[data-tool-row='claude']").locator("xpath=ancestor::tr")).to_contain_text("points here")
        assert not console.unexpected(), console.unexpected()
    finally:
        context.close()
        gw.stop()


def test_eval_suite_created_and_run_through_the_ui(page, dash):
    admin = dash.admin_client
    name = f"smoke-{uuid.uuid4().hex[:8]}"
    open_page(page, "settings#evals")

    page.get_by_role("button", name="New suite").click()
    dlg = page.locator("dialog[open]")
    dlg.get_by_label("Suite name").fill(name)
    dlg.get_by_label("Description (optional)").fill("two echo checks")
    dlg.get_by_label("Prompt (case 1)").fill("say banana please")
    dlg.get_by_label("Check (case 1)").select_option("contains")
    dlg.get_by_label("Expected (case 1)").fill("banana")
    dlg.get_by_role("button", name="Add case").click()
    dlg.get_by_label("Prompt (case 2)").fill("Say CHERRY now")
    dlg.get_by_label("Check (case 2)").select_option("regex")
    dlg.get_by_label("Expected (case 2)").fill("cherry\\s+now")
    dlg.locator("fieldset.case").nth(1).get_by_label("Ignore case").check()
    # A third row, removed again.
    dlg.get_by_role("button", name="Add case").click()
    dlg.get_by_role("button", name="Remove case 3").click()
    expect(dlg.locator("fieldset.case")).to_have_count(2)
    dlg.get_by_role("button", name="Create suite").click()
    expect(page.locator("dialog[open]")).to_have_count(0)

    suites = {s["name"]: s for s in admin.get("/api/evals").json()["suites"]}
    assert suites[name]["caseCount"] == 2
    suite = admin.get(f"/api/evals/{suites[name]['id']}").json()
    assert [c["check"] for c in suite["cases"]] == [
        {"type": "contains", "value": "banana", "ignoreCase": False},
        {"type": "regex", "value": "cherry\\s+now", "ignoreCase": True}]
    expect(page.locator("#eval-suites")).to_contain_text(name)
    shot(page, "settings-evals")

    page.get_by_role("button", name=f"Run suite {name}").click()
    expect(page.get_by_label("Suite", exact=True)).to_have_value(suites[name]["id"])
    page.get_by_label("Target model or combo").fill("openai/gpt-4o-mini")
    page.get_by_role("button", name="Run", exact=True).click()
    run = page.locator("#eval-run[data-status='done']")
    expect(run).to_be_visible(timeout=30_000)
    expect(page.locator("#run-score .stat-value")).to_have_text("1.00")
    expect(page.locator("#run-passed .stat-value")).to_have_text("2 of 2")
    expect(run).to_contain_text("echo: say banana please")
    expect(run.locator(".badge", has_text="pass")).to_have_count(2)
    run_id = run.get_attribute("data-run")
    stored = admin.get(f"/api/evals/runs/{run_id}").json()
    assert stored["score"] == 1.0 and stored["passed"] == 2 and stored["total"] == 2
    expect(page.locator("#eval-runs")).to_contain_text(name)
    shot(page, "eval-run")

    # Delete through the UI: the suite and its runs go.
    page.get_by_role("button", name=f"Delete suite {name}").click()
    _confirm(page)
    expect(page.locator("#eval-suites")).not_to_contain_text(name)
    assert name not in {s["name"] for s in admin.get("/api/evals").json()["suites"]}


def test_eval_suite_errors_are_shown(page, dash):
    page.console.allow("status of 400")
    resp = dash.admin_client.post("/api/evals", json={"suite": {"name": f"target-{uuid.uuid4().hex[:8]}", "cases": [
        {"prompt": "hi", "check": {"type": "contains", "value": "hi"}}]}})
    assert resp.status_code == 201, resp.text
    suite = resp.json()
    open_page(page, "settings#evals")
    page.get_by_role("button", name="New suite").click()
    dlg = page.locator("dialog[open]")
    dlg.get_by_role("button", name="Create suite").click()
    expect(dlg.locator(".form-error")).to_contain_text("Suite name")
    dlg.get_by_label("Suite name").fill(f"bad-{uuid.uuid4().hex[:8]}")
    dlg.get_by_label("Prompt (case 1)").fill("hello")
    dlg.get_by_label("Check (case 1)").select_option("regex")
    dlg.get_by_label("Expected (case 1)").fill("(unclosed")
    dlg.get_by_role("button", name="Create suite").click()
    expect(dlg.locator(".form-error")).to_contain_text("regular expression")
    dlg.get_by_role("button", name="Close").click()

    # An unknown target is refused with the API's message.
    page.get_by_label("Suite", exact=True).select_option(suite["id"])
    page.get_by_label("Target model or combo").fill(f"nope/{uuid.uuid4().hex[:6]}")
    page.get_by_role("button", name="Run", exact=True).click()
    expect(page.locator("form .form-error").last).to_contain_text("'target'")
    expect(page.locator("#eval-run-box")).to_contain_text("did not start")


def test_tabs_fit_a_phone(phone_page, dash):
    for tab in ("backups", "sync", "clitools", "evals"):
        open_page(phone_page, f"settings#{tab}")
        panel = phone_page.locator("#settings-panel")
        expect(panel.locator("section.card").first).to_be_visible()
        width = phone_page.evaluate("document.getElementById('settings-panel').scrollWidth")
        assert width <= 390, (tab, width)


def test_a_skipped_automatic_backup_is_shown(browser, tmp_path):
    """On a gateway of its own: the shrink guard refuses a scheduled backup, and the Backups tab says why."""
    import sqlite3
    import time
    from contextlib import closing

    from tests.server.test_backups import _age

    gw = Gateway(tmp_path / "data", env={"OMNIROUTE_BACKUP_CHECK_S": "0.2"}).start()
    admin = gw.admin()
    context = browser.new_context(base_url=gw.url, viewport={"width": 1366, "height": 860})
    try:
        deadline = time.monotonic() + 10
        while not _backup_ids(admin) and time.monotonic() < deadline:
            time.sleep(0.1)
        first = _backup_ids(admin)[0]
        for n in range(6):
            assert admin.post("/api/keys", json={"name": f"shown-{n}"}).status_code == 201
        good = admin.put("/api/db-backups").json()["backup"]["id"]
        with closing(sqlite3.connect(gw.data_dir / "storage.sqlite")) as db:
            db.execute("DELETE FROM api_keys")
            db.commit()
        _age(gw, first, 3)
        good = _age(gw, good, 2)
        while admin.get("/api/db-backups").json()["lastSkipped"] is None and time.monotonic() < deadline + 10:
            time.sleep(0.1)

        context.set_default_timeout(10_000)
        assert context.request.post("/api/auth/login", data={"password": PASSWORD}).ok
        pg = context.new_page()
        console = Console(pg)
        open_page(pg, "settings#backups")
        warning = pg.locator("#backup-skipped")
        expect(warning).to_contain_text("scheduled backup")
        expect(warning).to_contain_text("less than half")
        expect(warning).to_contain_text(good)
        assert not console.unexpected(), console.unexpected()
    finally:
        context.close()
        admin.close()
        gw.stop()
