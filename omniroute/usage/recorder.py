"""Batched usage writes off the request path, flushed on shutdown."""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import time
from collections import deque

from omniroute.store.repos import AttemptRow, DetailRow, UsageRepo, UsageRow

log = logging.getLogger("omniroute.usage")

MAX_PENDING = 100_000


class UsageRecorder:
    """Collects usage rows in memory and writes them in batches from one background task."""

    def __init__(self, repo: UsageRepo, *, interval_s: float = 0.5, batch_size: int = 500):
        self._repo = repo
        self._interval = interval_s
        self._batch = batch_size
        self._pending: deque[UsageRow] = deque(maxlen=MAX_PENDING)
        # Failed attempts and request details ride along with the next batch of usage rows.
        self._attempts: deque[AttemptRow] = deque(maxlen=MAX_PENDING)
        self._details: deque[DetailRow] = deque(maxlen=MAX_PENDING // 10)
        self.writing = asyncio.Lock()  # held while a batch is written (budgets read a quiet ledger under it)
        self._wake = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._closing = False
        self.recorded = 0
        self.written = 0
        self.dropped = 0
        # Row ids: a random per-process prefix and a counter, unique across instances and restarts.
        self._id_prefix = os.urandom(10).hex()
        self._id_counter = itertools.count()

    def new_id(self) -> str:
        return f"{self._id_prefix}{next(self._id_counter):012x}"

    def record(self, row: UsageRow) -> None:
        """Queue one row; never blocks and never touches the database."""
        if len(self._pending) == MAX_PENDING:
            self.dropped += 1  # the oldest row falls off rather than memory growing without bound
        self._pending.append(row)
        self.recorded += 1
        if len(self._pending) >= self._batch:
            self._wake.set()

    def record_attempt(self, row: AttemptRow) -> None:
        """Queue one failed upstream attempt (its request's row follows when the request ends)."""
        self._attempts.append(row)

    def record_detail(self, row: DetailRow) -> None:
        """Queue the headers and bodies of one request (detailed logging)."""
        self._details.append(row)

    def pending_rows(self):
        """The usage rows queued and not yet written (read synchronously: no batch is lost from view
        while ``writing`` is held)."""
        return tuple(self._pending)

    @property
    def pending(self) -> int:
        return len(self._pending)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="usage-recorder")

    async def _run(self) -> None:
        while not self._closing:
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=self._interval)
            except TimeoutError:
                pass
            self._wake.clear()
            await self.flush()

    async def flush(self) -> int:
        """Write what was queued when the flush began; rows survive a failed write and are retried.

        Rows that arrive during the write wait for the next round: chasing them would turn
        one batch per interval into a transaction per handful of requests.
        """
        written = 0
        async with self.writing:
            todo = len(self._pending)
            first = True
            while (todo > 0 and self._pending) or (first and (self._attempts or self._details)):
                first = False
                batch = [self._pending.popleft() for _ in range(min(self._batch, todo, len(self._pending)))]
                attempts = [self._attempts.popleft() for _ in range(len(self._attempts))]
                details = [self._details.popleft() for _ in range(min(len(self._details), 50))]
                todo -= len(batch)
                started = time.monotonic()
                try:
                    written += await self._repo.insert_ledger(batch, attempts, details)
                    took = time.monotonic() - started
                    if took > 1.0:
                        log.warning("usage write of %d rows took %.1f s (database busy?)", len(batch), took)
                except Exception:  # a database hiccup must not lose rows nor kill the writer
                    log.exception("usage write failed; %d rows kept for retry", len(batch))
                    self._pending.extendleft(reversed(batch))
                    self._attempts.extendleft(reversed(attempts))
                    self._details.extendleft(reversed(details))
                    break
        self.written += written
        return written

    async def close(self) -> None:
        """Stop the writer and flush what is left (graceful shutdown loses nothing)."""
        self._closing = True
        self._wake.set()
        if self._task is not None:
            await self._task
        while self._pending or self._attempts or self._details:
            before = (len(self._pending), len(self._attempts), len(self._details))
            await self.flush()
            if (len(self._pending), len(self._attempts), len(self._details)) == before:
                break
