"""`omniroute keys|providers|backup|reset-password`, on a data directory and against a running server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from contextlib import closing

import httpx

from tests.support import PASSWORD, ROOT


def omniroute(*args: str, env: dict | None = None, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "omniroute", *args], cwd=ROOT, capture_output=True, text=True,
                          input=stdin, timeout=60, env={**os.environ, **(env or {})})


def _json(done: subprocess.CompletedProcess):
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_keys_on_the_data_directory_then_served(make_gateway, tmp_path):
    data = str(tmp_path / "data")
    made = _json(omniroute("keys", "create", "ci", "--model", "openai/gpt-4o-mini", "--json", "--data-dir", data))
    assert made["key"].startswith("sk-") and made["allowedModels"] == ["openai/gpt-4o-mini"]
    listed = _json(omniroute("keys", "list", "--json", "--data-dir", data))["keys"]
    assert [k["id"] for k in listed] == [made["id"]]
    assert made["key"] not in json.dumps(listed), "the whole key is shown only at creation"
    gw = make_gateway({"REQUIRE_API_KEY": "1"}, data_dir=tmp_path / "data")
    assert httpx.get(gw.url + "/v1/models", headers={"Authorization": f"Bearer {made['key']}"}).status_code == 200
    assert httpx.get(gw.url + "/v1/models", headers={"Authorization": "Bearer sk-wrong"}).status_code == 401
    assert omniroute("keys", "revoke", "no-such-id", "--data-dir", data).returncode == 1


def test_keys_and_providers_against_a_running_server(make_gateway, upstream):
    gw = make_gateway({"REQUIRE_API_KEY": "1"})
    with closing(gw.admin()) as admin:
        resp = admin.post("/api/providers", json={"provider": "openai", "name": "fake", "apiKey": "sk-upstream-secret-99",
                                                  "baseUrl": upstream.base_url})
        assert resp.status_code == 201
    env = {"OMNIROUTE_PASSWORD": PASSWORD}
    made = _json(omniroute("keys", "create", "live", "--json", "--server", gw.url, env=env))
    auth = {"Authorization": f"Bearer {made['key']}"}
    assert httpx.get(gw.url + "/v1/models", headers=auth).status_code == 200, "live at once, no restart"
    accounts = omniroute("providers", "list", "--json", "--server", gw.url, env=env)
    assert "sk-upstream-secret-99" not in accounts.stdout
    assert [a["name"] for a in _json(accounts)["connections"]] == ["fake"]
    local = omniroute("providers", "list", "--json", "--data-dir", str(gw.data_dir))
    assert "sk-upstream-secret-99" not in local.stdout and _json(local)["connections"][0]["provider"] == "openai"
    assert omniroute("keys", "revoke", made["id"], "--server", gw.url, env=env).returncode == 0
    assert httpx.get(gw.url + "/v1/models", headers=auth).status_code == 401
    refused = omniroute("keys", "list", "--server", gw.url, env={"OMNIROUTE_PASSWORD": "wrong-password"})
    assert refused.returncode == 1 and "401" in refused.stderr


def test_backup_create_list_restore(make_gateway, tmp_path):
    data = str(tmp_path / "data")
    first = _json(omniroute("keys", "create", "kept", "--json", "--data-dir", data))
    backup = _json(omniroute("backup", "create", "--json", "--data-dir", data))
    later = _json(omniroute("keys", "create", "later", "--json", "--data-dir", data))
    assert [b["id"] for b in _json(omniroute("backup", "list", "--json", "--data-dir", data))["backups"]] == [backup["id"]]
    # While a server runs on this data, a restore on disk is refused.
    gw = make_gateway(data_dir=tmp_path / "data")
    refused = omniroute("backup", "restore", backup["id"], "--data-dir", data, env={"PORT": str(gw.port)})
    assert refused.returncode == 1 and "--server" in refused.stderr
    gw.stop()
    done = _json(omniroute("backup", "restore", backup["id"], "--json", "--data-dir", data))
    names = [k["name"] for k in _json(omniroute("keys", "list", "--json", "--data-dir", data))["keys"]]
    assert names == ["kept"], names
    assert done["backup"]["reason"] == "pre-restore"
    assert first["id"] != later["id"]
    bad = omniroute("backup", "restore", "../../etc/passwd", "--data-dir", data)
    assert bad.returncode == 1 and bad.stderr


def test_reset_password_takes_effect_on_a_running_server(make_gateway):
    gw = make_gateway()
    done = omniroute("reset-password", "--password-stdin", "--data-dir", str(gw.data_dir),
                     stdin="a-brand-new-password\n")
    assert done.returncode == 0, done.stderr
    assert httpx.post(gw.url + "/api/auth/login", json={"password": PASSWORD}).status_code == 401
    assert httpx.post(gw.url + "/api/auth/login", json={"password": "a-brand-new-password"}).status_code == 200
    short = omniroute("reset-password", "--password-stdin", "--data-dir", str(gw.data_dir), stdin="short\n")
    assert short.returncode == 1 and "8 characters" in short.stderr
    generated = omniroute("reset-password", "--generate", "--data-dir", str(gw.data_dir))
    password = generated.stdout.strip().rsplit(" ", 1)[-1]
    assert httpx.post(gw.url + "/api/auth/login", json={"password": password}).status_code == 200
