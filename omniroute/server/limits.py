"""Client rate limits: requests per minute per API key and overall, and requests in flight per key.

Counters live in SharedState so several instances sharing Redis enforce one limit. A minute's
rate is a sliding window approximated from two fixed one-minute buckets: the current bucket's
count plus the previous bucket's, weighted by how much of it the window still covers. Requests
without an API key share one bucket. A refused request is not counted.
"""

from __future__ import annotations

import math
import time
from collections.abc import Awaitable, Callable

from omniroute.errors import RateLimited

FIELDS = ("perKeyRpm", "perKeyConcurrency", "globalRpm")
WINDOW_S = 60
# In-flight counters outlive any request; the TTL only frees the slots of an instance that died
# while holding them.
SLOT_TTL_S = 3600
_ANONYMOUS = "~anonymous"
_GLOBAL = "~global"

Release = Callable[[], Awaitable[None]]


def limits_config(value) -> dict[str, int]:
    """The limits of a stored or submitted object (absent or null = no limit); ValueError when invalid."""
    if not isinstance(value, dict):
        raise ValueError("rate limits must be an object")
    unknown = sorted(set(value) - set(FIELDS))
    if unknown:
        raise ValueError(f"unknown field(s) {', '.join(unknown)}")
    config = {}
    for name in FIELDS:
        limit = value.get(name)
        if limit is None:
            continue
        if type(limit) is not int or limit < 1:
            raise ValueError(f"'{name}' must be a positive integer or null")
        config[name] = limit
    return config


def _who(key_id: str | None) -> str:
    return f"API key '{key_id}'" if key_id is not None else "requests without an API key"


def wait_s(limit: int, previous: int, current: int, elapsed: float) -> int:
    """Whole seconds (≥ 1) until one more request fits under ``limit``, given the previous and current
    buckets' counts and the seconds elapsed in the current bucket."""
    room = limit - 1 - current  # what the weighted previous bucket may still hold
    if room >= 0 and previous > 0:
        wait = (1 - room / previous) * WINDOW_S - elapsed
    else:  # the current bucket alone is full: it becomes the previous one, then decays
        decay = 1 - (limit - 1) / current if current > 0 else 0.0
        wait = WINDOW_S - elapsed + max(0.0, decay) * WINDOW_S
    return max(1, math.ceil(wait))


class RateLimits:
    """The live limits and their admission check."""

    def __init__(self, state, clock: Callable[[], float] = time.time):
        self._state = state
        self._clock = clock
        self.per_key_rpm: int | None = None
        self.per_key_concurrency: int | None = None
        self.global_rpm: int | None = None
        self.active = False  # read by the routes before calling admit: no limit, no work

    def configure(self, value: dict) -> None:
        """Replace the limits with ``value`` (see ``limits_config``)."""
        config = limits_config(value)
        self.per_key_rpm = config.get("perKeyRpm")
        self.per_key_concurrency = config.get("perKeyConcurrency")
        self.global_rpm = config.get("globalRpm")
        self.active = bool(config)

    def to_json(self) -> dict:
        return {"perKeyRpm": self.per_key_rpm, "perKeyConcurrency": self.per_key_concurrency,
                "globalRpm": self.global_rpm}

    async def admit(self, key_id: str | None) -> Release | None:
        """Count one request of ``key_id``; raises RateLimited when a limit is reached. Returns the
        function that frees its in-flight slot, or None when no concurrency limit applies."""
        if not self.active:
            return None
        who = key_id if key_id is not None else _ANONYMOUS
        counted: list[str] = []
        try:
            if self.per_key_rpm is not None:
                await self._count(who, self.per_key_rpm, counted, f"{_who(key_id)} has reached its limit of "
                                                                  f"{self.per_key_rpm} requests per minute")
            if self.global_rpm is not None:
                await self._count(_GLOBAL, self.global_rpm, counted,
                                  f"the gateway's global limit of {self.global_rpm} requests per minute is "
                                  f"reached (request from {_who(key_id)})")
            if self.per_key_concurrency is not None:
                return await self._slot(who, key_id, self.per_key_concurrency)
        except RateLimited:
            for key in counted:  # a refused request does not use up the window
                await self._state.incr(key, -1)
            raise
        return None

    async def _count(self, who: str, limit: int, counted: list[str], what: str) -> None:
        now = self._clock()
        bucket, elapsed = divmod(now, WINDOW_S)
        key = f"climit:rpm:{who}:{int(bucket)}"
        current = await self._state.incr(key, 1, ttl=2 * WINDOW_S)
        counted.append(key)
        previous = int(await self._state.get(f"climit:rpm:{who}:{int(bucket) - 1}") or 0)
        if previous * (1 - elapsed / WINDOW_S) + current <= limit:
            return
        retry = wait_s(limit, previous, current - 1, elapsed)
        err = RateLimited(f"rate limit: {what}; retry in {retry} s", code="rate_limited")
        err.retry_after = str(retry)
        raise err

    async def _slot(self, who: str, key_id: str | None, limit: int) -> Release:
        key = f"climit:busy:{who}"
        state = self._state
        if await state.incr(key, 1, ttl=SLOT_TTL_S) > limit:
            await state.incr(key, -1)
            err = RateLimited(f"concurrency limit: {_who(key_id)} already has {limit} request(s) in flight, "
                              f"its limit; retry in 1 s, once one has finished", code="concurrency_limited")
            err.retry_after = "1"
            raise err
        released = False

        async def release() -> None:
            nonlocal released
            if released:
                return
            released = True
            if await state.incr(key, -1) < 0:
                await state.delete(key)  # the counter expired while held: drop the negative remainder

        return release
