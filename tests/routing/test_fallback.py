"""The fallback rules table: every row of ``routing/fallback.py``'s docstring, over real error objects."""

from __future__ import annotations

import orjson
import pytest

from omniroute.errors import (
    AuthenticationFailed,
    CircuitOpen,
    InvalidRequest,
    ModelNotFound,
    ModelUnavailable,
    NoAccountAvailable,
    PayloadTooLarge,
    PermissionDenied,
    RateLimited,
    UpstreamConnectionError,
    UpstreamTimeout,
    classify_upstream,
    from_stream_error,
)
from omniroute.oauth.tokens import SignInExpired
from omniroute.routing.fallback import Verdict, verdict

# The expected verdicts are spelled out here (not imported) so a changed constant in fallback.py fails.
STOP = Verdict(next_account=False, next_target=False, cooldown=False, breaker=False, lockout=False)
TARGET_ONLY = Verdict(next_account=False, next_target=True, cooldown=False, breaker=False, lockout=False)
CREDENTIALS = Verdict(next_account=True, next_target=True, cooldown=True, breaker=False, lockout=False)
OVER_QUOTA = Verdict(next_account=True, next_target=True, cooldown=True, breaker=False, lockout=True)
OVER_QUOTA_429 = Verdict(next_account=True, next_target=True, cooldown=True, breaker=True, lockout=True)
NOT_FOUND = Verdict(next_account=True, next_target=True, cooldown=False, breaker=False, lockout=True)
TRANSIENT = Verdict(next_account=True, next_target=True, cooldown=True, breaker=True, lockout=False)
NEXT_ACCOUNT = Verdict(next_account=True, next_target=True, cooldown=False, breaker=False, lockout=False)


def _openai(message: str, code: str | None = None, type_: str = "invalid_request_error") -> bytes:
    return orjson.dumps({"error": {"message": message, "type": type_, "param": None, "code": code}})


def _upstream(status: int, body: bytes):
    return verdict(classify_upstream(status, body))


# ---- 400s ------------------------------------------------------------------------------------


@pytest.mark.parametrize("body", [
    _openai("'messages' is a required property"),
    _openai("Invalid value for 'temperature': expected a number"),
    b"",
    b"<html>Bad Request</html>",
    orjson.dumps({"type": "error", "error": {"type": "invalid_request_error", "message": "max_tokens: Field required"}}),
])
def test_400_about_the_body_stops(body):
    assert _upstream(400, body) == STOP


@pytest.mark.parametrize("body", [
    _openai("This model's maximum context length is 8192 tokens. However, your messages resulted in 9000 tokens.",
            code="context_length_exceeded"),
    orjson.dumps({"type": "error", "error": {"type": "invalid_request_error",
                                             "message": "prompt is too long: 210000 tokens > 200000 maximum"}}),
    _openai("Unsupported parameter: 'max_tokens' is not supported with this model.", code="unsupported_parameter"),
    _openai("This model does not support tools"),
    _openai("Input exceeds the context window of this model"),
    _openai("Too many tokens in the request"),
])
def test_400_the_target_cannot_take_goes_to_the_next_target_only(body):
    assert _upstream(400, body) == TARGET_ONLY


def test_other_4xx_stop_like_a_400():
    assert _upstream(422, _openai("Unprocessable entity")) == STOP
    assert _upstream(413, b"request entity too large") == STOP


# ---- 401 / 402 / 403 -------------------------------------------------------------------------


@pytest.mark.parametrize("status", [401, 403])
def test_refused_credentials_move_to_the_next_account_with_a_cooldown_and_no_breaker(status):
    rule = _upstream(status, _openai("Incorrect API key provided: sk-abc***", code="invalid_api_key"))
    assert rule == CREDENTIALS
    assert rule.cooldown and not rule.breaker and not rule.lockout


def test_402_payment_required_locks_the_model_out_without_the_breaker():
    rule = _upstream(402, _openai("Payment required: add credits to continue"))
    assert rule == OVER_QUOTA
    assert rule.lockout and not rule.breaker


def test_402_whose_body_says_quota_exceeded_is_still_a_lockout():
    assert _upstream(402, _openai("Quota exceeded for this account")) == OVER_QUOTA


# ---- 429 -------------------------------------------------------------------------------------


@pytest.mark.parametrize("body", [
    b"",
    _openai("Too many requests, slow down", code="rate_limit_exceeded"),
    orjson.dumps({"type": "error", "error": {"type": "rate_limit_error",
                                             "message": "Number of request tokens has exceeded your per-minute "
                                                        "rate limit"}}),
])
def test_plain_429_is_transient_and_counts_toward_the_breaker(body):
    rule = _upstream(429, body)
    assert rule == TRANSIENT
    assert not rule.lockout


@pytest.mark.parametrize("body", [
    _openai("You exceeded your current quota, please check your plan and billing details.",
            code="insufficient_quota"),
    orjson.dumps({"type": "error", "error": {"type": "rate_limit_error", "message": "usage limit reached"}}),
    _openai("Your credit balance is too low"),
    orjson.dumps({"error": {"code": 429, "status": "RESOURCE_EXHAUSTED",
                            "message": "Quota exceeded for metric: generate_content_free_tier_requests, "
                                       "limit: 50, quotaId: GenerateRequestsPerDayPerProjectPerModel-FreeTier"}}),
])
def test_429_over_quota_locks_out_and_counts_toward_the_breaker(body):
    rule = _upstream(429, body)
    assert rule == OVER_QUOTA_429
    assert rule.lockout and rule.breaker and rule.cooldown


@pytest.mark.parametrize("body", [
    orjson.dumps({"error": {"code": 429, "status": "RESOURCE_EXHAUSTED",
                            "message": "Resource has been exhausted (e.g. check quota)."}}),
    orjson.dumps({"error": {"code": 429, "status": "RESOURCE_EXHAUSTED",
                            "message": "Quota exceeded for metric: generate_content_free_tier_requests, "
                                       "limit: 10, quotaId: GenerateRequestsPerMinutePerProjectPerModel"}}),
])
def test_gemini_per_minute_resource_exhausted_is_not_a_lockout(body):
    rule = _upstream(429, body)
    assert rule == TRANSIENT
    assert not rule.lockout


def test_openai_per_minute_rate_limit_reached_is_not_a_lockout():
    body = _openai("Rate limit reached for gpt-4o in organization org-abc on tokens per min (TPM): Limit 30000, "
                   "Used 29000, Requested 2000. Please try again in 2s.", code="rate_limit_exceeded", type_="tokens")
    assert _upstream(429, body) == TRANSIENT


# ---- 404 -------------------------------------------------------------------------------------


def test_404_locks_the_model_out_on_the_account_without_cooldown_or_breaker():
    rule = _upstream(404, _openai("The model `gpt-9` does not exist or you do not have access to it.",
                                  code="model_not_found"))
    assert rule == NOT_FOUND
    assert rule.next_account and rule.lockout and not rule.cooldown and not rule.breaker


# ---- 408 / 5xx / overloaded ------------------------------------------------------------------


@pytest.mark.parametrize("status, body", [
    (408, b"Request Timeout"),
    (500, _openai("The server had an error while processing your request.", type_="server_error")),
    (502, b"<html>Bad Gateway</html>"),
    (503, b"Service Unavailable"),
    (504, b""),
    (529, orjson.dumps({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})),
    (503, orjson.dumps({"error": {"code": 503, "status": "UNAVAILABLE", "message": "The model is overloaded."}})),
])
def test_timeouts_server_errors_and_overload_are_transient(status, body):
    assert _upstream(status, body) == TRANSIENT


@pytest.mark.parametrize("err", [
    UpstreamConnectionError("connection refused"),
    UpstreamConnectionError("connection reset by peer"),
    UpstreamTimeout("upstream sent nothing within 120000 ms"),
])
def test_no_answer_is_transient(err):
    assert verdict(err) == TRANSIENT


@pytest.mark.parametrize("message, kind, expected", [
    ("Overloaded", "overloaded_error", TRANSIENT),
    ("rate limited", "rate_limit_error", TRANSIENT),
    ("something broke", None, TRANSIENT),
    ("messages.0: bad content", "invalid_request_error", STOP),
])
def test_in_band_stream_errors(message, kind, expected):
    assert verdict(from_stream_error(message, kind)) == expected


# ---- errors raised before any upstream call ----------------------------------------------------


@pytest.mark.parametrize("err", [
    CircuitOpen("provider 'openai' is failing"),
    ModelUnavailable("locked out on every account"),
    NoAccountAvailable("no active connection"),
    ModelNotFound("no such model"),
    InvalidRequest("the target cannot take this model", code="unsupported_model"),
    InvalidRequest("the target cannot take images", code="unsupported_feature"),
    RateLimited("every connection is at its concurrency limit", code="concurrency_limited"),
])
def test_target_level_failures_go_to_the_next_target_only(err):
    assert verdict(err) == TARGET_ONLY


@pytest.mark.parametrize("err", [
    InvalidRequest("bad JSON"),
    InvalidRequest("bad parameter", code="invalid_parameter"),
    PermissionDenied("this API key may not use the model", code="model_not_allowed"),
    PermissionDenied("forbidden"),
    AuthenticationFailed("bad key"),
    PayloadTooLarge("too big"),
    RateLimited("too many requests from this key"),
])
def test_client_faults_stop(err):
    assert verdict(err) == STOP


def test_an_expired_sign_in_moves_to_the_next_account_without_cooldown():
    rule = verdict(SignInExpired("sign-in of connection 'x' expired"))
    assert rule == NEXT_ACCOUNT
    assert rule.next_account and not rule.cooldown and not rule.breaker and not rule.lockout
