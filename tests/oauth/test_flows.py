"""Every provider's sign-in flow against the fake OAuth server, in process."""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

import httpx
import pytest

from omniroute.oauth import DevicePending, OAuthProviders, OAuthRejected
from omniroute.oauth.flows import s256, split_code
from omniroute.oauth.providers import ENDPOINTS_ENV, PROVIDERS

BROWSER = [p.id for p in PROVIDERS if p.uses_browser]
DEVICE = [p.id for p in PROVIDERS if p.uses_device]


def test_every_subscription_provider_has_a_flow():
    assert sorted(BROWSER + DEVICE) == sorted(
        ["claude-code", "codex", "github-copilot", "gemini-cli", "antigravity", "qwen", "iflow", "kiro"])
    table = OAuthProviders({})
    for alias, pid in {"cc": "claude-code", "cx": "codex", "gh": "github-copilot", "gc": "gemini-cli",
                       "ag": "antigravity", "qw": "qwen", "if": "iflow", "kr": "kiro"}.items():
        assert table.get(alias).id == pid
    assert table.get("codex").endpoint("token") == "https://auth.openai.com/oauth/token"


def test_endpoints_are_overridable_and_bad_overrides_are_refused():
    table = OAuthProviders({ENDPOINTS_ENV: '{"cx": {"token": "http://127.0.0.1:9/t"}}'})
    assert table.get("codex").endpoint("token") == "http://127.0.0.1:9/t"
    assert table.get("codex").endpoint("authorize") == "https://auth.openai.com/oauth/authorize"
    with pytest.raises(ValueError, match=ENDPOINTS_ENV):
        OAuthProviders({ENDPOINTS_ENV: "not json"})


def test_pasted_codes_are_understood():
    assert split_code("abc#st", None) == ("abc", "st")
    assert split_code("http://localhost:1455/auth/callback?code=c1&state=s1", None) == ("c1", "s1")
    assert split_code(" plain ", "s") == ("plain", "s")


def _follow(auth_url: str) -> tuple[str, str]:
    resp = httpx.get(auth_url, follow_redirects=False)
    assert resp.status_code == 302, resp.text
    query = parse_qs(urlparse(resp.headers["location"]).query)
    return query["code"][0], query["state"][0]


@pytest.mark.parametrize("pid", BROWSER)
async def test_browser_flow(kit, pid):
    provider = kit.providers.get(pid)
    started = await kit.flows.authorize(provider)
    query = parse_qs(urlparse(started["authUrl"]).query)
    assert query["state"] == [started["state"]] and query["client_id"] == [provider.client_id]
    if provider.pkce:
        assert query["code_challenge_method"] == ["S256"]
        assert query["code_challenge"] == [s256(started["codeVerifier"])]
    else:
        assert "code_challenge" not in query
    code, state = _follow(started["authUrl"])
    grant = await kit.flows.exchange(provider, code, state)
    assert grant.bearer and grant.secret["refreshToken"] and grant.expires_at
    if pid == "iflow":
        assert grant.bearer.startswith("sk-iflow-"), "iFlow's API key is what requests carry"
    if pid == "codex":
        assert grant.data["accountId"] == "acct-codex"
    if pid in ("gemini-cli", "antigravity"):
        assert grant.data["projectId"] == f"project-{pid}"
    with pytest.raises(OAuthRejected, match="state"):  # a state is good for one exchange only
        await kit.flows.exchange(provider, code, state)


async def test_pkce_mismatch_is_refused(kit):
    provider = kit.providers.get("claude-code")
    started = await kit.flows.authorize(provider)
    code, state = _follow(started["authUrl"])
    kit.fake.codes[code].challenge = s256("someone-else")
    with pytest.raises(OAuthRejected, match="PKCE"):
        await kit.flows.exchange(provider, f"{code}#{state}", None)


async def test_unknown_state_is_refused(kit):
    with pytest.raises(OAuthRejected, match="unknown or expired 'state'"):
        await kit.flows.exchange(kit.providers.get("codex"), "code", "never-issued")


@pytest.mark.parametrize("pid", DEVICE)
async def test_device_flow(kit, pid):
    provider = kit.providers.get(pid)
    started = await kit.flows.device_code(provider)
    assert started["userCode"] and started["verificationUri"] and started["interval"] >= 1
    with pytest.raises(DevicePending) as pending:
        await kit.flows.poll(provider, started["deviceCode"])
    assert not pending.value.slow_down
    kit.fake.slow_down(started["userCode"])
    with pytest.raises(DevicePending) as slow:
        await kit.flows.poll(provider, started["deviceCode"])
    assert slow.value.slow_down and slow.value.interval == started["interval"] + 5
    kit.fake.approve(started["userCode"])
    grant = await kit.flows.poll(provider, started["deviceCode"])
    assert grant.bearer
    if pid == "github-copilot":
        assert grant.bearer.startswith("cop-") and grant.secret["accessToken"].startswith("at-")
    if pid == "kiro":
        assert grant.secret["clientId"].startswith("aws-client-") and grant.secret["refreshToken"]
    with pytest.raises(OAuthRejected, match="deviceCode"):  # used up
        await kit.flows.poll(provider, started["deviceCode"])


@pytest.mark.parametrize("outcome, match", [("deny", "refused"), ("expire_device", "expired")])
async def test_device_flow_ends_clearly(kit, outcome, match):
    provider = kit.providers.get("qwen")
    started = await kit.flows.device_code(provider)
    getattr(kit.fake, outcome)(started["userCode"])
    with pytest.raises(OAuthRejected, match=match):
        await kit.flows.poll(provider, started["deviceCode"])


async def test_device_pkce_mismatch_is_refused(kit):
    provider = kit.providers.get("qwen")
    started = await kit.flows.device_code(provider)
    kit.fake.devices[started["deviceCode"]].challenge = s256("other")
    kit.fake.approve(started["userCode"])
    with pytest.raises(OAuthRejected, match="PKCE"):
        await kit.flows.poll(provider, started["deviceCode"])


@pytest.mark.parametrize("pid", [p.id for p in PROVIDERS])
async def test_refresh(kit, pid):
    provider = kit.providers.get(pid)
    grant = await _sign_in(kit, pid)
    renewed = await kit.flows.refresh(provider, grant.secret, grant.data)
    assert renewed.bearer and renewed.bearer != grant.bearer or pid == "iflow"
    assert kit.fake.refreshes[pid] >= 1


async def _sign_in(kit, pid):
    provider = kit.providers.get(pid)
    if provider.uses_browser:
        started = await kit.flows.authorize(provider)
        code, state = _follow(started["authUrl"])
        return await kit.flows.exchange(provider, code, state)
    started = await kit.flows.device_code(provider)
    kit.fake.approve(started["userCode"])
    return await kit.flows.poll(provider, started["deviceCode"])
