"""Which of a provider's ready accounts goes first: the account-selection strategies.

``fill-first`` (the default) keeps priority order and costs nothing. The others read and
write small counters in the shared state, so several gateway instances pointed at one
backend choose consistently:

- ``round-robin``: stay on one account for ``sticky_uses`` picks, then move to the least
  recently used one;
- ``random``: a uniform shuffle;
- ``least-used``: the account picked the fewest times so far;
- ``p2c``: two accounts drawn at random, the healthier one first (fewer recent failures,
  then fewer requests in flight).

Every strategy returns the whole ready list reordered: the first account is the choice, the
rest are the fallbacks in the order they should be tried.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from omniroute.state import SharedState

FILL_FIRST = "fill-first"
ROUND_ROBIN = "round-robin"
RANDOM = "random"
LEAST_USED = "least-used"
P2C = "p2c"
STRATEGIES = (FILL_FIRST, ROUND_ROBIN, RANDOM, LEAST_USED, P2C)
DEFAULT_STICKY_USES = 3


def inflight_key(account_id: str) -> str:
    return f"inflight:{account_id}"


def failures_key(account_id: str) -> str:
    """Consecutive failures of an account (the cooldown level, which expires on its own)."""
    return f"cooldown-level:{account_id}"


@dataclass(frozen=True, slots=True)
class SelectionConfig:
    """The ``accountSelection`` setting: a default strategy and per-provider overrides."""

    strategy: str = FILL_FIRST
    sticky_uses: int = DEFAULT_STICKY_USES
    per_provider: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))

    def __post_init__(self) -> None:
        for name in (self.strategy, *self.per_provider.values()):
            if name not in STRATEGIES:
                raise ValueError(f"unknown account-selection strategy {name!r}")
        if self.sticky_uses < 1:
            raise ValueError("stickyUses must be at least 1")

    def strategy_for(self, provider_id: str) -> str:
        return self.per_provider.get(provider_id, self.strategy)

    @property
    def tracks_in_flight(self) -> bool:
        """Whether some provider's strategy reads in-flight counts (p2c)."""
        return self.strategy == P2C or P2C in self.per_provider.values()

    @classmethod
    def from_json(cls, data: Mapping | None) -> SelectionConfig:
        """From the stored setting (camelCase, as the API shows it); None gives the defaults."""
        if not data:
            return cls()
        return cls(strategy=data.get("strategy", FILL_FIRST),
                   sticky_uses=int(data.get("stickyUses", DEFAULT_STICKY_USES)),
                   per_provider=MappingProxyType(dict(data.get("perProvider") or {})))

    def to_json(self) -> dict:
        return {"strategy": self.strategy, "stickyUses": self.sticky_uses, "perProvider": dict(self.per_provider)}


class Selector:
    """Orders ready accounts by the configured strategy; its counters live in the shared state."""

    def __init__(self, state: SharedState, rng: random.Random | None = None):
        self._state = state
        self._rng = rng or random.Random()
        self.config = SelectionConfig()

    async def order(self, provider_id: str, strategy: str, ready: list) -> list:
        """``ready`` (accounts in priority order) reordered; the first one is the pick."""
        if len(ready) <= 1 or strategy == FILL_FIRST:
            return ready
        if strategy == ROUND_ROBIN:
            return await self._round_robin(provider_id, ready)
        if strategy == RANDOM:
            shuffled = list(ready)
            self._rng.shuffle(shuffled)
            return shuffled
        if strategy == LEAST_USED:
            return await self._least_used(provider_id, ready)
        if strategy == P2C:
            return await self._p2c(ready)
        return ready

    async def _round_robin(self, provider_id: str, ready: list) -> list:
        turn_key, seen_key = f"rr:{provider_id}", f"rr-seen:{provider_id}"
        turn = await self._state.hgetall(turn_key)
        seen = await self._state.hgetall(seen_key)
        # Least recently used first; never used counts as oldest; ties keep priority order.
        by_age = sorted(ready, key=lambda a: int(seen.get(a.id, 0)))
        uses = int(turn.get("uses", 0))
        chosen = None
        if uses < self.config.sticky_uses:
            chosen = next((a for a in ready if a.id == turn.get("current")), None)
        if chosen is None:
            chosen, uses = by_age[0], 0
        await self._state.hset(turn_key, "current", chosen.id)
        await self._state.hset(turn_key, "uses", uses + 1)
        await self._state.hset(seen_key, chosen.id, await self._state.incr(f"rr-clock:{provider_id}"))
        return [chosen, *(a for a in by_age if a is not chosen)]

    async def _least_used(self, provider_id: str, ready: list) -> list:
        key = f"picks:{provider_id}"
        counts = await self._state.hgetall(key)
        ordered = sorted(ready, key=lambda a: int(counts.get(a.id, 0)))
        chosen = ordered[0]
        await self._state.hset(key, chosen.id, int(counts.get(chosen.id, 0)) + 1)
        return ordered

    async def _p2c(self, ready: list) -> list:
        health = {}
        for account in ready:
            failures = await self._state.get(failures_key(account.id)) or 0
            in_flight = await self._state.get(inflight_key(account.id)) or 0
            health[account.id] = (int(failures), int(in_flight))
        first, second = self._rng.sample(range(len(ready)), 2)
        a, b = ready[min(first, second)], ready[max(first, second)]  # on a tie, priority order decides
        chosen = b if health[b.id] < health[a.id] else a
        rest = sorted((x for x in ready if x is not chosen), key=lambda x: health[x.id])
        return [chosen, *rest]
