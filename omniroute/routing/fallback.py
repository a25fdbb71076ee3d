"""The fallback rules: what one failure means for the next try, decided in one place.

Every failure of an attempt is an ``OmniRouteError`` (``errors.py`` builds it once per upstream
answer). ``verdict`` reads it against the table below and answers five questions: try another
account of the same provider? go on to a combo's next target? cool the connection down? count it
toward the provider's circuit breaker? lock the model out on that account?

=====================================================  =======  ======  ========  =======  =======
failure                                                account  target  cooldown  breaker  lockout
=====================================================  =======  ======  ========  =======  =======
400 about the request body itself                      no       no      no        no       no
400 context length / unsupported parameter             no       yes     no        no       no
401 / 403 credentials refused                          yes      yes     yes       no       no
402 payment required, 429 "quota" (over quota)         yes      yes     yes       yes*     yes
404 model not found on this account                    yes      yes     no        no       yes
408 / 429 / 5xx / rate-limit texts                     yes      yes     yes       yes      no
timeout, connection refused or reset, broken answer    yes      yes     yes       yes      no
circuit open, no usable account, model unavailable     -        yes     -         -        -
target cannot carry the request (capability, model)    -        yes     -         -        -
anything the client got wrong before any upstream      -        no      -         -        -
=====================================================  =======  ======  ========  =======  =======

(*) only a 429 counts toward the breaker; a 402 is about one account's billing.
"""

from __future__ import annotations

from dataclasses import dataclass

from omniroute.errors import (
    ModelNotFound,
    NoAccountAvailable,
    OmniRouteError,
    UpstreamAuthError,
    UpstreamBadRequest,
    UpstreamConnectionError,
    UpstreamError,
    UpstreamNotFound,
    UpstreamRateLimited,
    UpstreamServerError,
)

# Upstream 400s that say the target cannot take this request, where another target may.
TARGET_LIMITS = (b"context length", b"context_length", b"maximum context", b"too many tokens",
                 b"context window", b"prompt is too long", b"unsupported parameter",
                 b"unsupported_parameter", b"not supported", b"does not support")
# A 429 (or 402) that is about a spent allowance rather than a momentary rate.
# (Gemini says "quota" and "exhausted" for every per-minute 429 too, so those words alone do not count.)
# (Nor does "limit reached": OpenAI's per-minute 429 reads "Rate limit reached for ...".)
QUOTA_TEXTS = (b"insufficient_quota", b"billing", b"credit balance", b"usage limit", b"per day", b"perday",
               b"daily")
# Errors raised before any upstream call that another target may not share.
TARGET_CODES = frozenset({"unsupported_model", "unsupported_feature", "no_account_available",
                          "circuit_open", "model_unavailable", "concurrency_limited"})


@dataclass(frozen=True, slots=True)
class Verdict:
    next_account: bool = False  # another account of the same provider may succeed
    next_target: bool = False  # a combo goes on to its next target
    cooldown: bool = False  # the connection backs off
    breaker: bool = False  # counts toward the provider's circuit breaker
    lockout: bool = False  # the model is skipped on this account for a while


STOP = Verdict()
MOVE_ON = Verdict(True, True)
ELSEWHERE = Verdict(next_target=True)
BODY_LIMIT = Verdict(next_target=True)
CREDENTIALS = Verdict(True, True, cooldown=True)
OVER_QUOTA = Verdict(True, True, cooldown=True, lockout=True)
OVER_QUOTA_429 = Verdict(True, True, cooldown=True, breaker=True, lockout=True)
NOT_FOUND = Verdict(True, True, lockout=True)
TRANSIENT = Verdict(True, True, cooldown=True, breaker=True)


def verdict(err: OmniRouteError) -> Verdict:
    """What ``err`` means for the next try (the table in this module's docstring)."""
    if isinstance(err, UpstreamError):
        text = _text(err)
        if isinstance(err, UpstreamRateLimited):
            if err.status == 402:  # payment required, whatever its text says
                return OVER_QUOTA
            return OVER_QUOTA_429 if any(t in text for t in QUOTA_TEXTS) else TRANSIENT
        if isinstance(err, UpstreamAuthError):
            return OVER_QUOTA if err.status == 402 else CREDENTIALS
        if isinstance(err, UpstreamNotFound):
            return NOT_FOUND
        if isinstance(err, UpstreamServerError | UpstreamConnectionError):
            return TRANSIENT
        if isinstance(err, UpstreamBadRequest):
            return BODY_LIMIT if any(t in text for t in TARGET_LIMITS) else STOP
        # An error class of its own (an executor's, an expired sign-in): trust its flags.
        if not err.next_account:
            return STOP
        return TRANSIENT if err.cooldown else MOVE_ON
    if isinstance(err, NoAccountAvailable | ModelNotFound) or err.code in TARGET_CODES:
        return ELSEWHERE
    return STOP


def _text(err: UpstreamError) -> bytes:
    return (err.body or err.message.encode())[:4096].lower()
