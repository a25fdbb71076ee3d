"""Model name → target (provider and upstream model).

Order: ``provider/model`` (id or alias) → a model alias → a combo → a provider with an active
connection that lists the bare name. Aliases and the operator's model additions
live in a ``ModelTable`` held in memory (``registry.model_table``), so resolving stays a few dict
lookups; the management API rebuilds it on every change.
"""

from __future__ import annotations

from dataclasses import dataclass

from omniroute.errors import ModelNotFound
from omniroute.providers.catalog import ProviderSpec
from omniroute.providers.registry import ProviderRegistry
from omniroute.routing.accounts import AccountPool
from omniroute.routing.combos import Combo

CHAT, EMBEDDING, IMAGE, AUDIO = "chat", "embedding", "image", "audio"
MODEL_TYPES = (CHAT, EMBEDDING, IMAGE)  # what an operator may add to or hide from a provider
_EMPTY: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class Target:
    provider: ProviderSpec
    model: str


class ModelTable:
    """Aliases and per-provider model additions and hides, ready for the hot path."""

    __slots__ = ("aliases", "targets", "rows", "added", "hidden", "combos")

    def __init__(self) -> None:
        self.aliases: dict[str, str] = {}  # as stored: alias → model (maybe another alias)
        self.targets: dict[str, str] = {}  # alias → the name its chain ends at
        self.rows: list[dict] = []  # provider-models rows, as the repository returns them
        self.added: dict[tuple[str, str], tuple[str, ...]] = {}  # (provider id, type) → models added
        self.hidden: dict[tuple[str, str], frozenset[str]] = {}  # (provider id, type) → models hidden
        self.combos: dict[str, Combo] = {}  # combo name → combo

    def load(self, rows: list[dict], aliases: dict[str, str], combos: list[dict] = ()) -> None:
        """Swap in new contents; every structure is built first, then assigned without yielding."""
        added: dict[tuple[str, str], list[str]] = {}
        hidden: dict[tuple[str, str], set[str]] = {}
        for row in rows:
            key = (row["provider"], row["type"])
            if row["hidden"]:
                hidden.setdefault(key, set()).add(row["model"])
            else:
                added.setdefault(key, []).append(row["model"])
        targets = {alias: end for alias in aliases if (end := alias_end(aliases, alias)) is not None}
        by_name = {row["name"]: Combo.from_row(row) for row in combos}
        self.rows = list(rows)
        self.added = {key: tuple(models) for key, models in added.items()}
        self.hidden = {key: frozenset(models) for key, models in hidden.items()}
        self.aliases = dict(aliases)
        self.targets = targets
        self.combos = by_name

    def models(self, provider_id: str, kind: str, base: tuple[str, ...] = ()) -> tuple[str, ...]:
        """``base`` (the catalog's list) plus the models added, less the hidden ones."""
        extra = self.added.get((provider_id, kind), ())
        hidden = self.hidden.get((provider_id, kind), _EMPTY)
        if not extra and not hidden:
            return base
        out = [m for m in base if m not in hidden]
        out += [m for m in extra if m not in hidden and m not in out]
        return tuple(out)

    def is_hidden(self, provider_id: str, kind: str, model: str) -> bool:
        return model in self.hidden.get((provider_id, kind), _EMPTY)


def alias_end(aliases: dict[str, str], alias: str) -> str | None:
    """The first name along ``alias``'s chain that is not an alias; None for a cycle."""
    seen = {alias}
    name = aliases[alias]
    while name in aliases:
        if name in seen:
            return None
        seen.add(name)
        name = aliases[name]
    return name


def table_of(registry: ProviderRegistry) -> ModelTable | None:
    """The registry's model table (None for a bare registry, as unit tests build)."""
    return getattr(registry, "model_table", None)


def resolve(name: str, registry: ProviderRegistry, pool: AccountPool, combos: bool = False) -> Target | Combo:
    """``provider/model`` (id or alias) first; then an alias; then a combo; a bare name goes to a provider
    that lists it. A combo comes back as itself when ``combos`` is true, else as its first target."""
    prefix, sep, rest = name.partition("/")
    if sep and rest:
        spec = registry.get(prefix)
        if spec is not None:
            return Target(spec, rest)
    table = table_of(registry)
    if table is not None:
        aliased = table.targets.get(name)
        if aliased is not None:
            combo = table.combos.get(aliased)
            if combo is None:
                return _alias_target(name, aliased, registry, pool, table)
            return combo if combos else resolve(combo.targets[0], registry, pool)
        combo = table.combos.get(name)
        if combo is not None:
            return combo if combos else resolve(combo.targets[0], registry, pool)
    target = _listed(name, registry, pool, table)
    if target is None:
        raise ModelNotFound(
            f"The model '{name}' does not exist or no active connection serves it; "
            "use 'provider/model' (see GET /v1/models)"
        )
    return target


def _listed(name: str, registry: ProviderRegistry, pool: AccountPool, table: ModelTable | None,
            every_type: bool = False) -> Target | None:
    """An active provider that lists ``name``: its chat models, the ones added, its accounts' default
    model; with ``every_type`` its embedding, image and transcription models too."""
    added = table.added if table is not None else {}
    hidden = table.hidden if table is not None else {}
    for provider_id in pool.providers():
        spec = registry.get(provider_id)
        if spec is None:
            continue
        if hidden and name in hidden.get((provider_id, CHAT), _EMPTY):
            continue
        if name in spec.models or (added and name in added.get((provider_id, CHAT), ())) \
                or any(a.default_model == name for a in pool.accounts(provider_id)):
            return Target(spec, name)
    if every_type:
        from omniroute.capabilities.audio import KNOWN_MODELS as AUDIO_MODELS
        from omniroute.capabilities.models import EMBEDDINGS, IMAGES, known_models, supports

        for provider_id in pool.providers():
            spec = registry.get(provider_id)
            if spec is None:
                continue
            for kind in (EMBEDDINGS, IMAGES):
                if supports(registry, spec, kind) and name in known_models(spec, kind, table):
                    return Target(spec, name)
            if name in AUDIO_MODELS.get(provider_id, ()):
                return Target(spec, name)
    return None


def _alias_target(alias: str, name: str, registry: ProviderRegistry, pool: AccountPool,
                  table: ModelTable) -> Target:
    """Where an alias points: a ``provider/model``, or a bare name of any model type."""
    prefix, sep, rest = name.partition("/")
    if sep and rest:
        spec = registry.get(prefix)
        if spec is not None:
            return Target(spec, rest)
    target = _listed(name, registry, pool, table, every_type=True)
    if target is None:
        raise ModelNotFound(
            f"The model '{alias}' is an alias of '{name}', which no active connection serves; "
            "fix the alias (/api/models/alias) or add a connection that lists the model"
        )
    return target
