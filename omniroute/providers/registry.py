"""Lookup of providers by id or alias: the catalog, plus the operator's provider nodes."""

from __future__ import annotations

from collections.abc import Iterable

from omniroute.providers.catalog import CATALOG, ProviderSpec

# What each kind of provider node speaks: its dialect, auth style, default paths and fixed headers.
NODE_TYPES: dict[str, dict] = {
    "openai-compatible": {"dialect": "openai", "auth": "bearer", "chat_path": "/chat/completions",
                          "models_path": "/models", "headers": {}},
    "anthropic-compatible": {"dialect": "anthropic", "auth": "x-api-key", "chat_path": "/messages",
                             "models_path": "/models", "headers": {"anthropic-version": "2023-06-01"}},
}


def node_spec(node: dict, headers: dict[str, str] | None = None) -> ProviderSpec:
    """A provider node (as the repository returns it, headers decrypted) as a provider spec."""
    kind = NODE_TYPES.get(node["type"])
    if kind is None:
        raise ValueError(f"unknown provider node type {node['type']!r}")
    sent = {**kind["headers"], **(headers or {})}
    return ProviderSpec(
        node["id"], node["name"], node["baseUrl"].rstrip("/"), dialect=kind["dialect"],
        aliases=() if node["prefix"] == node["id"] else (node["prefix"],), auth=kind["auth"],
        chat_path=node.get("chatPath") or kind["chat_path"],
        models_path=node.get("modelsPath") or kind["models_path"],
        models=tuple(node.get("models") or ()), headers=tuple(sent.items()),
    )


class ProviderRegistry:
    """Maps every provider id and alias to its spec; provider nodes can be swapped at run time."""

    def __init__(self, specs: Iterable[ProviderSpec] = CATALOG):
        self._by_id: dict[str, ProviderSpec] = {}
        self._by_name: dict[str, ProviderSpec] = {}
        self._custom: set[str] = set()
        for spec in specs:
            self.add(spec)

    def add(self, spec: ProviderSpec, *, custom: bool = False) -> None:
        """Add a provider, or replace the one with the same id; a name taken by another raises ValueError.

        A provider node never replaces a catalog provider, nor the reverse.
        """
        if spec.id in self._by_id and custom != (spec.id in self._custom):
            raise ValueError(f"provider id {spec.id!r} is already used")
        for name in (spec.id, *spec.aliases):
            existing = self._by_name.get(name)
            if existing is not None and existing.id != spec.id:
                raise ValueError(f"provider name {name!r} is used by {existing.id!r} and {spec.id!r}")
        self.remove(spec.id)
        self._by_id[spec.id] = spec
        for name in (spec.id, *spec.aliases):
            self._by_name[name] = spec
        if custom:
            self._custom.add(spec.id)

    def remove(self, provider_id: str) -> None:
        spec = self._by_id.pop(provider_id, None)
        if spec is not None:
            for name in (spec.id, *spec.aliases):
                if self._by_name.get(name) is spec:
                    del self._by_name[name]
        self._custom.discard(provider_id)

    def replace_custom(self, specs: Iterable[ProviderSpec]) -> list[tuple[ProviderSpec, str]]:
        """Swap every provider node for ``specs``; returns the ones refused, with the reason."""
        for provider_id in list(self._custom):
            self.remove(provider_id)
        refused = []
        for spec in specs:
            try:
                self.add(spec, custom=True)
            except ValueError as exc:
                refused.append((spec, str(exc)))
        return refused

    def is_custom(self, provider_id: str) -> bool:
        """Whether ``provider_id`` is a provider node rather than a catalog provider."""
        return provider_id in self._custom

    def get(self, name: str) -> ProviderSpec | None:
        """The provider whose id or alias is ``name``."""
        return self._by_name.get(name)

    def __iter__(self):
        return iter(self._by_id.values())

    def __contains__(self, name: str) -> bool:
        return name in self._by_name
