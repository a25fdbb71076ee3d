"""Several instances as one gateway: when the shared state is Redis, a management write on any
instance tells the others, which re-read their in-memory configuration (keys, accounts, nodes,
combos, settings, prices, policies, limits, budgets) from the shared database.

Counters, breakers, cooldowns, budgets' ledgers and sessions need no message: they live in the
shared state itself. Only what each process keeps in memory for the hot path travels as an event.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid

log = logging.getLogger("omniroute.peers")

CONFIG = b"config:"  # + instance id: re-read the configuration
CACHE = b"cache:"  # + instance id + ":" + model (empty: all): drop in-memory cache entries
# A local write answered this soon after a reload ended may have been overwritten by it (see changed).
RELOAD_OVERLAP_S = 2.0


class Peers:
    """This instance's side of the configuration events."""

    def __init__(self, services):
        self._services = services
        self.instance_id = uuid.uuid4().hex
        self._wanted = False
        self._reload: asyncio.Task | None = None
        self._sending: set[asyncio.Task] = set()
        self.reloads = 0  # configuration reloads caused by another instance (for tests and logs)
        self._reloaded_at = -RELOAD_OVERLAP_S  # when the last reload ended (monotonic)

    @property
    def active(self) -> bool:
        return self._services.state.shared

    async def start(self) -> None:
        if self.active:
            await self._services.state.listen(self._heard)

    def changed(self) -> None:
        """The configuration in the database changed here: tell the other instances (no wait)."""
        self._tell(CONFIG + self.instance_id.encode())
        if not self.active:
            return
        # A reload for another instance's change that ran alongside this write may have read the
        # database before the write and applied that after the write's own update: read once more.
        if (self._reload is not None and not self._reload.done()) \
                or time.monotonic() - self._reloaded_at < RELOAD_OVERLAP_S:
            self._wanted = True
            if self._reload is None or self._reload.done():
                self._reload = asyncio.get_running_loop().create_task(self._reload_while_wanted())

    def cache_cleared(self, model: str | None) -> None:
        """The response cache (of ``model``) was cleared here: the others drop their memory copies."""
        self._tell(CACHE + f"{self.instance_id}:{model or ''}".encode())

    def _tell(self, message: bytes) -> None:
        if not self.active:
            return
        task = asyncio.get_running_loop().create_task(self._send(message))
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)

    async def _send(self, message: bytes) -> None:
        try:
            await self._services.state.publish(message)
        except Exception as exc:  # noqa: BLE001 - Redis down: the others keep their old view
            log.warning("could not tell the other instances about a change (%s)", exc.__class__.__name__)

    async def _heard(self, message: bytes) -> None:
        kind, _, rest = message.decode(errors="replace").partition(":")
        origin, _, detail = rest.partition(":")
        if origin == self.instance_id:
            return
        if kind == "cache":
            self._services.response_cache.forget(detail or None)
            if self._services.cache.semantic is not None and not detail:
                self._services.cache.semantic.clear()
            return
        if kind != "config":
            return
        # Changes arriving during a reload are folded into one more reload after it.
        self._wanted = True
        if self._reload is None or self._reload.done():
            self._reload = asyncio.get_running_loop().create_task(self._reload_while_wanted())

    async def _reload_while_wanted(self) -> None:
        while self._wanted:
            self._wanted = False
            try:
                await self._services.reload_state(reseed=False)
                self.reloads += 1
            except Exception:  # noqa: BLE001 - keep serving the previous configuration
                log.exception("configuration reload after another instance's change failed")
            finally:
                self._reloaded_at = time.monotonic()

    async def close(self) -> None:
        if self._sending:  # a change made just before shutdown is still announced
            await asyncio.wait(self._sending, timeout=1.0)
        if self._reload is not None:
            self._reload.cancel()
            await asyncio.gather(self._reload, return_exceptions=True)
