"""The interface every shared-state backend implements."""

from __future__ import annotations

from abc import ABC, abstractmethod
from contextlib import AbstractAsyncContextManager


class SharedState(ABC):
    """Counters, expiring keys, locks and small maps shared by every request.

    Values are strings, ints or floats; TTLs are seconds. Every method is async
    so a networked backend (Redis) can implement the same contract.
    """

    shared = False  # True when other gateway instances see the same state (and hear its events)

    @abstractmethod
    async def get(self, key: str) -> str | int | float | None:
        """The value of ``key``, or None when absent or expired."""

    @abstractmethod
    async def set(self, key: str, value: str | int | float, ttl: float | None = None) -> None:
        """Store ``value`` under ``key``, expiring after ``ttl`` seconds when given."""

    @abstractmethod
    async def set_if_absent(self, key: str, value: str | int | float, ttl: float | None = None) -> bool:
        """Store only when ``key`` is absent; True when this call stored it."""

    @abstractmethod
    async def delete(self, key: str) -> None:
        """Remove ``key`` (and its map, if it is one)."""

    @abstractmethod
    async def incr(self, key: str, amount: int = 1, ttl: float | None = None) -> int:
        """Add ``amount``; ``ttl`` applies when this call creates the counter."""

    @abstractmethod
    async def ttl(self, key: str) -> float | None:
        """Seconds left before ``key`` expires; None when absent or permanent."""

    @abstractmethod
    async def hset(self, key: str, field: str, value: str | int | float) -> None:
        """Set one field of the small map ``key``."""

    @abstractmethod
    async def hget(self, key: str, field: str) -> str | int | float | None:
        """One field of the small map ``key``."""

    @abstractmethod
    async def hgetall(self, key: str) -> dict[str, str | int | float]:
        """Every field of the small map ``key``."""

    @abstractmethod
    async def hdel(self, key: str, field: str) -> None:
        """Remove one field of the small map ``key``."""

    async def peek(self, key: str) -> str | int | float | None:
        """``get`` for a hot-path read that may lag other instances' writes by a moment (a networked
        backend answers it from a short local cache; this instance's own writes are seen at once)."""
        return await self.get(key)

    async def hpeek(self, key: str, field: str) -> str | int | float | None:
        """``hget`` with the lag allowed by ``peek``."""
        return await self.hget(key, field)

    @abstractmethod
    def lock(self, key: str, ttl: float = 10.0) -> AbstractAsyncContextManager[None]:
        """A mutual-exclusion lock held for at most ``ttl`` seconds."""

    async def publish(self, message: bytes) -> None:  # noqa: B027 - one process: nobody else to tell
        """Tell every instance sharing this state (this one included) about ``message``."""

    async def listen(self, handler) -> None:  # noqa: B027
        """Have ``handler(message)`` called for every message published through this state."""

    async def close(self) -> None:  # noqa: B027 - optional hook, most backends hold nothing
        """Release the backend's resources."""
