"""Dashboard sessions: signed JWTs in an HttpOnly cookie, and the login lock-out."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time

from omniroute.state import SharedState

COOKIE = "auth_token"
SESSION_TTL_S = 30 * 24 * 3600
RENEW_BELOW_S = 7 * 24 * 3600
MAX_FAILURES = 5
FAILURE_WINDOW_S = 15 * 60
LOCKOUT_S = 15 * 60


class SessionSigner:
    """Issues and checks HS256 session tokens."""

    def __init__(self, secret: str):
        self._secret = secret

    def issue(self, subject: str = "admin", ttl_s: int = SESSION_TTL_S, csrf: str | None = None) -> str:
        """A session token; ``csrf`` (kept when a session is renewed) is the value state-changing requests
        made with the cookie must echo in X-CSRF-Token. A new session gets a new random one."""
        import jwt  # loaded with the management plane, not at start-up

        now = int(time.time())
        claims = {"sub": subject, "iat": now, "exp": now + ttl_s, "csrf": csrf or secrets.token_urlsafe(24)}
        return jwt.encode(claims, self._secret, "HS256")

    def local_csrf(self) -> str:
        """The CSRF token of pages served without a session (loopback, login not required)."""
        return hmac.new(self._secret.encode(), b"omniroute-local-csrf", hashlib.sha256).hexdigest()[:32]

    def verify(self, token: str | None) -> dict | None:
        """The claims of a valid token, else None."""
        if not token:
            return None
        import jwt

        try:
            return jwt.decode(token, self._secret, algorithms=["HS256"])
        except jwt.PyJWTError:
            return None


class LoginGuard:
    """Counts failed logins per address in shared state and locks the address out."""

    def __init__(self, state: SharedState):
        self._state = state

    async def locked_for(self, ip: str) -> float | None:
        """Seconds left in the address's lock-out, or None."""
        return await self._state.ttl(f"login:lock:{ip}")

    async def failed(self, ip: str) -> bool:
        """Record a failure; True when it locked the address."""
        count = await self._state.incr(f"login:fail:{ip}", ttl=FAILURE_WINDOW_S)
        if count >= MAX_FAILURES:
            await self._state.set(f"login:lock:{ip}", 1, ttl=LOCKOUT_S)
            await self._state.delete(f"login:fail:{ip}")
            return True
        return False

    async def succeeded(self, ip: str) -> None:
        await self._state.delete(f"login:fail:{ip}")
