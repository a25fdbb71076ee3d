"""Usage retention: rows older than the ``usage.retentionDays`` setting are purged in the background."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

log = logging.getLogger("omniroute.usage")

DAY_S = 86_400
FIRST_PURGE_S = 5.0  # the first purge runs this long after start-up (or after one interval when shorter)
CHUNK_ROWS = 2_000  # rows deleted per transaction: a short write lock each, the recorder's batches in between
CHUNK_PAUSE_S = 0.01


class Retention:
    """Purges usage rows, failed attempts and request details older than ``retentionDays`` (0 = keep for
    ever): once shortly after start, then every ``settings.purge_interval_s`` seconds
    (``OMNIROUTE_PURGE_INTERVAL_S``, default one hour; 0 = only on demand, POST /api/usage/purge)."""

    def __init__(self, services):
        self.s = services
        self._task: asyncio.Task | None = None
        self._lock: asyncio.Lock | None = None
        self.runs = 0
        self.last: dict | None = None  # {"at", "deleted"} of the last purge

    @property
    def interval_s(self) -> float:
        return float(getattr(self.s.settings, "purge_interval_s", 3600.0))

    def start(self) -> None:
        if self._task is None and self.interval_s > 0:
            self._task = asyncio.create_task(self._run(), name="usage-retention")

    async def _run(self) -> None:
        interval = self.interval_s
        await asyncio.sleep(min(FIRST_PURGE_S, interval))
        while True:
            try:
                await self.purge()
            except asyncio.CancelledError:
                raise
            except Exception:  # a busy or unreachable database: try again at the next interval
                log.exception("usage retention purge failed")
            await asyncio.sleep(interval)

    async def purge(self) -> dict:
        """Delete what is older than the retention now; ``{"usage": n, "attempts": n, "requestLogs": n}``."""
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:  # the periodic purge and POST /api/usage/purge never run together
            days = int(self.s.usage_config.get("retentionDays") or 0)
            if days <= 0:
                deleted = {"usage": 0, "attempts": 0, "requestLogs": 0}
            else:
                started = time.monotonic()
                # Rows of a budget's current period stay: its spend is re-read from them at start-up.
                cutoff = min(time.time() - days * DAY_S, self.s.budgets.keep_since())
                deleted = await self.s.usage.purge_before(cutoff, chunk=CHUNK_ROWS, pause_s=CHUNK_PAUSE_S)
                if any(deleted.values()):
                    log.info("usage retention (%d days): deleted %s in %.1f s", days, deleted,
                             time.monotonic() - started)
            self.runs += 1
            self.last = {"at": time.time(), "deleted": deleted}
            return deleted

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
