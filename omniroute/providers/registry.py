"""Lookup of providers by id or alias, built once at start-up."""

from __future__ import annotations

from collections.abc import Iterable

from omniroute.providers.catalog import CATALOG, ProviderSpec


class ProviderRegistry:
    """Maps every provider id and alias to its spec."""

    def __init__(self, specs: Iterable[ProviderSpec] = CATALOG):
        self._by_id: dict[str, ProviderSpec] = {}
        self._by_name: dict[str, ProviderSpec] = {}
        for spec in specs:
            self.add(spec)

    def add(self, spec: ProviderSpec) -> None:
        for name in (spec.id, *spec.aliases):
            existing = self._by_name.get(name)
            if existing is not None and existing.id != spec.id:
                raise ValueError(f"provider name {name!r} is used by {existing.id!r} and {spec.id!r}")
        self._by_id[spec.id] = spec
        for name in (spec.id, *spec.aliases):
            self._by_name[name] = spec

    def get(self, name: str) -> ProviderSpec | None:
        """The provider whose id or alias is ``name``."""
        return self._by_name.get(name)

    def __iter__(self):
        return iter(self._by_id.values())

    def __contains__(self, name: str) -> bool:
        return name in self._by_name
