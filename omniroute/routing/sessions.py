"""Client sessions: which sessions are active (GET /api/sessions) and which account served each.

A client names its session with ``X-Session-Id`` (Claude Code sends ``X-Claude-Code-Session-Id``,
Codex ``session_id``). Everything lives in SharedState so every instance sees the same sessions:

- ``sessions:index``, one small map: session id → ``"lastSeen|requests|apiKeyId"``;
- ``session:{id}:requests``, the request counter (an atomic ``incr``);
- ``session:{id}:account:{provider}``, the account that last served the session there (expires).

The map has no expiry of its own, so it is pruned every few hundred touches and on each listing:
sessions idle longer than the TTL go, and past ``max_sessions`` the least recently seen go.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

log = logging.getLogger("omniroute")

MAX_ID_CHARS = 200
HEADERS = (b"x-session-id", b"x-claude-code-session-id", b"session_id")
INDEX = "sessions:index"
PRUNE_EVERY = 256
# Counters are deleted when their session is pruned; the TTL only bounds one that a prune missed.
COUNTER_TTL_S = 86_400


def session_id_of(headers: dict[bytes, str]) -> str | None:
    """The session id a client sent, under any of its header names; None when absent or over-long."""
    for name in HEADERS:
        value = headers.get(name)
        if value:
            return value if len(value) <= MAX_ID_CHARS else None
    return None


class SessionTracker:
    """Request counts, last activity and account affinity per client session."""

    def __init__(self, state, ttl_s: float = 1800, max_sessions: int = 10_000,
                 clock: Callable[[], float] = time.time, prune_every: int = PRUNE_EVERY):
        self._state = state
        self.ttl_s = ttl_s
        self.max_sessions = max_sessions
        self._clock = clock
        self._prune_every = prune_every
        self._touches = 0
        self._pending: set[asyncio.Task] = set()

    async def touch(self, session_id: str, api_key_id: str | None) -> None:
        """Record one request of the session."""
        state = self._state
        requests = await state.incr(f"session:{session_id}:requests", 1, ttl=max(self.ttl_s, COUNTER_TTL_S))
        await state.hset(INDEX, session_id, f"{self._clock():.3f}|{requests}|{api_key_id or ''}")
        self._touches += 1
        if self._touches % self._prune_every == 0:
            await self._live()

    def touch_later(self, session_id: str, api_key_id: str | None) -> None:
        """``touch`` without holding up the request; a failure is logged, never the client's."""
        task = asyncio.create_task(self.touch(session_id, api_key_id))
        self._pending.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task) -> None:
        self._pending.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("session tracking failed: %s", task.exception())

    async def list(self) -> list[dict]:
        """Live sessions, most recently seen first: ``{"id", "apiKeyId", "requests", "lastSeen"}``."""
        return [{"id": sid, "apiKeyId": key or None, "requests": requests, "lastSeen": seen}
                for sid, seen, requests, key in await self._live()]

    async def preferred(self, session_id: str, provider_id: str) -> str | None:
        """The account that last served this session at ``provider_id``, if still remembered."""
        value = await self._state.get(f"session:{session_id}:account:{provider_id}")
        return None if value is None else str(value)

    async def bind(self, session_id: str, provider_id: str, account_id: str) -> None:
        """Remember that ``account_id`` served this session at ``provider_id`` (for the TTL)."""
        await self._state.set(f"session:{session_id}:account:{provider_id}", account_id, ttl=self.ttl_s)

    async def _live(self) -> list[tuple[str, float, int, str]]:
        """Read the index, drop idle and surplus sessions, return the rest newest first."""
        state = self._state
        cutoff = self._clock() - self.ttl_s
        live, dead = [], []
        for sid, value in (await state.hgetall(INDEX)).items():
            seen, requests, key = _parse(value)
            (live if seen >= cutoff else dead).append((sid, seen, requests, key))
        live.sort(key=lambda entry: entry[1], reverse=True)
        if len(live) > self.max_sessions:
            dead += live[self.max_sessions:]
            del live[self.max_sessions:]
        for sid, *_ in dead:
            await state.hdel(INDEX, sid)
            await state.delete(f"session:{sid}:requests")
        return live


def _parse(value) -> tuple[float, int, str]:
    """``"lastSeen|requests|apiKeyId"``; an unreadable entry reads as long expired."""
    try:
        seen, requests, key = str(value).split("|", 2)
        return float(seen), int(requests), key
    except ValueError:
        return 0.0, 0, ""
