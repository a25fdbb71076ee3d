"""Idempotency: a request retried with the same ``Idempotency-Key`` (or ``X-Request-Id``) runs once.

The first request runs; duplicates that arrive while it runs follow it (single flight: they get
its status, headers and body, a stream chunk by chunk as it is produced); duplicates within the
window after it finished get the recorded answer. The same key with another body is a 409.
Only a successful answer is kept for the window: after a failure, a retry runs again.

The key's claim lives in the shared state, so a duplicate sent to another instance finds it and
waits for the recorded answer there; followers on the same instance are served from memory.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import AsyncIterator

import orjson

from omniroute.errors import Conflict, UpstreamTimeout
from omniroute.state import SharedState

RUNNING_TTL_S = 900.0  # a claim whose request never finished (a crash) frees the key after this
MAX_RECORDED_BYTES = 4 * 1024 * 1024  # longer answers are streamed to followers but not kept
POLL_S = 0.05


def body_hash(body: dict) -> str:
    return hashlib.sha256(orjson.dumps(body, option=orjson.OPT_SORT_KEYS)).hexdigest()[:32]


class Flight:
    """One request's answer as it is produced, for the duplicates that follow it."""

    def __init__(self, digest: str):
        self.digest = digest
        self.status: int | None = None
        self.headers: list[tuple[bytes, bytes]] = []
        self.chunks: list[bytes] = []
        self.size = 0
        self.done = False
        self.overflow = False  # too big to keep: late duplicates run again
        self.finished_at = 0.0
        self._changed = asyncio.Event()

    def _wake(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    def start(self, status: int, headers) -> None:
        self.status, self.headers = status, [(k, v) for k, v in headers if k.lower() != b"content-length"]
        self._wake()

    def write(self, chunk: bytes) -> None:
        if chunk:
            self.chunks.append(chunk)
            self.size += len(chunk)
            self._wake()

    def finish(self) -> None:
        self.done, self.finished_at = True, time.monotonic()
        self._wake()

    async def follow(self) -> AsyncIterator[bytes]:
        """The body chunks, the recorded ones first, then the rest as they come."""
        sent = 0
        while True:
            while sent < len(self.chunks):
                sent += 1
                yield self.chunks[sent - 1]
            if self.done:
                return
            await self._changed.wait()

    async def started(self) -> None:
        while self.status is None and not self.done:
            await self._changed.wait()

    def to_json(self) -> bytes:
        return orjson.dumps({"status": self.status, "headers": [[k.decode("latin-1"), v.decode("latin-1")]
                                                                 for k, v in self.headers],
                             "body": b"".join(self.chunks).decode("utf-8", "replace")})

    @classmethod
    def from_json(cls, digest: str, raw) -> Flight:
        data = orjson.loads(raw)
        flight = cls(digest)
        flight.start(data["status"], [(k.encode("latin-1"), v.encode("latin-1")) for k, v in data["headers"]])
        flight.write(data["body"].encode())
        flight.finish()
        return flight


class Idempotency:
    def __init__(self, state: SharedState, window_ms: int = 5000):
        self._state = state
        self.window_ms = window_ms
        self._flights: dict[str, Flight] = {}

    @property
    def active(self) -> int:
        self._sweep()
        return len(self._flights)

    async def begin(self, scope: str, digest: str) -> tuple[Flight, bool]:
        """The flight of this key and whether this request runs it (False: it replays one)."""
        self._sweep()
        flight = self._flights.get(scope)
        if flight is not None:
            self._check(scope, flight.digest, digest)
            if not (flight.done and flight.overflow):
                return flight, False
        if await self._state.set_if_absent(f"idem:{scope}", digest, ttl=RUNNING_TTL_S):
            flight = self._flights[scope] = Flight(digest)
            return flight, True
        flight = self._flights.get(scope)  # claimed here while the state answered
        if flight is not None:
            self._check(scope, flight.digest, digest)
            return flight, False
        held = await self._state.get(f"idem:{scope}")  # claimed by another instance (or just freed)
        if held is not None:
            self._check(scope, str(held), digest)
        return await self._from_elsewhere(scope, digest), False

    async def end(self, scope: str, flight: Flight, ok: bool) -> None:
        """The running request finished: keep a successful answer for the window, free the key otherwise."""
        flight.overflow = flight.size > MAX_RECORDED_BYTES
        flight.finish()
        window = self.window_ms / 1000
        if ok and not flight.overflow:
            await self._state.set(f"idem:{scope}", flight.digest, ttl=window)
            await self._state.set(f"idem:done:{scope}", flight.to_json().decode(), ttl=window)
        else:
            if self._flights.get(scope) is flight:
                del self._flights[scope]
            await self._state.delete(f"idem:{scope}")

    async def clear(self) -> None:
        self._flights.clear()

    def _check(self, scope: str, held: str, digest: str) -> None:
        if held != digest:
            raise Conflict("this Idempotency-Key was already used with a different request body within "
                           f"the last {self.window_ms} ms; use a new key for a new request",
                           code="idempotency_key_reused")

    async def _from_elsewhere(self, scope: str, digest: str, timeout_s: float = RUNNING_TTL_S) -> Flight:
        """Wait for the answer another instance records (or the claim to be freed)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            raw = await self._state.get(f"idem:done:{scope}")
            if raw is not None:
                return Flight.from_json(digest, raw)
            if await self._state.get(f"idem:{scope}") is None:
                raise UpstreamTimeout("the request this one duplicates ended without an answer to replay; "
                                      "send it again")
            await asyncio.sleep(POLL_S)
        raise UpstreamTimeout("the request this one duplicates is still running; send it again later")

    def _sweep(self) -> None:
        if not self._flights:
            return
        cutoff = time.monotonic() - self.window_ms / 1000
        for scope in [s for s, f in self._flights.items() if f.done and f.finished_at < cutoff]:
            del self._flights[scope]
