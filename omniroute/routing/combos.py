"""Combos: a name that stands for a list of targets, tried in an order its strategy decides.

A combo's targets are model names (``provider/model``, an alias, a bare listed name) or other
combos. ``order`` turns one combo into the flat list of names to try, nested combos expanded in
place by their own strategies. Round-robin positions and least-used counts live in the shared
state, so several instances agree on them.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

from omniroute.state import SharedState

PRIORITY, WEIGHTED, ROUND_ROBIN, RANDOM, LEAST_USED, COST_OPTIMIZED = (
    "priority", "weighted", "round-robin", "random", "least-used", "cost-optimized")
STRATEGIES = (PRIORITY, WEIGHTED, ROUND_ROBIN, RANDOM, LEAST_USED, COST_OPTIMIZED)
MAX_DEPTH = 3  # a combo of combos of combos, no deeper


@dataclass(frozen=True, slots=True)
class Combo:
    id: str
    name: str
    targets: tuple[str, ...]
    weights: tuple[float, ...]
    strategy: str = PRIORITY
    config: dict = field(default_factory=dict)

    @classmethod
    def from_row(cls, row: dict) -> Combo:
        names, weights = [], []
        for entry in row["models"]:
            if isinstance(entry, str):
                names.append(entry)
                weights.append(1.0)
            else:
                names.append(entry["model"])
                weights.append(float(entry.get("weight", 1)))
        return cls(row["id"], row["name"], tuple(names), tuple(weights), row["strategy"], dict(row["config"]))


def target_name(entry) -> str:
    """The model name of one stored ``models`` entry (a string or ``{"model", "weight"?}``)."""
    return entry if isinstance(entry, str) else entry["model"]


def depth(name: str, graph: dict[str, list[str]], seen: tuple[str, ...] = ()) -> int:
    """How deep combo ``name`` nests (1: only models); raises ValueError naming a cycle."""
    if name in seen:
        raise ValueError(" → ".join((*seen, name)))
    inner = [depth(t, graph, (*seen, name)) for t in graph[name] if t in graph]
    return 1 + max(inner, default=0)


async def order(combo: Combo, combos: dict[str, Combo], state: SharedState, rng: random.Random | None = None,
                _depth: int = 0, price_of: Callable[[str], float] | None = None) -> list[str]:
    """The names to try for ``combo``, best first, nested combos expanded; each name once.
    ``price_of(name)`` ranks a cost-optimized combo (cheapest first; unknown prices last)."""
    ranked = await _rank(combo, state, rng or random, price_of)
    out: list[str] = []
    for name in ranked:
        inner = combos.get(name)
        if inner is not None and _depth < MAX_DEPTH:
            names = await order(inner, combos, state, rng, _depth + 1, price_of)
        else:
            names = [name] if inner is None else []
        out += [n for n in names if n not in out]
    return out


async def _rank(combo: Combo, state: SharedState, rng, price_of=None) -> list[str]:
    targets, strategy = list(combo.targets), combo.strategy
    if len(targets) < 2:
        return targets
    if strategy == WEIGHTED:
        # Weighted sampling without replacement: each key is u^(1/w); the largest keys come first.
        keyed = [(rng.random() ** (1.0 / w), i) for i, w in enumerate(combo.weights)]
        return [targets[i] for _, i in sorted(keyed, reverse=True)]
    if strategy == ROUND_ROBIN:
        turn = (await state.incr(f"combo:rr:{combo.id}") - 1) % len(targets)
        return targets[turn:] + targets[:turn]
    if strategy == RANDOM:
        rng.shuffle(targets)
        return targets
    if strategy == LEAST_USED:
        counts = await state.hgetall(f"combo:used:{combo.id}")
        ranked = sorted(targets, key=lambda t: int(counts.get(t, 0)))  # stable: ties keep the listed order
        await state.hset(f"combo:used:{combo.id}", ranked[0], int(counts.get(ranked[0], 0)) + 1)
        return ranked
    if strategy == COST_OPTIMIZED and price_of is not None:
        return sorted(targets, key=price_of)  # stable: equal prices keep the listed order
    return targets  # priority: the listed order
