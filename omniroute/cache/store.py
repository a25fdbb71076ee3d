"""The response cache's two tiers: an in-memory LRU bounded by entries and bytes, and a table.

Reads try memory, then the table (a hit there is promoted to memory). Writes go to memory at
once and to the table from a background writer, so no request waits on the disk. Entries
expire after the TTL in both tiers; the table is purged of expired rows periodically.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from dataclasses import dataclass

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from omniroute.store import tables as t

log = logging.getLogger("omniroute")
PURGE_EVERY_S = 600.0


@dataclass(frozen=True, slots=True)
class CacheConfig:
    mode: str = "deterministic"  # "deterministic" (temperature 0 only), "all", "off"
    ttlMs: int = 3_600_000
    maxEntries: int = 256
    maxBytes: int = 8 * 1024 * 1024
    maxEntryBytes: int = 256 * 1024
    persist: bool = True

    def to_json(self) -> dict:
        return {f: getattr(self, f) for f in self.__dataclass_fields__}


@dataclass(slots=True)
class Entry:
    value: bytes  # codec.dumps of the canonical answer
    upstream: str  # the dialect that issued its reasoning payloads
    model: str
    expires_at: float  # wall clock


def _row_value(entry: Entry) -> str:
    return entry.upstream + "\n" + entry.value.decode()


class ResponseCache:
    def __init__(self, engine: AsyncEngine | None, config: CacheConfig | None = None):
        self._engine = engine
        self.config = config or CacheConfig()
        self._memory: OrderedDict[str, Entry] = OrderedDict()
        self._bytes = 0
        self.hits = 0
        self.misses = 0
        self._queue: asyncio.Queue | None = None
        self._writer: asyncio.Task | None = None
        self._purged_at = 0.0

    # ---- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        if self._engine is not None and self._writer is None:
            self._queue = asyncio.Queue(maxsize=10_000)
            self._writer = asyncio.create_task(self._write_loop(), name="cache-writer")

    async def close(self) -> None:
        if self._writer is None:
            return
        await self._queue.put(None)
        try:
            await asyncio.wait_for(self._writer, 10)
        except TimeoutError:
            self._writer.cancel()
        self._writer = None

    def configure(self, config: CacheConfig) -> None:
        self.config = config
        self._evict()

    # ---- reads and writes -----------------------------------------------------------------------

    async def get(self, key: str) -> Entry | None:
        now = time.time()
        entry = self._memory.get(key)
        if entry is not None:
            if entry.expires_at > now:
                self._memory.move_to_end(key)
                self.hits += 1
                return entry
            self._drop(key)
        if self._engine is not None and self.config.persist:
            entry = await self._read_row(key, now)
            if entry is not None:
                self._remember(key, entry)
                self.hits += 1
                return entry
        self.misses += 1
        return None

    def put(self, key: str, value: bytes, upstream: str, model: str) -> bool:
        """Store an answer (memory now, the table soon); False when it is over the size cap."""
        config = self.config
        if len(value) > config.maxEntryBytes:
            return False
        entry = Entry(value, upstream, model, time.time() + config.ttlMs / 1000)
        self._remember(key, entry)
        if self._queue is not None and config.persist:
            try:
                self._queue.put_nowait((key, entry))
            except asyncio.QueueFull:
                log.warning("response cache: the table writer is behind; an entry stays in memory only")
        return True

    def forget(self, model: str | None = None) -> int:
        """Drop the memory tier's entries (of one model); how many went. The table keeps its rows."""
        keys = [k for k, e in self._memory.items() if model is None or e.model == model]
        for key in keys:
            self._drop(key)
        return len(keys)

    async def clear(self, model: str | None = None) -> int:
        """Drop every entry (of one model); returns how many memory entries went."""
        dropped = self.forget(model)
        if self._engine is not None:
            statement = delete(t.response_cache)
            if model is not None:
                statement = statement.where(t.response_cache.c.model == model)
            async with self._engine.begin() as conn:
                await conn.execute(statement)
        return dropped

    async def stats(self) -> dict:
        db_size = 0
        if self._engine is not None:
            async with self._engine.connect() as conn:
                db_size = (await conn.execute(select(func.count()).select_from(t.response_cache).where(
                    t.response_cache.c.expires_at > time.time()))).scalar_one()
        asked = self.hits + self.misses
        return {"memorySize": len(self._memory), "memoryMaxSize": self.config.maxEntries,
                "memoryBytes": self._bytes, "memoryMaxBytes": self.config.maxBytes, "dbSize": db_size,
                "hitRate": round(self.hits / asked, 4) if asked else 0.0, "hits": self.hits, "misses": self.misses}

    # ---- memory tier -------------------------------------------------------------------------

    def _remember(self, key: str, entry: Entry) -> None:
        old = self._memory.pop(key, None)
        if old is not None:
            self._bytes -= len(old.value)
        self._memory[key] = entry
        self._bytes += len(entry.value)
        self._evict()

    def _evict(self) -> None:
        config, memory = self.config, self._memory
        while memory and (len(memory) > config.maxEntries or self._bytes > config.maxBytes):
            _, entry = memory.popitem(last=False)
            self._bytes -= len(entry.value)

    def _drop(self, key: str) -> None:
        entry = self._memory.pop(key, None)
        if entry is not None:
            self._bytes -= len(entry.value)

    # ---- table tier --------------------------------------------------------------------------

    async def _read_row(self, key: str, now: float) -> Entry | None:
        table = t.response_cache
        async with self._engine.connect() as conn:
            row = (await conn.execute(select(table.c.value_json, table.c.model, table.c.expires_at).where(
                table.c.key == key, table.c.expires_at > now))).first()
        if row is None:
            return None
        upstream, _, value = row[0].partition("\n")
        if self._queue is not None and not self._queue.full():  # the writer counts the hit, off this request
            self._queue.put_nowait((key, None))
        return Entry(value.encode(), upstream, row[1], row[2])

    async def _write_loop(self) -> None:
        while True:
            item = await self._queue.get()
            batch = [item]
            while not self._queue.empty() and len(batch) < 200:
                batch.append(self._queue.get_nowait())
            stop = None in batch
            try:
                await self._write([b for b in batch if b is not None])
            except Exception:  # the cache is an optimisation: a failed write loses an entry, not a request
                log.exception("response cache: writing %d entries failed", len(batch))
            if stop:
                return

    async def _write(self, items: list[tuple[str, Entry | None]]) -> None:
        table, now = t.response_cache, time.time()
        stores = {key: entry for key, entry in items if entry is not None}
        hits = [key for key, entry in items if entry is None]
        if self._engine.dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as dialect_insert
        else:
            from sqlalchemy.dialects.sqlite import insert as dialect_insert
        async with self._engine.begin() as conn:
            for key, entry in stores.items():
                values = {"key": key, "model": entry.model, "value_json": _row_value(entry),
                          "size": len(entry.value), "created_at": now, "expires_at": entry.expires_at}
                statement = dialect_insert(table).values(**values, hits=0).on_conflict_do_update(
                    index_elements=[table.c.key], set_=values)
                await conn.execute(statement)
            for key in hits:
                await conn.execute(update(table).where(table.c.key == key).values(hits=table.c.hits + 1))
            if now - self._purged_at > PURGE_EVERY_S:
                self._purged_at = now
                await conn.execute(delete(table).where(table.c.expires_at <= now))
