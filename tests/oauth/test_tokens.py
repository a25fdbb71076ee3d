"""TokenManager: refresh ahead of expiry, single-flight, 401 handling, rejected refresh tokens;
and the pipeline's use of it (bearer on every call, one retry after a 401, expired accounts skipped)."""

from __future__ import annotations

import asyncio
import time

import pytest

from omniroute.errors import NoAccountAvailable
from omniroute.oauth import SignInExpired, connection_values
from omniroute.pipeline import ChatPipeline, Exchange
from omniroute.providers.registry import ProviderRegistry
from omniroute.routing.accounts import AccountPool
from omniroute.store.repos import UsageRepo
from omniroute.usage.recorder import UsageRecorder
from tests.fakes.openai_upstream import FakeOpenAI
from tests.oauth.test_flows import _sign_in

CHAT = {"model": "qwen/qwen3-coder-plus", "messages": [{"role": "user", "content": "hi"}]}


async def _connection(kit, pid="qwen", **fields):
    grant = await _sign_in(kit, pid)
    row = await kit.repo.create({"provider": pid, "name": f"{pid}-account", **connection_values(kit.box, grant),
                                 **fields})
    rows = await kit.reload()
    pool = AccountPool(ProviderRegistry(), kit.box, kit.state)
    pool.load(rows)
    return pool.get(row["id"]), grant


async def test_fresh_tokens_are_served_from_memory(kit):
    account, grant = await _connection(kit)
    calls = kit.fake.token_calls["qwen"]
    assert await kit.tokens.access_token(account) == grant.bearer
    assert kit.fake.token_calls["qwen"] == calls and kit.tokens.refreshes == 0


async def test_executors_get_the_account_ids_under_their_names(kit):
    account, _ = await _connection(kit, "gemini-cli")
    assert kit.tokens.executor_account(account)["project_id"] == "project-gemini-cli"
    account, _ = await _connection(kit, "codex")
    assert kit.tokens.executor_account(account)["account_id"] == "acct-codex"


async def test_refresh_ahead_of_expiry_is_stored(kit):
    kit.fake.expires_in = 200  # inside the 5-minute margin from the start
    account, grant = await _connection(kit)
    kit.fake.expires_in = 3600
    token = await kit.tokens.access_token(account)
    assert token != grant.bearer and kit.fake.refreshes["qwen"] == 1
    row = await kit.repo.get(account.id)
    assert row["tokenExpiresAt"] > time.time() + 3000
    assert kit.box.decrypt_json(row["oauthEnc"])["accessToken"] == token
    assert token not in str(row["providerData"]) and row["oauthEnc"].startswith("enc:v1:")
    assert await kit.tokens.access_token(account) == token and kit.fake.refreshes["qwen"] == 1


@pytest.mark.parametrize("pid", ["qwen", "github-copilot", "kiro", "claude-code"])
async def test_twenty_waiting_requests_cause_one_refresh(kit, pid):
    kit.fake.expires_in = kit.fake.api_token_expires_in = 60
    account, grant = await _connection(kit, pid)
    kit.fake.expires_in = kit.fake.api_token_expires_in = 3600
    kit.fake.refresh_delay_ms = 100
    before = kit.fake.refreshes[pid]
    tokens = await asyncio.gather(*(kit.tokens.access_token(account) for _ in range(20)))
    assert len(set(tokens)) == 1 and tokens[0] != grant.bearer
    assert kit.fake.refreshes[pid] - before == 1


async def test_unauthorized_forces_one_refresh(kit):
    account, grant = await _connection(kit)
    kit.fake.refresh_delay_ms = 50
    results = await asyncio.gather(*(kit.tokens.on_unauthorized(account, f"Bearer {grant.bearer}")
                                     for _ in range(10)))
    assert all(results) and kit.fake.refreshes["qwen"] == 1
    # A late 401 carrying the old token does not refresh again.
    assert await kit.tokens.on_unauthorized(account, grant.bearer) is True
    assert kit.fake.refreshes["qwen"] == 1


async def test_rejected_refresh_marks_the_account_expired(kit):
    kit.fake.expires_in = 10
    account, grant = await _connection(kit)
    kit.fake.revoke(grant.secret["refreshToken"])
    with pytest.raises(SignInExpired, match="refresh token rejected"):
        await kit.tokens.access_token(account)
    row = await kit.repo.get(account.id)
    assert row["status"] == "expired" and "invalid_grant" in row["lastError"]
    calls = kit.fake.token_calls["qwen"]
    with pytest.raises(SignInExpired):
        await kit.tokens.access_token(account)
    assert kit.fake.token_calls["qwen"] == calls, "an expired account is not refreshed again"
    with pytest.raises(NoAccountAvailable, match="sign-in expired.*invalid_grant"):
        kit.tokens.usable("qwen", [account])
    await kit.reload()  # the state survives a configuration reload
    assert kit.tokens.usable("qwen", []) == [] and await kit.tokens.on_unauthorized(account) is False


async def test_a_transient_failure_keeps_a_still_valid_token(kit):
    kit.fake.expires_in = 120
    account, grant = await _connection(kit)
    kit.fake.fail_refresh_status = 503
    assert await kit.tokens.access_token(account) == grant.bearer
    assert (await kit.repo.get(account.id))["status"] == "active"


# ---- the pipeline --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def chat_upstream():
    fake = FakeOpenAI().start()
    yield fake
    fake.stop()


async def _pipeline(kit, upstream, n=1):
    registry = ProviderRegistry()
    made = [await _connection(kit, baseUrl=upstream.base_url, priority=i) for i in range(n)]
    pool = AccountPool(registry, kit.box, kit.state)
    pool.load(await kit.repo.list())
    pipeline = ChatPipeline(registry=registry, pool=pool, session=kit.session, recorder=UsageRecorder(UsageRepo(None)))  # queues, never started
    pipeline.tokens = kit.tokens
    return pipeline, made


async def test_pipeline_sends_the_token_and_retries_once_after_a_401(kit, chat_upstream):
    chat_upstream.clear()
    pipeline, [(account, grant)] = await _pipeline(kit, chat_upstream)
    answer = await pipeline.run(Exchange(body=dict(CHAT), api_key=None))
    assert answer.status == 200 and chat_upstream.requests[-1].api_key == grant.bearer

    chat_upstream.fail_for_key(grant.bearer, 401)  # the upstream stopped taking the old token
    answer = await pipeline.run(Exchange(body=dict(CHAT), api_key=None))
    assert answer.status == 200
    assert kit.fake.refreshes["qwen"] == 1
    keys = [r.api_key for r in chat_upstream.requests[-2:]]
    assert keys[0] == grant.bearer and keys[1] != grant.bearer and keys[1] in kit.fake.valid_access("qwen")


async def test_pipeline_skips_an_expired_account_and_names_the_reason(kit, chat_upstream):
    chat_upstream.clear()
    kit.fake.expires_in = 10
    pipeline, [(first, grant), (second, _)] = await _pipeline(kit, chat_upstream, n=2)
    kit.fake.revoke(grant.secret["refreshToken"])
    kit.fake.expires_in = 3600
    # Refreshing the second works; the first is rejected and skipped from then on.
    answer = await pipeline.run(Exchange(body=dict(CHAT), api_key=None))
    assert answer.status == 200
    assert (await kit.repo.get(first.id))["status"] == "expired"
    ex = Exchange(body=dict(CHAT), api_key=None)
    await pipeline.run(ex)
    assert ex.account.id == second.id and ex.attempts == 1
    await kit.repo.update(second.id, {"status": "expired", "lastError": "refresh token rejected: revoked"})
    await kit.reload()
    with pytest.raises(NoAccountAvailable, match="sign-in expired.*revoked") as err:
        await pipeline.run(Exchange(body=dict(CHAT), api_key=None))
    assert err.value.code == "oauth_expired"
