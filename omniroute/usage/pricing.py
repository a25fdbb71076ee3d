"""Model prices and the cost of one request.

Prices are USD per 1M tokens (plus optional per-image and per-audio-minute prices). The table is
the built-in defaults (``pricing_defaults``, checked 2026-12) under the operator's overrides from
``/api/pricing``. Every index is built when the overrides change, so ``lookup`` on the request
path is two dict gets for a known model and two more (after one normalisation) otherwise.

Token accounting follows the canonical ``Usage``: ``input`` excludes cache reads and writes
(OpenAI's ``prompt_tokens`` is ``input + cache_read``), cache writes are counted apart, and
``output`` already includes ``reasoning`` tokens, so reasoning is moved from the output price to
the reasoning price rather than added a second time.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from types import MappingProxyType

from omniroute.providers.catalog import CATALOG
from omniroute.usage.pricing_defaults import DEFAULT_PRICES

__all__ = ["Price", "PricingTable", "blended", "cost", "normalise_model"]

_PER_TOKEN = 1_000_000
# API (camelCase) field -> Price attribute; input and output are required.
_API_FIELDS = MappingProxyType({
    "input": "input", "output": "output", "cacheRead": "cache_read", "cacheWrite": "cache_write",
    "reasoning": "reasoning", "perImage": "per_image", "perAudioMinute": "per_audio_minute",
})
_REQUIRED = ("input", "output")
# Provider ids and their aliases (`oai`, `claude`, `cc`, …), lowercased, to canonical ids.
_PROVIDERS = MappingProxyType({
    name.lower(): spec.id for spec in CATALOG for name in (spec.id, *spec.aliases)
})
_DATE_SUFFIX = re.compile(r"-(?:\d{4}-\d{2}-\d{2}|\d{8})$")


def _check(name: str, value, *, optional: bool) -> float | None:
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"price field {name!r} must be a number, got {type(value).__name__}")
    value = float(value)
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"price field {name!r} must be a finite number >= 0, got {value!r}")
    return value


@dataclass(frozen=True, slots=True)
class Price:
    """USD per 1M tokens. Unknown cache prices fall back to ``input``, reasoning to ``output``."""

    input: float
    output: float
    cache_read: float | None = None
    cache_write: float | None = None
    reasoning: float | None = None
    per_image: float | None = None  # USD per generated image
    per_audio_minute: float | None = None  # USD per minute of audio

    def __post_init__(self) -> None:
        put = object.__setattr__
        put(self, "input", _check("input", self.input, optional=False))
        put(self, "output", _check("output", self.output, optional=False))
        for name in ("cache_read", "cache_write", "reasoning", "per_image", "per_audio_minute"):
            put(self, name, _check(name, getattr(self, name), optional=True))
        if self.cache_read is None:
            put(self, "cache_read", self.input)
        if self.cache_write is None:
            put(self, "cache_write", self.input)
        if self.reasoning is None:
            put(self, "reasoning", self.output)

    @classmethod
    def from_api(cls, body) -> Price:
        """A price from the API shape; a missing required field or an unknown one is a ValueError."""
        if not isinstance(body, dict):
            raise ValueError(f"a price must be an object, got {type(body).__name__}")
        for name in body:
            if name not in _API_FIELDS:
                raise ValueError(f"unknown price field {name!r} (allowed: {', '.join(_API_FIELDS)})")
        for name in _REQUIRED:
            if name not in body:
                raise ValueError(f"price field {name!r} is required")
        return cls(**{_API_FIELDS[name]: value for name, value in body.items()})

    def to_api(self) -> dict:
        """The API shape (camelCase); per-image and per-minute prices only when set."""
        out = {api: getattr(self, attr) for api, attr in _API_FIELDS.items()}
        return {k: v for k, v in out.items() if v is not None}


def normalise_model(model: str) -> str:
    """The loose form of a model name: lowercase, no ``models/`` prefix, no date suffix, dots as
    dashes (``models/Gemini-2.5-Pro`` → ``gemini-2-5-pro``, ``gpt-4o-2024-08-06`` → ``gpt-4o``)."""
    name = model.strip().lower()
    if name.startswith("models/"):
        name = name[len("models/"):]
    name = _DATE_SUFFIX.sub("", name)
    return name.replace(".", "-")


def _canonical_provider(provider: str) -> str:
    low = provider.strip().lower()
    return _PROVIDERS.get(low, low)


def _split_key(key: str) -> tuple[str | None, str]:
    """``provider/model`` when the first segment names a catalog provider (or alias), else a bare
    model name (``openai/gpt-4o`` is OpenAI's; ``meta-llama/llama-3.3-70b`` is a bare name)."""
    head, sep, rest = key.partition("/")
    if sep and rest and head.strip().lower() in _PROVIDERS:
        return _PROVIDERS[head.strip().lower()], rest
    return None, key


def _merge(ov_exact: dict, ov_bare: dict, df_exact: dict, df_bare: dict) -> tuple[dict, dict]:
    """Two indexes answering in the order override exact > override bare > default exact >
    default bare: ``exact.get(p/m) or bare.get(m)``."""
    bare = {**df_bare, **ov_bare}
    exact = {}
    for key in (*df_exact, *ov_exact):
        model = key.partition("/")[2]
        exact[key] = ov_exact.get(key) or ov_bare.get(model) or df_exact.get(key) or df_bare.get(model)
    return exact, bare


def _loose(exact: dict, bare: dict) -> tuple[dict, dict]:
    """The same layers keyed by normalised names; within a layer the first entry keeps a clash."""
    n_exact: dict = {}
    for key, price in exact.items():
        provider, _, model = key.partition("/")
        n_exact.setdefault(f"{provider}/{normalise_model(model)}", price)
    n_bare: dict = {}
    for model, price in bare.items():
        n_bare.setdefault(normalise_model(model), price)
    return n_exact, n_bare


@dataclass(frozen=True, slots=True)
class _Index:
    exact: dict
    bare: dict
    loose_exact: dict
    loose_bare: dict
    overrides: dict  # the operator's entries as given (canonical keys), for to_json


def _default_layers() -> tuple[dict, dict]:
    exact: dict[str, Price] = {}
    bare: dict[str, Price] = {}
    for key, fields in DEFAULT_PRICES.items():
        provider, model = key.split("/", 1)
        price = Price(**fields)
        exact[f"{provider}/{model}"] = price
        bare.setdefault(model, price)  # the first provider listing a model prices it for all
    return exact, bare


class PricingTable:
    """Defaults plus operator overrides; ``lookup`` never changes state."""

    __slots__ = ("_defaults", "_index")

    def __init__(self, overrides: dict[str, dict] | None = None) -> None:
        self._defaults = _default_layers()
        self._index = self._build({})
        if overrides:
            self.set_overrides(overrides)

    def set_overrides(self, overrides: dict[str, dict]) -> None:
        """Validate and replace every override at once (a bad entry leaves the table unchanged).

        Keys are ``provider/model`` (provider id or alias) or a bare model name for every provider.
        """
        if not isinstance(overrides, dict):
            raise ValueError("pricing overrides must be an object keyed by model")
        parsed: dict[str, Price] = {}
        for key, body in overrides.items():
            if not isinstance(key, str) or not key.strip() or key.strip()[0] == "/" or key.strip()[-1] == "/":
                raise ValueError(f"invalid pricing key {key!r}")
            provider, model = _split_key(key.strip())
            if not model.strip():
                raise ValueError(f"invalid pricing key {key!r}")
            try:
                price = Price.from_api(body)
            except ValueError as exc:
                raise ValueError(f"{key}: {exc}") from None
            parsed[f"{provider}/{model}" if provider else model] = price
        self._index = self._build(parsed)

    def _build(self, overrides: dict[str, Price]) -> _Index:
        ov_exact: dict[str, Price] = {}
        ov_bare: dict[str, Price] = {}
        for key, price in overrides.items():
            provider, model = _split_key(key)
            if provider:
                ov_exact[f"{provider}/{model}"] = price
            else:
                ov_bare[model] = price
        df_exact, df_bare = self._defaults
        exact, bare = _merge(ov_exact, ov_bare, df_exact, df_bare)
        layers = [_loose(ov_exact, ov_bare), _loose(df_exact, df_bare)]
        loose_exact, loose_bare = _merge(layers[0][0], layers[0][1], layers[1][0], layers[1][1])
        return _Index(exact, bare, loose_exact, loose_bare, dict(overrides))

    def lookup(self, provider_id: str, model: str) -> Price | None:
        """The price of ``model`` served by ``provider_id``, or None when nothing matches."""
        index = self._index  # one read: a concurrent set_overrides swaps the whole index
        provider = _PROVIDERS.get(provider_id) or provider_id  # an alias (`oai`) prices as its id
        price = index.exact.get(f"{provider}/{model}") or index.bare.get(model)
        if price is not None or not model:
            return price
        price = index.bare.get(f"{provider}/{model}")  # a custom node's model, keyed `node/model`
        if price is not None:
            return price
        provider = _canonical_provider(provider)
        loose = normalise_model(model)
        price = index.loose_exact.get(f"{provider}/{loose}") or index.loose_bare.get(loose)
        if price is None and "/" in loose:  # a vendor-prefixed name (OpenRouter's `openai/gpt-4o`)
            price = index.loose_bare.get(loose.rsplit("/", 1)[1])
        return price

    def overrides(self) -> dict[str, dict]:
        """The current overrides in the API shape, keyed as stored."""
        return {key: price.to_api() for key, price in self._index.overrides.items()}

    def to_json(self) -> dict[str, dict]:
        """Every default and override in the API shape, overrides replacing same-key defaults
        (the body of ``{"pricing": …}``)."""
        table = {key: price.to_api() for key, price in self._defaults[0].items()}
        table.update(self.overrides())
        return table


def cost(price: Price | None, usage, *, images: int = 0, audio_seconds: float = 0,
         subscription: bool = False) -> float:
    """USD for one request, rounded to 10 decimal places.

    Subscription accounts and unpriced models cost 0. ``usage`` is a canonical ``Usage`` (or
    None): input excludes cache reads; reasoning tokens are part of output and billed at the
    reasoning price instead of the output price.
    """
    if subscription or price is None:
        return 0.0
    total = 0.0
    if usage is not None:
        input_tokens = max(usage.input, 0)
        output = max(usage.output, 0)
        reasoning = min(max(usage.reasoning, 0), output)
        total = (input_tokens * price.input
                 + max(usage.cache_read, 0) * price.cache_read
                 + max(usage.cache_write, 0) * price.cache_write
                 + (output - reasoning) * price.output
                 + reasoning * price.reasoning) / _PER_TOKEN
    if images > 0 and price.per_image:
        total += images * price.per_image
    if audio_seconds > 0 and price.per_audio_minute:
        total += audio_seconds / 60 * price.per_audio_minute
    return round(total, 10)


def blended(price: Price | None) -> float:
    """One number to rank models by cost: a 3:1 input-to-output mix per 1M tokens.

    An unpriced model ranks last (infinity); callers that treat local models as free decide so.
    """
    if price is None:
        return math.inf
    return (3 * price.input + price.output) / 4


def estimate_cost(price: Price | None, input_tokens: int, output_tokens: int, *, images: int = 0,
                  subscription: bool = False) -> float:
    """An upper estimate of one request's cost before it is sent (a budget reservation): the prompt
    at the input price (no cache discount) and the whole output cap at the dearer of the output and
    reasoning prices."""
    if subscription or price is None:
        return 0.0
    total = (max(input_tokens, 0) * max(price.input, price.cache_write)
             + max(output_tokens, 0) * max(price.output, price.reasoning)) / _PER_TOKEN
    if images > 0 and price.per_image:
        total += images * price.per_image
    return total
