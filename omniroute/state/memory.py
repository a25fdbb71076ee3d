"""In-process SharedState: dictionaries with monotonic expiry."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from omniroute.state.base import SharedState

_SWEEP_EVERY = 1024


class MemoryState(SharedState):
    """Single-process state; expired keys are dropped lazily and by a periodic sweep."""

    def __init__(self) -> None:
        self._values: dict[str, object] = {}
        self._expiry: dict[str, float] = {}
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}
        self._writes = 0

    def _alive(self, key: str) -> bool:
        deadline = self._expiry.get(key)
        if deadline is not None and deadline <= time.monotonic():
            self._values.pop(key, None)
            self._expiry.pop(key, None)
            return False
        return key in self._values

    def _store(self, key: str, value: object, ttl: float | None) -> None:
        self._values[key] = value
        if ttl is None:
            self._expiry.pop(key, None)
        else:
            self._expiry[key] = time.monotonic() + ttl
        self._writes += 1
        if self._writes % _SWEEP_EVERY == 0:
            self._sweep()

    def _sweep(self) -> None:
        now = time.monotonic()
        for key in [k for k, d in self._expiry.items() if d <= now]:
            self._values.pop(key, None)
            self._expiry.pop(key, None)

    def __len__(self) -> int:
        self._sweep()
        return len(self._values)

    async def get(self, key):
        if not self._alive(key):
            return None
        value = self._values[key]
        return None if isinstance(value, dict) else value

    async def set(self, key, value, ttl=None):
        self._store(key, value, ttl)

    async def set_if_absent(self, key, value, ttl=None):
        if self._alive(key):
            return False
        self._store(key, value, ttl)
        return True

    async def delete(self, key):
        self._values.pop(key, None)
        self._expiry.pop(key, None)

    async def incr(self, key, amount=1, ttl=None):
        if self._alive(key):
            value = int(self._values[key]) + amount  # type: ignore[arg-type]
            self._values[key] = value
            return value
        self._store(key, amount, ttl)
        return amount

    async def ttl(self, key):
        if not self._alive(key):
            return None
        deadline = self._expiry.get(key)
        return None if deadline is None else max(0.0, deadline - time.monotonic())

    def _map(self, key: str, create: bool) -> dict | None:
        if self._alive(key) and isinstance(self._values[key], dict):
            return self._values[key]  # type: ignore[return-value]
        if not create:
            return None
        fresh: dict = {}
        self._store(key, fresh, None)
        return fresh

    async def hset(self, key, field, value):
        self._map(key, True)[field] = value  # type: ignore[index]

    async def hget(self, key, field):
        mapping = self._map(key, False)
        return None if mapping is None else mapping.get(field)

    async def hgetall(self, key):
        mapping = self._map(key, False)
        return {} if mapping is None else dict(mapping)

    async def hdel(self, key, field):
        mapping = self._map(key, False)
        if mapping is not None:
            mapping.pop(field, None)

    @asynccontextmanager
    async def lock(self, key: str, ttl: float = 10.0) -> AsyncIterator[None]:
        lock, users = self._locks.get(key) or (asyncio.Lock(), 0)
        self._locks[key] = (lock, users + 1)  # counted so an idle lock can be dropped safely
        try:
            async with asyncio.timeout(ttl):
                await lock.acquire()
            try:
                yield
            finally:
                lock.release()
        finally:
            lock, users = self._locks[key]
            if users == 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)
