"""Fresh subscription tokens for the hot path.

``TokenManager`` keeps each OAuth account's decrypted credentials in memory, refreshes them ahead
of expiry with one refresh per account at a time (however many requests wait; across instances
the shared-state lock and a re-read of the row keep it to one), and marks an account ``expired``
when the provider rejects its refresh token. Expired accounts are left out of routing until the
user signs in again (or re-activates the connection).
"""

from __future__ import annotations

import asyncio
import logging
import time

from omniroute.auth.secrets import SecretBox
from omniroute.errors import NoAccountAvailable, UpstreamConnectionError, UpstreamError
from omniroute.oauth.flows import Grant, OAuthFlows, OAuthRejected, OAuthUnavailable
from omniroute.oauth.providers import OAuthProviders
from omniroute.transport.proxy import PROXY_ACCOUNT

log = logging.getLogger("omniroute.oauth")

REFRESH_AHEAD_S = 300.0  # refresh this long before the token expires
RECENT_S = 10.0  # a 401 on a token refreshed this recently does not refresh again


# providerData keys (camelCase, as the management API shows them) -> the executors' names.
_EXECUTOR_NAMES = {"accountId": "account_id", "projectId": "project_id", "resourceUrl": "resource_url",
                   "apiBase": "api_endpoint", "region": "region", "organizationId": "organization_id",
                   "email": "email"}


class SignInExpired(UpstreamError):
    """An OAuth account whose sign-in no longer works; routing moves to the next account."""

    next_account = True
    cooldown = False

    def __init__(self, message: str):
        super().__init__(message, status=401, code="oauth_expired")


def connection_values(box: SecretBox, grant: Grant) -> dict:
    """The connection columns a grant fills (tokens encrypted, ids in the clear)."""
    return {"authType": "oauth", "oauthEnc": box.encrypt_json(grant.secret), "tokenExpiresAt": grant.expires_at,
            "providerData": grant.data or None}


def _bearer(secret: dict) -> str | None:
    return secret.get("apiToken") or secret.get("accessToken")


class TokenManager:
    """Access tokens for OAuth accounts: cached, refreshed ahead of expiry, single-flight."""

    def __init__(self, repo, box: SecretBox, state, flows: OAuthFlows, providers: OAuthProviders,
                 *, ahead_s: float = REFRESH_AHEAD_S):
        self._repo = repo
        self._box = box
        self._state = state
        self._flows = flows
        self._providers = providers
        self.ahead_s = ahead_s
        self._secret: dict[str, dict] = {}  # account id -> decrypted credentials
        self._expires: dict[str, float | None] = {}
        self._data: dict[str, dict] = {}
        self._expired: dict[str, str] = {}  # account id -> why its sign-in stopped working
        self._inflight: dict[str, asyncio.Task] = {}
        self._refreshed_at: dict[str, float] = {}
        self.refreshes = 0  # successful refreshes since start (monitoring, tests)

    # ---- configuration -----------------------------------------------------------------------

    def load(self, rows: list[dict]) -> None:
        """Take the OAuth connections of a configuration load (called with AccountPool.load)."""
        secret, expires, data, expired = {}, {}, {}, {}
        for row in rows:
            if row.get("authType") != "oauth":
                continue
            try:
                secret[row["id"]] = self._box.decrypt_json(row.get("oauthEnc"), {}) or {}
            except ValueError:
                log.warning("connection %s: stored OAuth credentials cannot be decrypted", row["id"])
                secret[row["id"]] = {}
            expires[row["id"]] = row.get("tokenExpiresAt")
            data[row["id"]] = row.get("providerData") or {}
            if row.get("status") == "expired":
                expired[row["id"]] = row.get("lastError") or "sign-in expired"
        self._secret, self._expires, self._data, self._expired = secret, expires, data, expired

    def manages(self, account) -> bool:
        return account.id in self._secret

    def provider_data(self, account) -> dict:
        """Account, organization and project ids, API host (what an executor may need)."""
        return self._data.get(account.id, {})

    def executor_account(self, account) -> dict:
        """``provider_data`` under the names executors read (``UpstreamCall.account``)."""
        data = self._data.get(account.id, {})
        return {name: data[key] for key, name in _EXECUTOR_NAMES.items() if data.get(key) is not None}

    # ---- the hot path ------------------------------------------------------------------------

    def usable(self, provider_id: str, accounts: list) -> list:
        """``accounts`` without the ones whose sign-in expired; raises when none is left."""
        if not self._expired or not accounts:
            return accounts
        kept = [a for a in accounts if a.id not in self._expired]
        if kept:
            return kept
        reasons = "; ".join(f"connection '{a.name}' ({a.id}): {self._expired[a.id]}" for a in accounts)
        raise NoAccountAvailable(
            f"provider '{provider_id}' has no usable connection: sign-in expired ({reasons}); "
            f"sign in again with /api/oauth/{provider_id}/authorize or /device-code", code="oauth_expired")

    async def access_token(self, account) -> str:
        """A token good for at least ``ahead_s`` more seconds (refreshing first when needed)."""
        reason = self._expired.get(account.id)
        if reason is not None:
            raise SignInExpired(f"sign-in of connection '{account.name}' expired: {reason}")
        secret = self._secret.get(account.id)
        if secret is None:
            raise SignInExpired(f"connection '{account.name}' has no OAuth credentials; sign in again")
        token = _bearer(secret)
        expires = self._expires.get(account.id)
        if token and (expires is None or expires - time.time() > self.ahead_s):
            return token
        return await self._single_flight(account, force=False, used=None)

    async def auth_headers(self, account) -> dict[str, str]:
        """The headers that authenticate an OAuth account upstream (an executor may add more)."""
        return {"Authorization": f"Bearer {await self.access_token(account)}"}

    async def on_unauthorized(self, account, used_token: str | None = None) -> bool:
        """The upstream answered 401: refresh once. True when a new token is there to retry with."""
        if account.id not in self._secret or account.id in self._expired:
            return False
        if used_token and used_token.lower().startswith("bearer "):
            used_token = used_token[7:]
        current = _bearer(self._secret[account.id])
        if used_token and current and used_token != current:
            return True  # refreshed meanwhile by another request
        if used_token is None and time.time() - self._refreshed_at.get(account.id, 0) < RECENT_S:
            return True
        try:
            fresh = await self._single_flight(account, force=True, used=used_token or current)
        except UpstreamError:
            return False
        return bool(fresh) and fresh != (used_token or current)

    # ---- refresh -----------------------------------------------------------------------------

    async def _single_flight(self, account, *, force: bool, used: str | None) -> str:
        task = self._inflight.get(account.id)
        if task is None:
            task = asyncio.ensure_future(self._refresh(account, force=force, used=used))
            self._inflight[account.id] = task

            def done(t: asyncio.Task, account_id: str = account.id) -> None:
                if self._inflight.get(account_id) is t:
                    del self._inflight[account_id]
                if not t.cancelled():
                    t.exception()  # retrieved here so a refresh nobody awaits any more is not reported

            task.add_done_callback(done)
        return await asyncio.shield(task)

    async def _refresh(self, account, *, force: bool, used: str | None) -> str:
        async with self._state.lock(f"oauth-refresh:{account.id}", ttl=60):
            row = await self._repo.get(account.id)
            if row is None or row.get("authType") != "oauth":
                raise SignInExpired(f"connection '{account.name}' no longer exists")
            secret = self._box.decrypt_json(row.get("oauthEnc"), {}) or {}
            expires = row.get("tokenExpiresAt")
            current = _bearer(secret)
            # Another instance (or an earlier refresh) may already have renewed the row.
            if current and not force and (expires is None or expires - time.time() > self.ahead_s):
                self._remember(account.id, secret, expires, row.get("providerData") or {})
                return current
            if current and force and used and current != used:
                self._remember(account.id, secret, expires, row.get("providerData") or {})
                return current
            provider = self._providers.get(row["provider"])
            if provider is None:
                raise SignInExpired(f"provider '{row['provider']}' has no sign-in flow")
            via = PROXY_ACCOUNT.set(account)  # out through the connection's own proxy, if it has one
            try:
                grant = await self._flows.refresh(provider, secret, row.get("providerData") or {})
            except OAuthRejected as exc:
                await self._mark_expired(account, f"refresh token rejected: {exc.message}")
                raise SignInExpired(f"sign-in of connection '{account.name}' expired: "
                                    f"refresh token rejected: {exc.message}") from None
            except OAuthUnavailable as exc:
                if current and (expires is None or expires > time.time() + 5):
                    return current  # still valid: try again on a later request
                raise UpstreamConnectionError(f"token refresh failed: {exc.message}") from None
            finally:
                PROXY_ACCOUNT.reset(via)
            await self._repo.update(account.id, connection_values(self._box, grant))
            self._remember(account.id, grant.secret, grant.expires_at, grant.data)
            self._refreshed_at[account.id] = time.time()
            self.refreshes += 1
            log.info("refreshed the sign-in of connection %s", account.id)
            return grant.bearer or ""

    def _remember(self, account_id: str, secret: dict, expires: float | None, data: dict) -> None:
        self._secret[account_id] = secret
        self._expires[account_id] = expires
        self._data[account_id] = data

    async def _mark_expired(self, account, reason: str) -> None:
        self._expired[account.id] = reason
        log.warning("connection %s: sign-in expired (%s)", account.id, reason)
        await self._repo.update(account.id, {"status": "expired", "lastError": reason})
