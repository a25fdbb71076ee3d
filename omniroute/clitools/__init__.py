"""Coding tools on the gateway's machine (Claude Code, Codex, Droid, OpenClaw, ...): are they installed and
runnable, and does their configuration point at this gateway; write that configuration on request.

The catalog is data: a tool is its commands, its configuration file under the home directory and, when the
gateway can configure it, a merge function and a "points here" check (omniroute.clitools.formats).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from omniroute.clitools import formats
from omniroute.clitools.detect import Detection, detect
from omniroute.clitools.files import (
    ConfigError,
    parse,
    read_raw,
    render,
    replace_with_backup,
    target_path,
    text_mentions,
)
from omniroute.clitools.formats import Target

__all__ = ["CATALOG", "ConfigError", "Plan", "Target", "ToolSpec", "report", "report_all", "plan", "write"]


@dataclass(frozen=True, slots=True)
class ToolSpec:
    id: str
    name: str
    commands: tuple[str, ...]
    config: str | None = None  # relative to the home directory
    fmt: str = "json"  # "json", "toml", or "text" (only searched for the gateway's URL)
    apply: Callable | None = None  # (document, Target) -> None; None: the gateway does not write it
    points_at: Callable | None = None  # (document, gateway origin) -> bool
    needs_model: bool = False  # the written config names a model, so one must be chosen

    @property
    def configurable(self) -> bool:
        return self.apply is not None

    def config_path(self) -> Path | None:
        return Path.home() / self.config if self.config else None


CATALOG: dict[str, ToolSpec] = {spec.id: spec for spec in (
    ToolSpec("claude", "Claude Code", ("claude",), ".claude/settings.json", "json",
             formats.apply_claude, formats.claude_points_at),
    ToolSpec("codex", "OpenAI Codex CLI", ("codex",), ".codex/config.toml", "toml",
             formats.apply_codex, formats.codex_points_at),
    ToolSpec("droid", "Factory Droid", ("droid",), ".factory/config.json", "json",
             formats.apply_droid, formats.droid_points_at, needs_model=True),
    ToolSpec("openclaw", "OpenClaw", ("openclaw",), ".openclaw/openclaw.json", "json",
             formats.apply_openclaw, formats.openclaw_points_at, needs_model=True),
    ToolSpec("opencode", "opencode", ("opencode",), ".config/opencode/opencode.json", "json",
             formats.apply_opencode, formats.opencode_points_at, needs_model=True),
    ToolSpec("gemini", "Gemini CLI", ("gemini",), ".gemini/settings.json", "text"),
    ToolSpec("continue", "Continue CLI", ("cn",), ".continue/config.yaml", "text"),
    ToolSpec("cline", "Cline CLI", ("cline",)),
    ToolSpec("kilo", "Kilo Code CLI", ("kilo", "kilocode")),
    ToolSpec("cursor", "Cursor Agent", ("cursor-agent", "cursor")),
)}


def _configured(spec: ToolSpec, origin: str) -> tuple[bool, str | None]:
    """Does the tool's config already point at the gateway at ``origin``? And any problem reading it."""
    path = spec.config_path()
    if path is None:
        return False, None
    try:
        doc = parse(read_raw(path), spec.fmt, path)
    except ConfigError as exc:
        return False, str(exc)
    if spec.fmt == "text":
        return text_mentions(doc, origin), None
    configured = bool(spec.points_at and spec.points_at(doc, origin))
    if spec.apply is not None:
        try:  # a shape the merge would refuse is worth telling before anyone tries (this copy is dropped)
            spec.apply(doc, Target(origin, "check", "check"))
        except ConfigError as exc:
            return configured, str(exc)
    return configured, None


async def report(spec: ToolSpec, origin: str) -> dict:
    """The tool's detection report, as the API answers it."""
    found: Detection = await detect(spec.commands)
    configured, problem = await asyncio.to_thread(_configured, spec, origin)
    path = spec.config_path()
    return {
        "id": spec.id, "name": spec.name,
        "installed": found.installed, "runnable": found.runnable, "command": found.command,
        "commandPath": found.command_path, "runtimeMode": found.runtime_mode, "version": found.version,
        "reason": found.reason, "configured": configured, "configurable": spec.configurable,
        "configPath": str(path) if path else None, "configError": problem,
    }


async def report_all(origin: str) -> list[dict]:
    return list(await asyncio.gather(*(report(spec, origin) for spec in CATALOG.values())))


_locks: dict[str, asyncio.Lock] = {}


def lock_for(spec: ToolSpec) -> asyncio.Lock:
    """One configuration write per tool at a time."""
    return _locks.setdefault(spec.id, asyncio.Lock())


@dataclass(slots=True)
class Plan:
    path: Path  # the file to write
    old: bytes | None  # its current bytes, None when there is none
    new: bytes  # what it will hold
    strings: list[str]  # every string value the current file holds (where a key it was given may be)


def plan(spec: ToolSpec, target: Target) -> Plan:
    """Read and merge; ConfigError when the existing file cannot be merged into. Nothing is written here."""
    path = target_path(spec.config_path())
    raw = read_raw(path)
    doc = parse(raw, spec.fmt, path)
    strings = list(_strings(doc))
    spec.apply(doc, target)
    return Plan(path, raw, render(doc, spec.fmt), strings)


def _strings(value, depth: int = 0):
    if depth > 32:
        return
    if isinstance(value, str):
        yield str(value)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item, depth + 1)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item, depth + 1)


def write(path: Path, old: bytes | None, new: bytes) -> Path | None:
    """Back up and replace; the backup's path (None when there was no file). Raises OSError."""
    return replace_with_backup(path, old, new)
