"""The budget ledger on real parts (SQLite, the usage recorder, the memory shared state) with a clock
the test moves: period bounds, roll-over, reservations, and seeding that counts each row once."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from omniroute.settings import normalize_database_url
from omniroute.state import MemoryState
from omniroute.store.engine import create_engine, migrate
from omniroute.store.repos import SettingsRepo, UsageRepo, UsageRow
from omniroute.usage.budgets import Budget, BudgetExceeded, Budgets, period_bounds
from omniroute.usage.recorder import UsageRecorder


def ts(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


@pytest.mark.parametrize(("period", "now", "start", "end"), [
    ("daily", "2026-12-04T17:00:00", "2026-12-04T00:00:00", "2026-12-05T00:00:00"),
    ("weekly", "2026-12-04T17:00:00", "2026-11-30T00:00:00", "2026-12-07T00:00:00"),  # Friday → Monday
    ("weekly", "2026-11-30T00:00:00", "2026-11-30T00:00:00", "2026-12-07T00:00:00"),
    ("monthly", "2026-12-31T23:59:59", "2026-12-01T00:00:00", "2027-01-01T00:00:00"),
    ("monthly", "2028-02-10T00:00:00", "2028-02-01T00:00:00", "2028-03-01T00:00:00"),  # leap year
])
def test_period_bounds(period, now, start, end):
    assert period_bounds(period, ts(now)) == (ts(start), ts(end))


def test_invalid_budgets_name_their_field():
    for value, word in [({"keyId": "k", "limit": -1}, "limit"), ({"keyId": "", "limit": 1}, "keyId"),
                        ({"keyId": "k", "limit": 1, "period": "hourly"}, "period"),
                        ({"keyId": "k", "limit": True}, "limit"), ({"keyId": "k", "limit": 1, "x": 1}, "x"),
                        ({"keyId": "k", "limit": 1, "warnAt": 2}, "warnAt")]:
        with pytest.raises(ValueError, match=word):
            Budget.from_json(value)


class Clock:
    def __init__(self, now: float):
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def ledger(tmp_path):
    engine = create_engine(normalize_database_url(f"sqlite:///{tmp_path / 'b.sqlite'}"))
    await migrate(engine)
    repo = UsageRepo(engine)
    recorder = UsageRecorder(repo, interval_s=3600)  # flushed by the test, not by time
    clock = Clock(ts("2026-12-04T23:59:00"))
    budgets = Budgets(MemoryState(), SettingsRepo(engine), repo, recorder, clock=clock)
    yield budgets, recorder, repo, clock
    await engine.dispose()


def row(recorder: UsageRecorder, key: str, when: float, cost: float) -> UsageRow:
    return UsageRow(id=recorder.new_id(), timestamp=when, apiKeyId=key, provider="openai", connectionId=None,
                    model="m", requestedModel="m", combo=None, clientFormat="openai", upstreamFormat="openai",
                    promptTokens=1, completionTokens=1, cachedTokens=0, reasoningTokens=0, cost=cost, latencyMs=1,
                    ttftMs=None, status=200, cache=None, error=None)


async def spent(budgets: Budgets, period: str = "daily") -> float:
    return next(b["spent"] for b in await budgets.status("k") if b["period"] == period)


async def test_seeding_counts_written_and_queued_rows_once(ledger):
    budgets, recorder, repo, clock = ledger
    await repo.insert_many([row(recorder, "k", clock.now - 60, 1.0), row(recorder, "k", clock.now - 86_400, 50.0),
                            row(recorder, "other", clock.now - 60, 9.0)])
    recorder.record(row(recorder, "k", clock.now - 30, 2.0))  # queued, not yet written
    await budgets.put(Budget("k", 10, "daily"))
    assert await spent(budgets) == pytest.approx(3.0)
    # A row recorded after the budget went live is settled, then written: counted once, not twice.
    late = row(recorder, "k", clock.now, 0.5)
    recorder.record(late)
    budgets.settle("k", late.cost, None)
    await recorder.flush()
    assert await spent(budgets) == pytest.approx(3.5)
    # Re-creating the budget re-seeds from the table: the same total.
    await budgets.remove("k")
    await budgets.put(Budget("k", 10, "daily"))
    assert await spent(budgets) == pytest.approx(3.5)


async def test_reservations_and_roll_over(ledger):
    budgets, recorder, repo, clock = ledger
    await budgets.put(Budget("k", 1.0, "daily"))
    held = [await budgets.reserve("k", 0.4) for _ in range(3)]  # 0, 0.4, 0.8 held before each: admitted
    with pytest.raises(BudgetExceeded, match="held by requests in flight") as refused:
        await budgets.reserve("k", 0.4)  # 1.2 held: no room
    assert refused.value.retry_after == "1" and refused.value.status == 429
    for reservation in held:  # each cost less than it reserved
        budgets.settle("k", 0.3, reservation)
    await budgets.drain()
    status = (await budgets.status("k"))[0]
    assert status["spent"] == pytest.approx(0.9) and status["reserved"] == 0 and status["state"] == "warning"
    budgets.settle("k", 0.2, await budgets.reserve("k", 0.2))  # 0.9 < 1: admitted, ends at 1.1
    await budgets.drain()
    with pytest.raises(BudgetExceeded, match="resets at 2026-12-05T00:00:00Z") as refused:
        await budgets.reserve("k", 0.01)
    assert int(refused.value.retry_after) == 60  # a minute to midnight
    with pytest.raises(BudgetExceeded):
        await budgets.check("k")
    clock.now += 61  # a new day: nothing spent in it
    await budgets.check("k")
    assert await spent(budgets) == 0
    reservation = await budgets.reserve("k", 0.5)
    assert reservation is not None
    budgets.settle("k", 0.25, reservation)
    assert await spent(budgets) == pytest.approx(0.25)


async def test_concurrent_reservations_never_overshoot(ledger):
    budgets, recorder, repo, clock = ledger
    await budgets.put(Budget("k", 1.0, "daily"))
    estimate = 0.07

    async def request() -> bool:
        try:
            reservation = await budgets.reserve("k", estimate)
        except BudgetExceeded:
            return False
        await asyncio.sleep(0.01)
        budgets.settle("k", estimate * 0.9, reservation)
        return True

    admitted = 0
    for _ in range(10):
        admitted += sum(await asyncio.gather(*(request() for _ in range(50))))
        await budgets.drain()
    total = await spent(budgets)
    assert total < 1.0 + estimate and total >= 1.0 - estimate
    assert admitted == round(total / (estimate * 0.9))


async def test_budgets_are_stored_and_every_period_binds(ledger):
    budgets, recorder, repo, clock = ledger
    await budgets.put(Budget("k", 5, "monthly"))
    await budgets.put(Budget("k", 0.1, "daily"))
    reloaded = Budgets(MemoryState(), budgets._settings, repo, recorder, clock=clock)
    await reloaded.load()
    assert sorted(b.period for b in reloaded.list()) == ["daily", "monthly"]
    reloaded.settle("k", 0.1, await reloaded.reserve("k", 0.05))
    await reloaded.drain()
    with pytest.raises(BudgetExceeded, match="daily"):  # the tighter budget refuses
        await reloaded.reserve("k", 0.05)
    assert await reloaded.reserve("other", 100) is None  # a key without a budget is not held


async def test_a_reload_alongside_puts_keeps_every_budget(ledger):
    """Another instance's change reloads the set while this one creates budgets: whatever the order
    of their awaits, no budget a put made live is dropped by a reload that read the set before it."""
    budgets, recorder, repo, clock = ledger
    for round_ in range(5):
        made = [Budget(f"k{round_}-{i}", 1, "daily") for i in range(4)]
        await asyncio.gather(*(budgets.put(b) for b in made[:2]), budgets.reload(reseed=False),
                             *(budgets.put(b) for b in made[2:]), budgets.reload(reseed=False))
        live = {b.key_id for b in budgets.list()}
        assert {b.key_id for b in made} <= live, (round_, sorted(live))
    stored = {b["keyId"] for b in await budgets._settings.get("budgets")}
    assert stored == {b.key_id for b in budgets.list()}
