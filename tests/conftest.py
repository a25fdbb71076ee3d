"""Fixtures: the fake upstream, gateways on loopback, a fresh PostgreSQL database."""

from __future__ import annotations

import asyncio
import os
import uuid

import pytest

from tests.fakes.openai_upstream import FakeOpenAI
from tests.support import Gateway, require_service

PG_HOST, PG_PORT = "127.0.0.1", 5432
REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379


@pytest.fixture(scope="session")
def fake_upstream():
    fake = FakeOpenAI().start()
    yield fake
    fake.stop()


@pytest.fixture
def upstream(fake_upstream):
    """The shared fake OpenAI upstream, cleared of recordings and faults for this test."""
    fake_upstream.clear()
    fake_upstream.latency_ms = 0
    fake_upstream.chunk_delay_ms = 0
    fake_upstream.valid_keys = None
    fake_upstream.send_done = True
    fake_upstream.send_usage = True
    yield fake_upstream
    fake_upstream.send_usage = True
    fake_upstream.clear()


@pytest.fixture(scope="session")
def fake_anthropic_upstream():
    from tests.fakes.anthropic_upstream import FakeAnthropic

    fake = FakeAnthropic().start()
    yield fake
    fake.stop()


@pytest.fixture
def anthropic_upstream(fake_anthropic_upstream):
    """The shared fake Anthropic upstream, cleared for this test."""
    fake = fake_anthropic_upstream
    fake.clear()
    fake.latency_ms = 0
    fake.chunk_delay_ms = 0
    fake.valid_keys = None
    fake.send_done = True
    yield fake
    fake.clear()


@pytest.fixture(scope="session")
def gateway(tmp_path_factory):
    """One gateway for the session (SQLite, keys not required)."""
    gw = Gateway(tmp_path_factory.mktemp("gw")).start()
    yield gw
    gw.stop()


@pytest.fixture
def make_gateway(tmp_path):
    """Start gateways with their own environment; all are stopped after the test."""
    started: list[Gateway] = []

    def make(env: dict[str, str] | None = None, data_dir=None) -> Gateway:
        gw = Gateway(data_dir or tmp_path / f"gw{len(started)}", env).start()
        started.append(gw)
        return gw

    yield make
    for gw in started:
        gw.stop()


@pytest.fixture
def admin(gateway):
    client = gateway.admin()
    # The gateway is shared by the session: one test's upstream faults must not leave a breaker
    # open, a connection cooling down or a model locked out for the next.
    assert client.post("/api/resilience/reset").status_code == 200
    yield client
    client.close()


def _pg(statement: str) -> None:
    import asyncpg

    async def run():
        conn = await asyncpg.connect(host=PG_HOST, port=PG_PORT, user=os.environ.get("PGUSER", "postgres"),
                                     database="postgres")
        try:
            await conn.execute(statement)
        finally:
            await conn.close()

    asyncio.run(run())


@pytest.fixture
def pg_url():
    """A fresh, empty PostgreSQL database for one test, dropped afterwards."""
    require_service("PostgreSQL", PG_HOST, PG_PORT)
    name = f"omniroute_test_{uuid.uuid4().hex[:12]}"
    _pg(f'CREATE DATABASE "{name}"')
    user = os.environ.get("PGUSER", "postgres")
    yield f"postgresql://{user}@{PG_HOST}:{PG_PORT}/{name}"
    _pg(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def redis_url():
    """The local Redis (database 0); tests keep to key prefixes of their own."""
    require_service("Redis", REDIS_HOST, REDIS_PORT)
    return f"redis://{REDIS_HOST}:{REDIS_PORT}/0"
