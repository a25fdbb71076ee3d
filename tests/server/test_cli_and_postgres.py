"""The command line, the kept secrets of the data directory, and a gateway on PostgreSQL."""

from __future__ import annotations

import asyncio
import stat
import subprocess
import sys
import time
from contextlib import closing

import httpx

from omniroute import __version__
from tests.support import ROOT

CHAT = {"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "hello postgres"}]}


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "omniroute", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=60)


def test_version_command_prints_the_package_version():
    done = run_cli("version")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == __version__


def test_serve_help_names_its_options():
    done = run_cli("serve", "--help")
    assert done.returncode == 0, done.stderr
    for option in ("--host", "--port", "--data-dir"):
        assert option in done.stdout


def test_unknown_command_fails():
    done = run_cli("no-such-command")
    assert done.returncode != 0
    assert "no-such-command" in done.stderr


def test_secrets_are_kept_in_the_data_dir_readable_by_owner_only(gateway):
    files = {p.name: p for p in gateway.data_dir.iterdir() if p.is_file()}
    jwt = [name for name in files if "jwt" in name.lower()]
    enc = [name for name in files if "encryption" in name.lower()]
    assert len(jwt) == 1 and len(enc) == 1, sorted(files)
    for name in jwt + enc:
        path = files[name]
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, (name, oct(path.stat().st_mode))
        assert len(path.read_text().strip()) >= 32, f"{name} must hold a strong random secret"
    assert files[jwt[0]].read_text() != files[enc[0]].read_text()


def _pg_fetch(url: str, query: str) -> list:
    import asyncpg

    async def run():
        conn = await asyncpg.connect(url)
        try:
            return await conn.fetch(query)
        finally:
            await conn.close()

    return asyncio.run(run())


def test_gateway_on_postgresql(make_gateway, upstream, pg_url):
    gw = make_gateway({"DATABASE_URL": pg_url})
    assert not (gw.data_dir / "storage.sqlite").exists(), "with DATABASE_URL set, SQLite is not used"
    assert _pg_fetch(pg_url, "SELECT version_num FROM alembic_version"), "migrations ran"

    with closing(gw.admin()) as admin:
        resp = admin.post("/api/providers", json={"provider": "openai", "name": "pg-fake", "apiKey": "sk-pg-up",
                                                  "baseUrl": upstream.base_url})
        assert resp.status_code == 201, resp.text
        conn = resp.json()
        resp = admin.post("/api/keys", json={"name": "pg-client"})
        assert resp.status_code == 201, resp.text
        key = resp.json()

        chat = httpx.post(gw.url + "/v1/chat/completions", json=CHAT,
                          headers={"Authorization": f"Bearer {key['key']}"}, timeout=30)
        assert chat.status_code == 200, chat.text
        assert chat.json()["choices"][0]["message"]["content"] == "echo: hello postgres"
        assert upstream.requests[-1].api_key == "sk-pg-up"

        data = {"total": 0}
        for _ in range(30):
            data = admin.get("/api/usage/logs", params={"apiKeyId": key["id"]}).json()
            if data["total"]:
                break
            time.sleep(0.1)
        assert data["total"] == 1, data
        row = data["logs"][0]
        assert row["connectionId"] == conn["id"] and row["status"] == 200
        assert row["promptTokens"] == chat.json()["usage"]["prompt_tokens"]
        health = admin.get("/api/monitoring/health").json()
        assert health["db"] == "ok" and "openai" in health["providers"]
    gw.stop()

    again = make_gateway({"DATABASE_URL": pg_url}, data_dir=gw.data_dir)
    with closing(again.admin()) as admin:
        listed = admin.get("/api/providers").json()["connections"]
        assert [c["id"] for c in listed] == [conn["id"]]
        assert listed[0]["name"] == "pg-fake"
        assert admin.get(f"/api/keys/{key['id']}").json()["name"] == "pg-client"
        assert admin.get("/api/usage/logs", params={"apiKeyId": key["id"]}).json()["total"] == 1
    chat = httpx.post(again.url + "/v1/chat/completions", json=CHAT,
                      headers={"Authorization": f"Bearer {key['key']}"}, timeout=30)
    assert chat.status_code == 200, "the key and the connection (with its decrypted secret) still work"
    assert upstream.requests[-1].api_key == "sk-pg-up"
