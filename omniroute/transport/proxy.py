"""Outbound proxies for upstream calls: URL checks, NO_PROXY matching, and one session per proxy.

A proxy is ``{"url", "noProxy"?}``: the global one (the "proxy" setting, when enabled) or a
connection's own, which replaces the global one for that connection's calls. ``noProxy`` lists
hosts reached directly, read the way curl reads NO_PROXY: ``*`` for every host; a name matches
itself and its subdomains (a leading ``.`` or ``*.`` changes nothing); IP addresses and CIDR ranges
match IP hosts; ``host:port`` matches that port only. Loopback is not implied.

``ProxyRouter.session_for`` picks the session of a call: the shared direct one unless a proxy
applies, then one session per proxy URL, built on first use. Sessions of proxies no longer
configured are closed once their requests have finished.
"""

from __future__ import annotations

import asyncio
import contextvars
import ipaddress
import logging
import re
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import aiohttp

from omniroute.transport.session import create_session

log = logging.getLogger("omniroute")

# Scheme → default port. socks5h and socks4a resolve host names on the proxy.
PROXY_SCHEMES = {"http": 80, "https": 443, "socks5": 1080, "socks5h": 1080, "socks4": 1080, "socks4a": 1080}
MASK = "****"
MAX_URL_CHARS = 2048
MAX_NO_PROXY_ENTRIES = 1000
# What POST /api/settings/proxy/test fetches through the proxy when no target is given.
DEFAULT_TEST_TARGET = "https://www.gstatic.com/generate_204"
TEST_TIMEOUT_S = 10.0

# The account a sign-in call (a token refresh) is made for: ProxyRouter.request uses its proxy.
PROXY_ACCOUNT: contextvars.ContextVar = contextvars.ContextVar("omniroute_proxy_account", default=None)

_BAD_CHARS = re.compile(r"[\x00-\x20\x7f]")
_HOST_NAME = re.compile(r"^[a-z0-9_-]+(\.[a-z0-9_-]+)*$")


# ---- proxy URLs -----------------------------------------------------------------------------------


def check_proxy_url(value: str) -> str:
    """The proxy URL normalized (scheme lower-cased, port explicit); ValueError says what is wrong."""
    if len(value) > MAX_URL_CHARS:
        raise ValueError(f"must be at most {MAX_URL_CHARS} characters")
    value = value.strip()
    if _BAD_CHARS.search(value):
        raise ValueError("must not contain spaces or control characters")
    if "://" not in value:
        raise ValueError("must be a URL such as http://host:port or socks5://host:port")
    parts = urlsplit(value)
    scheme = parts.scheme.lower()
    if scheme not in PROXY_SCHEMES:
        raise ValueError(f"unsupported proxy scheme '{parts.scheme}'; use "
                         + ", ".join(PROXY_SCHEMES))
    if not parts.hostname:
        raise ValueError("the proxy URL has no host")
    try:
        port = parts.port
    except ValueError:
        raise ValueError("the proxy port must be a number from 1 to 65535") from None
    if port == 0:
        raise ValueError("the proxy port must be a number from 1 to 65535")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError("a proxy URL has no path, query or fragment")
    userinfo, _, hostport = parts.netloc.rpartition("@")
    if port is None:
        hostport = f"{hostport}:{PROXY_SCHEMES[scheme]}"
    return f"{scheme}://{userinfo + '@' if userinfo else ''}{hostport}"


def mask_url(url: str | None) -> str | None:
    """The URL with its credentials hidden: ``http://user:****@host:port``."""
    if not url:
        return url
    scheme, sep, rest = url.partition("://")
    userinfo, at, hostport = rest.rpartition("@")
    if not at:
        return url
    user, colon, _ = userinfo.partition(":")
    return f"{scheme}{sep}{user}:{MASK}@{hostport}" if colon else f"{scheme}{sep}{MASK}@{hostport}"


def unmask_url(url: str, stored: str | None) -> str:
    """``url`` as sent back by a client that read it masked: the stored credentials restored when
    everything else is unchanged. A masked URL that matches nothing stored is refused."""
    if MASK not in url.rpartition("@")[0]:
        return url
    if stored and mask_url(stored) == mask_url(url) and mask_url(url) == url:
        return stored
    raise ValueError(f"the credentials are masked ('{MASK}'); send the real ones")


def hide_secrets(text: str, url: str | None) -> str:
    """An error message with the proxy's credentials taken out."""
    if url:
        masked = mask_url(url)
        if masked != url:
            text = text.replace(url, masked)
        userinfo = url.partition("://")[2].rpartition("@")[0]
        password = userinfo.partition(":")[2]
        if password:
            text = text.replace(password, MASK)
    return text


# ---- NO_PROXY --------------------------------------------------------------------------------------


def _entries(spec: str | list[str] | None) -> list[str]:
    if spec is None:
        return []
    items = [spec] if isinstance(spec, str) else spec
    out = []
    for item in items:
        if not isinstance(item, str):
            raise ValueError("entries must be strings")
        out.extend(e for e in re.split(r"[,\s]+", item) if e)
    if len(out) > MAX_NO_PROXY_ENTRIES:
        raise ValueError(f"at most {MAX_NO_PROXY_ENTRIES} entries")
    return out


def _split_port(entry: str) -> tuple[str, int | None]:
    """``host:port``, ``[v6]:port``, ``[v6]``, a bare IPv6 address (no port) or a host."""
    host, port = entry, None
    if entry.startswith("["):
        end = entry.find("]")
        if end < 0:
            raise ValueError(f"'{entry}' has an unclosed '['")
        host, rest = entry[1:end], entry[end + 1:]
        if rest:
            if not rest.startswith(":"):
                raise ValueError(f"'{entry}' is not [address]:port")
            port = rest[1:]
    elif entry.count(":") == 1:
        host, port = entry.split(":")
    if port is not None:
        if not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"'{entry}' has a port that is not a number from 1 to 65535")
        return host, int(port)
    return host, None


class NoProxy:
    """The hosts a proxy is bypassed for (see the module's docstring for the rules)."""

    __slots__ = ("every", "names", "ips", "networks")

    def __init__(self, spec: str | list[str] | None):
        self.every = False
        self.names: list[tuple[str, int | None]] = []
        self.ips: list[tuple[ipaddress.IPv4Address | ipaddress.IPv6Address, int | None]] = []
        self.networks: list[tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, int | None]] = []
        for raw in _entries(spec):
            entry = raw.lower()
            if entry == "*":
                self.every = True
                continue
            host, port = _split_port(entry)
            if "/" in host:
                try:
                    self.networks.append((ipaddress.ip_network(host, strict=False), port))
                except ValueError:
                    raise ValueError(f"'{raw}' is not a CIDR range") from None
                continue
            try:
                self.ips.append((ipaddress.ip_address(host), port))
                continue
            except ValueError:
                pass
            name = host.lstrip("*").lstrip(".").rstrip(".")
            if not _HOST_NAME.match(name):
                raise ValueError(f"'{raw}' is not a host name, domain, IP address or CIDR range")
            self.names.append((name, port))

    def __bool__(self) -> bool:
        return self.every or bool(self.names or self.ips or self.networks)

    def matches(self, url: str) -> bool:
        """Whether a call to ``url`` goes direct."""
        if self.every:
            return True
        parts = urlsplit(url)
        host = (parts.hostname or "").rstrip(".")
        try:
            port = parts.port
        except ValueError:
            port = None
        if port is None:
            port = 443 if parts.scheme in ("https", "wss") else 80
        try:
            ip = ipaddress.ip_address(host)
        except ValueError:
            ip = None
        if ip is not None:
            if ip.version == 6 and ip.ipv4_mapped is not None:
                ip = ip.ipv4_mapped
            return (any(ip == addr and want in (None, port) for addr, want in self.ips)
                    or any(ip in net and want in (None, port) for net, want in self.networks))
        return any(want in (None, port) and (host == name or host.endswith("." + name))
                   for name, want in self.names)


def check_no_proxy(value: str | list[str] | None) -> str | list[str] | None:
    """Validate a noProxy value (a comma-separated string or a list); ValueError names the entry."""
    if value is None:
        return None
    if not isinstance(value, str | list) or (isinstance(value, list)
                                                and not all(isinstance(v, str) for v in value)):
        raise ValueError("must be a comma-separated string or a list of strings")
    NoProxy(value)
    return value


# ---- one proxy -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ProxySpec:
    """A proxy URL (with its credentials) and the hosts that bypass it."""

    url: str
    no_proxy: NoProxy | None = None
    no_proxy_spec: str | list[str] | None = None

    @classmethod
    def build(cls, url: str, no_proxy: str | list[str] | None = None) -> ProxySpec:
        matcher = NoProxy(no_proxy)
        return cls(check_proxy_url(url), matcher if matcher else None, no_proxy)

    @classmethod
    def from_json(cls, value) -> ProxySpec:
        """From the stored form ``{"url", "noProxy"?}``."""
        if not isinstance(value, dict) or not isinstance(value.get("url"), str):
            raise ValueError("a proxy needs a 'url'")
        return cls.build(value["url"], value.get("noProxy"))

    def to_json(self) -> dict:
        out: dict = {"url": self.url}
        if self.no_proxy_spec is not None:
            out["noProxy"] = self.no_proxy_spec
        return out

    def public(self) -> dict:
        """The API's view: credentials masked."""
        return {"url": mask_url(self.url), "noProxy": self.no_proxy_spec}


def global_proxy(stored, secrets) -> ProxySpec | None:
    """The live global proxy from the stored "proxy" setting ``{"enabled", "url" (encrypted), "noProxy"}``."""
    if not isinstance(stored, dict) or not stored.get("enabled"):
        return None
    url = secrets.decrypt(stored.get("url"))
    if not url:
        raise ValueError("the proxy is enabled but has no URL")
    return ProxySpec.build(url, stored.get("noProxy"))


# ---- sessions --------------------------------------------------------------------------------------


class ProxyRouter:
    """Owns the direct upstream session and one session per proxy in use."""

    # A retired session is closed once no connection of it is in use: checked after RETIRE_GRACE_S,
    # then every RETIRE_POLL_S, and closed regardless after RETIRE_MAX_S.
    RETIRE_GRACE_S = 2.0
    RETIRE_POLL_S = 1.0
    RETIRE_MAX_S = 3600.0

    def __init__(self, settings=None, pool=None, direct: aiohttp.ClientSession | None = None):
        self._settings = settings
        self._pool = pool  # the AccountPool whose accounts may carry their own proxy
        self.direct = direct
        self.proxy: ProxySpec | None = None  # the global proxy, while enabled
        self._sessions: dict[str, aiohttp.ClientSession] = {}
        self._retiring: dict[asyncio.Task, aiohttp.ClientSession] = {}

    @classmethod
    def wrap(cls, session) -> ProxyRouter:
        """A router for a bare session (no proxies): what callers given a plain session use."""
        return session if isinstance(session, ProxyRouter) else cls(direct=session)

    def open(self) -> aiohttp.ClientSession:
        """Create the direct session (once the event loop runs)."""
        self.direct = create_session(self._settings)
        return self.direct

    # -- the hot path --

    def session_for(self, url: str, account=None) -> aiohttp.ClientSession:
        """The session for a call to ``url`` on behalf of ``account`` (its own proxy first)."""
        spec = self.proxy if account is None or account.proxy is None else account.proxy
        if spec is None:
            return self.direct
        return self.via(spec, url)

    def via(self, spec: ProxySpec | None, url: str) -> aiohttp.ClientSession:
        """The session for ``url`` through ``spec`` (direct when its noProxy matches the host)."""
        if spec is None or (spec.no_proxy is not None and spec.no_proxy.matches(url)):
            return self.direct
        session = self._sessions.get(spec.url)
        if session is None or session.closed:
            session = self._sessions[spec.url] = create_session(self._settings, spec.url)
        return session

    def request(self, method: str, url: str, **kwargs):
        """``session.request`` for sign-in and token calls: through the proxy of the account in
        PROXY_ACCOUNT (a token refresh), else the global one."""
        spec = getattr(PROXY_ACCOUNT.get(), "proxy", None) or self.proxy
        return self.via(spec, url).request(method, url, **kwargs)

    # -- configuration --

    def configure(self, spec: ProxySpec | None) -> None:
        """Make ``spec`` the global proxy (None: direct), then retire sessions nobody uses."""
        self.proxy = spec
        self.prune()

    def prune(self) -> None:
        """Retire the sessions of proxies neither global nor of any account."""
        if not self._sessions:
            return
        live = {self.proxy.url} if self.proxy is not None else set()
        if self._pool is not None:
            for provider in self._pool.providers():
                live.update(a.proxy.url for a in self._pool.accounts(provider) if a.proxy is not None)
        for url in [u for u in self._sessions if u not in live]:
            self._retire(self._sessions.pop(url))

    def _retire(self, session: aiohttp.ClientSession) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no loop: nothing can be in flight
            return
        task = loop.create_task(self._close_when_idle(session))
        self._retiring[task] = session
        task.add_done_callback(self._retiring.pop)

    async def _close_when_idle(self, session: aiohttp.ClientSession) -> None:
        deadline = time.monotonic() + self.RETIRE_MAX_S
        await asyncio.sleep(self.RETIRE_GRACE_S)
        # aiohttp has no event for "pool idle": poll the connector's in-use set.
        while time.monotonic() < deadline:
            if not getattr(session.connector, "_acquired", None):
                break
            await asyncio.sleep(self.RETIRE_POLL_S)
        await session.close()

    @property
    def open_sessions(self) -> int:
        """Proxy sessions not yet closed (live and retiring)."""
        return len(self._sessions) + len(self._retiring)

    async def close(self) -> None:
        """Close every session now (the process is stopping)."""
        sessions = list(self._sessions.values()) + list(self._retiring.values())
        for task in list(self._retiring):
            task.cancel()
        self._sessions.clear()
        if self.direct is not None:
            sessions.append(self.direct)
        for session in sessions:
            if not session.closed:
                await session.close()


# ---- POST /api/settings/proxy/test -----------------------------------------------------------------


async def probe(settings, url: str, target: str = DEFAULT_TEST_TARGET,
                timeout_s: float = TEST_TIMEOUT_S) -> tuple[bool, float | None, str | None]:
    """Fetch ``target`` through the proxy ``url``: (ok, latency in ms, error)."""
    session = create_session(settings, url)
    started = time.perf_counter()
    try:
        async with session.get(target, timeout=aiohttp.ClientTimeout(total=timeout_s),
                               allow_redirects=False) as resp:
            status = resp.status
            await resp.content.read(65_536)
    except TimeoutError:
        return False, None, f"no answer through the proxy within {timeout_s:g} s"
    except (aiohttp.ClientError, OSError, ValueError) as exc:
        return False, None, hide_secrets(f"{exc.__class__.__name__}: {exc}", url)
    finally:
        await session.close()
    latency = round((time.perf_counter() - started) * 1000, 1)
    if status == 407:
        return False, latency, "the proxy refused the credentials (HTTP 407 Proxy Authentication Required)"
    return True, latency, None
