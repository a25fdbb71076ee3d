"""Subscription accounts end to end: sign in against the fake OAuth server, then chat through the
provider's executor to a fake of its upstream (Claude Code, Codex backend, Cloud Code Assist)."""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

import httpx
import openai
import pytest

from tests.fakes.anthropic_upstream import FakeAnthropic
from tests.fakes.cloudcode_upstream import FakeCloudCode
from tests.fakes.codex_upstream import FakeCodex
from tests.fakes.oauth_server import FakeOAuthServer


@pytest.fixture(scope="module")
def oauth():
    fake = FakeOAuthServer().start()
    yield fake
    fake.stop()


@pytest.fixture(scope="module")
def gw(oauth, tmp_path_factory):
    from tests.support import Gateway

    gateway = Gateway(tmp_path_factory.mktemp("subs-gw"), oauth.endpoints_env()).start()
    yield gateway
    gateway.stop()


@pytest.fixture
def api(gw):
    client = gw.admin()
    yield client
    for conn in client.get("/api/providers").json()["connections"]:
        client.delete(f"/api/providers/{conn['id']}")
    client.close()


def _sign_in(api, pid: str, base_url: str) -> dict:
    started = api.get(f"/api/oauth/{pid}/authorize").json()
    location = httpx.get(started["authUrl"], follow_redirects=False).headers["location"]
    code = parse_qs(urlparse(location).query)["code"][0]
    resp = api.post(f"/api/oauth/{pid}/exchange", json={"code": code, "state": started["state"], "baseUrl": base_url})
    assert resp.status_code in (200, 201), resp.text
    return resp.json()


def _client(gw) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.url + "/v1", api_key="sk-local", max_retries=0)


def test_claude_code_subscription(gw, api, oauth):
    with FakeAnthropic() as upstream:
        _sign_in(api, "claude-code", upstream.base_url)
        for stream in (False, True):
            if stream:
                text = "".join(c.choices[0].delta.content or "" for c in _client(gw).chat.completions.create(
                    model="cc/claude-sonnet-4-5", stream=True, messages=[{"role": "user", "content": "hello there"}])
                    if c.choices)
            else:
                text = _client(gw).chat.completions.create(
                    model="cc/claude-sonnet-4-5", messages=[{"role": "system", "content": "Be brief."},
                                                            {"role": "user", "content": "hello there"}],
                ).choices[0].message.content
            assert text == "echo: hello there"
        sent = upstream.requests[0]
        assert sent.headers["authorization"].removeprefix("Bearer ") in oauth.valid_access("claude-code")
        assert "x-api-key" not in sent.headers
        assert "oauth-2025-04-20" in sent.headers["anthropic-beta"]
        system = sent.body["system"]
        assert "Claude Code" in system[0]["text"] and any("Be brief." in b["text"] for b in system)


def test_codex_subscription_serves_a_whole_answer_from_a_stream(gw, api, oauth):
    with FakeCodex() as upstream:
        _sign_in(api, "codex", upstream.base_url)
        answer = _client(gw).chat.completions.create(
            model="cx/gpt-5-codex", messages=[{"role": "user", "content": "hello there"}])
        assert answer.choices[0].message.content == "echo: hello there"
        sent = upstream.requests[-1]
        assert sent.headers["chatgpt-account-id"] == "acct-codex"
        assert sent.body["stream"] is True and sent.body["store"] is False and sent.body["instructions"]
        streamed = "".join(c.choices[0].delta.content or "" for c in _client(gw).chat.completions.create(
            model="cx/gpt-5-codex", stream=True, messages=[{"role": "user", "content": "one two"}]) if c.choices)
        assert streamed == "echo: one two"


def test_gemini_cli_subscription_speaks_the_cloud_code_envelope(gw, api, oauth):
    with FakeCloudCode() as upstream:
        _sign_in(api, "gemini-cli", upstream.url + "/v1internal")
        for stream in (False, True):
            client = _client(gw)
            messages = [{"role": "user", "content": "hello there"}]
            if stream:
                text = "".join(c.choices[0].delta.content or "" for c in client.chat.completions.create(
                    model="gc/gemini-2.5-pro", stream=True, messages=messages) if c.choices)
            else:
                text = client.chat.completions.create(model="gc/gemini-2.5-pro", messages=messages
                                                      ).choices[0].message.content
            assert text == "echo: hello there"
        sent = upstream.requests[-1]
        assert sent.body["model"] == "gemini-2.5-pro" and "contents" in sent.body["request"]
        assert sent.headers["authorization"].removeprefix("Bearer ") in oauth.valid_access("gemini-cli")


def _device_sign_in(api, oauth, pid: str, base_url: str) -> dict:
    started = api.post(f"/api/oauth/{pid}/device-code").json()
    oauth.approve(started["userCode"])
    resp = api.post(f"/api/oauth/{pid}/poll", json={"deviceCode": started["deviceCode"], "baseUrl": base_url})
    assert resp.status_code in (200, 201), resp.text
    return resp.json()


def _chat(gw, model: str) -> str:
    return _client(gw).chat.completions.create(
        model=model, messages=[{"role": "user", "content": "hello there"}]).choices[0].message.content


def test_github_copilot_subscription(gw, api, oauth):
    from tests.fakes.openai_upstream import FakeOpenAI

    with FakeOpenAI() as upstream:
        _device_sign_in(api, oauth, "github-copilot", upstream.base_url)
        assert _chat(gw, "gh/gpt-4o") == "echo: hello there"
        sent = upstream.requests[-1]
        assert sent.path == "/v1/chat/completions"
        assert sent.headers["authorization"].removeprefix("Bearer ") in oauth.valid_access("github-copilot")
        assert sent.headers["copilot-integration-id"] and sent.headers["editor-version"]


def test_antigravity_subscription(gw, api, oauth):
    with FakeCloudCode() as upstream:
        _sign_in(api, "antigravity", upstream.url + "/v1internal")
        assert _chat(gw, "ag/gemini-2.5-pro") == "echo: hello there"
        assert upstream.requests[-1].body["request"]["contents"]


def test_iflow_subscription(gw, api, oauth):
    from tests.fakes.openai_upstream import FakeOpenAI

    with FakeOpenAI() as upstream:
        _sign_in(api, "iflow", upstream.base_url)
        assert _chat(gw, "if/qwen3-coder-plus") == "echo: hello there"
        sent = upstream.requests[-1]
        assert sent.headers["authorization"].removeprefix("Bearer ") in oauth.valid_access("iflow")
        assert sent.headers["x-iflow-signature"]


def test_kiro_subscription_speaks_the_aws_event_stream(gw, api, oauth):
    from tests.fakes.kiro_upstream import FakeKiro

    with FakeKiro() as upstream:
        _device_sign_in(api, oauth, "kiro", upstream.url)
        assert _chat(gw, "kr/claude-sonnet-4-5") == "echo: hello there"
        streamed = "".join(c.choices[0].delta.content or "" for c in _client(gw).chat.completions.create(
            model="kr/claude-sonnet-4-5", stream=True, messages=[{"role": "user", "content": "one two"}])
            if c.choices)
        assert streamed == "echo: one two"
        sent = upstream.requests[-1]
        assert sent.headers["authorization"].removeprefix("Bearer ") in oauth.valid_access("kiro")
        assert sent.body["conversationState"]["currentMessage"]["userInputMessage"]["content"] == "one two"


def test_a_subscription_costs_nothing_but_keeps_its_tokens(gw, api, oauth):
    """The same model that an API key pays list price for costs 0 on a subscription account; the usage
    row keeps the tokens (and the cache tokens) the upstream reported."""
    key = api.post("/api/keys", json={"name": "sub"}).json()
    with FakeAnthropic() as upstream:
        _sign_in(api, "claude-code", upstream.base_url)
        raw = _client(gw).with_options(api_key=key["key"]).chat.completions.with_raw_response.create(
            model="cc/claude-sonnet-4-5", messages=[{"role": "system", "content": "CACHE this"},
                                                    {"role": "user", "content": "hello there"}])
    assert raw.headers["x-omniroute-response-cost"] == "0"
    from tests.support import usage_rows

    [row] = usage_rows(api, key["id"])
    assert row["cost"] == 0 and row["provider"] == "claude-code"
    assert row["promptTokens"] > 0 and row["completionTokens"] > 0 and row["cachedTokens"] == 100
    price = api.get("/api/pricing").json()["pricing"]["anthropic/claude-sonnet-4-5"]
    assert price["input"] > 0  # the model has a price: only the account kind makes it free
