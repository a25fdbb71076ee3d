"""The one error taxonomy.

Every failure the gateway reports is one of these classes; each knows its HTTP
status, its OpenAI-style ``type``/``code``, and what routing should do next::

    OmniRouteError
    ├── ClientError                  the client's request is at fault; nothing goes upstream
    │   ├── InvalidRequest           400  invalid_request_error
    │   ├── PayloadTooLarge          413
    │   ├── AuthenticationFailed     401  invalid_api_key
    │   ├── PermissionDenied         403
    │   ├── ModelNotFound            404  model_not_found
    │   ├── RateLimited              429  (login lock-out, limits)
    │   └── Conflict                 409  (an Idempotency-Key reused with another body)
    ├── NoAccountAvailable           503  no active connection can serve the model
    │   ├── CircuitOpen              503  the provider's breaker is open (fail fast)
    │   └── ModelUnavailable         503  the model is locked out on every account
    ├── StateUnavailable             503  the shared state (Redis) cannot be reached
    └── UpstreamError                the upstream's answer; keeps its status
        ├── UpstreamAuthError        401/402/403   -> next account at once
        ├── UpstreamNotFound         404           -> next account
        ├── UpstreamRateLimited      429 or rate-limit text -> next account, cooldown
        ├── UpstreamServerError      408/5xx       -> next account, cooldown
        ├── UpstreamConnectionError  no answer (refused, reset, timeout) -> next account
        │   └── UpstreamTimeout      504  nothing within the first-byte / target timeout
        └── UpstreamBadRequest       other 4xx     -> stop: the request itself is wrong
"""

from __future__ import annotations

import orjson


class OmniRouteError(Exception):
    """Base of every error the gateway answers with."""

    retry_after: str | None = None
    retry_after_s: float | None = None
    status = 500
    type = "server_error"
    code: str | None = None
    next_account = False

    def __init__(self, message: str, *, code: str | None = None, status: int | None = None):
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status

    def openai_body(self) -> dict:
        return {"error": {"message": self.message, "type": self.type, "code": self.code}}


class ClientError(OmniRouteError):
    status = 400
    type = "invalid_request_error"


class InvalidRequest(ClientError):
    status = 400
    code = "invalid_request"


class PayloadTooLarge(ClientError):
    status = 413
    code = "payload_too_large"


class AuthenticationFailed(ClientError):
    status = 401
    type = "authentication_error"
    code = "invalid_api_key"


class PermissionDenied(ClientError):
    status = 403
    type = "permission_error"
    code = "permission_denied"


class ModelNotFound(ClientError):
    status = 404
    type = "invalid_request_error"
    code = "model_not_found"


class RateLimited(ClientError):
    status = 429
    type = "rate_limit_error"
    code = "rate_limited"


class Conflict(ClientError):
    status = 409
    type = "invalid_request_error"
    code = "conflict"


class NoAccountAvailable(OmniRouteError):
    status = 503
    type = "service_unavailable"
    code = "no_account_available"


class CircuitOpen(NoAccountAvailable):
    code = "circuit_open"


class ModelUnavailable(NoAccountAvailable):
    code = "model_unavailable"


class StateUnavailable(OmniRouteError):
    status = 503
    type = "service_unavailable"
    code = "state_unavailable"
    retry_after = "1"


class UpstreamError(OmniRouteError):
    """An upstream answered with an error (or did not answer)."""

    type = "upstream_error"
    next_account = True
    cooldown = False

    def __init__(self, message: str, *, status: int, body: bytes | None = None, code: str | None = None):
        super().__init__(message, code=code, status=status)
        self.body = body
        self.retry_after: str | None = None  # the upstream's Retry-After, passed on to the client
        self.retry_after_s: float | None = None  # the wait it asked for (Retry-After or rate-limit reset headers)


class UpstreamAuthError(UpstreamError):
    type = "authentication_error"


class UpstreamNotFound(UpstreamError):
    type = "invalid_request_error"


class UpstreamRateLimited(UpstreamError):
    type = "rate_limit_error"
    cooldown = True


class UpstreamServerError(UpstreamError):
    type = "server_error"
    cooldown = True


class UpstreamConnectionError(UpstreamError):
    type = "server_error"
    cooldown = True

    def __init__(self, message: str):
        super().__init__(message, status=502, code="upstream_unreachable")


class UpstreamTimeout(UpstreamConnectionError):
    def __init__(self, message: str):
        super().__init__(message)
        self.status, self.code = 504, "upstream_timeout"


class UpstreamBadRequest(UpstreamError):
    type = "invalid_request_error"
    next_account = False


_RATE_LIMIT_TEXTS = (b"rate limit", b"too many requests", b"quota exceeded", b"overloaded", b"capacity")


def detached(err: OmniRouteError) -> OmniRouteError:
    """``err`` without its traceback and context, for keeping it past its ``except`` block. Kept as
    it is, it holds the frames that hold it: a reference cycle per failure, left to the collector,
    that raised the heap's high-water mark under a failing upstream (seen in ``make bench``)."""
    err.__traceback__ = err.__context__ = err.__cause__ = None
    return err


def classify_upstream(status: int, body: bytes) -> UpstreamError:
    """Build the error class for an upstream's non-2xx answer (rule 5 of DESIGN.md)."""
    message = _upstream_message(body) or f"upstream answered HTTP {status}"
    lowered = body[:4096].lower()
    if status == 429 or (status >= 400 and any(t in lowered for t in _RATE_LIMIT_TEXTS)):
        return UpstreamRateLimited(message, status=status, body=body)
    if status in (401, 402, 403):
        return UpstreamAuthError(message, status=status, body=body)
    if status == 404:
        return UpstreamNotFound(message, status=status, body=body)
    if status in (406, 408) or status >= 500:
        return UpstreamServerError(message, status=status, body=body)
    return UpstreamBadRequest(message, status=status, body=body)


def from_stream_error(message: str, kind: str | None) -> UpstreamError:
    """The error of a stream that failed in-band before its first content (an ``error`` event)."""
    text = f"{kind or ''} {message}".lower().encode()
    body = orjson.dumps({"error": {"message": message, "type": kind}})
    if any(t in text for t in _RATE_LIMIT_TEXTS) or b"rate_limit" in text:
        err: UpstreamError = UpstreamRateLimited(message, status=429, body=body)
    elif b"invalid_request" in text:
        err = UpstreamBadRequest(message, status=400, body=body)
    else:
        err = UpstreamServerError(message, status=502, body=body)
    err.message = f"upstream stream failed before its first content: {message}"
    return err


def _upstream_message(body: bytes) -> str | None:
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        text = body[:500].decode("utf-8", "replace").strip()
        return text or None
    if isinstance(data, dict):
        err = data.get("error")
        if isinstance(err, dict) and isinstance(err.get("message"), str):
            return err["message"]
        if isinstance(err, str):
            return err
        if isinstance(data.get("message"), str):
            return data["message"]
    return None
