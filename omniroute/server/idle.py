"""Give memory back to the operating system once a busy gateway goes quiet."""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import gc
import logging

log = logging.getLogger("omniroute")


def _malloc_trim():
    """glibc's malloc_trim, or None where the C library has none (musl, macOS)."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return libc.malloc_trim
    except (OSError, AttributeError):
        return None


class IdleTrimmer:
    """After a burst of traffic ends, collect garbage and return free heap pages.

    Under load the allocator keeps freed buffers for reuse; a gateway that sits
    idle for hours should not hold on to its peak.
    """

    def __init__(self, activity, interval_s: float = 2.0):
        self._activity = activity  # callable returning a counter that grows with traffic
        self._interval = interval_s
        self._trim = _malloc_trim()
        self._task: asyncio.Task | None = None
        self.trims = 0

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="idle-trimmer")

    async def _run(self) -> None:
        seen = trimmed_at = self._activity()
        while True:
            await asyncio.sleep(self._interval)
            now = self._activity()
            if now == seen and now != trimmed_at:
                self.trim()
                trimmed_at = now
            seen = now

    def trim(self) -> None:
        gc.collect()
        if self._trim is not None:
            self._trim(0)
        self.trims += 1

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
