"""Repositories of the ledger: usage rows (with failed attempts and request details) and the audit log."""

from __future__ import annotations

import math
import time
from collections.abc import Iterable
from itertools import chain
from typing import NamedTuple

import orjson
from sqlalchemy import case, delete, func, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from omniroute.store import tables as t
from omniroute.store.values import _loads, new_id


class UsageRow(NamedTuple):
    """One usage row, in column order (a tuple: cheap to build on the hot path)."""

    id: str
    timestamp: float
    apiKeyId: str | None
    provider: str | None
    connectionId: str | None
    model: str | None
    requestedModel: str | None
    combo: str | None
    clientFormat: str | None
    upstreamFormat: str | None
    promptTokens: int
    completionTokens: int
    cachedTokens: int
    reasoningTokens: int
    cost: float
    latencyMs: int | None
    ttftMs: int | None
    status: int
    cache: str | None
    error: str | None
    cacheWriteTokens: int = 0
    estimated: bool = False  # the upstream reported no usage; the gateway estimated it
    idempotent: bool = False  # a replay of an earlier request's answer (Idempotency-Key): no upstream call
    attempts: int = 0  # upstream calls made (each failed one has a row in usage_attempts)
    images: int = 0  # images generated
    audioSeconds: float = 0.0  # seconds of audio transcribed


class AttemptRow(NamedTuple):
    """One failed upstream attempt of a request, linked to the request's usage row."""

    id: str
    requestId: str
    timestamp: float
    attempt: int
    provider: str | None
    connectionId: str | None
    model: str | None
    status: int
    error: str | None
    latencyMs: int | None


class DetailRow(NamedTuple):
    """Headers and bodies of one request and its answer (detailed logging; already redacted)."""

    id: str
    timestamp: float
    method: str
    path: str
    requestHeaders: str  # JSON
    requestBody: str | None
    responseHeaders: str | None  # JSON
    responseBody: str | None
    truncated: bool


_USAGE_DEFAULTS = {"promptTokens": 0, "completionTokens": 0, "cachedTokens": 0, "reasoningTokens": 0, "cost": 0.0,
                   "cacheWriteTokens": 0, "estimated": False, "idempotent": False, "attempts": 0, "images": 0,
                   "audioSeconds": 0.0}

_USAGE_FIELDS = {
    "id": "id", "timestamp": "timestamp", "apiKeyId": "api_key_id", "provider": "provider",
    "connectionId": "connection_id", "model": "model", "requestedModel": "requested_model",
    "combo": "combo", "clientFormat": "client_format", "upstreamFormat": "upstream_format",
    "promptTokens": "prompt_tokens", "completionTokens": "completion_tokens",
    "cachedTokens": "cached_tokens", "reasoningTokens": "reasoning_tokens", "cost": "cost",
    "latencyMs": "latency_ms", "ttftMs": "ttft_ms", "status": "status", "cache": "cache", "error": "error",
    "cacheWriteTokens": "cache_write_tokens", "estimated": "estimated", "idempotent": "idempotent",
    "attempts": "attempts", "images": "images", "audioSeconds": "audio_seconds",
}
_ATTEMPT_FIELDS = {
    "id": "id", "requestId": "request_id", "timestamp": "timestamp", "attempt": "attempt", "provider": "provider",
    "connectionId": "connection_id", "model": "model", "status": "status", "error": "error",
    "latencyMs": "latency_ms",
}
_DETAIL_FIELDS = {
    "id": "id", "timestamp": "timestamp", "method": "method", "path": "path",
    "requestHeaders": "request_headers_json", "requestBody": "request_body",
    "responseHeaders": "response_headers_json", "responseBody": "response_body", "truncated": "truncated",
}


def _placeholders(engine: AsyncEngine, rows: int, columns: int) -> str:
    """``(?, ?), (?, ?)`` for ``rows`` rows in the driver's own parameter style."""
    style = engine.dialect.paramstyle
    if style == "qmark":
        one = "(" + ", ".join(["?"] * columns) + ")"
        return ", ".join([one] * rows)
    if style in ("numeric_dollar", "numeric"):
        mark = "$" if style == "numeric_dollar" else ":"
        return ", ".join(
            "(" + ", ".join(f"{mark}{r * columns + c + 1}" for c in range(columns)) + ")" for r in range(rows)
        )
    if style == "format":
        one = "(" + ", ".join(["%s"] * columns) + ")"
        return ", ".join([one] * rows)
    raise RuntimeError(f"unsupported driver parameter style {style!r}")


# Statements hold a power-of-two number of rows (at most 256 × 26 parameters, under every
# driver's limit): only nine distinct statements exist, so the drivers' prepared-statement
# caches stay small instead of keeping one large statement per batch size seen.
_MAX_ROWS_PER_STATEMENT = 256


def _as_row(values: dict) -> UsageRow:
    fields = {key: values.get(key, _USAGE_DEFAULTS.get(key)) for key in UsageRow._fields}
    fields["id"] = fields["id"] or new_id()
    return UsageRow(**fields)


HISTORY_CHUNK = 200  # buckets per history statement on SQLite


class UsageRepo:
    """One row per client request, written in batches."""

    def __init__(self, engine: AsyncEngine):
        self.engine = engine
        self._statements: dict[tuple[str, int], str] = {}

    def _statement(self, rows: int, table: str = "usage", fields: dict = _USAGE_FIELDS) -> str:
        sql = self._statements.get((table, rows))
        if sql is None:
            columns = list(fields.values())
            sql = (f"INSERT INTO {table} ({', '.join(columns)}) VALUES "
                   + _placeholders(self.engine, rows, len(columns)))
            self._statements[(table, rows)] = sql
        return sql

    async def insert_ledger(self, usage: list, attempts: list[AttemptRow], details: list[DetailRow]) -> int:
        """Usage rows, attempt rows and request details in one transaction (the recorder's batch)."""
        async with self.engine.begin() as conn:
            for rows, table, fields in ((usage, "usage", _USAGE_FIELDS),
                                        (attempts, "usage_attempts", _ATTEMPT_FIELDS),
                                        (details, "request_logs", _DETAIL_FIELDS)):
                if rows:
                    await self._insert(conn, rows, table, fields)
        return len(usage)

    async def _insert(self, conn, rows: list, table: str, fields: dict) -> None:
        width = len(fields)
        values = list(chain.from_iterable(row if isinstance(row, tuple) else _as_row(row) for row in rows))
        count = len(values) // width
        start = 0
        while start < count:
            n = min(_MAX_ROWS_PER_STATEMENT, 1 << ((count - start).bit_length() - 1))
            await conn.exec_driver_sql(self._statement(n, table, fields),
                                       tuple(values[start * width:(start + n) * width]))
            start += n

    async def insert_many(self, rows: Iterable[UsageRow | dict]) -> int:
        """Insert rows as multi-row INSERT statements at the driver level.

        Per-row statement processing would cost more CPU than the request that
        produced the row; dict rows (not on the hot path) are accepted too.
        """
        rows = list(rows)
        if not rows:
            return 0
        async with self.engine.begin() as conn:
            await self._insert(conn, rows, "usage", _USAGE_FIELDS)
        return len(rows)

    async def list(self, *, limit: int = 100, offset: int = 0, api_key_id: str | None = None,
                   provider: str | None = None, connection_id: str | None = None) -> tuple[list[dict], int]:
        where = []
        if api_key_id:
            where.append(t.usage.c.api_key_id == api_key_id)
        if provider:
            where.append(t.usage.c.provider == provider)
        if connection_id:
            where.append(t.usage.c.connection_id == connection_id)
        query = select(t.usage).where(*where).order_by(t.usage.c.timestamp.desc()).limit(limit).offset(offset)
        count = select(func.count()).select_from(t.usage).where(*where)
        async with self.engine.connect() as conn:
            result = (await conn.execute(query)).mappings()
            rows = [{key: r[col] for key, col in _USAGE_FIELDS.items()} for r in result]
            total = (await conn.execute(count)).scalar_one()
        return rows, total

    # ---- reading the ledger (/api/usage/*) and retention -------------------------------------------

    @staticmethod
    def _where(*, api_key_id: str | None = None, provider: str | None = None, model: str | None = None,
               connection_id: str | None = None, status: int | str | None = None, since: float | None = None,
               until: float | None = None) -> list:
        """Filters of a usage query; ``status`` is a code, "ok" (below 400) or "error" (400 and above);
        ``since`` and ``until`` are epoch seconds, both inclusive."""
        c = t.usage.c
        where = []
        for column, value in ((c.api_key_id, api_key_id), (c.provider, provider), (c.model, model),
                              (c.connection_id, connection_id)):
            if value:
                where.append(column == value)
        if status == "ok":
            where.append(c.status < 400)
        elif status == "error":
            where.append(c.status >= 400)
        elif status is not None:
            where.append(c.status == int(status))
        if since is not None:
            where.append(c.timestamp >= since)
        if until is not None:
            where.append(c.timestamp <= until)
        return where

    @staticmethod
    def _usage_dict(row) -> dict:
        return {key: row[col] for key, col in _USAGE_FIELDS.items()}

    async def search(self, *, limit: int = 100, offset: int = 0, **filters) -> tuple[list[dict], int]:
        """A page of rows, newest first, and how many match in all (filters: see ``_where``)."""
        where = self._where(**filters)
        c = t.usage.c
        query = select(t.usage).where(*where).order_by(c.timestamp.desc(), c.id.desc()).limit(limit).offset(offset)
        count = select(func.count()).select_from(t.usage).where(*where)
        async with self.engine.connect() as conn:
            rows = [self._usage_dict(r) for r in (await conn.execute(query)).mappings()]
            total = (await conn.execute(count)).scalar_one()
        return rows, total

    async def get(self, row_id: str) -> dict | None:
        async with self.engine.connect() as conn:
            row = (await conn.execute(select(t.usage).where(t.usage.c.id == row_id))).mappings().first()
        return self._usage_dict(row) if row is not None else None

    async def attempts_of(self, request_ids: list[str]) -> dict[str, list[dict]]:
        """The failed upstream attempts of each request (by usage row id), in attempt order."""
        out: dict[str, list[dict]] = {rid: [] for rid in request_ids}
        if not request_ids:
            return out
        c = t.usage_attempts.c
        query = (select(t.usage_attempts).where(c.request_id.in_(request_ids))
                 .order_by(c.request_id, c.attempt, c.timestamp))
        async with self.engine.connect() as conn:
            for r in (await conn.execute(query)).mappings():
                out[r["request_id"]].append({key: r[col] for key, col in _ATTEMPT_FIELDS.items()})
        return out

    async def details_of(self, request_ids: list[str]) -> dict[str, dict]:
        """The logged headers and bodies of each request that has them (headers decoded from JSON)."""
        if not request_ids:
            return {}

        def headers(value, default=None):
            try:
                return _loads(value, default)
            except orjson.JSONDecodeError:  # not written as JSON: shown as stored
                return value

        out = {}
        async with self.engine.connect() as conn:
            result = await conn.execute(select(t.request_logs).where(t.request_logs.c.id.in_(request_ids)))
            for r in result.mappings():
                out[r["id"]] = {
                    "method": r["method"], "path": r["path"],
                    "requestHeaders": headers(r["request_headers_json"], {}), "requestBody": r["request_body"],
                    "responseHeaders": headers(r["response_headers_json"]), "responseBody": r["response_body"],
                    "truncated": bool(r["truncated"]),
                }
        return out

    def history_query(self, *, start: float, end: float, width: int, api_key_id: str | None = None,
                      provider: str | None = None):
        """The history statement (see ``history``; tests read its plan).

        On SQLite, one aggregate per bucket joined by UNION ALL: each is a range scan of the covering
        index with its sums, and no row is sorted (SQLite has no hash aggregation, so a GROUP BY over
        the range sorts every row: 3-4x slower over 1M rows). PostgreSQL groups by hashing: one GROUP BY.
        """
        from sqlalchemy import Integer, cast, literal, literal_column, union_all

        c = t.usage.c
        filters = self._where(api_key_id=api_key_id, provider=provider)
        sums = (func.count(), func.sum(c.prompt_tokens), func.sum(c.completion_tokens), func.sum(c.cost))
        if self.engine.dialect.name == "sqlite":
            count = max(1, math.ceil((float(end) - float(start)) / width))
            return union_all(*(
                select(literal(i, Integer).label("bucket"), *sums).where(
                    c.timestamp >= float(start) + i * width, c.timestamp < min(float(start) + (i + 1) * width,
                                                                              float(end)), *filters)
                for i in range(count)))
        # Bucket = floor(offset): PostgreSQL's CAST would round.
        bucket = cast(func.floor((c.timestamp - float(start)) / float(width)), Integer)
        return (select(bucket.label("bucket"), *sums)
                .where(c.timestamp >= float(start), c.timestamp < float(end), *filters)
                .group_by(literal_column("bucket")))

    async def history(self, *, start: float, end: float, width: int, api_key_id: str | None = None,
                      provider: str | None = None) -> list[tuple[int, int, int, int, float]]:
        """(bucket, requests, prompt tokens, completion tokens, cost) of each non-empty bucket of ``width``
        seconds from ``start`` (bucket 0) to ``end``: a range scan per bucket (one GROUP BY on PostgreSQL), answered from
        the covering index ix_usage_history alone when no other filter is given."""
        step = HISTORY_CHUNK * width if self.engine.dialect.name == "sqlite" else math.inf
        out = []
        async with self.engine.connect() as conn:
            first, base = float(start), 0
            while first < end:  # SQLite caps a compound SELECT at 500 terms: a statement per chunk of buckets
                last = min(float(end), first + step)
                query = self.history_query(start=first, end=last, width=width, api_key_id=api_key_id,
                                           provider=provider)
                out += [(base + int(b), int(n), int(p or 0), int(o or 0), float(cost or 0.0))
                        for b, n, p, o, cost in (await conn.execute(query)).all() if n]
                first, base = last, base + HISTORY_CHUNK
        return out

    async def summary(self, *, since: float | None = None, until: float | None = None, top: int = 20) -> dict:
        """Totals of a time range (requests, errors, cost, tokens, cache hits) and the same per provider,
        model and API key (the ``top`` largest by requests each), for the dashboard's counters and charts."""
        c = t.usage.c
        where = self._where(since=since, until=until)
        errors = func.sum(case((c.status >= 400, 1), else_=0))
        hits = func.sum(case((c.cache == "HIT", 1), else_=0))
        looked = func.sum(case((c.cache.in_(("HIT", "MISS")), 1), else_=0))
        sums = (func.count(), errors, func.sum(c.cost), func.sum(c.prompt_tokens), func.sum(c.completion_tokens),
                hits, looked)

        def figures(row) -> dict:
            n, err, cost, prompt, completion, hit, seen = row
            return {"requests": int(n or 0), "errors": int(err or 0), "cost": float(cost or 0.0),
                    "promptTokens": int(prompt or 0), "completionTokens": int(completion or 0),
                    "cacheHits": int(hit or 0), "cacheLookups": int(seen or 0),
                    "cacheHitRate": (int(hit or 0) / int(seen)) if seen else 0.0}

        async with self.engine.connect() as conn:
            total = figures((await conn.execute(select(*sums).where(*where))).one())
            out = dict(total)
            for name, column in (("byProvider", c.provider), ("byModel", c.model), ("byKey", c.api_key_id)):
                query = (select(column, *sums).where(*where).group_by(column)
                         .order_by(func.count().desc()).limit(top))
                out[name] = [{"name": row[0], **figures(row[1:])} for row in await conn.execute(query)]
        return out

    async def connection_usage(self, connection_id: str, *, since: float | None = None,
                               latest: int = 50) -> dict:
        """Totals, per-model totals and the latest rows of one connection since ``since``."""
        from sqlalchemy import case

        c = t.usage.c
        where = self._where(connection_id=connection_id, since=since)
        errors = func.sum(case((c.status >= 400, 1), else_=0))
        totals = select(func.count(), errors, func.sum(c.prompt_tokens), func.sum(c.completion_tokens),
                        func.sum(c.cost), func.max(c.timestamp)).where(*where)
        requests = func.count()
        by_model = (select(c.model, requests, func.sum(c.prompt_tokens), func.sum(c.completion_tokens),
                           func.sum(c.cost)).where(*where).group_by(c.model).order_by(requests.desc(), c.model))
        logs = select(t.usage).where(*where).order_by(c.timestamp.desc(), c.id.desc()).limit(latest)
        async with self.engine.connect() as conn:
            n, err, prompt, completion, cost, last = (await conn.execute(totals)).one()
            models = (await conn.execute(by_model)).all()
            rows = [self._usage_dict(r) for r in (await conn.execute(logs)).mappings()]
        return {
            "requests": int(n or 0), "errors": int(err or 0), "promptTokens": int(prompt or 0),
            "completionTokens": int(completion or 0), "cost": float(cost or 0.0), "lastUsed": last,
            "byModel": [{"model": m, "requests": int(k), "promptTokens": int(p or 0),
                         "completionTokens": int(o or 0), "cost": float(x or 0.0)} for m, k, p, o, x in models],
            "logs": rows,
        }

    async def has_rows(self, *, connection_id: str) -> bool:
        query = select(t.usage.c.id).where(t.usage.c.connection_id == connection_id).limit(1)
        async with self.engine.connect() as conn:
            return (await conn.execute(query)).first() is not None

    async def purge_before(self, cutoff: float, *, chunk: int = 2_000, pause_s: float = 0.0) -> dict[str, int]:
        """Delete usage rows, attempt rows and request details older than ``cutoff`` (epoch seconds), each
        table in chunks of ``chunk`` rows, one short transaction per chunk: no write lock is held long
        and the recorder's batches get in between. Returns how many rows of each went."""
        import asyncio

        deleted = {}
        for name, table in (("usage", t.usage), ("attempts", t.usage_attempts), ("requestLogs", t.request_logs)):
            total = 0
            while True:
                doomed = select(table.c.id).where(table.c.timestamp < cutoff).limit(chunk)
                async with self.engine.begin() as conn:
                    gone = (await conn.execute(delete(table).where(table.c.id.in_(doomed)))).rowcount
                total += max(gone or 0, 0)
                if not gone or gone < chunk:
                    break
                await asyncio.sleep(pause_s)
            deleted[name] = total
        return deleted


class AuditRepo:
    """Who did what to the gateway's configuration, every login attempt and every budget refusal.

    ``add`` writes at once (management requests, which are rare and must be listed as soon as they
    are answered); ``add_later`` queues an entry for the request path and a background task writes
    the queue in batches within ``FLUSH_DELAY_S``.
    """

    FLUSH_DELAY_S = 0.5  # a queued entry is written within about this long
    BATCH_SIZE = 500
    MAX_QUEUED = 10_000  # beyond this the oldest queued entries are dropped (counted in ``dropped``)
    FILTERS = frozenset({"action", "actor", "since", "until"})

    def __init__(self, engine: AsyncEngine):
        from collections import deque  # (imported here: this class's edits stay inside it)

        self.engine = engine
        self._queue: deque[dict] = deque(maxlen=self.MAX_QUEUED)
        self._task = None  # the writer, started by the first add_later in a running loop
        self._wake = None
        self._closing = False
        self.written = 0
        self.dropped = 0

    async def add(self, *, action: str, status: str, actor: str | None = None, target: str | None = None,
                  ip: str | None = None) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(insert(t.audit_log).values(
                timestamp=time.time(), actor=actor, action=action, target=target, status=status, ip=ip))

    def add_later(self, *, action: str, status: str, actor: str | None = None, target: str | None = None,
                  ip: str | None = None) -> None:
        """Queue one entry (stamped now) without touching the database; never blocks nor raises."""
        import asyncio

        if len(self._queue) == self.MAX_QUEUED:
            self.dropped += 1
        self._queue.append({"timestamp": time.time(), "actor": actor, "action": action, "target": target,
                            "status": status, "ip": ip})
        if self._closing or (self._task is not None and not self._task.done()):
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no loop: the entry waits for the next call in one, or for close()
            return
        self._wake = asyncio.Event()
        self._task = loop.create_task(self._run(), name="audit-writer")

    @property
    def pending(self) -> int:
        return len(self._queue)

    async def _run(self) -> None:
        """Write the queue every FLUSH_DELAY_S while it holds entries (a burst becomes one batch)."""
        import asyncio

        while self._queue and not self._closing:
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=self.FLUSH_DELAY_S)
            except TimeoutError:
                pass
            if self._closing:
                return  # close() writes what is left
            await self.flush()

    async def flush(self) -> int:
        """Write every queued entry in batches; a failed batch goes back to the queue for the next round."""
        written = 0
        while self._queue:
            batch = [self._queue.popleft() for _ in range(min(self.BATCH_SIZE, len(self._queue)))]
            try:
                async with self.engine.begin() as conn:
                    await conn.execute(insert(t.audit_log), batch)
            except Exception:  # a database hiccup must neither lose entries nor kill the writer
                import logging

                logging.getLogger("omniroute").exception("audit write failed; %d entries kept", len(batch))
                self._queue.extendleft(reversed(batch))
                break
            written += len(batch)
        self.written += written
        return written

    async def close(self) -> None:
        """Stop the writer and write what is still queued (one attempt: shutdown must not hang)."""
        self._closing = True
        task = self._task
        if task is not None and not task.done():
            self._wake.set()
            await task
        await self.flush()

    async def list(self, limit: int = 100, offset: int = 0,
                   filters: dict | None = None) -> tuple[list[dict], int]:
        """A page of entries, newest first, and how many match ``filters`` in all.

        ``filters``: ``action`` and ``actor`` (exact), ``since`` and ``until`` (epoch seconds, inclusive);
        a missing or None filter does not restrict.
        """
        filters = {k: v for k, v in (filters or {}).items() if v is not None}
        unknown = set(filters) - self.FILTERS
        if unknown:
            raise ValueError(f"unknown audit filter(s) {sorted(unknown)}; known: {sorted(self.FILTERS)}")
        c = t.audit_log.c
        where = []
        if "action" in filters:
            where.append(c.action == filters["action"])
        if "actor" in filters:
            where.append(c.actor == filters["actor"])
        if "since" in filters:
            where.append(c.timestamp >= float(filters["since"]))
        if "until" in filters:
            where.append(c.timestamp <= float(filters["until"]))
        query = (select(c.id, c.timestamp, c.actor, c.action, c.target, c.status, c.ip).where(*where)
                 .order_by(c.timestamp.desc(), c.id.desc()).limit(limit).offset(offset))
        count = select(func.count()).select_from(t.audit_log).where(*where)
        async with self.engine.connect() as conn:
            fields = ("id", "timestamp", "actor", "action", "target", "status", "ip")  # plain str keys (JSON)
            entries = [{k: row[k] for k in fields} for row in (await conn.execute(query)).mappings()]
            total = (await conn.execute(count)).scalar_one()
        return entries, total
