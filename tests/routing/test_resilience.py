"""Resilience over MemoryState: the breaker, cooldowns, lockouts, reset, the config and Retry-After parsing."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import orjson
import pytest
from multidict import CIMultiDict

from omniroute.auth.secrets import SecretBox
from omniroute.errors import CircuitOpen, UpstreamTimeout, classify_upstream
from omniroute.oauth.tokens import SignInExpired
from omniroute.providers.registry import ProviderRegistry
from omniroute.routing.accounts import AccountPool
from omniroute.routing.fallback import verdict
from omniroute.routing.resilience import (
    DEFAULT_PROFILES,
    Lockout,
    Profile,
    Resilience,
    ResilienceConfig,
    profile_name,
    retry_after_seconds,
)
from omniroute.state import MemoryState

QUOTA_429 = orjson.dumps({"error": {"message": "You exceeded your current quota", "code": "insufficient_quota"}})


def _row(conn_id: str, provider: str, priority: int = 1) -> dict:
    return {"id": conn_id, "provider": provider, "name": conn_id, "isActive": True, "status": "active",
            "baseUrl": None, "apiKeyEnc": None, "priority": priority, "defaultModel": None,
            "headersEnc": None, "maxConcurrency": None, "providerData": {}}


def _profiles(threshold: int = 3, window_ms: int = 60_000, reset_ms: int = 50, base_ms: int = 2_000,
              max_ms: int = 8_000) -> dict[str, Profile]:
    profile = Profile(threshold, window_ms, reset_ms, base_ms, max_ms)
    return {"oauth": profile, "apikey": profile, "local": profile}


def _setup(config: ResilienceConfig | None = None) -> tuple[Resilience, AccountPool]:
    state = MemoryState()
    pool = AccountPool(ProviderRegistry(), SecretBox("k" * 32), state)
    pool.load([_row("a0", "openai", 0), _row("a1", "openai", 1), _row("o0", "claude-code"), _row("l0", "ollama")])
    res = Resilience(state, pool)
    if config is not None:
        res.config = config
    return res, pool


def _fast(**kw) -> ResilienceConfig:
    """Tiny timings, no dedupe unless asked."""
    dedupe = kw.pop("dedupe", 0)
    lockout = kw.pop("lockout", Lockout(True, 50, 1_000))
    return ResilienceConfig(profiles=_profiles(**kw), lockout=lockout, failureDedupeMs=dedupe)


async def _fail(res: Resilience, account, status: int = 500, body: bytes = b"", *, probe: bool = False,
                retry: float | None = None, model: str = "m", err=None) -> None:
    if err is None:
        err = classify_upstream(status, body)
    err.retry_after_s = retry
    await res.failed(account, model, err, verdict(err), probe, retry)


async def _admit_outcome(res: Resilience, spec):
    try:
        return await res.admit(spec)
    except CircuitOpen as err:
        return err


# ---- breaker ---------------------------------------------------------------------------------


@pytest.mark.parametrize("failure", [
    {"status": 500}, {"status": 503}, {"status": 429}, {"status": 408},
    {"err": UpstreamTimeout("nothing within 1 ms")}, {"status": 429, "body": QUOTA_429},
])
async def test_breaker_opens_after_exactly_the_threshold(failure):
    res, pool = _setup(_fast(threshold=3, reset_ms=60_000))
    a0 = pool.get("a0")
    for count in (1, 2):
        await _fail(res, a0, **failure)
        assert await res.breaker_state("openai") == {"breaker": "closed", "failures": count}
        assert await res.admit(a0.provider) is False
    await _fail(res, a0, **failure)
    state = await res.breaker_state("openai")
    assert state["breaker"] == "open" and 55 < state["retryInS"] <= 60
    with pytest.raises(CircuitOpen) as info:
        await res.admit(a0.provider)
    assert info.value.retry_after is not None and 55 <= int(info.value.retry_after) <= 60
    assert info.value.status == 503 and info.value.code == "circuit_open"
    # per provider: the others are unaffected
    assert await res.admit(pool.get("o0").provider) is False
    assert (await res.breaker_state("claude-code"))["breaker"] == "closed"


async def test_failures_older_than_the_window_do_not_add_up():
    res, pool = _setup(_fast(threshold=2, window_ms=50))
    a0 = pool.get("a0")
    await _fail(res, a0)
    await asyncio.sleep(0.08)
    await _fail(res, a0)
    assert await res.breaker_state("openai") == {"breaker": "closed", "failures": 1}


async def test_dedupe_counts_one_accounts_failures_once_but_two_accounts_twice():
    res, pool = _setup(_fast(threshold=2, dedupe=60_000))
    a0, a1 = pool.get("a0"), pool.get("a1")
    for _ in range(5):
        await _fail(res, a0)
    assert await res.breaker_state("openai") == {"breaker": "closed", "failures": 1}
    await _fail(res, a1)
    assert (await res.breaker_state("openai"))["breaker"] == "open"


async def test_dedupe_window_expires():
    res, pool = _setup(_fast(threshold=3, dedupe=40))
    a0 = pool.get("a0")
    await _fail(res, a0)
    await _fail(res, a0)
    assert (await res.breaker_state("openai"))["failures"] == 1
    await asyncio.sleep(0.06)
    await _fail(res, a0)
    assert (await res.breaker_state("openai"))["failures"] == 2


async def _open_then_half_open(res: Resilience, account) -> None:
    await _fail(res, account)
    assert (await res.breaker_state(account.provider.id))["breaker"] == "open"
    await asyncio.sleep(0.08)  # resetTimeoutMs is 50


async def test_half_open_lets_exactly_one_probe_through_under_concurrency():
    res, pool = _setup(_fast(threshold=1, reset_ms=50))
    a0 = pool.get("a0")
    await _fail(res, a0)
    outcomes = await asyncio.gather(*(_admit_outcome(res, a0.provider) for _ in range(20)))
    assert all(isinstance(o, CircuitOpen) for o in outcomes)  # still open
    await asyncio.sleep(0.08)
    assert (await res.breaker_state("openai")) == {"breaker": "half-open", "probing": False}
    outcomes = await asyncio.gather(*(_admit_outcome(res, a0.provider) for _ in range(20)))
    assert outcomes.count(True) == 1
    rejected = [o for o in outcomes if o is not True]
    assert len(rejected) == 19 and all(isinstance(o, CircuitOpen) for o in rejected)
    assert all(o.retry_after is not None and int(o.retry_after) >= 1 for o in rejected)
    assert (await res.breaker_state("openai")) == {"breaker": "half-open", "probing": True}


async def test_probe_success_closes_the_breaker():
    res, pool = _setup(_fast(threshold=1))
    a0 = pool.get("a0")
    await _open_then_half_open(res, a0)
    assert await res.admit(a0.provider) is True
    await res.succeeded(a0, probe=True)
    assert await res.breaker_state("openai") == {"breaker": "closed", "failures": 0}
    assert [await res.admit(a0.provider) for _ in range(3)] == [False, False, False]


async def test_probe_breaker_failure_reopens_and_a_new_probe_follows():
    res, pool = _setup(_fast(threshold=5))  # a probe's failure reopens at once, whatever the threshold
    a0 = pool.get("a0")
    for _ in range(5):
        await _fail(res, a0)
    await asyncio.sleep(0.08)
    assert await res.admit(a0.provider) is True
    await _fail(res, a0, 502, probe=True)
    assert (await res.breaker_state("openai"))["breaker"] == "open"
    with pytest.raises(CircuitOpen):
        await res.admit(a0.provider)
    await asyncio.sleep(0.08)
    assert await res.admit(a0.provider) is True


@pytest.mark.parametrize("status, body", [(400, b"bad body"), (401, b"bad key"), (404, b"no such model"),
                                          (402, b"payment required")])
async def test_probe_answered_with_a_non_breaker_failure_closes(status, body):
    res, pool = _setup(_fast(threshold=1))
    a0 = pool.get("a0")
    await _open_then_half_open(res, a0)
    assert await res.admit(a0.provider) is True
    await _fail(res, a0, status, body, probe=True)
    assert await res.breaker_state("openai") == {"breaker": "closed", "failures": 0}
    assert await res.admit(a0.provider) is False


async def test_success_resets_the_failure_count():
    res, pool = _setup(_fast(threshold=3))
    a0, a1 = pool.get("a0"), pool.get("a1")
    await _fail(res, a0)
    await _fail(res, a1)
    assert (await res.breaker_state("openai"))["failures"] == 2
    await res.succeeded(a1, probe=False)
    assert (await res.breaker_state("openai"))["failures"] == 0
    await _fail(res, a0)
    await _fail(res, a1)
    assert await res.breaker_state("openai") == {"breaker": "closed", "failures": 2}


@pytest.mark.parametrize("status, body", [
    (400, b"bad body"), (400, b"maximum context length exceeded"), (401, b"bad key"), (403, b"forbidden"),
    (404, b"no such model"), (402, b"payment required"), (422, b"unprocessable"),
])
async def test_non_breaker_failures_never_open_it(status, body):
    res, pool = _setup(_fast(threshold=1))
    a0 = pool.get("a0")
    for _ in range(5):
        await _fail(res, a0, status, body)
    assert await res.breaker_state("openai") == {"breaker": "closed", "failures": 0}
    assert await res.admit(a0.provider) is False


async def test_an_expired_sign_in_never_opens_it():
    res, pool = _setup(_fast(threshold=1))
    o0 = pool.get("o0")
    for _ in range(3):
        await _fail(res, o0, err=SignInExpired("expired"))
    assert await res.breaker_state("claude-code") == {"breaker": "closed", "failures": 0}
    assert await pool.cooldown_left("o0") is None


def test_profile_name_by_provider_kind():
    registry = ProviderRegistry()
    assert profile_name(registry.get("claude-code")) == "oauth"
    assert profile_name(registry.get("codex")) == "oauth"
    assert profile_name(registry.get("openai")) == "apikey"
    assert profile_name(registry.get("ollama")) == "local"
    assert profile_name(registry.get("vllm")) == "local"


@pytest.mark.parametrize("account_id, provider, threshold", [("o0", "claude-code", 8), ("a0", "openai", 12),
                                                             ("l0", "ollama", 2)])
async def test_default_thresholds_differ_by_provider_kind(account_id, provider, threshold):
    res, pool = _setup(ResilienceConfig(failureDedupeMs=0))
    account = pool.get(account_id)
    for _ in range(threshold - 1):
        await _fail(res, account)
    assert await res.breaker_state(provider) == {"breaker": "closed", "failures": threshold - 1}
    await _fail(res, account)
    assert (await res.breaker_state(provider))["breaker"] == "open"


def test_default_profiles():
    assert DEFAULT_PROFILES["oauth"].failureThreshold == 8
    assert DEFAULT_PROFILES["apikey"].failureThreshold == 12
    assert DEFAULT_PROFILES["local"].failureThreshold == 2
    assert ResilienceConfig().profiles == DEFAULT_PROFILES


# ---- cooldown --------------------------------------------------------------------------------


@pytest.mark.parametrize("account_id, base_s", [("o0", 5.0), ("a0", 3.0), ("l0", 1.0)])
async def test_cooldown_starts_at_the_profile_base(account_id, base_s):
    res, pool = _setup()
    await _fail(res, pool.get(account_id))
    assert await pool.cooldown_left(account_id) == pytest.approx(base_s, abs=0.1)


async def test_cooldown_doubles_up_to_the_max():
    res, pool = _setup(_fast(base_ms=2_000, max_ms=7_000))
    a0 = pool.get("a0")
    seen = []
    for _ in range(5):
        await _fail(res, a0)
        seen.append(await pool.cooldown_left("a0"))
    assert seen == pytest.approx([2, 4, 7, 7, 7], abs=0.1)
    assert await pool.cooldown_level("a0") == 5
    assert await pool.cooldown_left("a1") is None  # per connection


async def test_retry_after_overrides_the_backoff_and_is_capped():
    res, pool = _setup(_fast(base_ms=2_000, max_ms=8_000))
    a0 = pool.get("a0")
    await _fail(res, a0, 429)
    await _fail(res, a0, 429, retry=42)
    assert await pool.cooldown_left("a0") == pytest.approx(42, abs=0.1)
    await _fail(res, a0, 429, retry=10 * 3600)
    assert await pool.cooldown_left("a0") == pytest.approx(3600, abs=0.1)


async def test_a_success_resets_the_cooldown_level():
    res, pool = _setup(_fast(base_ms=2_000, max_ms=8_000))
    a0 = pool.get("a0")
    await _fail(res, a0)
    await _fail(res, a0)
    assert await pool.cooldown_level("a0") == 2
    await res.succeeded(a0, probe=False)
    assert await pool.cooldown_level("a0") == 0
    await _fail(res, a0)
    assert await pool.cooldown_left("a0") == pytest.approx(2, abs=0.1)


@pytest.mark.parametrize("status, body, cools", [(401, b"bad key", True), (404, b"no model", False),
                                                 (400, b"bad body", False), (500, b"", True)])
async def test_only_cooldown_verdicts_cool_down(status, body, cools):
    res, pool = _setup(_fast())
    await _fail(res, pool.get("a0"), status, body)
    assert (await pool.cooldown_left("a0") is not None) is cools


# ---- lockouts --------------------------------------------------------------------------------


async def test_a_404_locks_the_model_on_that_account_only_until_it_expires():
    res, pool = _setup(_fast(lockout=Lockout(True, 50, 1_000)))
    a0 = pool.get("a0")
    before = time.time()
    await _fail(res, a0, 404, b'{"error": {"message": "no such model"}}', model="gpt-x")
    until = await res.locked_until("a0", "gpt-x")
    assert until is not None and before + 0.04 < until <= time.time() + 0.05
    assert await res.locked_until("a0", "gpt-y") is None
    assert await res.locked_until("a1", "gpt-x") is None
    [entry] = await res.lockouts()
    assert entry["connectionId"] == "a0" and entry["provider"] == "openai" and entry["model"] == "gpt-x"
    assert entry["until"] == until and entry["reason"].startswith("HTTP 404: no such model")
    await asyncio.sleep(0.07)
    assert await res.locked_until("a0", "gpt-x") is None
    assert await res.lockouts() == []


@pytest.mark.parametrize("status, body", [(429, QUOTA_429), (402, b"payment required")])
async def test_over_quota_locks_out(status, body):
    res, pool = _setup(_fast())
    await _fail(res, pool.get("a0"), status, body, model="m")
    assert await res.locked_until("a0", "m") is not None


@pytest.mark.parametrize("status, body", [(429, b"slow down"), (500, b""), (401, b"bad key"), (400, b"bad")])
async def test_other_failures_do_not_lock_out(status, body):
    res, pool = _setup(_fast())
    await _fail(res, pool.get("a0"), status, body, model="m")
    assert await res.locked_until("a0", "m") is None
    assert await res.lockouts() == []


async def test_lockout_doubles_to_its_max_and_honours_retry_after():
    res, pool = _setup(_fast(lockout=Lockout(True, 1_000, 10_000)))
    a0 = pool.get("a0")
    assert [await res.lock(a0, "m", "r") for _ in range(6)] == [1.0, 2.0, 4.0, 8.0, 10.0, 10.0]
    assert await res.lock(a0, "other", "r") == 1.0  # the level is per model
    assert await res.lock(pool.get("a1"), "m", "r") == 1.0  # and per account
    await _fail(res, a0, 404, b"gone", model="third", retry=5)
    assert await res.locked_until("a0", "third") == pytest.approx(time.time() + 5, abs=0.5)
    await _fail(res, a0, 404, b"gone", model="fourth", retry=30)  # an upstream's hint, held to the cap
    assert await res.locked_until("a0", "fourth") == pytest.approx(time.time() + 10, abs=0.5)
    await _fail(res, a0, 404, b"gone", model="fifth", retry=0)  # "retry now" is no hint: the backoff
    assert await res.locked_until("a0", "fifth") == pytest.approx(time.time() + 1, abs=0.5)


async def test_disabled_lockouts_do_nothing():
    res, pool = _setup(_fast(lockout=Lockout(False, 1_000, 3_000)))
    await _fail(res, pool.get("a0"), 404, b"gone")
    assert await res.locked_until("a0", "m") is None


# ---- reset -----------------------------------------------------------------------------------


async def test_reset_clears_breakers_cooldowns_and_lockouts():
    res, pool = _setup(_fast(threshold=2, dedupe=60_000, lockout=Lockout(True, 10_000, 60_000)))
    a0, a1, o0 = pool.get("a0"), pool.get("a1"), pool.get("o0")
    await _fail(res, a0)
    await _fail(res, a1)  # openai opens
    await _fail(res, o0)  # claude-code counts one failure
    await _fail(res, a0, 404, b"gone", model="m")
    await res.lock(a0, "m", "again")  # level 2
    assert (await res.breaker_state("openai"))["breaker"] == "open"
    assert await pool.cooldown_left("a0") is not None and await pool.cooldown_level("a0") == 1  # the 404 did not cool down
    assert await res.locked_until("a0", "m") is not None

    await res.reset(["a0", "a1", "o0", "l0"])

    assert await res.breaker_state("openai") == {"breaker": "closed", "failures": 0}
    assert await res.breaker_state("claude-code") == {"breaker": "closed", "failures": 0}
    assert await res.admit(a0.provider) is False
    for account_id in ("a0", "a1", "o0"):
        assert await pool.cooldown_left(account_id) is None
        assert await pool.cooldown_level(account_id) == 0
    assert await res.lockouts() == [] and await res.locked_until("a0", "m") is None
    assert await res.lock(a0, "m", "fresh") == 10.0  # the lockout level starts over
    await _fail(res, a0)  # the dedupe marks are gone: this counts again
    assert (await res.breaker_state("openai"))["failures"] == 1


# ---- config ----------------------------------------------------------------------------------


def test_config_round_trip():
    cfg = ResilienceConfig(profiles={**DEFAULT_PROFILES, "local": Profile(4, 1, 2, 3, 5)},
                           lockout=Lockout(False, 10, 20), firstByteTimeoutMs=7, failureDedupeMs=9)
    data = orjson.loads(orjson.dumps(cfg.to_json()))
    assert data["profiles"]["local"] == {"failureThreshold": 4, "windowMs": 1, "resetTimeoutMs": 2,
                                         "cooldownBaseMs": 3, "cooldownMaxMs": 5}
    assert data["lockout"] == {"enabled": False, "baseMs": 10, "maxMs": 20}
    assert data["firstByteTimeoutMs"] == 7 and data["failureDedupeMs"] == 9
    assert ResilienceConfig.from_json(data) == cfg
    assert ResilienceConfig.from_json(ResilienceConfig().to_json()) == ResilienceConfig()


def test_partial_config_keeps_the_defaults():
    cfg = ResilienceConfig.from_json({"profiles": {"oauth": {"failureThreshold": 3}}, "lockout": {"maxMs": 99},
                                      "failureDedupeMs": None})
    assert cfg.profiles["oauth"] == replace(DEFAULT_PROFILES["oauth"], failureThreshold=3)
    assert cfg.profiles["apikey"] == DEFAULT_PROFILES["apikey"]
    assert cfg.profiles["local"] == DEFAULT_PROFILES["local"]
    assert cfg.lockout == Lockout(True, 120_000, 99)
    assert cfg.firstByteTimeoutMs == 120_000 and cfg.failureDedupeMs == 5_000
    assert DEFAULT_PROFILES["oauth"].failureThreshold == 8  # the defaults were not touched
    assert ResilienceConfig.from_json({}) == ResilienceConfig()


# ---- retry_after_seconds ---------------------------------------------------------------------


def _h(**headers) -> CIMultiDict:
    return CIMultiDict({k.replace("_", "-"): v for k, v in headers.items()})


def _http_date(delta_s: float) -> str:
    return format_datetime(datetime.now(UTC) + timedelta(seconds=delta_s), usegmt=True)


def _rfc3339(delta_s: float) -> str:
    return (datetime.now(UTC) + timedelta(seconds=delta_s)).isoformat().replace("+00:00", "Z")


def test_no_headers():
    assert retry_after_seconds(None) is None
    assert retry_after_seconds(CIMultiDict()) is None
    assert retry_after_seconds(_h(Content_Type="application/json")) is None


@pytest.mark.parametrize("value, seconds", [("120", 120.0), ("1.5", 1.5), ("0", 0.0), ("-5", 0.0), (" 7 ", 7.0)])
def test_retry_after_seconds_value(value, seconds):
    assert retry_after_seconds(_h(Retry_After=value)) == seconds


def test_retry_after_http_date():
    assert retry_after_seconds(_h(Retry_After=_http_date(30))) == pytest.approx(30, abs=1.5)
    assert retry_after_seconds(_h(Retry_After=_http_date(-300))) == 0.0
    assert retry_after_seconds({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}) == 0.0


@pytest.mark.parametrize("value", ["soon", "", "tomorrow at noon", "Wed, 99 Foo 2015"])
def test_retry_after_garbage(value):
    assert retry_after_seconds(_h(Retry_After=value)) is None


def test_retry_after_ms():
    assert retry_after_seconds(_h(retry_after_ms="1500")) == 1.5
    assert retry_after_seconds(_h(retry_after_ms="1500", Retry_After="60")) == 1.5  # the finer one wins
    assert retry_after_seconds(_h(retry_after_ms="lots", Retry_After="60")) == 60.0
    assert retry_after_seconds(_h(retry_after_ms="-10")) == 0.0


@pytest.mark.parametrize("value, seconds", [("1s", 1.0), ("6m0s", 360.0), ("20ms", 0.02), ("1h2m3.5s", 3723.5),
                                            ("7.66s", 7.66), ("2m59.56s", 179.56), ("10", 10.0), ("5m", 300.0)])
def test_openai_reset_durations(value, seconds):
    assert retry_after_seconds(_h(x_ratelimit_reset_requests=value)) == pytest.approx(seconds)
    assert retry_after_seconds(_h(x_ratelimit_reset_tokens=value)) == pytest.approx(seconds)


@pytest.mark.parametrize("value", ["soon", "5d", "m", "1.2.3s"])
def test_openai_reset_garbage(value):
    assert retry_after_seconds(_h(x_ratelimit_reset_requests=value)) is None


def test_the_longest_reset_wins():
    assert retry_after_seconds(_h(x_ratelimit_reset_requests="1s", x_ratelimit_reset_tokens="6m0s")) == 360.0
    assert retry_after_seconds(_h(x_ratelimit_reset_requests="2m", x_ratelimit_reset_tokens="20ms")) == 120.0
    headers = _h(anthropic_ratelimit_requests_reset=_rfc3339(10), anthropic_ratelimit_tokens_reset=_rfc3339(90),
                 anthropic_ratelimit_input_tokens_reset=_rfc3339(40), x_ratelimit_reset_requests="1s")
    assert retry_after_seconds(headers) == pytest.approx(90, abs=1)
    headers = _h(anthropic_ratelimit_output_tokens_reset=_rfc3339(200), x_ratelimit_reset_tokens="1m")
    assert retry_after_seconds(headers) == pytest.approx(200, abs=1)


def test_anthropic_reset_times():
    assert retry_after_seconds(_h(anthropic_ratelimit_requests_reset=_rfc3339(45))) == pytest.approx(45, abs=1)
    assert retry_after_seconds(_h(anthropic_ratelimit_tokens_reset="2020-01-01T00:00:00Z")) == 0.0
    assert retry_after_seconds(_h(anthropic_ratelimit_tokens_reset="not a time")) is None


def test_retry_after_comes_before_the_reset_headers_unless_it_is_garbage():
    assert retry_after_seconds(_h(Retry_After="5", x_ratelimit_reset_tokens="6m0s")) == 5.0
    assert retry_after_seconds(_h(Retry_After="soon", x_ratelimit_reset_tokens="6m0s")) == 360.0
