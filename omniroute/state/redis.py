"""SharedState on Redis: several gateway instances see one set of counters, breakers, cooldowns,
rate windows, budgets' ledgers, login sessions and locks, and hear each other's configuration
changes over one pub/sub channel.

Values keep their Python type across the wire: an int is stored as its decimal digits (so INCRBY
works on it), a float as ``f`` + its repr, a string as ``s`` + the string. Every key is prefixed
(``omniroute:`` by default) so one Redis can serve other applications, or several gateways.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from omniroute.errors import StateUnavailable
from omniroute.state.base import SharedState

log = logging.getLogger("omniroute.state")

# Adds to a counter; the TTL is set only when this call created it (as MemoryState does).
_INCR = """
local created = redis.call('EXISTS', KEYS[1]) == 0
local value = redis.call('INCRBY', KEYS[1], ARGV[1])
if created and ARGV[2] ~= '' then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return value
"""
# Releases a lock only while this holder still owns it (it may have expired and been taken).
_UNLOCK = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
CHANNEL = "events"
NEAR_MAX = 10_000  # peeked answers kept at most
RECONNECTED = b"config:reconnected"  # handed to the listener after an outage (origin: none of the instances)


def encode(value: str | int | float) -> bytes:
    if isinstance(value, bool) or isinstance(value, int):
        return str(int(value)).encode()
    if isinstance(value, float):
        return b"f" + repr(value).encode()
    return b"s" + str(value).encode()


def decode(raw: bytes | None) -> str | int | float | None:
    if raw is None:
        return None
    tag = raw[:1]
    if tag == b"s":
        return raw[1:].decode()
    if tag == b"f":
        return float(raw[1:])
    return int(raw)


def _reachable(method):
    """Redis unreachable (down, restarting, timed out) becomes StateUnavailable: a 503 that names it."""
    @functools.wraps(method)
    async def call(self, *args, **kwargs):
        try:
            return await method(self, *args, **kwargs)
        except self._down as exc:
            raise StateUnavailable(f"the shared state (Redis at {_safe_url(self.url)}) is unreachable: "
                                   f"{exc.__class__.__name__}") from None

    return call


def _ms(ttl: float) -> int:
    return max(1, int(ttl * 1000))


class RedisState(SharedState):
    """State shared by every instance pointed at the same Redis and prefix."""

    shared = True

    def __init__(self, url: str, prefix: str = "omniroute:", max_connections: int = 64, peek_s: float = 0.25):
        import redis.asyncio as aioredis

        self.url = url
        self.prefix = prefix
        # A bounded pool that makes a burst wait for a connection instead of failing (the default pool
        # raises past 100 at once, which c=64 with background settlements reaches).
        pool = aioredis.BlockingConnectionPool.from_url(url, max_connections=max_connections, timeout=5,
                                                        health_check_interval=30, socket_connect_timeout=2,
                                                        socket_timeout=5)
        self._redis = aioredis.Redis(connection_pool=pool, decode_responses=False)
        self._errors = aioredis.ResponseError
        from redis.exceptions import ConnectionError as Down
        from redis.exceptions import TimeoutError as Slow

        self._down = (Down, Slow)  # not OSError: the builtin TimeoutError of a lock wait is one
        self._incr = self._redis.register_script(_INCR)
        self._unlock = self._redis.register_script(_UNLOCK)
        self._listener: asyncio.Task | None = None
        # peek/hpeek answers: key -> {field (None for the plain value): (read at, value)}. The hot path
        # asks the same few questions (is this provider's breaker tripped? is this account cooling
        # down? is this model locked out on it?) for every request; answering them from here for ``peek_s`` turns a round trip
        # per request into one per key every ``peek_s``. Any write of this instance to a key drops it.
        self.peek_s = peek_s
        self._near: dict[str, dict[str | None, tuple[float, object]]] = {}
        self._near_kept = 0  # answers in _near (counted up to NEAR_MAX, then it starts over)
        self._asking: dict[tuple[str, str | None], asyncio.Future] = {}

    def _k(self, key: str) -> str:
        return self.prefix + key

    def _w(self, key: str) -> str:
        """The Redis name of a key this instance is about to write (its peeked answers go)."""
        if self._near:
            self._near.pop(key, None)
        return self.prefix + key

    def _recall(self, key: str, field: str | None):
        entry = self._near.get(key, {}).get(field)
        if entry is not None and time.monotonic() - entry[0] < self.peek_s:
            return entry
        return None

    def _keep(self, key: str, field: str | None, value) -> None:
        # Bounded by answers kept, not keys: a map's fields (account and model, the model as a client
        # named it) are as many as clients make them, and a field not written again is never dropped.
        if self._near_kept >= NEAR_MAX:
            self._near.clear()
            self._near_kept = 0
        fields = self._near.setdefault(key, {})
        if field not in fields:
            self._near_kept += 1
        fields[field] = (time.monotonic(), value)

    async def peek(self, key):
        entry = self._recall(key, None)
        return entry[1] if entry is not None else await self._peek_once(key, None)

    async def hpeek(self, key, field):
        entry = self._recall(key, field)
        return entry[1] if entry is not None else await self._peek_once(key, field)

    async def _peek_once(self, key: str, field: str | None):
        """One read however many requests ask at once (a burst would otherwise send one each). The read
        is a task of its own, so a request that gives up waiting does not cancel it for the others."""
        reading = self._asking.get((key, field))
        if reading is None:
            reading = asyncio.get_running_loop().create_task(self._read(key, field))
            self._asking[(key, field)] = reading
            reading.add_done_callback(self._read_done)
        return await asyncio.shield(reading)

    async def _read(self, key: str, field: str | None):
        try:
            value = await (self.get(key) if field is None else self.hget(key, field))
        finally:
            self._asking.pop((key, field), None)
        self._keep(key, field, value)
        return value

    @staticmethod
    def _read_done(task: asyncio.Task) -> None:
        if not task.cancelled():
            task.exception()  # retrieved: an outage nobody waited for is not logged as unhandled

    async def ping(self) -> None:
        """Raise ConnectionError (with the URL, credentials hidden) when Redis cannot be reached."""
        try:
            await self._redis.ping()
        except Exception as exc:  # noqa: BLE001 - any failure means the same to the operator
            raise ConnectionError(f"Redis at {_safe_url(self.url)} is not reachable: {exc}") from None

    @_reachable
    async def get(self, key):
        try:
            return decode(await self._redis.get(self._k(key)))
        except self._errors:  # the key holds a map
            return None

    @_reachable
    async def set(self, key, value, ttl=None):
        await self._redis.set(self._w(key), encode(value), px=None if ttl is None else _ms(ttl))

    @_reachable
    async def set_if_absent(self, key, value, ttl=None):
        stored = await self._redis.set(self._w(key), encode(value), nx=True,
                                       px=None if ttl is None else _ms(ttl))
        return bool(stored)

    @_reachable
    async def delete(self, key):
        await self._redis.delete(self._w(key))

    @_reachable
    async def incr(self, key, amount=1, ttl=None):
        return int(await self._incr(keys=[self._w(key)], args=[int(amount), "" if ttl is None else _ms(ttl)]))

    @_reachable
    async def ttl(self, key):
        left = await self._redis.pttl(self._k(key))
        return None if left is None or left < 0 else left / 1000

    @_reachable
    async def hset(self, key, field, value):
        try:
            await self._redis.hset(self._w(key), field, encode(value))
        except self._errors:  # the key holds a plain value: a map replaces it, as in memory
            await self._redis.delete(self._w(key))
            await self._redis.hset(self._w(key), field, encode(value))

    @_reachable
    async def hget(self, key, field):
        try:
            return decode(await self._redis.hget(self._k(key), field))
        except self._errors:
            return None

    @_reachable
    async def hgetall(self, key):
        try:
            raw = await self._redis.hgetall(self._k(key))
        except self._errors:
            return {}
        return {name.decode(): decode(value) for name, value in raw.items()}

    @_reachable
    async def hdel(self, key, field):
        try:
            await self._redis.hdel(self._w(key), field)
        except self._errors:
            pass

    @asynccontextmanager
    async def lock(self, key: str, ttl: float = 10.0) -> AsyncIterator[None]:
        name, token, pause = self._k("lock:" + key), secrets.token_hex(16), 0.005
        try:
            async with asyncio.timeout(ttl):  # waiting as long as a holder may hold it, then TimeoutError
                while not await self._redis.set(name, token, nx=True, px=_ms(ttl)):
                    await asyncio.sleep(pause)
                    pause = min(pause * 2, 0.05)
        except self._down as exc:
            raise StateUnavailable(f"the shared state (Redis at {_safe_url(self.url)}) is unreachable: "
                                   f"{exc.__class__.__name__}") from None
        try:
            yield
        finally:
            try:
                await self._unlock(keys=[name], args=[token])
            except self._down:  # the lock expires by itself after ttl
                log.warning("a shared lock could not be released (Redis unreachable); it expires in %gs", ttl)

    # --- events between instances ---------------------------------------------------------------
    @_reachable
    async def publish(self, message: bytes) -> None:
        await self._redis.publish(self._k(CHANNEL), message)

    async def listen(self, handler: Callable[[bytes], Awaitable[None]]) -> None:
        """Call ``handler`` with every message published by any instance (this one's included), from
        a background task that reconnects after Redis restarts."""
        if self._listener is None:
            self._listener = asyncio.create_task(self._listen(handler), name="omniroute-state-events")

    async def _listen(self, handler: Callable[[bytes], Awaitable[None]]) -> None:
        failing = False
        while True:
            pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self._k(CHANNEL))
                if failing:  # changes announced while away were missed: act as if one arrived now
                    log.warning("shared-state events: reconnected to Redis")
                    failing = False
                    await handler(RECONNECTED)
                async for message in pubsub.listen():
                    if message.get("type") == "message":
                        try:
                            await handler(message["data"])
                        except Exception:  # noqa: BLE001 - one bad event must not end the listener
                            log.exception("a shared-state event could not be handled")
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - Redis went away: retry every second, say it once
                if not failing:
                    log.warning("shared-state events interrupted (%s); reconnecting", exc.__class__.__name__)
                failing = True
                await asyncio.sleep(1.0)
            finally:
                try:
                    await pubsub.aclose()
                except Exception:  # noqa: BLE001
                    pass

    async def close(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            try:
                await self._listener
            except (asyncio.CancelledError, Exception):  # noqa: BLE001
                pass
            self._listener = None
        await self._redis.aclose()


def _safe_url(url: str) -> str:
    """The URL without its password."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port:
        host += f":{parts.port}"
    user = f"{parts.username}:***@" if parts.username else ":***@"
    return urlunsplit((parts.scheme, user + host, parts.path, parts.query, parts.fragment))
