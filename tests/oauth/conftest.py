"""In-process sign-in machinery pointed at the fake OAuth server."""

from __future__ import annotations

import aiohttp
import pytest

from omniroute.auth.secrets import SecretBox
from omniroute.oauth import OAuthFlows, OAuthProviders, TokenManager
from omniroute.settings import normalize_database_url
from omniroute.state import MemoryState
from omniroute.store.engine import create_engine, migrate
from omniroute.store.repos import ConnectionsRepo
from tests.fakes.oauth_server import FakeOAuthServer


@pytest.fixture(scope="session")
def fake_oauth_server():
    fake = FakeOAuthServer().start()
    yield fake
    fake.stop()


@pytest.fixture
def oauth_fake(fake_oauth_server):
    fake = fake_oauth_server
    fake.expires_in, fake.rotate_refresh, fake.refresh_delay_ms = 3600, True, 0
    fake.fail_refresh_status, fake.send_resource_url = None, None
    fake.refreshes.clear()
    fake.revoked.clear()
    yield fake


class Kit:
    """Flows, token manager and repository wired like Services wires them."""

    def __init__(self, fake: FakeOAuthServer, repo: ConnectionsRepo, session: aiohttp.ClientSession):
        self.fake = fake
        self.repo = repo
        self.session = session
        self.state = MemoryState()
        self.box = SecretBox("test-key")
        self.providers = OAuthProviders(fake.endpoints_env())
        self.flows = OAuthFlows(self.state, lambda: session)
        self.tokens = TokenManager(repo, self.box, self.state, self.flows, self.providers)

    async def reload(self) -> list[dict]:
        rows = await self.repo.list()
        self.tokens.load(rows)
        return rows


@pytest.fixture
async def kit(oauth_fake, tmp_path):
    engine = create_engine(normalize_database_url(f"sqlite:///{tmp_path / 'oauth.sqlite'}"))
    await migrate(engine)
    session = aiohttp.ClientSession()
    try:
        yield Kit(oauth_fake, ConnectionsRepo(engine), session)
    finally:
        await session.close()
        await engine.dispose()
