"""`omniroute keys|providers|backup|reset-password`: administration from the command line.

Each command works in one of two ways:

- on the data directory directly (the default: ``--data-dir`` or DATA_DIR): it opens the database
  itself, so it works with no server running. A server that is running on the same data keeps its
  in-memory copy of keys and accounts until it restarts, so a command that changes them says so, and a
  restore refuses (``--force`` overrides) while a server answers on the configured address;
- against a running server (``--server URL``): it calls the management API, authenticated with an API
  key that has the "manage" scope (``--api-key`` or OMNIROUTE_API_KEY) or the dashboard password
  (OMNIROUTE_PASSWORD), and the change is live at once.

``reset-password`` works on the data directory only: it is the way back in when the password is lost.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import os
import secrets
import sys
import time
import urllib.error
import urllib.request
from http.cookiejar import CookieJar


class CommandError(Exception):
    """A failure to report on stderr with exit status 1."""


# --- where the command acts ------------------------------------------------------------------------

class Remote:
    """The management API of a running server (standard library HTTP only)."""

    def __init__(self, url: str, api_key: str | None, password: str | None):
        self.url = url.rstrip("/")
        self.headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(CookieJar()))
        if not api_key:
            if not password:
                raise CommandError("--server needs --api-key (or OMNIROUTE_API_KEY) with the 'manage' scope, "
                                   "or the dashboard password in OMNIROUTE_PASSWORD")
            answer = self.call("POST", "/api/auth/login", {"password": password})
            self.headers["X-CSRF-Token"] = answer.get("csrfToken", "")

    def call(self, method: str, path: str, body: dict | None = None):
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.url + path, data=data, method=method,
                                         headers={**self.headers, "Content-Type": "application/json"})
        try:
            with self.opener.open(request, timeout=60) as resp:
                raw = resp.read()
        except urllib.error.HTTPError as err:
            raw = err.read()
            try:
                message = json.loads(raw).get("error")
            except ValueError:
                message = raw.decode(errors="replace")[:300]
            raise CommandError(f"{method} {path}: {err.code} {message}") from None
        except (urllib.error.URLError, OSError) as err:
            raise CommandError(f"cannot reach {self.url}: {getattr(err, 'reason', err)}") from None
        return json.loads(raw) if raw else {}


class Local:
    """The database of a data directory, opened by this process."""

    def __init__(self, data_dir: str | None):
        from omniroute.settings import Settings

        self.settings = Settings.from_env(data_dir=data_dir)
        self.engine = None

    async def __aenter__(self):
        from omniroute.store.engine import create_engine, migrate

        self.engine = create_engine(self.settings.database_url)
        await migrate(self.engine)
        return self

    async def __aexit__(self, *exc):
        await self.engine.dispose()

    def server_running(self) -> bool:
        """Whether a server answers on this configuration's address."""
        host = self.settings.host if self.settings.host not in ("0.0.0.0", "::") else "127.0.0.1"
        try:
            with urllib.request.urlopen(f"http://{host}:{self.settings.port}/api/init", timeout=1) as resp:
                return resp.status == 200
        except (urllib.error.URLError, OSError):
            return False

    def note_restart(self) -> None:
        if self.server_running():
            print("note: a server is running on this machine; it sees this change after a restart "
                  "(use --server to change a running server live)", file=sys.stderr)


def _target(args) -> Remote | None:
    if not args.server:
        return None
    return Remote(args.server, args.api_key or os.environ.get("OMNIROUTE_API_KEY"),
                  os.environ.get("OMNIROUTE_PASSWORD"))


def _print(args, data, lines) -> None:
    if args.json:
        print(json.dumps(data, indent=2, default=str))
    else:
        for line in lines:
            print(line)


def _when(ts: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts)) if ts else "-"


# --- keys ------------------------------------------------------------------------------------------

def _key_lines(keys: list[dict]) -> list[str]:
    lines = [f"{'ID':36}  {'NAME':20}  {'KEY':16}  {'SCOPES':10}  {'CREATED':19}  STATUS"]
    for k in keys:
        status = "revoked" if k.get("revokedAt") else ("expired" if k.get("expiresAt") and k["expiresAt"] < time.time()
                                                       else "active")
        lines.append(f"{k['id']:36}  {k['name'][:20]:20}  {k['key'][:16]:16}  {','.join(k['scopes']) or '-':10}  "
                     f"{_when(k['createdAt']):19}  {status}")
    return lines


async def keys_cmd(args) -> int:
    remote = _target(args)
    if args.action == "list":
        if remote:
            keys = remote.call("GET", "/api/keys")["keys"]
        else:
            from omniroute.store.repos import KeysRepo

            async with Local(args.data_dir) as local:
                keys = [{k: v for k, v in row.items() if k != "keyHash"} for row in await KeysRepo(local.engine).list()]
        _print(args, {"keys": keys}, _key_lines(keys))
        return 0
    if args.action == "create":
        body = {"name": args.name, "scopes": args.scope or []}
        if args.model:
            body["allowedModels"] = args.model
        if args.expires_days:
            body["expiresAt"] = time.time() + args.expires_days * 86400
        if remote:
            created = remote.call("POST", "/api/keys", body)
        else:
            created = await _create_key_locally(args.data_dir, body)
        _print(args, created, [f"created key {created['id']} ({created['name']})", "",
                               f"  {created['key']}", "", "it is shown only this once: keep it now"])
        return 0
    # revoke
    if remote:
        revoked = remote.call("DELETE", f"/api/keys/{args.id}")
    else:
        from omniroute.store.repos import KeysRepo

        async with Local(args.data_dir) as local:
            repo = KeysRepo(local.engine)
            row = await repo.get(args.id)
            if row is None:
                raise CommandError(f"API key '{args.id}' not found")
            revoked = await repo.update(args.id, {"revokedAt": row["revokedAt"] or time.time()})
            revoked.pop("keyHash", None)
            local.note_restart()
    _print(args, revoked, [f"revoked key {revoked['id']} ({revoked['name']})"])
    return 0


async def _create_key_locally(data_dir, body: dict) -> dict:
    from omniroute.auth.apikeys import generate_key, hash_key, key_hint
    from omniroute.server.api.keys import SCOPES
    from omniroute.store.repos import KeysRepo

    unknown = set(body["scopes"]) - SCOPES
    if unknown:
        raise CommandError(f"unknown scope(s) {sorted(unknown)}; known: {sorted(SCOPES)}")
    raw = generate_key()
    async with Local(data_dir) as local:
        row = await KeysRepo(local.engine).create(
            name=body["name"], key_hash=hash_key(raw), key_hint=key_hint(raw), scopes=body["scopes"],
            allowed_models=body.get("allowedModels"), expires_at=body.get("expiresAt"))
        local.note_restart()
    row = {k: v for k, v in row.items() if k != "keyHash"}
    row["key"] = raw
    return row


# --- providers -------------------------------------------------------------------------------------

async def providers_cmd(args) -> int:
    remote = _target(args)
    if remote:
        answer = remote.call("GET", "/api/providers")
        accounts = answer.get("connections", answer.get("providers", answer)) if isinstance(answer, dict) else answer
    else:
        from types import SimpleNamespace

        from omniroute.auth.secrets import SecretBox
        from omniroute.server.api.providers import _public
        from omniroute.store.repos import ConnectionsRepo

        async with Local(args.data_dir) as local:
            shown = SimpleNamespace(secrets=SecretBox(local.settings.storage_encryption_key))
            accounts = [_public(shown, row) for row in await ConnectionsRepo(local.engine).list()]
    lines = [f"{'ID':36}  {'PROVIDER':16}  {'NAME':24}  {'AUTH':7}  {'PRIO':4}  {'ACTIVE':6}  STATUS"]
    for a in accounts:
        lines.append(f"{a['id']:36}  {a['provider'][:16]:16}  {a['name'][:24]:24}  {a.get('authType', '-')[:7]:7}  "
                     f"{a.get('priority', '-')!s:4}  {'yes' if a.get('isActive', True) else 'no':6}  "
                     f"{a.get('status', '-')}")
    _print(args, {"connections": accounts}, lines)
    return 0


# --- backups ---------------------------------------------------------------------------------------

def _backup_lines(backups: list[dict]) -> list[str]:
    lines = [f"{'ID':48}  {'CREATED':19}  {'SIZE':>10}  REASON"]
    lines += [f"{b['id']:48}  {_when(b['createdAt']):19}  {b['size']:>10}  {b['reason']}" for b in backups]
    return lines


async def backup_cmd(args) -> int:
    remote = _target(args)
    if remote:
        if args.action == "list":
            backups = remote.call("GET", "/api/db-backups")["backups"]
            _print(args, {"backups": backups}, _backup_lines(backups))
        elif args.action == "create":
            made = remote.call("PUT", "/api/db-backups")["backup"]
            _print(args, made, [f"backup {made['id']} ({made['size']} bytes)"])
        else:
            done = remote.call("POST", "/api/db-backups", {"backupId": args.id})
            _print(args, done, [f"restored {args.id}; the state before it is in backup "
                                f"{(done.get('backup') or {}).get('id', '?')}"])
        return 0
    from omniroute.store.backups import BackupError, BackupManager

    async with Local(args.data_dir) as local:
        manager = BackupManager(local.settings, local.engine)
        try:
            if args.action == "list":
                backups = manager.list()
                _print(args, {"backups": backups}, _backup_lines(backups))
            elif args.action == "create":
                made = await manager.create("manual")
                _print(args, made, [f"backup {made['id']} ({made['size']} bytes)"])
            else:
                if local.server_running() and not args.force:
                    raise CommandError("a server is running on this data: restore through it with --server URL, "
                                       "or stop it first (--force restores anyway)")
                done = await manager.restore(args.id)
                _print(args, done, [f"restored {args.id}; the state before it is in backup "
                                    f"{done['backup']['id']}"])
        except BackupError as err:
            raise CommandError(err.message) from None
    return 0


# --- reset-password --------------------------------------------------------------------------------

MIN_PASSWORD = 8


async def reset_password_cmd(args) -> int:
    from omniroute.auth.passwords import hash_password
    from omniroute.store.repos import SettingsRepo

    if args.generate:
        password = secrets.token_urlsafe(12)
    elif args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass("new dashboard password: ")
        if getpass.getpass("again: ") != password:
            raise CommandError("the two passwords differ; nothing changed")
    if len(password) < MIN_PASSWORD:
        raise CommandError(f"the password must have at least {MIN_PASSWORD} characters; nothing changed")
    async with Local(args.data_dir) as local:
        await SettingsRepo(local.engine).set("passwordHash", await asyncio.to_thread(hash_password, password))
    if args.generate:
        print(f"new dashboard password (shown once): {password}")
    else:
        print("dashboard password changed")
    return 0


# --- the parser ------------------------------------------------------------------------------------

def add_commands(sub) -> None:
    """The administration sub-commands of `omniroute`."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--data-dir", help="data directory (env DATA_DIR, default ~/.omniroute)")
    common.add_argument("--server", help="a running server's URL (e.g. http://127.0.0.1:20128); "
                                         "the data directory is used when omitted")
    common.add_argument("--api-key", help="a key with the 'manage' scope for --server (env OMNIROUTE_API_KEY; "
                                          "or the password in OMNIROUTE_PASSWORD)")
    common.add_argument("--json", action="store_true", help="print JSON")

    keys = sub.add_parser("keys", help="client API keys").add_subparsers(dest="action", required=True)
    create = keys.add_parser("create", parents=[common], help="create a key (shown once)")
    create.add_argument("name")
    create.add_argument("--scope", action="append", choices=["manage"], help="extra scope (repeatable)")
    create.add_argument("--model", action="append", help="allowed model (repeatable; all when omitted)")
    create.add_argument("--expires-days", type=float, help="expire after this many days")
    keys.add_parser("list", parents=[common], help="list keys")
    revoke = keys.add_parser("revoke", parents=[common], help="revoke a key")
    revoke.add_argument("id")
    for p in keys.choices.values():
        p.set_defaults(func=keys_cmd)

    providers = sub.add_parser("providers", help="provider accounts").add_subparsers(dest="action", required=True)
    providers.add_parser("list", parents=[common], help="list accounts (secrets masked)").set_defaults(
        func=providers_cmd)

    backup = sub.add_parser("backup", help="database backups").add_subparsers(dest="action", required=True)
    backup.add_parser("create", parents=[common], help="make a backup now")
    backup.add_parser("list", parents=[common], help="list backups, newest first")
    restore = backup.add_parser("restore", parents=[common], help="restore a backup (the current state is "
                                                                  "backed up first)")
    restore.add_argument("id")
    restore.add_argument("--force", action="store_true", help="restore on disk even while a server runs")
    for p in backup.choices.values():
        p.set_defaults(func=backup_cmd)

    reset = sub.add_parser("reset-password", help="set a new dashboard password (on the data directory)")
    reset.add_argument("--data-dir", help="data directory (env DATA_DIR, default ~/.omniroute)")
    how = reset.add_mutually_exclusive_group()
    how.add_argument("--generate", action="store_true", help="generate a random password and print it once")
    how.add_argument("--password-stdin", action="store_true", help="read the new password from standard input")
    reset.set_defaults(func=reset_password_cmd)


def run(func, args) -> int:
    try:
        return asyncio.run(func(args))
    except CommandError as err:
        print(f"omniroute: {err}", file=sys.stderr)
        return 1
