"""Model name → target (provider and upstream model)."""

from __future__ import annotations

from dataclasses import dataclass

from omniroute.errors import ModelNotFound
from omniroute.providers.catalog import ProviderSpec
from omniroute.providers.registry import ProviderRegistry
from omniroute.routing.accounts import AccountPool


@dataclass(frozen=True, slots=True)
class Target:
    provider: ProviderSpec
    model: str


def resolve(name: str, registry: ProviderRegistry, pool: AccountPool) -> Target:
    """``provider/model`` (id or alias) first; a bare name goes to a provider that lists it."""
    prefix, sep, rest = name.partition("/")
    if sep and rest:
        spec = registry.get(prefix)
        if spec is not None:
            return Target(spec, rest)
    for provider_id in pool.providers():
        spec = registry.get(provider_id)
        if spec is None:
            continue
        if name in spec.models or any(a.default_model == name for a in pool.accounts(provider_id)):
            return Target(spec, name)
    raise ModelNotFound(
        f"The model '{name}' does not exist or no active connection serves it; "
        "use 'provider/model' (see GET /v1/models)"
    )
