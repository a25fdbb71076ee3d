"""The aiohttp ClientSessions of upstream calls: the shared direct one, and one per outbound proxy."""

from __future__ import annotations

from urllib.parse import unquote, urlsplit

import aiohttp
from aiohttp_socks import ProxyConnectionError as SocksConnectionError
from aiohttp_socks import ProxyConnector, ProxyType
from aiohttp_socks import ProxyError as SocksError
from aiohttp_socks import ProxyTimeoutError as SocksTimeout

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


class SocksConnector(ProxyConnector):
    """SOCKS failures raised as aiohttp's own errors, which every upstream call site handles."""

    async def _wrap_create_connection(self, *args, req, **kwargs):
        try:
            return await super()._wrap_create_connection(*args, req=req, **kwargs)
        except SocksTimeout as exc:
            raise aiohttp.ServerTimeoutError(f"SOCKS proxy timed out: {exc}") from exc
        except (SocksConnectionError, SocksError) as exc:
            raise aiohttp.ClientProxyConnectionError(
                req.connection_key, OSError(0, f"SOCKS proxy: {exc}")) from exc


def _socks_connector(proxy: str, options: dict) -> aiohttp.BaseConnector:
    parts = urlsplit(proxy)
    return SocksConnector(
        proxy_type=ProxyType.SOCKS5 if parts.scheme.startswith("socks5") else ProxyType.SOCKS4,
        host=parts.hostname,
        port=parts.port,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
        rdns=parts.scheme in ("socks5h", "socks4a"),  # resolve host names on the proxy
        **options,
    )
