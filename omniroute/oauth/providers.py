"""The sign-in facts of every subscription provider, as data.

Each row states how the provider's own public tool signs a user in: the flow, its public
client id (and the client secret the tool ships, where it ships one), the endpoints, the
scopes and the redirect URI registered for that client. Any endpoint can be pointed
elsewhere with ``OMNIROUTE_OAUTH_ENDPOINTS`` (a JSON map ``{provider: {endpoint: url}}``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

import orjson

ENDPOINTS_ENV = "OMNIROUTE_OAUTH_ENDPOINTS"

# Flow kinds.
AUTH_CODE_PKCE = "authorization_code_pkce"  # browser sign-in, code pasted or redirected back, S256 PKCE
GOOGLE = "google_oauth"  # Google installed-app flow: code + PKCE + the tool's client secret, offline access
AUTH_CODE = "authorization_code"  # browser sign-in without PKCE (the client authenticates with its secret)
DEVICE = "device_code"  # RFC 8628 device authorization
DEVICE_PKCE = "device_code_pkce"  # device authorization carrying a PKCE challenge
AWS_DEVICE = "aws_sso_device_code"  # AWS SSO OIDC: register a public client, then device authorization

BROWSER_FLOWS = frozenset({AUTH_CODE_PKCE, GOOGLE, AUTH_CODE})
DEVICE_FLOWS = frozenset({DEVICE, DEVICE_PKCE, AWS_DEVICE})

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"


@dataclass(frozen=True)
class OAuthProvider:
    """How one subscription provider signs a user in and keeps the session alive."""

    id: str
    name: str
    flow: str
    client_id: str
    endpoints: Mapping[str, str]
    scopes: tuple[str, ...] = ()
    client_secret: str | None = None
    redirect_uri: str | None = None
    aliases: tuple[str, ...] = ()
    token_format: str = "form"  # form | json | aws (JSON with camelCase fields)
    client_auth: str = "body"  # body | basic (HTTP Basic with id:secret, as well as the body)
    redirect_param: str = "redirect_uri"
    authorize_params: tuple[tuple[str, str], ...] = ()
    refresh_scope: str | None = None  # scope sent with a refresh, where the tool sends one
    api_token: str | None = None  # a second token the API wants: "copilot" | "iflow-api-key"
    account_info: str | None = None  # where the account id comes from: "claude" | "openai-id-token" | "google-project"
    source: str = ""  # the public tool whose sign-in this mirrors
    extra: Mapping[str, str] = field(default_factory=dict)  # other flow facts (AWS start URL, region)

    @property
    def pkce(self) -> bool:
        return self.flow in (AUTH_CODE_PKCE, GOOGLE, DEVICE_PKCE)

    @property
    def uses_browser(self) -> bool:
        return self.flow in BROWSER_FLOWS

    @property
    def uses_device(self) -> bool:
        return self.flow in DEVICE_FLOWS

    def endpoint(self, name: str) -> str:
        url = self.endpoints.get(name)
        if not url:
            raise KeyError(f"provider '{self.id}' has no '{name}' endpoint")
        return url


_GOOGLE_AUTHORIZE = "https://accounts.google.com/o/oauth2/v2/auth"
_GOOGLE_TOKEN = "https://oauth2.googleapis.com/token"
_GOOGLE_SCOPES = (
    "https://www.googleapis.com/auth/cloud-platform",
    "https://www.googleapis.com/auth/userinfo.email",
    "https://www.googleapis.com/auth/userinfo.profile",
)
_CODE_ASSIST = "https://cloudcode-pa.googleapis.com/v1internal:loadCodeAssist"
_AWS_OIDC = "https://oidc.us-east-1.amazonaws.com"

PROVIDERS: tuple[OAuthProvider, ...] = (
    OAuthProvider(
        "claude-code", "Claude Code", AUTH_CODE_PKCE,
        client_id="9d1c250a-e61b-44d9-88ed-5944d1962f5e",
        endpoints={"authorize": "https://claude.ai/oauth/authorize",
                   "token": "https://console.anthropic.com/v1/oauth/token"},
        scopes=("org:create_api_key", "user:profile", "user:inference"),
        redirect_uri="https://console.anthropic.com/oauth/code/callback",
        aliases=("cc",), token_format="json", authorize_params=(("code", "true"),),
        account_info="claude", source="Claude Code CLI (public OAuth client, code shown as code#state)",
    ),
    OAuthProvider(
        "codex", "OpenAI Codex", AUTH_CODE_PKCE,
        client_id="app_EMoamEEZ73f0CkXaXp7hrann",
        endpoints={"authorize": "https://auth.openai.com/oauth/authorize",
                   "token": "https://auth.openai.com/oauth/token"},
        scopes=("openid", "profile", "email", "offline_access"),
        redirect_uri="http://localhost:1455/auth/callback",
        aliases=("cx",),
        authorize_params=(("id_token_add_organizations", "true"), ("codex_cli_simplified_flow", "true")),
        refresh_scope="openid profile email", account_info="openai-id-token",
        source="Codex CLI (auth.openai.com PKCE, loopback callback on port 1455)",
    ),
    OAuthProvider(
        "github-copilot", "GitHub Copilot", DEVICE,
        client_id="Iv1.b507a08c87ecfe98",
        endpoints={"device": "https://github.com/login/device/code",
                   "token": "https://github.com/login/oauth/access_token",
                   "apiToken": "https://api.github.com/copilot_internal/v2/token"},
        scopes=("read:user",), aliases=("gh",), api_token="copilot",
        source="GitHub Copilot editor plugins (GitHub device flow; GitHub token exchanged for a Copilot token)",
    ),
    OAuthProvider(
        "gemini-cli", "Gemini CLI", GOOGLE,
        client_id="681255809395-oo8ft2oprdrnp9e3aqf6av3hmdib135j.apps.googleusercontent.com",
        client_secret="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",
        endpoints={"authorize": _GOOGLE_AUTHORIZE, "token": _GOOGLE_TOKEN, "project": _CODE_ASSIST},
        scopes=_GOOGLE_SCOPES, redirect_uri="http://localhost:8085/oauth2callback", aliases=("gc",),
        authorize_params=(("access_type", "offline"), ("prompt", "consent")),
        account_info="google-project",
        source="Gemini CLI (Google installed-app OAuth client; Code Assist project via loadCodeAssist)",
    ),
    OAuthProvider(
        "antigravity", "Antigravity", GOOGLE,
        client_id="1071006060591-tmhssin2h21lcre235vtolojh4g403ep.apps.googleusercontent.com",
        client_secret="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",
        endpoints={"authorize": _GOOGLE_AUTHORIZE, "token": _GOOGLE_TOKEN, "project": _CODE_ASSIST},
        scopes=(*_GOOGLE_SCOPES, "https://www.googleapis.com/auth/cclog",
                "https://www.googleapis.com/auth/experimentsandconfigs"),
        redirect_uri="http://localhost:51121/oauth-callback", aliases=("ag",),
        authorize_params=(("access_type", "offline"), ("prompt", "consent")),
        account_info="google-project",
        source="Antigravity IDE (Google installed-app OAuth client, Cloud Code endpoints)",
    ),
    OAuthProvider(
        "qwen", "Qwen Code", DEVICE_PKCE,
        client_id="f0304373b74a44d2b584a3fb70ca9e56",
        endpoints={"device": "https://chat.qwen.ai/api/v1/oauth2/device/code",
                   "token": "https://chat.qwen.ai/api/v1/oauth2/token"},
        scopes=("openid", "profile", "email", "model.completion"), aliases=("qw",),
        source="Qwen Code CLI (device flow with PKCE at chat.qwen.ai; answer names the API host in resource_url)",
    ),
    OAuthProvider(
        "iflow", "iFlow", AUTH_CODE,
        client_id="10009311001", client_secret="4Z3YjXycVsQvyGF1etiNlIBB4RsqSDtW",
        endpoints={"authorize": "https://iflow.cn/oauth", "token": "https://iflow.cn/oauth/token",
                   "userInfo": "https://iflow.cn/api/oauth/getUserInfo"},
        redirect_uri="http://localhost:11451/oauth2callback", aliases=("if",), client_auth="basic",
        redirect_param="redirect", authorize_params=(("loginMethod", "phone"), ("type", "phone")),
        api_token="iflow-api-key",
        source="iFlow CLI (authorization code with client secret; the access token buys the API key)",
    ),
    OAuthProvider(
        "kiro", "Kiro", AWS_DEVICE,
        client_id="",  # registered per sign-in with AWS SSO OIDC (a public client)
        endpoints={"register": f"{_AWS_OIDC}/client/register",
                   "device": f"{_AWS_OIDC}/device_authorization",
                   "token": f"{_AWS_OIDC}/token"},
        scopes=("codewhisperer:completions", "codewhisperer:analysis", "codewhisperer:conversations"),
        aliases=("kr",), token_format="aws",
        extra={"startUrl": "https://view.awsapps.com/start", "region": "us-east-1", "clientName": "omniroute"},
        source="Kiro / Amazon Q Developer CLI (AWS Builder ID through SSO OIDC device authorization)",
    ),
)


def _overrides(env: Mapping[str, str]) -> dict[str, dict[str, str]]:
    raw = env.get(ENDPOINTS_ENV)
    if not raw or not raw.strip():
        return {}
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"{ENDPOINTS_ENV} must be a JSON object: {exc}") from None
    if not isinstance(data, dict) or not all(
            isinstance(v, dict) and all(isinstance(u, str) for u in v.values()) for v in data.values()):
        raise ValueError(f'{ENDPOINTS_ENV} must look like {{"provider": {{"token": "https://..."}}}}')
    return data


class OAuthProviders:
    """The table with the operator's endpoint overrides applied; lookup by id or alias."""

    def __init__(self, env: Mapping[str, str] | None = None, providers: tuple[OAuthProvider, ...] = PROVIDERS):
        overrides = _overrides(os.environ if env is None else env)
        self._by_name: dict[str, OAuthProvider] = {}
        self._all: list[OAuthProvider] = []
        for spec in providers:
            over = {**overrides.get(spec.id, {})}
            for alias in spec.aliases:
                over.update(overrides.get(alias, {}))
            if over:
                spec = replace(spec, endpoints={**spec.endpoints, **over})
            self.add(spec)

    def add(self, spec: OAuthProvider) -> None:
        self._all = [p for p in self._all if p.id != spec.id] + [spec]
        for name in (spec.id, *spec.aliases):
            self._by_name[name] = spec

    def get(self, name: str) -> OAuthProvider | None:
        return self._by_name.get(name)

    def __iter__(self):
        return iter(self._all)
