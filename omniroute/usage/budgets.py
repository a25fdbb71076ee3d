"""Spend limits per API key: daily, weekly or monthly, in USD, enforced before the upstream call.

The ledger of one budget is two counters in the shared state, both in nano-USD integers and
keyed by the period's start (UTC): ``spent`` (what finished requests cost) and ``reserved`` (the
estimates of the requests in flight). A request is admitted when ``spent + reserved`` is below the
limit *before* its own estimate is added; it then holds that estimate until its usage row is
written, when the estimate is released and the real cost added. So concurrent requests overshoot
a limit by at most the cost of the requests already in flight, and by nothing when the estimates
hold (they are taken from the model's price, the prompt's size and the request's output cap).

Exactness: when a budget becomes live (start-up, or created by the API) its ``spent`` counter is
seeded from the usage table plus the rows still queued in the recorder, in one step in which no
batch is being written; every usage row recorded after that step adds its cost to the counters of
the budgets live at that moment. Rows therefore count exactly once. A period's counters expire a
little after the period ends; a new period starts from zero because every row of it was counted.

Several instances (Redis): the ledger is one. The first instance to take a budget's period live
seeds it (a ``seeded`` marker says so); an instance starting later, or hearing of a budget made
elsewhere, joins the counting without seeding. One gap remains: rows another instance had queued
but not yet written (at most one flush interval, 0.5 s by default) when a budget is created are
not in its seed. A Redis that restarts empty loses the ledgers: each is seeded again from the table
when the instances reconnect, counting twice the few rows settled between the restart and the seed
(an error toward refusing early, never toward overspending).

Every key is subject to its budgets, the admin's included: the check knows only the key's id.
"""

from __future__ import annotations

import asyncio
import calendar
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from omniroute.errors import RateLimited, StateUnavailable

log = logging.getLogger("omniroute.usage")

PERIODS = ("daily", "weekly", "monthly")
NANO = 1_000_000_000  # counters hold nano-USD: integers, exact under concurrent increments
DEFAULT_OUTPUT_TOKENS = 4096  # the output reserved for a request that sets no cap
SETTING = "budgets"


class BudgetExceeded(RateLimited):
    code = "budget_exceeded"


async def spend_since(engine, key_id: str, since: float) -> float:
    """USD the key's usage rows from ``since`` on cost (index ix_usage_key_time)."""
    from sqlalchemy import func, select

    from omniroute.store import tables as t

    query = select(func.coalesce(func.sum(t.usage.c.cost), 0.0)).where(
        t.usage.c.api_key_id == key_id, t.usage.c.timestamp >= since)
    async with engine.connect() as conn:
        return float((await conn.execute(query)).scalar_one())


def period_bounds(period: str, now: float) -> tuple[float, float]:
    """The UTC start and end (epoch seconds) of the ``period`` holding ``now``; weeks start on Monday."""
    day = datetime.fromtimestamp(now, UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "daily":
        start, end = day, day + timedelta(days=1)
    elif period == "weekly":
        start = day - timedelta(days=day.weekday())
        end = start + timedelta(days=7)
    elif period == "monthly":
        start = day.replace(day=1)
        days = calendar.monthrange(start.year, start.month)[1]
        end = start + timedelta(days=days)
    else:
        raise ValueError(f"unknown budget period {period!r}; use one of {', '.join(PERIODS)}")
    return start.timestamp(), end.timestamp()


def to_nano(usd: float) -> int:
    return math.ceil(usd * NANO) if usd > 0 else 0


@dataclass(slots=True)
class Budget:
    key_id: str
    limit: float  # USD
    period: str
    warn_at: float = 0.8  # share of the limit at which a warning is logged and shown

    @classmethod
    def from_json(cls, value) -> Budget:
        """A budget from the API or the stored setting; ValueError naming the bad field."""
        if not isinstance(value, dict):
            raise ValueError("a budget must be an object")
        unknown = sorted(set(value) - {"keyId", "limit", "period", "warnAt"})
        if unknown:
            raise ValueError(f"unknown field(s) {', '.join(unknown)}")
        key_id, limit = value.get("keyId"), value.get("limit")
        period, warn_at = value.get("period", "monthly"), value.get("warnAt", 0.8)
        if not isinstance(key_id, str) or not key_id:
            raise ValueError("'keyId' must be the id of an API key")
        if isinstance(limit, bool) or not isinstance(limit, int | float) or not math.isfinite(limit) or limit < 0:
            raise ValueError("'limit' must be a number of USD >= 0")
        if period not in PERIODS:
            raise ValueError(f"'period' must be one of {', '.join(PERIODS)}")
        if isinstance(warn_at, bool) or not isinstance(warn_at, int | float) or not 0 < warn_at <= 1:
            raise ValueError("'warnAt' must be a share of the limit between 0 (excluded) and 1")
        return cls(key_id, float(limit), period, float(warn_at))

    def to_json(self) -> dict:
        return {"keyId": self.key_id, "limit": self.limit, "period": self.period, "warnAt": self.warn_at}


@dataclass(slots=True)
class Reservation:
    """The estimate one request holds in each of its key's budgets, released when it is settled."""

    key_id: str
    nano: int
    counters: list[str]  # the ``reserved`` counters it was added to


class Budgets:
    """The live budgets and their ledger."""

    def __init__(self, state, settings_repo, usage_repo, recorder, clock: Callable[[], float] = time.time):
        self._state = state
        self._settings = settings_repo
        self._usage = usage_repo
        self._recorder = recorder
        self._clock = clock
        self.by_key: dict[str, list[Budget]] = {}
        self.active = False  # read on the request path: no budget, no work
        self._seeding: dict[tuple[str, str], asyncio.Future] = {}
        self._tasks: set[asyncio.Task] = set()
        self._marked: set[str] = set()  # shared ledgers this instance has marked as counted
        # put, remove and reload change ``by_key`` across awaits: one at a time, so a reload that read
        # the stored set before a put cannot drop the budget the put has just made live.
        self._changing = asyncio.Lock()
        self._unsettled_logged = -math.inf  # when a settlement lost to a Redis outage was last logged
        self.on_warning: Callable[[Budget, float], None] | None = None
        self.on_refusal: Callable[[str, str, str | None], None] | None = None  # (key id, message, ip)

    # --- configuration -------------------------------------------------------------------------
    async def load(self) -> None:
        """The stored budgets, each seeded from the usage table (start-up: nothing is queued yet)."""
        stored = await self._settings.get(SETTING) or []
        for value in stored:
            try:
                budget = Budget.from_json(value)
            except ValueError as exc:
                log.warning("stored budget %r is ignored: %s", value, exc)
                continue
            if not any(b.period == budget.period for b in self.by_key.get(budget.key_id, [])):
                await self._go_live(budget)

    async def reload(self, reseed: bool = True) -> None:
        """The stored set again. ``reseed`` (the database was replaced): every ledger is counted again
        from the usage table. Otherwise (another instance changed the set) budgets that stay keep their
        ledger and only new ones go live; requests never see a moment without budgets."""
        async with self._changing:
            await self._reload(reseed)

    async def _reload(self, reseed: bool) -> None:
        if reseed:
            if self._state.shared:  # the shared ledgers were counted from the database now replaced
                for budget in self.list():
                    await self._forget(budget)
            self.by_key.clear()
            self.active = False
            await self.load()
            return
        wanted: dict[tuple[str, str], Budget] = {}
        for value in await self._settings.get(SETTING) or []:
            try:
                budget = Budget.from_json(value)
            except ValueError:
                continue
            wanted[(budget.key_id, budget.period)] = budget
        now, unseeded = self._clock(), []
        for key_id, budgets in list(self.by_key.items()):
            kept = []
            for budget in budgets:
                if (key_id, budget.period) not in wanted:
                    continue
                fresh = wanted.pop((key_id, budget.period))
                budget.limit, budget.warn_at = fresh.limit, fresh.warn_at
                kept.append(budget)
                base = self._counter(budget, period_bounds(budget.period, now)[0])
                if self._state.shared and await self._state.get(base + ":seeded") is None:
                    # The shared ledger is gone (Redis restarted empty, or a new period no row has
                    # reached yet): seeded again below, the budget staying live meanwhile.
                    self._marked.discard(base)
                    unseeded.append(budget)
            if kept:
                self.by_key[key_id] = kept
            else:
                self.by_key.pop(key_id)
        self.active = bool(self.by_key)
        for budget in [*wanted.values(), *unseeded]:
            await self._go_live(budget)

    def list(self) -> list[Budget]:
        return [b for budgets in self.by_key.values() for b in budgets]

    async def put(self, budget: Budget) -> None:
        """Create or replace the budget of ``budget.key_id`` for its period, and store the set."""
        async with self._changing:
            await self._put(budget)

    async def _put(self, budget: Budget) -> None:
        existing = [b for b in self.by_key.get(budget.key_id, []) if b.period == budget.period]
        if existing:  # same key and period: only the limit and the threshold change, the ledger stays
            existing[0].limit, existing[0].warn_at = budget.limit, budget.warn_at
        else:
            await self._go_live(budget)
        await self._store()

    def keep_since(self) -> float:
        """The earliest start of a live budget's current period (usage rows from then on must stay)."""
        now = self._clock()
        return min((period_bounds(b.period, now)[0] for b in self.list()), default=math.inf)

    async def remove(self, key_id: str, period: str | None = None) -> int:
        """Drop the key's budget for ``period`` (all of the key's when None); how many were removed."""
        async with self._changing:
            return await self._remove(key_id, period)

    async def _remove(self, key_id: str, period: str | None) -> int:
        budgets = self.by_key.get(key_id, [])
        keep = [b for b in budgets if period is not None and b.period != period]
        removed = len(budgets) - len(keep)
        if keep:
            self.by_key[key_id] = keep
        else:
            self.by_key.pop(key_id, None)
        self.active = bool(self.by_key)
        if removed:
            if self._state.shared:  # a budget made again for this period is counted afresh
                for budget in budgets:
                    if budget not in keep:
                        await self._forget(budget)
            await self._store()
        return removed

    async def _forget(self, budget: Budget) -> None:
        """Drop a shared ledger's current period, so the next instance to take it live seeds it again."""
        base = self._counter(budget, period_bounds(budget.period, self._clock())[0])
        await self._state.delete(base + ":seeded")
        await self._state.delete(base + ":spent")
        self._marked.discard(base)

    async def _store(self) -> None:
        await self._settings.set(SETTING, [b.to_json() for b in self.list()])

    async def _go_live(self, budget: Budget) -> None:
        """Start counting rows for ``budget`` and seed its current period from what was already spent.

        Under the recorder's write lock no batch is half-written: each earlier row is either in the
        table or still queued. Marking the budget live and reading the queue happen without yielding,
        so a row recorded after the mark is counted by ``settle`` and never by the seed."""
        start, end = period_bounds(budget.period, self._clock())
        seed_key = (budget.key_id, budget.period)
        done = asyncio.get_running_loop().create_future()
        self._seeding[seed_key] = done
        base = self._counter(budget, start)
        try:
            # Shared ledgers (several instances): only the first instance to take the budget live seeds
            # it; the others find it counting already and add their own rows from now on.
            if self._state.shared and not await self._state.set_if_absent(base + ":seeded", 1,
                                                                          ttl=end - start + 86_400):
                self._live(budget)
                return
            async with self._recorder.writing:
                if not self._state.shared:  # a shared ledger was dropped with its marker (``_forget``)
                    await self._state.delete(base + ":spent")  # what a removed budget of this period had counted
                self._live(budget)
                queued = sum(row.cost for row in self._recorder.pending_rows()
                             if row.apiKeyId == budget.key_id and row.timestamp >= start)
                stored = await spend_since(self._usage.engine, budget.key_id, start)
            await self._state.incr(base + ":spent", to_nano(stored + queued), ttl=end - start + 86_400)
        finally:
            self._seeding.pop(seed_key, None)
            done.set_result(None)

    def _live(self, budget: Budget) -> None:
        live = self.by_key.setdefault(budget.key_id, [])
        if not any(b is budget for b in live):
            live.append(budget)
        self.active = True

    @staticmethod
    def _counter(budget: Budget, start: float) -> str:
        return f"budget:{budget.key_id}:{budget.period}:{int(start)}"

    # --- the request path ----------------------------------------------------------------------
    async def reserve(self, key_id: str, estimate_usd: float, ip: str | None = None) -> Reservation | None:
        """Hold ``estimate_usd`` in each budget of the key; BudgetExceeded when any has no room left."""
        budgets = self.by_key.get(key_id)
        if not budgets:
            return None
        await self._seeded(key_id)
        nano, now = to_nano(estimate_usd), self._clock()
        held: list[str] = []
        state = self._state
        try:
            for budget in budgets:
                start, end = period_bounds(budget.period, now)
                base = self._counter(budget, start)
                reserved = await state.incr(base + ":reserved", nano, ttl=end - start + 86_400)
                held.append(base + ":reserved")
                spent = int(await state.get(base + ":spent") or 0)
                before = reserved - nano  # what other requests hold
                if spent + before >= to_nano(budget.limit):
                    raise self._refusal(budget, spent, before, end, ip)
        except BaseException:
            for counter in held:
                await state.incr(counter, -nano)
            raise
        return Reservation(key_id, nano, held)

    async def check(self, key_id: str, ip: str | None = None) -> None:
        """BudgetExceeded when a budget of the key has no room left (a request that costs nothing)."""
        budgets = self.by_key.get(key_id)
        if not budgets:
            return
        await self._seeded(key_id)
        now = self._clock()
        for budget in budgets:
            start, end = period_bounds(budget.period, now)
            base = self._counter(budget, start)
            spent = int(await self._state.get(base + ":spent") or 0)
            reserved = int(await self._state.get(base + ":reserved") or 0)
            if spent + reserved >= to_nano(budget.limit):
                raise self._refusal(budget, spent, reserved, end, ip)

    async def _seeded(self, key_id: str) -> None:
        for (key, _), done in list(self._seeding.items()):
            if key == key_id:
                await done

    def _refusal(self, budget: Budget, spent: int, reserved: int, end: float, ip: str | None) -> BudgetExceeded:
        reset = datetime.fromtimestamp(end, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        if spent >= to_nano(budget.limit):
            wait = max(1, math.ceil(end - self._clock()))
            message = (f"API key '{budget.key_id}' has reached its {budget.period} budget of "
                       f"${budget.limit:g}: ${spent / NANO:.6f} spent; it resets at {reset}")
        else:  # the room left is held by requests in flight: it frees when they finish
            wait = 1
            message = (f"API key '{budget.key_id}' is at its {budget.period} budget of ${budget.limit:g}: "
                       f"${spent / NANO:.6f} spent and ${reserved / NANO:.6f} held by requests in flight; "
                       "retry when they finish")
        err = BudgetExceeded(message)
        err.retry_after = str(wait)
        if self.on_refusal is not None:
            self.on_refusal(budget.key_id, message, ip)
        return err

    def settle(self, key_id: str, cost: float, reservation: Reservation | None) -> None:
        """A finished request of ``key_id``: release its estimate and add its real cost (not awaited)."""
        budgets = self.by_key.get(key_id)
        if not budgets and reservation is None:
            return
        task = asyncio.get_running_loop().create_task(self._settle(list(budgets or ()), cost, reservation))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _settle(self, budgets: list[Budget], cost: float, reservation: Reservation | None) -> None:
        try:
            await self._settle_now(budgets, cost, reservation)
        except StateUnavailable as exc:  # Redis is down: the row is in the table, a restart re-seeds
            now = time.monotonic()
            if now - self._unsettled_logged > 60:
                self._unsettled_logged = now
                log.warning("a request's cost could not be added to its budget: %s", exc.message)

    async def _settle_now(self, budgets: list[Budget], cost: float, reservation: Reservation | None) -> None:
        state, nano, now = self._state, to_nano(cost), self._clock()
        if reservation is not None:
            for counter in reservation.counters:
                await state.incr(counter, -reservation.nano)
        if not nano:
            return
        for budget in budgets:
            start, end = period_bounds(budget.period, now)
            base = self._counter(budget, start)
            spent = await state.incr(base + ":spent", nano, ttl=end - start + 86_400)
            if state.shared and base not in self._marked:
                # A period this instance counts from its first row on needs no seed by a later one.
                await state.set_if_absent(base + ":seeded", 1, ttl=end - start + 86_400)
                if len(self._marked) > 4096:
                    self._marked.clear()
                self._marked.add(base)
            limit = to_nano(budget.limit)
            if limit and spent >= budget.warn_at * limit > spent - nano and self.on_warning is not None:
                if await state.set_if_absent(base + ":warned", 1, ttl=end - start + 86_400):
                    self.on_warning(budget, spent / NANO)

    async def drain(self) -> None:
        """Wait for the settlements still running (tests and shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    # --- reading -------------------------------------------------------------------------------
    async def status(self, key_id: str | None = None) -> list[dict]:
        """Each budget (of one key, or all) with its spend, reservations and reset time."""
        await self.drain()
        now, out = self._clock(), []
        for budget in self.list():
            if key_id is not None and budget.key_id != key_id:
                continue
            start, end = period_bounds(budget.period, now)
            base = self._counter(budget, start)
            spent = int(await self._state.get(base + ":spent") or 0) / NANO
            reserved = int(await self._state.get(base + ":reserved") or 0) / NANO
            state = "exceeded" if spent >= budget.limit else "warning" if spent >= budget.warn_at * budget.limit \
                else "ok"
            out.append({**budget.to_json(), "spent": round(spent, 9), "reserved": round(max(reserved, 0.0), 9),
                        "remaining": round(max(budget.limit - spent, 0.0), 9), "state": state,
                        "periodStart": datetime.fromtimestamp(start, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                        "resetAt": datetime.fromtimestamp(end, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")})
        return out
