"""SessionTracker over MemoryState: counts, listing order, expiry, the cap, affinity, header names."""

from __future__ import annotations

import asyncio

from omniroute.routing.sessions import INDEX, SessionTracker, session_id_of
from omniroute.state import MemoryState


class Clock:
    def __init__(self, now: float = 1_700_000_000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


def run(coro):
    return asyncio.run(coro)


def test_touch_counts_and_lists_newest_first():
    async def go():
        clock = Clock()
        tracker = SessionTracker(MemoryState(), clock=clock)
        await tracker.touch("s1", "k1")
        clock.now += 1
        await tracker.touch("s2", None)
        clock.now += 1
        await tracker.touch("s1", "k1")
        return await tracker.list(), clock.now

    listed, now = run(go())
    assert listed == [{"id": "s1", "apiKeyId": "k1", "requests": 2, "lastSeen": now},
                      {"id": "s2", "apiKeyId": None, "requests": 1, "lastSeen": now - 1}]


def test_idle_sessions_expire_and_their_counters_go():
    async def go():
        clock, state = Clock(), MemoryState()
        tracker = SessionTracker(state, ttl_s=60, clock=clock)
        await tracker.touch("old", "k")
        clock.now += 30
        await tracker.touch("new", "k")
        clock.now += 31
        listed = await tracker.list()
        return listed, await state.hgetall(INDEX), await state.get("session:old:requests")

    listed, index, counter = run(go())
    assert [s["id"] for s in listed] == ["new"]
    assert set(index) == {"new"} and counter is None


def test_the_cap_keeps_the_most_recent():
    async def go():
        clock, state = Clock(), MemoryState()
        tracker = SessionTracker(state, max_sessions=3, clock=clock, prune_every=4)
        for i in range(10):
            clock.now += 1
            await tracker.touch(f"s{i}", None)
        # pruned on every fourth touch, so the index never holds more than cap + prune interval
        size = len(await state.hgetall(INDEX))
        return [s["id"] for s in await tracker.list()], size

    ids, size = run(go())
    assert ids == ["s9", "s8", "s7"]
    assert size <= 3 + 4


def test_affinity_binds_per_provider_and_expires():
    async def go():
        state = MemoryState()
        tracker = SessionTracker(state, ttl_s=0.05)
        assert await tracker.preferred("s", "openai") is None
        await tracker.bind("s", "openai", "acc-1")
        await tracker.bind("s", "anthropic", "acc-9")
        first = await tracker.preferred("s", "openai"), await tracker.preferred("s", "anthropic")
        await tracker.bind("s", "openai", "acc-2")
        second = await tracker.preferred("s", "openai")
        await asyncio.sleep(0.08)
        return first, second, await tracker.preferred("s", "openai")

    first, second, later = run(go())
    assert first == ("acc-1", "acc-9") and second == "acc-2" and later is None


def test_touch_later_records_in_the_background():
    async def go():
        tracker = SessionTracker(MemoryState())
        tracker.touch_later("s", "k")
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        return await tracker.list()

    assert [(s["id"], s["requests"]) for s in run(go())] == [("s", 1)]


def test_session_header_names_and_length():
    assert session_id_of({b"x-session-id": "a"}) == "a"
    assert session_id_of({b"x-claude-code-session-id": "b"}) == "b"
    assert session_id_of({b"session_id": "c"}) == "c"
    assert session_id_of({b"x-session-id": "a", b"session_id": "c"}) == "a"
    assert session_id_of({b"x-session-id": "x" * 200}) == "x" * 200
    assert session_id_of({b"x-session-id": "x" * 201}) is None
    assert session_id_of({}) is None
