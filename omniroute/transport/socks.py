"""SOCKS4/5 connectors for upstream sessions (aiohttp-socks), imported only when a SOCKS proxy is in use."""

from __future__ import annotations

from urllib.parse import unquote, urlsplit

import aiohttp
from aiohttp_socks import ProxyConnectionError as SocksConnectionError
from aiohttp_socks import ProxyConnector, ProxyType
from aiohttp_socks import ProxyError as SocksError
from aiohttp_socks import ProxyTimeoutError as SocksTimeout


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


def socks_connector(proxy: str, options: dict) -> aiohttp.BaseConnector:
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
