"""Both SharedState backends against one contract: in-process, and Redis (with a key prefix of the
test's own); the sweep of expired keys is the in-process backend's alone."""

from __future__ import annotations

import asyncio
import uuid
from contextlib import asynccontextmanager

import pytest

from omniroute.state import MemoryState, SharedState


@asynccontextmanager
async def on_redis(url: str):
    """A RedisState under a prefix of its own, whose keys are deleted afterwards."""
    from omniroute.state.redis import RedisState

    backend = RedisState(url, prefix=f"omniroute-test:{uuid.uuid4().hex}:")
    await backend.ping()
    try:
        yield backend
    finally:
        keys = [k async for k in backend._redis.scan_iter(match=backend.prefix + "*")]
        if keys:
            await backend._redis.delete(*keys)
        await backend.close()


@pytest.fixture(params=["memory", "redis"])
async def state(request):
    if request.param == "memory":
        yield MemoryState()
        return
    async with on_redis(request.getfixturevalue("redis_url")) as backend:
        yield backend


@pytest.fixture
async def redis_state(redis_url):
    async with on_redis(redis_url) as backend:
        yield backend


@pytest.fixture
def memory() -> MemoryState:
    return MemoryState()


async def held_locks(state) -> int:
    """Locks still held or remembered once every holder has left (none, in either backend)."""
    if isinstance(state, MemoryState):
        return len(state._locks)
    return len([k async for k in state._redis.scan_iter(match=state.prefix + "lock:*")])


async def test_is_a_shared_state(state):
    assert isinstance(state, SharedState)


async def test_get_set_delete(state):
    assert await state.get("a") is None
    await state.set("a", "x")
    await state.set("n", 3)
    await state.set("f", 1.5)
    assert await state.get("a") == "x"
    assert await state.get("n") == 3
    assert await state.get("f") == 1.5
    await state.set("a", "y")
    assert await state.get("a") == "y"
    await state.delete("a")
    assert await state.get("a") is None
    await state.delete("never-set")  # no error
    assert await state.get("n") == 3


async def test_ttl_expiry(state):
    await state.set("short", "v", ttl=0.05)
    await state.set("long", "v", ttl=10)
    await state.set("forever", "v")
    assert await state.get("short") == "v"
    await asyncio.sleep(0.08)
    assert await state.get("short") is None
    assert await state.get("long") == "v"
    assert await state.get("forever") == "v"


async def test_set_without_ttl_makes_key_permanent(state):
    await state.set("k", 1, ttl=0.05)
    await state.set("k", 2)
    await asyncio.sleep(0.08)
    assert await state.get("k") == 2
    assert await state.ttl("k") is None


async def test_set_if_absent(state):
    assert await state.set_if_absent("k", "first") is True
    assert await state.set_if_absent("k", "second") is False
    assert await state.get("k") == "first"
    await state.delete("k")
    assert await state.set_if_absent("k", "third") is True
    assert await state.get("k") == "third"


async def test_set_if_absent_after_expiry(state):
    assert await state.set_if_absent("lease", "a", ttl=0.05) is True
    assert await state.set_if_absent("lease", "b", ttl=0.05) is False
    await asyncio.sleep(0.08)
    assert await state.set_if_absent("lease", "b", ttl=10) is True
    assert await state.get("lease") == "b"
    assert 9 < await state.ttl("lease") <= 10


async def test_incr_creates_and_adds(state):
    assert await state.incr("c") == 1
    assert await state.incr("c") == 2
    assert await state.incr("c", 5) == 7
    assert await state.incr("c", -3) == 4
    assert await state.get("c") == 4


async def test_incr_keeps_the_original_ttl(state):
    assert await state.incr("window", ttl=0.1) == 1
    await asyncio.sleep(0.05)
    # A later ttl must not extend the window opened by the first increment.
    assert await state.incr("window", ttl=10) == 2
    assert await state.ttl("window") < 0.06
    await asyncio.sleep(0.07)
    assert await state.get("window") is None
    assert await state.incr("window", ttl=10) == 1
    assert await state.ttl("window") > 9


async def test_incr_on_expired_counter_starts_over(state):
    await state.incr("c", 10, ttl=0.05)
    await asyncio.sleep(0.08)
    assert await state.incr("c") == 1
    assert await state.ttl("c") is None


async def test_ttl_values(state):
    assert await state.ttl("missing") is None
    await state.set("perm", 1)
    assert await state.ttl("perm") is None
    await state.set("t", 1, ttl=5)
    left = await state.ttl("t")
    assert 4.9 < left <= 5
    await state.set("e", 1, ttl=0.05)
    await asyncio.sleep(0.08)
    assert await state.ttl("e") is None


async def test_hash_maps(state):
    assert await state.hget("h", "a") is None
    assert await state.hgetall("h") == {}
    await state.hset("h", "a", "1")
    await state.hset("h", "b", 2)
    await state.hset("h", "a", "one")
    assert await state.hget("h", "a") == "one"
    assert await state.hget("h", "missing") is None
    assert await state.hgetall("h") == {"a": "one", "b": 2}
    await state.hdel("h", "a")
    await state.hdel("h", "missing")
    await state.hdel("other", "a")
    assert await state.hgetall("h") == {"b": 2}
    await state.delete("h")
    assert await state.hgetall("h") == {}


async def test_hgetall_returns_a_copy(state):
    await state.hset("h", "a", 1)
    snapshot = await state.hgetall("h")
    snapshot["b"] = 2
    assert await state.hgetall("h") == {"a": 1}


async def test_maps_and_plain_values_do_not_mix(state):
    await state.hset("h", "a", 1)
    assert await state.get("h") is None
    await state.set("plain", "v")
    assert await state.hget("plain", "a") is None
    assert await state.hgetall("plain") == {}


async def test_lock_mutual_exclusion(state):
    order: list[str] = []
    a_inside = asyncio.Event()
    release_a = asyncio.Event()

    async def holder():
        async with state.lock("job"):
            order.append("a-in")
            a_inside.set()
            await release_a.wait()
            order.append("a-out")

    async def waiter():
        await a_inside.wait()
        async with state.lock("job"):
            order.append("b-in")

    a = asyncio.create_task(holder())
    b = asyncio.create_task(waiter())
    await a_inside.wait()
    await asyncio.sleep(0.02)
    assert order == ["a-in"]  # b is waiting
    assert not b.done()
    release_a.set()
    await asyncio.wait_for(asyncio.gather(a, b), 2)
    assert order == ["a-in", "a-out", "b-in"]
    assert await held_locks(state) == 0


async def test_locks_on_different_keys_do_not_block(state):
    async with state.lock("one"):
        async with asyncio.timeout(1):
            async with state.lock("two"):
                pass


async def test_lock_wait_times_out(state):
    async with state.lock("busy"):
        with pytest.raises(TimeoutError):
            async with state.lock("busy", ttl=0.05):
                pass
    # The key is free again afterwards.
    async with asyncio.timeout(1):
        async with state.lock("busy", ttl=0.05):
            pass
    assert await held_locks(state) == 0


async def test_lock_excludes_a_task_arriving_while_the_holder_leaves(state):
    inside: set[str] = set()
    overlaps: list[tuple[str, set[str]]] = []
    leave = asyncio.Event()

    async def worker(name: str, hold: asyncio.Event | None = None):
        async with state.lock("k"):
            if inside:
                overlaps.append((name, set(inside)))
            inside.add(name)
            if hold is not None:
                await hold.wait()
            else:
                await asyncio.sleep(0.01)
            inside.discard(name)

    first = asyncio.create_task(worker("first", leave))
    await asyncio.sleep(0.01)
    second = asyncio.create_task(worker("second"))
    leave.set()  # the holder leaves in the same loop turn as the second task arrives
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    third = asyncio.create_task(worker("third"))
    await asyncio.wait_for(asyncio.gather(first, second, third), 2)
    assert overlaps == []
    assert await held_locks(state) == 0


async def test_lock_many_contenders(state):
    inside = 0
    most = 0
    done = 0

    async def worker(i: int):
        nonlocal inside, most, done
        await asyncio.sleep((i % 7) * 0.001)
        async with state.lock("shared"):
            inside += 1
            most = max(most, inside)
            await asyncio.sleep(0)
            inside -= 1
            done += 1

    await asyncio.wait_for(asyncio.gather(*(worker(i) for i in range(100))), 5)
    assert most == 1
    assert done == 100
    assert await held_locks(state) == 0


async def test_lock_dict_does_not_grow(state):
    for i in range(2000):
        async with state.lock(f"key-{i}"):
            pass
    assert await held_locks(state) == 0


async def test_lock_released_when_body_raises(state):
    with pytest.raises(RuntimeError):
        async with state.lock("k"):
            raise RuntimeError("boom")
    async with asyncio.timeout(1):
        async with state.lock("k", ttl=0.05):
            pass
    assert await held_locks(state) == 0


async def test_sweep_keeps_memory_bounded(memory):
    state = memory
    for i in range(5000):
        await state.set(f"short-{i}", i, ttl=0.01)
    await asyncio.sleep(0.03)
    # These writes are never followed by reads of the expired keys: only the sweep can drop them.
    for i in range(2048):
        await state.set("live", i)
    assert len(state._values) < 100
    assert len(state._expiry) < 100
    assert len(state) == 1
    assert await state.get("live") == 2047


async def test_len_counts_live_keys(memory):
    state = memory
    await state.set("a", 1)
    await state.set("b", 1, ttl=0.02)
    await state.hset("h", "f", 1)
    assert len(state) == 3
    await asyncio.sleep(0.04)
    assert len(state) == 2


async def test_values_keep_their_type(state):
    for value in ("12", "f1.5", "", "snowman ☃", 0, -7, 2**62, 0.1, -2.5e-9):
        await state.set("v", value)
        got = await state.get("v")
        assert got == value and type(got) is type(value), (value, got)
        await state.hset("m", "v", value)
        got = await state.hget("m", "v")
        assert got == value and type(got) is type(value), (value, got)


async def test_a_lock_outlives_no_holder_longer_than_its_ttl(redis_state):
    """A holder that never leaves (an instance that died holding it) frees the lock after its ttl."""
    state = redis_state
    await state._redis.set(state.prefix + "lock:orphan", "someone-else", px=100)
    async with asyncio.timeout(2):
        async with state.lock("orphan", ttl=5):
            assert await state.ttl("lock:orphan") > 4


async def test_two_instances_share_counters_and_hear_events(redis_state, redis_url):
    from omniroute.state.redis import RedisState

    state = redis_state
    assert state.shared and not MemoryState.shared

    other = RedisState(redis_url, prefix=state.prefix)
    heard: list[bytes] = []
    got = asyncio.Event()

    async def handler(message):
        heard.append(message)
        got.set()

    try:
        await other.listen(handler)
        await asyncio.sleep(0.1)  # the subscription is in place
        assert await state.incr("shared", 2) == 2
        assert await other.incr("shared", 3) == 5
        await state.publish(b"config:abc")
        await asyncio.wait_for(got.wait(), 2)
        assert heard == [b"config:abc"]
    finally:
        await other.close()


async def test_peek_sees_own_writes_at_once_and_others_within_its_window(state, redis_url):
    assert await state.peek("p") is None and await state.hpeek("m", "f") is None
    await state.set("p", 1)
    await state.hset("m", "f", "x")
    assert await state.peek("p") == 1 and await state.hpeek("m", "f") == "x"  # own writes: at once
    await state.delete("p")
    await state.hdel("m", "f")
    assert await state.peek("p") is None and await state.hpeek("m", "f") is None
    if not state.shared:
        return
    from omniroute.state.redis import RedisState

    other = RedisState(redis_url, prefix=state.prefix)
    try:
        await other.set("p", 2)
        await other.hset("m", "f", "y")
        assert await state.get("p") == 2  # a plain read is never stale
        lagging = await state.peek("p")
        assert lagging in (None, 2)  # within the window it may still be the answer peeked before
        await asyncio.sleep(state.peek_s + 0.05)
        assert await state.peek("p") == 2 and await state.hpeek("m", "f") == "y"
    finally:
        await other.close()


async def test_a_burst_of_peeks_is_one_read(redis_state):
    """50 requests asking at once the question nobody has asked for a while cost one round trip."""

    async def gets() -> int:
        stats = await redis_state._redis.info("commandstats")
        return int(stats.get("cmdstat_get", {}).get("calls", 0))

    before = await gets()
    answers = await asyncio.gather(*(redis_state.peek("cold") for _ in range(50)))
    assert answers == [None] * 50
    assert await gets() - before < 5  # one, give or take another client of the same Redis
    asker = asyncio.create_task(redis_state.peek("cold-2"))
    other = asyncio.create_task(redis_state.peek("cold-2"))
    await asyncio.sleep(0)
    asker.cancel()  # one asker giving up does not cancel the read for the other
    assert await other is None


async def test_peeked_answers_stay_bounded_whatever_the_fields(redis_state):
    """Fields of one map (a model name is client input) cannot grow the local answers without end."""
    from omniroute.state.redis import NEAR_MAX

    for i in range(NEAR_MAX + 500):
        redis_state._keep("lockouts", f"account\x1fmodel-{i}", None)
    assert sum(len(fields) for fields in redis_state._near.values()) <= NEAR_MAX
    assert await redis_state.hpeek("lockouts", "account\x1fmodel-x") is None
