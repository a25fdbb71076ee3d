"""/api/cli-tools: detecting coding tools on the gateway's PATH and pointing their configs at the gateway."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import stat
import tomllib
from pathlib import Path

import pytest

from omniroute.clitools.detect import probe_version, runtime_mode
from tests.support import Gateway

NODE = shutil.which("node")


def _script(path: Path, text: str) -> None:
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    """One gateway whose HOME and PATH are ours: fake claude/codex/openclaw print a version, droid fails,
    gemini is absent. Client keys are required."""
    root = tmp_path_factory.mktemp("clitools")
    home, fake_bin = root / "home", root / "bin"
    home.mkdir()
    fake_bin.mkdir()
    _script(fake_bin / "claude", "#!/bin/sh\necho '2.0.14 (Claude Code)'\n")
    if NODE:
        _script(fake_bin / "codex", "#!/usr/bin/env node\nconsole.log('codex-cli 0.46.0')\n")
    else:
        _script(fake_bin / "codex", "#!/bin/sh\necho 'codex-cli 0.46.0'\n")
    _script(fake_bin / "droid", "#!/bin/sh\necho 'droid: missing license file' >&2\nexit 3\n")
    _script(fake_bin / "openclaw", "#!/bin/sh\necho 'OpenClaw 2026.3.1'\n")
    gw = Gateway(root / "data", {"HOME": str(home), "PATH": f"{fake_bin}:{os.environ['PATH']}",
                                 "REQUIRE_API_KEY": "1"}).start()
    client = gw.admin()
    yield gw, client, home, fake_bin
    client.close()
    gw.stop()


@pytest.fixture
def tools(env):
    gw, client, home, _ = env
    for child in home.iterdir():  # each test starts from an empty home directory
        shutil.rmtree(child) if child.is_dir() else child.unlink()
    return gw, client, home


def _backups(path: Path) -> list[Path]:
    return sorted(path.parent.glob(path.name + ".omniroute-backup-*"))


def test_detection_reports(tools, env):
    gw, admin, home = tools
    fake_bin = env[3]
    claude = admin.get("/api/cli-tools/claude-settings")
    assert claude.status_code == 200, claude.text
    body = claude.json()
    assert {"installed", "runnable", "command", "commandPath", "runtimeMode", "reason", "configured"} <= set(body)
    assert body["installed"] is True and body["runnable"] is True and body["reason"] is None
    assert body["command"] == "claude" and body["commandPath"] == str(fake_bin / "claude")
    assert body["runtimeMode"] == "shell" and body["version"] == "2.0.14 (Claude Code)"
    assert body["configured"] is False and body["configPath"] == str(home / ".claude" / "settings.json")

    codex = admin.get("/api/cli-tools/codex-settings").json()
    assert codex["runnable"] is True and codex["version"] == "codex-cli 0.46.0"
    assert codex["runtimeMode"] == ("node" if NODE else "shell")

    droid = admin.get("/api/cli-tools/droid-settings").json()
    assert droid["installed"] is True and droid["runnable"] is False
    assert "exited with status 3" in droid["reason"] and "missing license file" in droid["reason"]

    gemini = admin.get("/api/cli-tools/runtime/gemini").json()
    assert gemini["installed"] is False and gemini["runnable"] is False
    assert gemini["commandPath"] is None and gemini["runtimeMode"] == "missing"
    assert "'gemini' is not on the gateway's PATH" in gemini["reason"]

    listed = admin.get("/api/cli-tools").json()["tools"]
    by_id = {t["id"]: t for t in listed}
    assert {"claude", "codex", "droid", "openclaw", "gemini", "opencode", "cursor"} <= set(by_id)
    assert by_id["openclaw"]["runnable"] is True and by_id["cursor"]["configurable"] is False

    # Reports need a login like everything under /api.
    assert gw.client().get("/api/cli-tools/runtime/claude").status_code == 401


def test_unknown_tool_is_404(tools):
    _, admin, _ = tools
    for path in ("/api/cli-tools/runtime/notepad", "/api/cli-tools/notepad-settings"):
        resp = admin.get(path)
        assert resp.status_code == 404 and "notepad" in resp.json()["error"]
    resp = admin.post("/api/cli-tools/notepad-settings", json={})
    assert resp.status_code == 404 and "notepad" in resp.json()["error"]


def test_claude_settings_written_with_a_working_key(tools):
    gw, admin, home = tools
    path = home / ".claude" / "settings.json"
    path.parent.mkdir()
    old = json.dumps({"theme": "dark", "env": {"DISABLE_TELEMETRY": "1"}, "permissions": {"allow": ["Bash"]}})
    path.write_text(old)

    resp = admin.post("/api/cli-tools/claude-settings", json={"model": "openai/gpt-4o-mini"})
    assert resp.status_code == 200, resp.text
    answer = resp.json()
    settings = json.loads(path.read_text())
    env = settings["env"]
    assert env["ANTHROPIC_BASE_URL"] == gw.url and env["ANTHROPIC_MODEL"] == "openai/gpt-4o-mini"
    key = env["ANTHROPIC_AUTH_TOKEN"]
    assert key not in resp.text  # the key lives only in the file
    assert settings["theme"] == "dark" and settings["permissions"] == {"allow": ["Bash"]}
    assert env["DISABLE_TELEMETRY"] == "1"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600

    backups = _backups(path)
    assert len(backups) == 1 and answer["backupPath"] == str(backups[0])
    assert backups[0].read_text() == old
    assert answer["configured"] is True and answer["apiKeyCreated"] is True
    assert admin.get("/api/cli-tools/claude-settings").json()["configured"] is True

    # The key is a real gateway key named after the tool, and keys are required here.
    assert gw.client().get("/v1/models").status_code == 401
    assert gw.client(key).get("/v1/models").status_code == 200
    keys = {k["id"]: k for k in admin.get("/api/keys").json()["keys"]}
    assert keys[answer["apiKeyId"]]["name"] == "cli:claude"

    # Configuring again with that key reuses it and backs up the file just written.
    again = admin.post("/api/cli-tools/claude-settings", json={"apiKey": key})
    assert again.status_code == 200, again.text
    assert again.json()["apiKeyCreated"] is False and again.json()["apiKeyId"] == answer["apiKeyId"]
    assert len(_backups(path)) == 2
    assert json.loads(path.read_text())["env"]["ANTHROPIC_AUTH_TOKEN"] == key
    # Without one, the key made for the tool earlier and still in its file is reused, not multiplied...
    third = admin.post("/api/cli-tools/claude-settings")
    assert third.status_code == 200 and third.json()["apiKeyId"] == answer["apiKeyId"]
    assert third.json()["apiKeyCreated"] is False
    # ...unless it was revoked: then a new one replaces it.
    assert admin.delete(f"/api/keys/{answer['apiKeyId']}").status_code == 200
    fourth = admin.post("/api/cli-tools/claude-settings").json()
    assert fourth["apiKeyCreated"] is True and fourth["apiKeyId"] != answer["apiKeyId"]
    new_key = json.loads(path.read_text())["env"]["ANTHROPIC_AUTH_TOKEN"]
    assert new_key != key and gw.client(new_key).get("/v1/models").status_code == 200
    assert gw.client(key).get("/v1/models").status_code == 401


def test_claude_without_a_file_and_with_another_base_url(tools):
    _, admin, home = tools
    resp = admin.post("/api/cli-tools/claude-settings", json={"baseUrl": "http://gateway.lan:20128/v1"})
    assert resp.status_code == 200, resp.text
    path = home / ".claude" / "settings.json"
    assert json.loads(path.read_text())["env"]["ANTHROPIC_BASE_URL"] == "http://gateway.lan:20128"
    assert resp.json()["backupPath"] is None and _backups(path) == []
    assert resp.json()["configured"] is True  # judged against the URL it was given
    # ...but from this address the file points elsewhere.
    assert admin.get("/api/cli-tools/claude-settings").json()["configured"] is False


def test_codex_config_toml(tools):
    gw, admin, home = tools
    path = home / ".codex" / "config.toml"
    path.parent.mkdir()
    old = ('# personal settings\nmodel = "gpt-5-codex"\napproval_policy = "on-request"\n\n'
           '[model_providers.other]\nname = "Other"\nbase_url = "https://other.example/v1"\n\n'
           '[mcp_servers.docs]\ncommand = "npx"\nargs = ["-y", "docs-mcp"]\n')
    path.write_text(old)
    resp = admin.post("/api/cli-tools/codex-settings", json={"model": "openai/gpt-4o"})
    assert resp.status_code == 200, resp.text
    text = path.read_text()
    config = tomllib.loads(text)
    provider = config["model_providers"]["omniroute"]
    assert config["model_provider"] == "omniroute" and config["model"] == "openai/gpt-4o"
    assert provider["base_url"] == gw.url + "/v1" and provider["wire_api"] == "responses"
    assert gw.client(provider["experimental_bearer_token"]).get("/v1/models").status_code == 200
    assert config["approval_policy"] == "on-request" and config["mcp_servers"]["docs"]["args"][1] == "docs-mcp"
    assert config["model_providers"]["other"]["base_url"] == "https://other.example/v1"
    assert text.startswith("# personal settings")  # comments survive the edit
    assert _backups(path)[0].read_text() == old
    assert resp.json()["configured"] is True


def test_droid_and_openclaw_json(tools):
    gw, admin, home = tools
    droid_path = home / ".factory" / "config.json"
    droid_path.parent.mkdir()
    droid_path.write_text(json.dumps({"custom_models": [{"model": "mine", "base_url": "https://x/v1",
                                                         "api_key": "k", "provider": "anthropic"}]}))
    resp = admin.post("/api/cli-tools/droid-settings", json={"model": "openai/gpt-4o-mini"})
    assert resp.status_code == 200, resp.text
    models = json.loads(droid_path.read_text())["custom_models"]
    assert models[0]["model"] == "mine"
    ours = models[1]
    assert ours["base_url"] == gw.url + "/v1" and ours["provider"] == "openai"
    assert ours["model"] == "openai/gpt-4o-mini"
    assert gw.client(ours["api_key"]).get("/v1/models").status_code == 200
    assert admin.get("/api/cli-tools/droid-settings").json()["configured"] is True

    claw_path = home / ".openclaw" / "openclaw.json"
    claw_path.parent.mkdir()
    claw_path.write_text(json.dumps({"gateway": {"port": 18789}, "agents": {"defaults": {"workspace": "~/w"}}}))
    resp = admin.post("/api/cli-tools/openclaw-settings", json={"model": "openai/gpt-4o"})
    assert resp.status_code == 200, resp.text
    claw = json.loads(claw_path.read_text())
    provider = claw["models"]["providers"]["omniroute"]
    assert provider["baseUrl"] == gw.url + "/v1" and provider["api"] == "openai-completions"
    assert provider["models"] == [{"id": "openai/gpt-4o", "name": "openai/gpt-4o"}]
    assert gw.client(provider["apiKey"]).get("/v1/models").status_code == 200
    assert claw["gateway"] == {"port": 18789} and claw["agents"]["defaults"]["workspace"] == "~/w"
    assert claw["agents"]["defaults"]["model"]["primary"] == "omniroute/openai/gpt-4o"
    assert resp.json()["configured"] is True


def test_malformed_configs_are_left_alone(tools):
    gw, admin, home = tools
    cases = [
        ("claude", home / ".claude" / "settings.json", '{"theme": "dark",}', "not valid JSON"),
        ("codex", home / ".codex" / "config.toml", 'model = "a"\nmodel = "b"\n', "not valid TOML"),
        ("droid", home / ".factory" / "config.json", '{"custom_models": {"a": 1}}', "expected a list"),
        ("openclaw", home / ".openclaw" / "openclaw.json", "[1, 2]", "JSON object"),
    ]
    keys_before = len(admin.get("/api/keys").json()["keys"])
    for tool, path, content, message in cases:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
        resp = admin.post(f"/api/cli-tools/{tool}-settings", json={"model": "openai/gpt-4o"})
        assert resp.status_code == 409, (tool, resp.text)
        assert message in resp.json()["error"] and "nothing was written" in resp.json()["error"]
        assert path.read_text() == content and _backups(path) == []
        report = admin.get(f"/api/cli-tools/{tool}-settings").json()
        assert report["configured"] is False and message in report["configError"]
    assert len(admin.get("/api/keys").json()["keys"]) == keys_before  # no key was made for nothing


def test_bad_bodies(tools):
    _, admin, home = tools
    bad = [
        ({"baseUrl": "ftp://x"}, "baseUrl"),
        ({"baseUrl": "http://x:1/api"}, "baseUrl"),
        ({"apiKey": "sk-omni-not-a-key"}, "apiKey"),
        ({"model": 5}, "model"),
        ({"unknown": 1}, "unknown"),
    ]
    for body, field in bad:
        resp = admin.post("/api/cli-tools/claude-settings", json=body)
        assert resp.status_code == 400 and field in resp.json()["error"], (body, resp.text)
    resp = admin.post("/api/cli-tools/claude-settings", content=b"not json")
    assert resp.status_code == 400
    # Droid's config must name a model, and this gateway serves none to choose from.
    resp = admin.post("/api/cli-tools/droid-settings")
    assert resp.status_code == 400 and "'model'" in resp.json()["error"]
    resp = admin.post("/api/cli-tools/cursor-settings", json={})
    assert resp.status_code == 400 and "detected only" in resp.json()["error"]
    assert not (home / ".claude").exists() and not (home / ".factory").exists()


def test_runtime_mode_and_probe_timeout(tmp_path):
    node = tmp_path / "tool-node"
    _script(node, "#!/usr/bin/env -S node --no-warnings\n")
    py = tmp_path / "tool-py"
    _script(py, "#!/usr/bin/python3\n")
    native = tmp_path / "tool-native"
    native.write_bytes(b"\x7fELF\x02\x01\x01" + bytes(64))
    link = tmp_path / "tool-link"
    link.symlink_to(node)
    assert [runtime_mode(str(p)) for p in (node, py, native, link)] == ["node", "python", "native", "node"]

    slow = tmp_path / "slow"
    _script(slow, "#!/bin/sh\nsleep 30\n")
    version, reason = asyncio.run(probe_version(str(slow), 0.3))
    assert version is None and "did not finish within 0.3 s" in reason


def test_default_model_is_one_the_gateway_serves(tools, upstream):
    gw, admin, home = tools
    made = admin.post("/api/providers", json={"provider": "openai", "name": "fake", "apiKey": "sk-upstream",
                                              "baseUrl": upstream.base_url})
    assert made.status_code == 201, made.text
    try:
        resp = admin.post("/api/cli-tools/droid-settings", json={})
        assert resp.status_code == 200, resp.text
        model = resp.json()["model"]
        entry = json.loads((home / ".factory" / "config.json").read_text())["custom_models"][0]
        assert entry["model"] == model
        served = gw.client(entry["api_key"]).get("/v1/models").json()["data"]
        assert model in {m["id"] for m in served}
    finally:
        admin.delete(f"/api/providers/{made.json()['id']}")
