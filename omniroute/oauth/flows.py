"""The sign-in flows: authorization URL with state and PKCE, code exchange, device code and poll,
refresh, and the follow-up calls some providers need (a second API token, the account's project).

Nothing here logs a token; upstream errors are reduced to their ``error`` code and description.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlencode, urlparse

import aiohttp
import orjson

from omniroute.oauth.providers import AWS_DEVICE, DEVICE_GRANT, OAuthProvider
from omniroute.state import SharedState

STATE_TTL_S = 600.0  # how long an authorize URL stays usable
_TIMEOUT = aiohttp.ClientTimeout(total=30)
_REJECTED = (400, 401, 403)


class OAuthError(Exception):
    """A sign-in or refresh that failed; ``status`` is what the management API answers."""

    status = 502
    kind = "upstream"

    def __init__(self, message: str, *, status: int | None = None):
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status


class OAuthRejected(OAuthError):
    """The provider refused the grant for good (a revoked or expired refresh token, a bad code)."""

    status = 400
    kind = "rejected"


class OAuthUnavailable(OAuthError):
    """The provider could not be reached or failed transiently; trying again later may work."""

    status = 502
    kind = "unavailable"


class DevicePending(OAuthError):
    """The user has not finished the device sign-in yet (``slow_down``: poll less often)."""

    status = 202
    kind = "pending"

    def __init__(self, message: str, *, slow_down: bool = False, interval: int = 5):
        super().__init__(message)
        self.slow_down = slow_down
        self.interval = interval


@dataclass
class Grant:
    """What a sign-in or a refresh produced. ``secret`` is stored encrypted, ``data`` in the clear."""

    secret: dict = field(default_factory=dict)
    expires_at: float | None = None  # when the credential sent upstream expires
    data: dict = field(default_factory=dict)  # account id, email, project id, API host

    @property
    def bearer(self) -> str | None:
        return self.secret.get("apiToken") or self.secret.get("accessToken")


def pkce_pair() -> tuple[str, str]:
    """A code verifier and its S256 challenge (RFC 7636)."""
    verifier = secrets.token_urlsafe(48)
    return verifier, s256(verifier)


def s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _describe(body: dict, status: int) -> str:
    code = body.get("error") or body.get("errorCode") or body.get("code")
    text = body.get("error_description") or body.get("errorDescription") or body.get("message")
    if isinstance(code, dict):  # {"error": {"message": ...}}
        text, code = code.get("message"), code.get("code") or code.get("status")
    parts = [str(p) for p in (code, text) if p]
    return ": ".join(parts) if parts else f"HTTP {status}"


def _error_code(body: dict) -> str:
    code = str(body.get("error") or body.get("errorCode") or "")
    # AWS SSO OIDC names its errors as exception types.
    aws = {"AuthorizationPendingException": "authorization_pending", "SlowDownException": "slow_down",
           "ExpiredTokenException": "expired_token", "AccessDeniedException": "access_denied",
           "InvalidGrantException": "invalid_grant"}
    return aws.get(code, code)


def _jwt_claims(token: str | None) -> dict:
    """The payload of a JWT, unverified (only to read the account id the provider put there)."""
    if not token or token.count(".") != 2:
        return {}
    payload = token.split(".")[1]
    try:
        claims = orjson.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (ValueError, orjson.JSONDecodeError):
        return {}
    return claims if isinstance(claims, dict) else {}


def split_code(code: str, state: str | None) -> tuple[str, str | None]:
    """Accept the code as given, as ``code#state`` (Claude's page), or as the whole callback URL."""
    code = code.strip()
    if code.startswith(("http://", "https://")):
        query = parse_qs(urlparse(code).query)
        code = (query.get("code") or [""])[0]
        state = state or (query.get("state") or [None])[0]
    elif "#" in code:
        code, _, pasted_state = code.partition("#")
        state = state or pasted_state or None
    return code, state


class OAuthFlows:
    """Runs every flow against the endpoints of the provider table."""

    def __init__(self, state: SharedState, session_factory):
        self._state = state
        self._session_factory = session_factory  # returns the shared aiohttp session once it exists

    @property
    def _session(self) -> aiohttp.ClientSession:
        return self._session_factory()

    # ---- HTTP ------------------------------------------------------------------------------

    async def _call(self, method: str, url: str, *, form: dict | None = None, json: dict | None = None,
                    headers: dict | None = None, params: dict | None = None) -> tuple[int, dict]:
        sent = {"Accept": "application/json", **(headers or {})}
        kwargs: dict = {"headers": sent, "params": params, "timeout": _TIMEOUT}
        if json is not None:
            kwargs["data"] = orjson.dumps(json)
            sent["Content-Type"] = "application/json"
        elif form is not None:
            kwargs["data"] = urlencode(form)
            sent["Content-Type"] = "application/x-www-form-urlencoded"
        try:
            async with self._session.request(method, url, **kwargs) as resp:
                raw = await resp.read()
                status = resp.status
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            raise OAuthUnavailable(f"sign-in server unreachable: {exc.__class__.__name__}") from None
        try:
            body = orjson.loads(raw) if raw else {}
        except orjson.JSONDecodeError:
            body = dict(parse_qs(raw.decode(errors="replace"))) if b"=" in raw else {}
            body = {k: v[0] if isinstance(v, list) and v else v for k, v in body.items()}
        if not isinstance(body, dict):
            body = {}
        return status, body

    async def _token_request(self, provider: OAuthProvider, fields: dict, secret: dict | None = None) -> dict:
        """POST to the token endpoint in the provider's own format; returns the 2xx body."""
        headers = {}
        client_id = (secret or {}).get("clientId") or provider.client_id
        client_secret = (secret or {}).get("clientSecret") or provider.client_secret
        if provider.token_format == "aws":
            body = {"clientId": client_id, "clientSecret": client_secret, **fields}
            status, answer = await self._call("POST", provider.endpoint("token"), json=body)
        else:
            body = {"client_id": client_id, **fields}
            if client_secret:
                body["client_secret"] = client_secret
            if provider.client_auth == "basic":
                pair = base64.b64encode(f"{client_id}:{client_secret}".encode()).decode()
                headers["Authorization"] = f"Basic {pair}"
            if provider.token_format == "json":
                status, answer = await self._call("POST", provider.endpoint("token"), json=body, headers=headers)
            else:
                status, answer = await self._call("POST", provider.endpoint("token"), form=body, headers=headers)
        if status >= 500 or status == 429:
            raise OAuthUnavailable(f"{provider.name} token endpoint answered {_describe(answer, status)}")
        if status >= 300 or answer.get("error") or answer.get("errorCode"):
            raise _grant_error(provider, answer, status)
        return answer

    # ---- browser flows ---------------------------------------------------------------------

    async def authorize(self, provider: OAuthProvider) -> dict:
        """The URL to open, with a fresh state (and PKCE challenge) remembered for STATE_TTL_S."""
        state = secrets.token_urlsafe(24)
        params = {"response_type": "code", "client_id": provider.client_id}
        if provider.redirect_uri:
            params[provider.redirect_param] = provider.redirect_uri
        if provider.scopes:
            params["scope"] = " ".join(provider.scopes)
        remembered = {"provider": provider.id, "createdAt": time.time()}
        verifier = None
        if provider.pkce:
            verifier, challenge = pkce_pair()
            params.update(code_challenge=challenge, code_challenge_method="S256")
            remembered["verifier"] = verifier
        params.update(provider.authorize_params)
        params["state"] = state
        await self._state.set(f"oauth:state:{state}", orjson.dumps(remembered).decode(), ttl=STATE_TTL_S)
        out = {"authUrl": f"{provider.endpoint('authorize')}?{urlencode(params)}", "state": state,
               "redirectUri": provider.redirect_uri, "flow": provider.flow, "expiresIn": int(STATE_TTL_S)}
        if verifier:
            out["codeVerifier"] = verifier
        return out

    async def exchange(self, provider: OAuthProvider, code: str, state: str | None) -> Grant:
        """Trade an authorization code for tokens; the state must be one this gateway issued."""
        code, state = split_code(code, state)
        if not code:
            raise OAuthRejected("'code' is empty")
        if not state:
            raise OAuthRejected("'state' is required (the one returned by authorize)")
        key = f"oauth:state:{state}"
        raw = await self._state.get(key)
        if raw is None:
            raise OAuthRejected("unknown or expired 'state'; start the sign-in again with authorize")
        await self._state.delete(key)  # one use only
        remembered = orjson.loads(raw)
        if remembered.get("provider") != provider.id:
            raise OAuthRejected(f"this 'state' was issued for provider '{remembered.get('provider')}'")
        fields = {"grant_type": "authorization_code", "code": code}
        if provider.redirect_uri:
            fields["redirect_uri"] = provider.redirect_uri
        if remembered.get("verifier"):
            fields["code_verifier"] = remembered["verifier"]
        if provider.token_format == "json":
            fields["state"] = state
        answer = await self._token_request(provider, fields)
        return await self._complete(provider, answer)

    # ---- device flows ----------------------------------------------------------------------

    async def device_code(self, provider: OAuthProvider) -> dict:
        """Start a device sign-in; the device code is remembered with what polling will need."""
        remembered: dict = {"provider": provider.id}
        if provider.flow == AWS_DEVICE:
            status, client = await self._call("POST", provider.endpoint("register"), json={
                "clientName": provider.extra.get("clientName", "omniroute"), "clientType": "public",
                "scopes": list(provider.scopes),
                "grantTypes": [DEVICE_GRANT, "refresh_token"]})
            if status >= 300 or not client.get("clientId"):
                raise _start_error(provider, client, status)
            remembered.update(clientId=client["clientId"], clientSecret=client.get("clientSecret"))
            status, answer = await self._call("POST", provider.endpoint("device"), json={
                "clientId": client["clientId"], "clientSecret": client.get("clientSecret"),
                "startUrl": provider.extra.get("startUrl")})
        else:
            fields = {"client_id": provider.client_id}
            if provider.scopes:
                fields["scope"] = " ".join(provider.scopes)
            if provider.pkce:
                verifier, challenge = pkce_pair()
                fields.update(code_challenge=challenge, code_challenge_method="S256")
                remembered["verifier"] = verifier
            status, answer = await self._call("POST", provider.endpoint("device"), form=fields)
        device = answer.get("device_code") or answer.get("deviceCode")
        if status >= 300 or not device:
            raise _start_error(provider, answer, status)
        expires_in = int(answer.get("expires_in") or answer.get("expiresIn") or 900)
        interval = int(answer.get("interval") or 5)
        remembered["interval"] = interval
        await self._state.set(f"oauth:device:{provider.id}:{device}", orjson.dumps(remembered).decode(),
                              ttl=expires_in)
        out = {"userCode": answer.get("user_code") or answer.get("userCode"),
               "verificationUri": answer.get("verification_uri") or answer.get("verificationUri"),
               "deviceCode": device, "interval": interval, "expiresIn": expires_in, "flow": provider.flow}
        complete = answer.get("verification_uri_complete") or answer.get("verificationUriComplete")
        if complete:
            out["verificationUriComplete"] = complete
        return out

    async def poll(self, provider: OAuthProvider, device_code: str) -> Grant:
        """Poll once. Raises DevicePending while the user has not finished, OAuthRejected when the
        code expired or the user refused."""
        key = f"oauth:device:{provider.id}:{device_code}"
        raw = await self._state.get(key)
        if raw is None:
            raise OAuthRejected("unknown or expired 'deviceCode'; start again with device-code", status=410)
        remembered = orjson.loads(raw)
        if provider.flow == AWS_DEVICE:
            fields = {"grantType": DEVICE_GRANT, "deviceCode": device_code}
        else:
            fields = {"grant_type": DEVICE_GRANT, "device_code": device_code}
            if remembered.get("verifier"):
                fields["code_verifier"] = remembered["verifier"]
        try:
            answer = await self._token_request(provider, fields, remembered)
        except _DeviceAnswer as answer_err:
            interval = int(remembered.get("interval") or 5)
            if answer_err.code == "slow_down":
                interval += 5
                remembered["interval"] = interval
                ttl = await self._state.ttl(key)
                await self._state.set(key, orjson.dumps(remembered).decode(), ttl=ttl)
                raise DevicePending("polling too fast; wait longer between polls", slow_down=True,
                                    interval=interval) from None
            if answer_err.code == "authorization_pending":
                raise DevicePending("waiting for the user to finish signing in", interval=interval) from None
            await self._state.delete(key)
            if answer_err.code == "expired_token":
                raise OAuthRejected("the device code expired before sign-in finished; start again",
                                    status=410) from None
            if answer_err.code == "access_denied":
                raise OAuthRejected("the user refused the sign-in", status=403) from None
            raise OAuthRejected(answer_err.message) from None
        await self._state.delete(key)
        secret = {k: remembered[k] for k in ("clientId", "clientSecret") if remembered.get(k)}
        return await self._complete(provider, answer, secret)

    # ---- refresh ---------------------------------------------------------------------------

    async def refresh(self, provider: OAuthProvider, secret: dict, data: dict | None = None) -> Grant:
        """New credentials from the stored ones. OAuthRejected means the user must sign in again."""
        github_valid = (secret.get("expiresAt") or float("inf")) > time.time() + 60
        if provider.api_token == "copilot" and (github_valid or not secret.get("refreshToken")):
            # While the GitHub token is good, only the short-lived Copilot token is renewed.
            grant = Grant(secret={k: v for k, v in secret.items() if not k.startswith("apiToken")},
                          data=dict(data or {}))
            await self._copilot_token(provider, grant)
            return grant
        refresh_token = secret.get("refreshToken")
        if not refresh_token:
            raise OAuthRejected(f"{provider.name} gave no refresh token; sign in again")
        if provider.token_format == "aws":
            fields = {"grantType": "refresh_token", "refreshToken": refresh_token}
        else:
            fields = {"grant_type": "refresh_token", "refresh_token": refresh_token}
            if provider.refresh_scope:
                fields["scope"] = provider.refresh_scope
        try:
            answer = await self._token_request(provider, fields, secret)
        except _DeviceAnswer as exc:  # a device-style error code on a refresh is a refusal too
            raise OAuthRejected(exc.message) from None
        keep = {k: secret[k] for k in ("clientId", "clientSecret", "refreshToken") if secret.get(k)}
        return await self._complete(provider, answer, keep, dict(data or {}), refreshing=True)

    # ---- after the token endpoint ----------------------------------------------------------

    async def _complete(self, provider: OAuthProvider, answer: dict, keep: dict | None = None,
                        data: dict | None = None, *, refreshing: bool = False) -> Grant:
        access = answer.get("access_token") or answer.get("accessToken")
        if not access:
            raise OAuthRejected(f"{provider.name} token endpoint answered without an access token")
        secret = {**(keep or {}), "accessToken": access}
        refresh = answer.get("refresh_token") or answer.get("refreshToken")
        if refresh:
            secret["refreshToken"] = refresh
        if answer.get("id_token"):
            secret["idToken"] = answer["id_token"]
        expires_in = answer.get("expires_in") or answer.get("expiresIn")
        expires_at = time.time() + float(expires_in) if expires_in else None
        if expires_at:
            secret["expiresAt"] = expires_at
        grant = Grant(secret=secret, expires_at=expires_at, data=data or {})
        self._account_info(provider, answer, grant)
        if provider.api_token == "copilot":
            await self._copilot_token(provider, grant)
        elif provider.api_token == "iflow-api-key":
            await self._iflow_key(provider, grant)
        if provider.account_info == "google-project" and not (refreshing and grant.data.get("projectId")):
            await self._google_project(provider, grant)
        return grant

    def _account_info(self, provider: OAuthProvider, answer: dict, grant: Grant) -> None:
        data = grant.data
        if answer.get("resource_url"):  # Qwen: the API host of this account
            data["resourceUrl"] = answer["resource_url"]
        account = answer.get("account")
        if isinstance(account, dict):  # Claude: the account and organization of the subscription
            data["accountId"] = account.get("uuid") or data.get("accountId")
            data["email"] = account.get("email_address") or data.get("email")
        organization = answer.get("organization")
        if isinstance(organization, dict) and organization.get("uuid"):
            data["organizationId"] = organization["uuid"]
        claims = _jwt_claims(answer.get("id_token"))
        if claims:
            auth = claims.get("https://api.openai.com/auth") or {}
            data["email"] = claims.get("email") or data.get("email")
            if isinstance(auth, dict) and auth.get("chatgpt_account_id"):
                data["accountId"] = auth["chatgpt_account_id"]
                data["plan"] = auth.get("chatgpt_plan_type") or data.get("plan")
        if provider.extra.get("region"):
            data["region"] = provider.extra["region"]
        grant.data = {k: v for k, v in data.items() if v is not None}

    async def _copilot_token(self, provider: OAuthProvider, grant: Grant) -> None:
        status, answer = await self._call("GET", provider.endpoint("apiToken"), headers={
            "Authorization": f"token {grant.secret['accessToken']}"})
        if status in _REJECTED:
            raise OAuthRejected(f"GitHub refused the Copilot token: {_describe(answer, status)}")
        if status >= 300 or not answer.get("token"):
            raise OAuthUnavailable(f"Copilot token endpoint answered {_describe(answer, status)}")
        grant.secret["apiToken"] = answer["token"]
        expires = answer.get("expires_at")
        grant.expires_at = float(expires) if expires else time.time() + float(answer.get("refresh_in") or 1500)
        grant.secret["apiTokenExpiresAt"] = grant.expires_at
        endpoints = answer.get("endpoints")
        if isinstance(endpoints, dict) and endpoints.get("api"):
            grant.data["apiBase"] = endpoints["api"]

    async def _iflow_key(self, provider: OAuthProvider, grant: Grant) -> None:
        status, answer = await self._call("GET", provider.endpoint("userInfo"),
                                          params={"accessToken": grant.secret["accessToken"]})
        info = answer.get("data") if isinstance(answer.get("data"), dict) else {}
        if status in _REJECTED:
            raise OAuthRejected(f"iFlow refused the access token: {_describe(answer, status)}")
        if status >= 300 or not info.get("apiKey"):
            raise OAuthUnavailable(f"iFlow user info answered {_describe(answer, status)} without an API key")
        grant.secret["apiToken"] = info["apiKey"]
        if info.get("email") or info.get("phone"):
            grant.data["email"] = info.get("email") or info.get("phone")

    async def _google_project(self, provider: OAuthProvider, grant: Grant) -> None:
        """The Code Assist project of the account; sign-in succeeds without it (set it later)."""
        try:
            status, answer = await self._call(
                "POST", provider.endpoint("project"),
                headers={"Authorization": f"Bearer {grant.secret['accessToken']}"},
                json={"metadata": {"ideType": "IDE_UNSPECIFIED", "platform": "PLATFORM_UNSPECIFIED",
                                   "pluginType": "GEMINI"}})
        except OAuthUnavailable:
            return
        project = answer.get("cloudaicompanionProject") if status < 300 else None
        if isinstance(project, dict):
            project = project.get("id")
        if project:
            grant.data["projectId"] = project


class _DeviceAnswer(OAuthRejected):
    """A token-endpoint error code a poll gives meaning to."""

    def __init__(self, message: str, code: str):
        super().__init__(message)
        self.code = code


_DEVICE_CODES = {"authorization_pending", "slow_down", "expired_token", "access_denied"}


def _grant_error(provider: OAuthProvider, answer: dict, status: int) -> OAuthRejected:
    code = _error_code(answer)
    message = f"{provider.name} refused the grant: {_describe(answer, status)}"
    if code in _DEVICE_CODES:
        return _DeviceAnswer(message, code)
    return OAuthRejected(message)


def _start_error(provider: OAuthProvider, answer: dict, status: int) -> OAuthError:
    message = f"{provider.name} refused to start the device sign-in: {_describe(answer, status)}"
    return OAuthUnavailable(message) if status >= 500 or status == 429 else OAuthRejected(message)
