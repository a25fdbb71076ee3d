"""Tool configuration files: parse, render, back up, replace atomically; and "is this URL us?"."""

from __future__ import annotations

import json
import os
import re
import tempfile
import time
import tomllib
from pathlib import Path
from urllib.parse import urlsplit

MAX_CONFIG_BYTES = 4 * 1024 * 1024
_LOOPBACK = frozenset({"localhost", "127.0.0.1", "::1", "0.0.0.0", "::"})
_DEFAULT_PORTS = {"http": 80, "https": 443}
_URL = re.compile(r"https?://[^\s\"'<>`,}\])]+")


class ConfigError(Exception):
    """An existing configuration file this module will not touch (unreadable, malformed, odd shape)."""


def display(path: Path) -> str:
    """The path as shown to people: under the home directory as ``~/...``."""
    try:
        return "~/" + str(path.relative_to(Path.home()))
    except ValueError:
        return str(path)


def target_path(path: Path) -> Path:
    """Where writes go: a symlinked config (dotfiles) is edited where it really lives."""
    return Path(os.path.realpath(path)) if path.is_symlink() else path


def read_raw(path: Path) -> bytes | None:
    """The file's bytes, or None when there is no file yet."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ConfigError(f"{display(path)} cannot be read: {exc.strerror or exc}") from None
    if not path.is_file():
        raise ConfigError(f"{display(path)} is not a regular file")
    if size > MAX_CONFIG_BYTES:
        raise ConfigError(f"{display(path)} is larger than {MAX_CONFIG_BYTES // (1024 * 1024)} MB")
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{display(path)} cannot be read: {exc.strerror or exc}") from None


def parse(raw: bytes | None, fmt: str, path: Path):
    """The document in ``raw`` (an empty one when there is no file): a dict for JSON, tomlkit's for TOML,
    the text for "text"."""
    try:
        text = "" if raw is None else raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ConfigError(f"{display(path)} is not UTF-8 text; nothing was written") from None
    if fmt == "text":
        return text
    if fmt == "json":
        if not text.strip():
            return {}
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{display(path)} is not valid JSON (line {exc.lineno}, column {exc.colno}: "
                              f"{exc.msg}); fix or move it first, nothing was written") from None
        if not isinstance(doc, dict):
            raise ConfigError(f"{display(path)} must hold a JSON object at the top level; nothing was written")
        return doc
    if fmt == "toml":
        import tomlkit  # only when a TOML config is edited: kept off the server's start-up
        from tomlkit.exceptions import TOMLKitError

        try:
            tomllib.loads(text)  # the strict reader decides what is valid
            return tomlkit.parse(text)  # edited with its comments and layout kept
        except (tomllib.TOMLDecodeError, TOMLKitError) as exc:
            raise ConfigError(f"{display(path)} is not valid TOML ({exc}); fix or move it first, "
                              "nothing was written") from None
    raise ValueError(f"unknown config format {fmt!r}")


def render(doc, fmt: str) -> bytes:
    if fmt == "json":
        return (json.dumps(doc, indent=2, ensure_ascii=False) + "\n").encode()
    if fmt == "toml":
        import tomlkit

        text = tomlkit.dumps(doc)
        tomllib.loads(text)  # never write a file the tool could not read back
        return text.encode()
    raise ValueError(f"cannot write config format {fmt!r}")


def backup_path(path: Path) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    candidate = path.with_name(f"{path.name}.omniroute-backup-{stamp}")
    n = 1
    while candidate.exists():
        candidate = path.with_name(f"{path.name}.omniroute-backup-{stamp}-{n}")
        n += 1
    return candidate


def _write_private(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same directory and os.replace (mode 0600)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            os.fchmod(fh.fileno(), 0o600)
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def replace_with_backup(path: Path, old: bytes | None, new: bytes) -> Path | None:
    """Back up the current file (when there is one) as ``<file>.omniroute-backup-<UTC time>``, then replace
    it atomically; returns the backup's path. Raises OSError with nothing changed when the backup fails."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    backup = None
    if old is not None:
        backup = backup_path(path)
        _write_private(backup, old)  # the old file may hold keys too
    _write_private(path, new)
    return backup


def origin_of(url: str) -> tuple[str, str, int] | None:
    """(scheme, host, port) of an http(s) URL, None when it is not one."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in _DEFAULT_PORTS or not parts.hostname:
        return None
    return parts.scheme, parts.hostname.lower(), port or _DEFAULT_PORTS[parts.scheme]


def same_gateway(url, gateway: str) -> bool:
    """Does ``url`` reach the gateway at ``gateway``? Loopback names count as one host."""
    if not isinstance(url, str):
        return False
    mine, theirs = origin_of(gateway), origin_of(url)
    if mine is None or theirs is None:
        return False
    if mine == theirs:
        return True
    return mine[2] == theirs[2] and mine[1] in _LOOPBACK and theirs[1] in _LOOPBACK


def text_mentions(text: str, gateway: str) -> bool:
    """Does a free-form config (YAML and the like) name a URL of the gateway?"""
    return any(same_gateway(m.group(0), gateway) for m in _URL.finditer(text))
