"""Fake OAuth server for every subscription provider: a real aiohttp server on loopback.

Each provider lives under ``/{provider}/``: ``authorize`` (redirects back with a code), ``token``
(authorization_code with PKCE checks, refresh_token, device_code; form, JSON or AWS camelCase),
``device``, ``register`` (AWS client registration), ``api-token`` (Copilot), ``userinfo`` (iFlow)
and ``project`` (Code Assist). Tests approve or deny device codes, revoke refresh tokens, set
token lifetimes and read how many refreshes happened.
"""

from __future__ import annotations

import asyncio
import base64
import collections
import hashlib
import itertools
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlencode

import orjson
from aiohttp import web

from tests.fakes.base import FakeUpstream, bearer, json_response

PROVIDERS = ("claude-code", "codex", "github-copilot", "gemini-cli", "antigravity", "qwen", "iflow", "kiro")
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
_PATHS = {"authorize": "authorize", "token": "token", "device": "device", "register": "register",
          "apiToken": "api-token", "userInfo": "userinfo", "project": "project"}


def s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


def _jwt(claims: dict) -> str:
    def part(obj: dict) -> str:
        return base64.urlsafe_b64encode(orjson.dumps(obj)).rstrip(b"=").decode()
    return f"{part({'alg': 'none'})}.{part(claims)}.sig"


@dataclass
class _Code:
    provider: str
    client_id: str
    redirect: str | None
    challenge: str | None
    state: str | None
    used: bool = False


@dataclass
class _Device:
    provider: str
    user_code: str
    client_id: str
    challenge: str | None
    expires_at: float
    status: str = "pending"  # pending | approved | denied
    slow_down: int = 0
    polls: int = 0


@dataclass
class Issued:
    """Tokens handed to one sign-in (the refresh token stays the same across refreshes unless rotated)."""

    provider: str
    access: str
    refresh: str | None
    expires_at: float
    extra: dict = field(default_factory=dict)


class FakeOAuthServer(FakeUpstream):
    name = "fake-oauth"
    description = "Fake OAuth server for subscription providers"
    default_port = 18090
    api_prefix = ""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.expires_in = 3600  # lifetime of issued access tokens (seconds)
        self.api_token_expires_in = 1800  # lifetime of Copilot tokens
        self.rotate_refresh = True  # issue a new refresh token on each refresh
        self.send_resource_url: str | None = None  # Qwen: the API host named in token answers
        self.refresh_delay_ms = 0.0
        self.fail_refresh_status: int | None = None  # answer refreshes with this (5xx: transient)
        self.refreshes: collections.Counter[str] = collections.Counter()
        self.token_calls: collections.Counter[str] = collections.Counter()
        self.codes: dict[str, _Code] = {}
        self.devices: dict[str, _Device] = {}
        self.access: dict[str, Issued] = {}
        self.refresh_tokens: dict[str, Issued] = {}
        self.revoked: set[str] = set()
        self.clients: dict[str, str] = {}  # AWS registered client id -> secret
        self.api_keys: dict[str, str] = {}  # iFlow API key per access token
        self._seq = itertools.count(1)

    # ---- addresses and controls ------------------------------------------------------------

    def endpoints(self, provider: str) -> dict[str, str]:
        return {name: f"{self.url}/{provider}/{path}" for name, path in _PATHS.items()}

    def endpoints_env(self) -> dict[str, str]:
        """The gateway environment that points every provider here."""
        return {"OMNIROUTE_OAUTH_ENDPOINTS": orjson.dumps({p: self.endpoints(p) for p in PROVIDERS}).decode()}

    def approve(self, user_code: str) -> None:
        self._device_by_user(user_code).status = "approved"

    def deny(self, user_code: str) -> None:
        self._device_by_user(user_code).status = "denied"

    def expire_device(self, user_code: str) -> None:
        self._device_by_user(user_code).expires_at = 0

    def slow_down(self, user_code: str, times: int = 1) -> None:
        self._device_by_user(user_code).slow_down += times

    def revoke(self, refresh_token: str | None = None, *, provider: str | None = None) -> None:
        """Reject a refresh token (or every one of ``provider``) from now on."""
        if refresh_token:
            self.revoked.add(refresh_token)
        for token, issued in list(self.refresh_tokens.items()):
            if provider and issued.provider == provider:
                self.revoked.add(token)

    def valid_access(self, provider: str | None = None) -> set[str]:
        """Access tokens (Copilot tokens, iFlow keys included) not yet expired."""
        now = time.time()
        return {t for t, i in self.access.items() if i.expires_at > now and (provider is None or i.provider == provider)}

    def latest_bearer(self, provider: str) -> str:
        """The newest credential an API would accept for ``provider`` (what a client should send)."""
        issued = [i for i in self.access.values() if i.provider == provider]
        return issued[-1].access

    def authorize_code(self, provider: str, *, state: str, challenge: str | None, client_id: str = "",
                       redirect: str | None = None) -> str:
        """Mint a code without the redirect (as if the user signed in)."""
        code = f"code-{provider}-{next(self._seq)}"
        self.codes[code] = _Code(provider, client_id, redirect, challenge, state)
        return code

    def _device_by_user(self, user_code: str) -> _Device:
        for device in self.devices.values():
            if device.user_code == user_code:
                return device
        raise KeyError(user_code)

    # ---- routes ----------------------------------------------------------------------------

    def add_routes(self, router: web.UrlDispatcher) -> None:
        router.add_get("/{provider}/authorize", self.h_authorize)
        router.add_post("/{provider}/token", self.h_token)
        router.add_post("/{provider}/device", self.h_device)
        router.add_post("/{provider}/register", self.h_register)
        router.add_get("/{provider}/api-token", self.h_api_token)
        router.add_get("/{provider}/userinfo", self.h_userinfo)
        router.add_post("/{provider}/project", self.h_project)

    def error_body(self, status: int, message: str | None = None) -> dict[str, Any]:
        return {"error": "server_error", "error_description": message or f"HTTP {status}"}

    @staticmethod
    async def _fields(request: web.Request) -> tuple[dict, bool]:
        raw = await request.read()
        if request.content_type == "application/json":
            body = orjson.loads(raw) if raw else {}
            return (body if isinstance(body, dict) else {}), True
        return {k: v[0] for k, v in parse_qs(raw.decode()).items()}, False

    async def h_authorize(self, request: web.Request) -> web.StreamResponse:
        q = request.query
        redirect = q.get("redirect_uri") or q.get("redirect")
        if not q.get("client_id") or not q.get("state") or not redirect:
            return json_response({"error": "invalid_request"}, 400)
        if q.get("code_challenge") and q.get("code_challenge_method") != "S256":
            return json_response({"error": "invalid_request", "error_description": "S256 only"}, 400)
        code = self.authorize_code(request.match_info["provider"], state=q["state"],
                                   challenge=q.get("code_challenge"), client_id=q["client_id"], redirect=redirect)
        raise web.HTTPFound(f"{redirect}?{urlencode({'code': code, 'state': q['state']})}")

    async def h_register(self, request: web.Request) -> web.StreamResponse:
        body, _ = await self._fields(request)
        if body.get("clientType") != "public":
            return json_response({"error": "invalid_client_metadata"}, 400)
        client_id = f"aws-client-{next(self._seq)}"
        self.clients[client_id] = f"aws-secret-{next(self._seq)}"
        return json_response({"clientId": client_id, "clientSecret": self.clients[client_id],
                              "clientIdIssuedAt": int(time.time()), "clientSecretExpiresAt": int(time.time()) + 86400})

    async def h_device(self, request: web.Request) -> web.StreamResponse:
        provider = request.match_info["provider"]
        body, _ = await self._fields(request)
        client_id = body.get("clientId") or body.get("client_id")
        if not client_id:
            return json_response({"error": "invalid_client"}, 400)
        n = next(self._seq)
        device_code, user_code = f"dev-{provider}-{n}", f"USER-{n:04d}"
        self.devices[device_code] = _Device(provider, user_code, client_id, body.get("code_challenge"),
                                            time.time() + 900)
        uri = f"{self.url}/{provider}/verify"
        if provider == "kiro":
            return json_response({"deviceCode": device_code, "userCode": user_code, "verificationUri": uri,
                                  "verificationUriComplete": f"{uri}?user_code={user_code}",
                                  "expiresIn": 900, "interval": 1})
        return json_response({"device_code": device_code, "user_code": user_code, "verification_uri": uri,
                              "expires_in": 900, "interval": 1})

    def _issue(self, provider: str, camel: bool, refresh: str | None = None) -> dict:
        n = next(self._seq)
        access = f"at-{provider}-{n}"
        new_refresh = refresh if refresh and not self.rotate_refresh else f"rt-{provider}-{n}"
        issued = Issued(provider, access, new_refresh, time.time() + self.expires_in)
        self.access[access] = issued
        if refresh and refresh != new_refresh:
            self.refresh_tokens.pop(refresh, None)
        self.refresh_tokens[new_refresh] = issued
        if camel:
            return {"accessToken": access, "refreshToken": new_refresh, "expiresIn": self.expires_in,
                    "tokenType": "Bearer"}
        answer = {"access_token": access, "refresh_token": new_refresh, "expires_in": self.expires_in,
                  "token_type": "Bearer", "scope": "fake",
                  "id_token": _jwt({"email": f"user@{provider}.test", "https://api.openai.com/auth": {
                      "chatgpt_account_id": f"acct-{provider}", "chatgpt_plan_type": "plus"}}),
                  "account": {"uuid": f"acct-{provider}", "email_address": f"user@{provider}.test"}}
        if provider == "qwen" and self.send_resource_url:
            answer["resource_url"] = self.send_resource_url
        return answer

    def _oauth_error(self, code: str, status: int = 400, camel: bool = False, text: str = "") -> web.Response:
        if camel:
            names = {"authorization_pending": "AuthorizationPendingException", "slow_down": "SlowDownException",
                     "expired_token": "ExpiredTokenException", "access_denied": "AccessDeniedException",
                     "invalid_grant": "InvalidGrantException"}
            return json_response({"error": code, "error_description": text or names.get(code, code)}, status)
        return json_response({"error": code, "error_description": text or code}, status)

    async def h_token(self, request: web.Request) -> web.StreamResponse:
        provider = request.match_info["provider"]
        body, _ = await self._fields(request)
        camel = "grantType" in body
        grant = body.get("grantType") or body.get("grant_type")
        self.token_calls[provider] += 1
        # The client must authenticate as a client of this provider.
        client_id = body.get("clientId") or body.get("client_id")
        auth = request.headers.get("Authorization", "")
        if not client_id and auth.startswith("Basic "):
            client_id = base64.b64decode(auth[6:]).decode().split(":", 1)[0]
        if not client_id:
            return self._oauth_error("invalid_client", 401)
        if camel and self.clients.get(client_id) != body.get("clientSecret"):
            return self._oauth_error("invalid_client", 401, camel)
        if grant == "authorization_code":
            code = self.codes.get(body.get("code", ""))
            if code is None or code.used or code.provider != provider:
                return self._oauth_error("invalid_grant", text="unknown or used code")
            code.used = True
            if code.challenge and s256(body.get("code_verifier", "")) != code.challenge:
                return self._oauth_error("invalid_grant", text="PKCE verification failed")
            if code.redirect and body.get("redirect_uri") != code.redirect:
                return self._oauth_error("invalid_grant", text="redirect_uri mismatch")
            return json_response(self._issue(provider, camel))
        if grant == "refresh_token":
            token = body.get("refreshToken") or body.get("refresh_token")
            if self.refresh_delay_ms:
                await asyncio.sleep(self.refresh_delay_ms / 1000)
            if self.fail_refresh_status:
                return self._oauth_error("server_error", self.fail_refresh_status, camel)
            if token in self.revoked or token not in self.refresh_tokens:
                return self._oauth_error("invalid_grant", camel=camel, text="refresh token revoked")
            self.refreshes[provider] += 1
            return json_response(self._issue(provider, camel, token))
        if grant == DEVICE_GRANT:
            device = self.devices.get(body.get("deviceCode") or body.get("device_code") or "")
            if device is None or device.provider != provider:
                return self._oauth_error("invalid_grant", camel=camel, text="unknown device code")
            device.polls += 1
            if device.expires_at < time.time():
                return self._oauth_error("expired_token", camel=camel)
            if device.slow_down:
                device.slow_down -= 1
                return self._oauth_error("slow_down", camel=camel)
            if device.status == "denied":
                return self._oauth_error("access_denied", camel=camel)
            if device.status == "pending":
                # GitHub answers 200 with an error field; the others a 400.
                return self._oauth_error("authorization_pending", 200 if provider == "github-copilot" else 400,
                                         camel)
            if device.challenge and s256(body.get("code_verifier", "")) != device.challenge:
                return self._oauth_error("invalid_grant", text="PKCE verification failed")
            del self.devices[body.get("deviceCode") or body.get("device_code")]
            answer = self._issue(provider, camel)
            if provider == "github-copilot":  # GitHub's device tokens come without refresh or expiry
                for key in ("refresh_token", "expires_in", "id_token", "account"):
                    answer.pop(key, None)
                self.access[answer["access_token"]].expires_at = float("inf")
            return json_response(answer)
        return self._oauth_error("unsupported_grant_type")

    async def h_api_token(self, request: web.Request) -> web.StreamResponse:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        issued = self.access.get(token)
        if scheme.lower() != "token" or issued is None or issued.refresh in self.revoked or token in self.revoked:
            return json_response({"message": "Bad credentials"}, 401)
        self.refreshes["github-copilot"] += 1
        n = next(self._seq)
        cop = f"cop-{n}"
        expires = time.time() + self.api_token_expires_in
        self.access[cop] = Issued("github-copilot", cop, None, expires)
        return json_response({"token": cop, "expires_at": int(expires), "refresh_in": self.api_token_expires_in - 300,
                              "endpoints": {"api": f"{self.url}/copilot-api"}})

    async def h_userinfo(self, request: web.Request) -> web.StreamResponse:
        issued = self.access.get(request.query.get("accessToken", ""))
        if issued is None or issued.expires_at < time.time():
            return json_response({"success": False, "message": "invalid token"}, 401)
        key = self.api_keys.setdefault(issued.refresh or issued.access, f"sk-iflow-{next(self._seq)}")
        self.access[key] = Issued("iflow", key, None, float("inf"))
        return json_response({"success": True, "data": {"apiKey": key, "email": "user@iflow.test"}})

    async def h_project(self, request: web.Request) -> web.StreamResponse:
        token = bearer({k.lower(): v for k, v in request.headers.items()})
        if token not in self.access:
            return json_response({"error": {"code": 401, "message": "unauthenticated"}}, 401)
        return json_response({"cloudaicompanionProject": f"project-{request.match_info['provider']}",
                              "currentTier": {"id": "free-tier"}})


def main(argv: list[str] | None = None) -> None:
    FakeOAuthServer.main(argv)


if __name__ == "__main__":
    main()
