"""API-key rules of the client API (/v1, Ollama and Gemini routes)."""

from __future__ import annotations

from omniroute.auth.apikeys import ApiKey, KeyRing
from omniroute.errors import AuthenticationFailed

KEY_HEADERS = frozenset({b"authorization", b"x-api-key", b"x-goog-api-key"})


def presented_key(headers: dict[bytes, str]) -> str | None:
    """The key a client sent: Bearer, x-api-key or x-goog-api-key."""
    auth = headers.get(b"authorization")
    if auth:
        scheme, _, value = auth.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
    return headers.get(b"x-api-key") or headers.get(b"x-goog-api-key") or None


def authenticate(keyring: KeyRing, raw: str | None, require_key: bool) -> ApiKey | None:
    """The caller's key, None for the anonymous local user, or AuthenticationFailed."""
    key = keyring.lookup(raw)
    if key is None:
        if require_key:
            if raw:
                raise AuthenticationFailed("Invalid API key: it is not a key of this gateway")
            raise AuthenticationFailed(
                "Missing API key: send 'Authorization: Bearer <key>' (keys are required on this gateway)")
        return None
    if key.revoked_at is not None:
        raise AuthenticationFailed("This API key has been revoked", code="revoked_api_key")
    if not key.usable():
        raise AuthenticationFailed("This API key has expired", code="expired_api_key")
    return key
