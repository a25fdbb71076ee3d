"""Account selection: each strategy's order over many picks, stickiness, and what is skipped."""

from __future__ import annotations

import asyncio
import random
from collections import Counter

import pytest

from omniroute.auth.secrets import SecretBox
from omniroute.errors import RateLimited
from omniroute.providers.registry import ProviderRegistry
from omniroute.routing import accounts as accounts_module
from omniroute.routing.accounts import AccountPool
from omniroute.routing.selection import STRATEGIES, SelectionConfig, Selector
from omniroute.state import MemoryState

PROVIDER = "openai"


def _row(conn_id: str, priority: int = 1, **extra) -> dict:
    return {"id": conn_id, "provider": PROVIDER, "name": conn_id, "isActive": True, "status": "active",
            "baseUrl": None, "apiKeyEnc": None, "priority": priority, "defaultModel": None,
            "headersEnc": None, "maxConcurrency": None, "providerData": {}, **extra}


def _pool(strategy: str = "fill-first", n: int = 3, seed: int = 7, sticky: int = 3, rows=None) -> AccountPool:
    state = MemoryState()
    pool = AccountPool(ProviderRegistry(), SecretBox("k" * 32), state, Selector(state, random.Random(seed)))
    pool.configure(SelectionConfig(strategy=strategy, sticky_uses=sticky))
    pool.load(rows if rows is not None else [_row(f"a{i}", priority=i) for i in range(n)])
    return pool


async def _picks(pool: AccountPool, count: int) -> list[str]:
    return [(await pool.candidates(PROVIDER))[0].id for _ in range(count)]


async def test_fill_first_keeps_priority_order():
    pool = _pool()
    assert await _picks(pool, 5) == ["a0"] * 5
    assert [a.id for a in await pool.candidates(PROVIDER)] == ["a0", "a1", "a2"]
    assert pool.limits is False  # the default path takes no in-flight slots


async def test_round_robin_is_sticky_then_least_recently_used():
    pool = _pool("round-robin")
    assert await _picks(pool, 9) == ["a0"] * 3 + ["a1"] * 3 + ["a2"] * 3
    assert await _picks(pool, 3) == ["a0"] * 3


async def test_round_robin_sticky_uses_is_configurable():
    pool = _pool("round-robin", sticky=1)
    assert await _picks(pool, 6) == ["a0", "a1", "a2", "a0", "a1", "a2"]


async def test_round_robin_moves_on_when_the_sticky_account_cools_down():
    pool = _pool("round-robin")
    assert await _picks(pool, 1) == ["a0"]
    await pool.cool_down(pool.get("a0"))
    order = [a.id for a in await pool.candidates(PROVIDER)]
    assert order[0] == "a1" and order[-1] == "a0"


async def test_random_spreads_evenly_with_a_fixed_seed():
    pool = _pool("random", seed=11)
    counts = Counter(await _picks(pool, 3000))
    assert set(counts) == {"a0", "a1", "a2"}
    assert all(900 < c < 1100 for c in counts.values()), counts
    again = _pool("random", seed=11)
    assert await _picks(again, 50) == (await _picks(_pool("random", seed=11), 50))


async def test_least_used_balances_exactly():
    pool = _pool("least-used")
    picks = await _picks(pool, 30)
    assert Counter(picks) == {"a0": 10, "a1": 10, "a2": 10}
    assert picks[:3] == ["a0", "a1", "a2"]


async def test_p2c_prefers_the_healthier_account():
    pool = _pool("p2c", seed=3)
    assert pool.limits  # p2c reads in-flight counts, so requests take slots
    for _ in range(2):
        assert await pool.acquire(pool.get("a1"))
    counts = Counter(await _picks(pool, 600))
    # a1 has two requests in flight: it wins only when paired with itself, never against an idle one.
    assert counts["a1"] == 0
    assert counts["a0"] > 0 and counts["a2"] > 0


async def test_p2c_counts_recent_failures():
    state = MemoryState()
    pool = AccountPool(ProviderRegistry(), SecretBox("k" * 32), state, Selector(state, random.Random(5)))
    pool.configure(SelectionConfig(strategy="p2c"))
    pool.load([_row("a0", 0), _row("a1", 1)])
    await state.set("cooldown-level:a0", 2)  # two recent failures, no cooldown left
    assert await _picks(pool, 50) == ["a1"] * 50


@pytest.mark.parametrize("strategy", STRATEGIES)
async def test_every_strategy_puts_cooling_accounts_last(strategy):
    pool = _pool(strategy)
    await pool.cool_down(pool.get("a1"))
    for _ in range(20):
        order = [a.id for a in await pool.candidates(PROVIDER)]
        assert order[-1] == "a1" and sorted(order) == ["a0", "a1", "a2"]


@pytest.mark.parametrize("status", ["expired", "error"])
async def test_expired_and_failed_connections_are_skipped(status):
    pool = _pool(rows=[_row("a0", 0, status=status), _row("a1", 1), _row("a2", 2, isActive=False)])
    assert [a.id for a in await pool.candidates(PROVIDER)] == ["a1"]


async def test_per_provider_strategy_overrides_the_default():
    pool = _pool()
    pool.configure(SelectionConfig(strategy="fill-first", per_provider={PROVIDER: "least-used"}))
    assert await _picks(pool, 3) == ["a0", "a1", "a2"]
    pool.configure(SelectionConfig())
    assert await _picks(pool, 2) == ["a0", "a0"]


async def test_an_account_at_its_limit_is_skipped():
    pool = _pool(rows=[_row("a0", 0, maxConcurrency=1), _row("a1", 1)])
    assert pool.limits
    a0 = pool.get("a0")
    assert await pool.acquire(a0)
    assert not await pool.acquire(a0)  # the slot is taken
    assert [a.id for a in await pool.candidates(PROVIDER)] == ["a1"]
    await pool.release(a0)
    assert [a.id for a in await pool.candidates(PROVIDER)] == ["a0", "a1"]
    assert await pool.in_flight("a0") == 0


async def test_all_at_their_limit_waits_then_is_refused(monkeypatch):
    monkeypatch.setattr(accounts_module, "CONCURRENCY_WAIT_S", 0.05)
    pool = _pool(rows=[_row("a0", 0, maxConcurrency=1)])
    a0 = pool.get("a0")
    assert await pool.acquire(a0)
    with pytest.raises(RateLimited) as caught:
        await pool.candidates(PROVIDER)
    assert caught.value.code == "concurrency_limited" and caught.value.status == 429

    async def free_soon():
        await asyncio.sleep(0.01)
        await pool.release(a0)

    monkeypatch.setattr(accounts_module, "CONCURRENCY_WAIT_S", 1.0)
    task = asyncio.create_task(free_soon())
    assert [a.id for a in await pool.candidates(PROVIDER)] == ["a0"]  # waited for the slot
    await task


def test_config_round_trips_and_refuses_unknown_strategies():
    config = SelectionConfig.from_json({"strategy": "p2c", "stickyUses": 5, "perProvider": {"groq": "random"}})
    assert config.to_json() == {"strategy": "p2c", "stickyUses": 5, "perProvider": {"groq": "random"}}
    assert config.strategy_for("groq") == "random" and config.strategy_for("openai") == "p2c"
    assert SelectionConfig.from_json(None) == SelectionConfig()
    with pytest.raises(ValueError):
        SelectionConfig(strategy="fastest")


def test_templated_base_urls_are_filled_from_provider_data():
    key = SecretBox("k" * 32).encrypt("azure-key")
    pool = _pool(rows=[
        _row("az", provider="azure-openai", apiKeyEnc=key, providerData={"resource": "acme", "deployment": "gpt4o"}),
        _row("cf", provider="cloudflare-workers-ai", providerData={"accountId": "abc123"}),
        _row("cf-missing", provider="cloudflare-workers-ai"),
    ])
    az = pool.get("az")
    assert az.chat_url == ("https://acme.openai.azure.com/openai/deployments/gpt4o/chat/completions"
                           "?api-version=2024-10-21")
    assert pool.headers(az)["api-key"] == "azure-key" and "Authorization" not in pool.headers(az)
    assert pool.get("cf").chat_url == "https://api.cloudflare.com/client/v4/accounts/abc123/ai/v1/chat/completions"
    assert pool.get("cf-missing") is None  # cannot be served without its account id
