"""Resilience: per-provider circuit breakers, per-connection cooldowns, per-model lockouts.

All of it lives in the shared state (``state/``), so several instances sharing Redis agree:

- **Breaker** (per provider): closed → open after ``failureThreshold`` breaker-worthy failures
  within ``windowMs`` (failures of one connection within ``failureDedupeMs`` count once) → after
  ``resetTimeoutMs`` half-open, where exactly one request goes through as a probe → closed on its
  success, open again on its failure. While open, requests fail fast and combos skip the provider.
- **Cooldown** (per connection): exponential from ``cooldownBaseMs`` to ``cooldownMaxMs``, or what
  the upstream's ``Retry-After`` / rate-limit reset headers said; a success resets the level.
  Accounts cooling down are tried last.
- **Lockout** (per connection and model): a model that 404s or is over quota on one account is
  skipped on that account only, from ``lockout.baseMs`` doubling to ``lockout.maxMs``.

Which failures do what is decided by ``routing.fallback``; this module only keeps the state.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field, replace

from omniroute.errors import CircuitOpen
from omniroute.providers.catalog import ProviderSpec
from omniroute.routing.accounts import Account, AccountPool
from omniroute.state import SharedState

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half-open"
PROBE_TTL_S = 30.0  # a probe that never reports back frees the half-open slot after this
RETRY_AFTER_CAP_S = 3600.0  # an upstream asking for longer is believed for an hour at most
_SEP = "\x1f"


@dataclass(frozen=True, slots=True)
class Profile:
    failureThreshold: int
    windowMs: int
    resetTimeoutMs: int
    cooldownBaseMs: int
    cooldownMaxMs: int


@dataclass(frozen=True, slots=True)
class Lockout:
    enabled: bool = True
    baseMs: int = 120_000
    maxMs: int = 1_800_000


DEFAULT_PROFILES = {
    "oauth": Profile(8, 60_000, 60_000, 5_000, 300_000),
    "apikey": Profile(12, 60_000, 30_000, 3_000, 120_000),
    "local": Profile(2, 60_000, 15_000, 1_000, 30_000),
}


@dataclass(frozen=True, slots=True)
class ResilienceConfig:
    profiles: dict[str, Profile] = field(default_factory=lambda: dict(DEFAULT_PROFILES))
    lockout: Lockout = Lockout()
    firstByteTimeoutMs: int = 120_000  # a stream that sends no content for this long counts as failed
    failureDedupeMs: int = 5_000

    def to_json(self) -> dict:
        return {"profiles": {k: asdict(v) for k, v in self.profiles.items()}, "lockout": asdict(self.lockout),
                "firstByteTimeoutMs": self.firstByteTimeoutMs, "failureDedupeMs": self.failureDedupeMs}

    @classmethod
    def from_json(cls, data: dict) -> ResilienceConfig:
        """A config from the API shape; sections and fields left out keep their defaults."""
        profiles = dict(DEFAULT_PROFILES)
        for name, values in (data.get("profiles") or {}).items():
            profiles[name] = replace(profiles[name], **values)
        lockout = replace(Lockout(), **(data.get("lockout") or {}))
        rest = {k: data[k] for k in ("firstByteTimeoutMs", "failureDedupeMs") if data.get(k) is not None}
        return cls(profiles, lockout, **rest)


def profile_name(spec: ProviderSpec) -> str:
    if spec.auth == "oauth":
        return "oauth"
    return "local" if spec.local else "apikey"


class Resilience:
    """The three layers over one shared state; ``pool`` keeps the connection cooldowns."""

    def __init__(self, state: SharedState, pool: AccountPool):
        self._state = state
        self._pool = pool
        self.config = ResilienceConfig()
        # Connections and providers this instance saw fail: only they need a reset on success,
        # so a healthy request costs no state write.
        self._dirty_accounts: set[str] = set()
        self._dirty_providers: set[str] = set()

    # ---- breaker ---------------------------------------------------------------------------

    async def admit(self, spec: ProviderSpec) -> bool:
        """Let a request to ``spec`` through, or raise CircuitOpen; True when it is the half-open probe."""
        state = self._state
        if await state.peek(f"brk:t:{spec.id}") is None:  # asked per request: a peek (see SharedState)
            return False
        left = await state.ttl(f"brk:o:{spec.id}")
        if left is None and await state.set_if_absent(f"brk:p:{spec.id}", 1, ttl=PROBE_TTL_S):
            return True
        wait = max(1, round(left or PROBE_TTL_S))
        err = CircuitOpen(
            f"provider '{spec.id}' is failing: its circuit breaker is {OPEN if left else HALF_OPEN} "
            f"after repeated upstream errors; it is retried in about {wait} s "
            "(POST /api/resilience/reset closes it now)")
        err.retry_after = str(wait)
        raise err

    async def breaker_state(self, provider_id: str) -> dict:
        state = self._state
        if await state.get(f"brk:t:{provider_id}") is None:
            return {"breaker": CLOSED, "failures": int(await state.get(f"brk:f:{provider_id}") or 0)}
        left = await state.ttl(f"brk:o:{provider_id}")
        if left is not None:
            return {"breaker": OPEN, "retryInS": round(left, 1), "openUntil": time.time() + left}
        return {"breaker": HALF_OPEN, "probing": await state.get(f"brk:p:{provider_id}") is not None}

    async def _count_failure(self, account: Account, probe: bool) -> None:
        spec, state = account.provider, self._state
        profile = self.config.profiles[profile_name(spec)]
        if probe:
            await self._open(spec.id, profile)
            return
        dedupe = self.config.failureDedupeMs
        if dedupe and not await state.set_if_absent(f"brk:d:{account.id}", 1, ttl=dedupe / 1000):
            return
        self._dirty_providers.add(spec.id)
        await state.hset("brk:known", spec.id, 1)
        failures = await state.incr(f"brk:f:{spec.id}", ttl=profile.windowMs / 1000)
        if failures >= profile.failureThreshold:
            await self._open(spec.id, profile)

    async def _open(self, provider_id: str, profile: Profile) -> None:
        state = self._state
        await state.set(f"brk:t:{provider_id}", 1)
        await state.set(f"brk:o:{provider_id}", 1, ttl=profile.resetTimeoutMs / 1000)
        await state.delete(f"brk:f:{provider_id}")
        await state.delete(f"brk:p:{provider_id}")
        await state.hset("brk:known", provider_id, 1)

    async def unprobe(self, provider_id: str) -> None:
        """Give the half-open slot back: the probe request never reached the upstream."""
        await self._state.delete(f"brk:p:{provider_id}")

    async def close(self, provider_id: str) -> None:
        for key in ("t", "o", "f", "p"):
            await self._state.delete(f"brk:{key}:{provider_id}")

    # ---- outcomes --------------------------------------------------------------------------

    async def succeeded(self, account: Account, probe: bool) -> None:
        """A 2xx answer: the connection's backoff and, after a probe, the breaker reset."""
        if probe:
            await self.close(account.provider.id)
        if account.id in self._dirty_accounts:
            self._dirty_accounts.discard(account.id)
            await self._pool.recovered(account)
        if account.provider.id in self._dirty_providers:
            self._dirty_providers.discard(account.provider.id)
            await self._state.delete(f"brk:f:{account.provider.id}")

    async def failed(self, account: Account, model: str, err, verdict, probe: bool,
                     retry_after_s: float | None) -> None:
        """Apply one failure's verdict: cooldown, breaker count, lockout."""
        if verdict.cooldown:
            profile = self.config.profiles[profile_name(account.provider)]
            self._dirty_accounts.add(account.id)
            await self._pool.cool_down(account, profile.cooldownBaseMs / 1000, profile.cooldownMaxMs / 1000,
                                       min(retry_after_s, RETRY_AFTER_CAP_S) if retry_after_s else None)
        if verdict.breaker:
            await self._count_failure(account, probe)
        elif probe:  # the upstream answered, if not to this request's liking: it is alive
            await self.close(account.provider.id)
        if verdict.lockout and self.config.lockout.enabled:
            await self.lock(account, model, f"HTTP {err.status}: {err.message[:200]}", retry_after_s)

    # ---- lockouts --------------------------------------------------------------------------

    async def lock(self, account: Account, model: str, reason: str, seconds: float | None = None) -> float:
        cfg, state = self.config.lockout, self._state
        name = f"{account.id}{_SEP}{model}"
        level = await state.incr(f"lock-level:{name}", ttl=cfg.maxMs / 1000 * 2)
        if not seconds:  # no hint (or "retry now"): the backoff
            seconds = cfg.baseMs / 1000 * 2 ** (level - 1)
        seconds = min(seconds, cfg.maxMs / 1000)
        until = time.time() + seconds
        await state.hset("lockouts", name, f"{until}|{account.provider.id}|{reason}")
        return seconds

    async def locked_until(self, account_id: str, model: str) -> float | None:
        """When model ``model`` is usable again on the account; None when it is not locked."""
        name = f"{account_id}{_SEP}{model}"
        value = await self._state.hpeek("lockouts", name)  # asked per request and account
        if value is None:
            return None
        until = float(str(value).split("|", 1)[0])
        if until <= time.time():
            await self._state.hdel("lockouts", name)
            return None
        return until

    async def lockouts(self) -> list[dict]:
        """Every live lockout: connection, provider, model, until, reason."""
        out, now = [], time.time()
        for name, value in (await self._state.hgetall("lockouts")).items():
            account_id, _, model = name.partition(_SEP)
            until, provider, reason = str(value).split("|", 2)
            if float(until) > now:
                out.append({"connectionId": account_id, "provider": provider, "model": model,
                            "until": float(until), "reason": reason})
        return out

    # ---- operator --------------------------------------------------------------------------

    async def reset(self, account_ids: list[str]) -> None:
        """Close every breaker, clear every cooldown and lockout."""
        state = self._state
        for provider_id in await state.hgetall("brk:known"):
            await self.close(provider_id)
        await state.delete("brk:known")
        for account_id in account_ids:
            for key in (f"cooldown:{account_id}", f"cooldown-level:{account_id}", f"brk:d:{account_id}"):
                await state.delete(key)
        for name in await state.hgetall("lockouts"):
            await state.delete(f"lock-level:{name}")
        await state.delete("lockouts")
        self._dirty_accounts.clear()
        self._dirty_providers.clear()


def retry_after_seconds(headers) -> float | None:
    """Seconds an upstream asked to wait: Retry-After (seconds or a date), retry-after-ms, or the
    OpenAI / Anthropic rate-limit reset headers."""
    if headers is None:
        return None
    value = headers.get("retry-after-ms")
    if value:
        try:
            return max(0.0, float(value) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value:
        seconds = _seconds_or_date(value)
        if seconds is not None:
            return seconds
    waits = [w for w in (_duration(headers.get(h)) for h in ("x-ratelimit-reset-requests", "x-ratelimit-reset-tokens"))
             if w is not None]
    for name in ("anthropic-ratelimit-requests-reset", "anthropic-ratelimit-tokens-reset",
                 "anthropic-ratelimit-input-tokens-reset", "anthropic-ratelimit-output-tokens-reset"):
        value = headers.get(name)
        if value:
            seconds = _seconds_or_date(value)
            if seconds is not None:
                waits.append(seconds)
    return max(waits) if waits else None


def _seconds_or_date(value: str) -> float | None:
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    from datetime import datetime
    from email.utils import parsedate_to_datetime

    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
    if when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - time.time())


def _duration(value: str | None) -> float | None:
    """OpenAI's reset durations: ``1s``, ``6m0s``, ``20ms``, ``1h2m3.5s``."""
    if not value:
        return None
    total, number, text = 0.0, "", value.strip()
    i = 0
    while i < len(text):
        ch = text[i]
        if ch.isdigit() or ch == ".":
            number += ch
            i += 1
            continue
        unit = "ms" if text.startswith("ms", i) else ch
        i += len(unit)
        scale = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}.get(unit)
        if scale is None or not number:
            return None
        try:
            total += float(number) * scale
        except ValueError:
            return None
        number = ""
    if number:  # a bare number: seconds
        try:
            total += float(number)
        except ValueError:
            return None
    return total
