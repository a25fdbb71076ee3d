"""The one shared aiohttp ClientSession for every upstream call."""

from __future__ import annotations

import aiohttp

from omniroute.settings import Settings


def create_session(settings: Settings) -> aiohttp.ClientSession:
    """A pooled keep-alive session with explicit limits and timeouts."""
    connector = aiohttp.TCPConnector(
        limit=settings.upstream_pool_size,
        limit_per_host=0,
        ttl_dns_cache=300,
        keepalive_timeout=30,
        enable_cleanup_closed=True,
    )
    timeout = aiohttp.ClientTimeout(
        total=None,
        connect=settings.upstream_connect_timeout_s,
        sock_read=settings.upstream_read_timeout_s,
    )
    return aiohttp.ClientSession(
        connector=connector,
        timeout=timeout,
        auto_decompress=True,
        skip_auto_headers=("User-Agent",),
        raise_for_status=False,
    )
