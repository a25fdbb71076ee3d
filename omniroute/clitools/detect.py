"""Is a coding tool installed on the gateway's machine, how is it run, and does it start?"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
from dataclasses import dataclass

PROBE_TIMEOUT_S = 3.0
_OUTPUT_LIMIT = 64 * 1024
_MAGIC_NATIVE = (b"\x7fELF", b"\xcf\xfa\xed\xfe", b"\xce\xfa\xed\xfe", b"\xca\xfe\xba\xbe", b"MZ")


@dataclass(slots=True)
class Detection:
    installed: bool
    runnable: bool
    command: str
    command_path: str | None
    runtime_mode: str
    version: str | None
    reason: str | None


def find_command(commands: tuple[str, ...]) -> tuple[str, str | None]:
    """The first of ``commands`` on the server process's PATH, and its full path (None when none is)."""
    for command in commands:
        path = shutil.which(command)
        if path:
            return command, path
    return commands[0], None


def runtime_mode(path: str) -> str:
    """How the command runs: "native" binary, a "node" / "python" / "shell" script, or "unknown"."""
    real = os.path.realpath(path)
    try:
        with open(real, "rb") as fh:
            head = fh.read(256)
    except OSError:
        return "unknown"
    if head.startswith(_MAGIC_NATIVE):
        return "native"
    if head.startswith(b"#!"):
        line = head[2:].split(b"\n", 1)[0].decode("utf-8", "replace").strip()
        words = line.split()
        if words and os.path.basename(words[0]) == "env":  # "#!/usr/bin/env [-S] node --flags"
            words = [w for w in words[1:] if not w.startswith("-")]
        interpreter = os.path.basename(words[0]) if words else ""
        if interpreter.startswith(("node", "bun", "deno")):
            return "node"
        if interpreter.startswith(("python", "pypy")):
            return "python"
        if interpreter in ("sh", "bash", "dash", "zsh", "ksh"):
            return "shell"
        return "script"
    if real.endswith((".js", ".mjs", ".cjs")):
        return "node"
    return "unknown"


def _first_line(data: bytes) -> str:
    for line in data.decode("utf-8", "replace").splitlines():
        if line.strip():
            return line.strip()[:200]
    return ""


async def probe_version(path: str, limit_s: float = PROBE_TIMEOUT_S) -> tuple[str | None, str | None]:
    """Run ``<path> --version``: (version, None) when it exits 0, else (None, why it did not)."""
    name = os.path.basename(path)
    try:
        proc = await asyncio.create_subprocess_exec(
            path, "--version", stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE, start_new_session=True)
    except OSError as exc:
        return None, f"'{name} --version' could not be started: {exc.strerror or exc}"
    try:
        out, err = await asyncio.wait_for(proc.communicate(), limit_s)
    except TimeoutError:
        _kill_group(proc)
        await proc.wait()
        return None, f"'{name} --version' did not finish within {limit_s:g} s"
    out, err = out[:_OUTPUT_LIMIT], err[:_OUTPUT_LIMIT]
    if proc.returncode != 0:
        detail = _first_line(err) or _first_line(out)
        how = (f"was killed by signal {-proc.returncode}" if proc.returncode < 0
               else f"exited with status {proc.returncode}")
        return None, f"'{name} --version' {how}" + (f": {detail}" if detail else "")
    return _first_line(out) or _first_line(err) or None, None


def _kill_group(proc: asyncio.subprocess.Process) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # the probe and anything it started (a node wrapper's child)
    except (ProcessLookupError, PermissionError):
        try:
            proc.kill()
        except ProcessLookupError:
            pass


async def detect(commands: tuple[str, ...], limit_s: float = PROBE_TIMEOUT_S) -> Detection:
    command, path = find_command(commands)
    if path is None:
        names = " or ".join(f"'{c}'" for c in commands)
        return Detection(False, False, command, None, "missing", None,
                         f"{names} is not on the gateway's PATH")
    mode = await asyncio.to_thread(runtime_mode, path)
    version, reason = await probe_version(path, limit_s)
    return Detection(True, reason is None, command, path, mode, version, reason)
