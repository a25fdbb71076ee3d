"""The aiohttp ClientSessions of upstream calls: the shared direct one, and one per outbound proxy."""

from __future__ import annotations

import aiohttp

from omniroute.settings import Settings


def create_session(settings: Settings | None, proxy: str | None = None) -> aiohttp.ClientSession:
    """A pooled keep-alive session with explicit limits and timeouts, direct or through ``proxy``
    (an http, https, socks4(a) or socks5(h) URL already checked by transport.proxy)."""
    settings = settings or Settings()
    options = {
        "limit": settings.upstream_pool_size,
        "limit_per_host": 0,
        "ttl_dns_cache": 300,
        "keepalive_timeout": 30,
        "enable_cleanup_closed": True,
    }
    session_proxy = None
    if proxy is not None and proxy.startswith("socks"):
        connector: aiohttp.BaseConnector = _socks_connector(proxy, options)
    else:
        connector = aiohttp.TCPConnector(**options)
        session_proxy = proxy  # aiohttp forwards plain-http calls and tunnels https ones with CONNECT
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
        proxy=session_proxy,
    )


def _socks_connector(proxy: str, options: dict) -> aiohttp.BaseConnector:
    from omniroute.transport.socks import (
        socks_connector,  # aiohttp-socks loads only when a SOCKS proxy is used
    )

    return socks_connector(proxy, options)
