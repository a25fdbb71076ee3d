"""The IP filter: which client addresses may use the gateway, decided before any other work.

The ``ipFilter`` setting holds an allow-list and a block-list of networks (IPv4 and IPv6 CIDRs
or single addresses) and a mode:

- ``allowlist``: only addresses inside ``allow`` are served, and ``block`` still removes
  addresses from that set (an allowed /16 with one blocked /24 inside it);
- ``blocklist``: every address is served except those inside ``block``.

``trustedProxies`` names the reverse proxies in front of the gateway. Only when the direct peer is
one of them is ``X-Forwarded-For`` read: its entries are walked from the right (the hop nearest to
us) past further trusted proxies, and the first other address is the client. A forwarded header
from any other peer is ignored, so a client cannot claim someone else's address. When a trusted
proxy forwards, the ASGI scope's ``client`` is rewritten to the real client, so lock-outs, the
audit log and the loopback rules all see the real address (whether or not the filter is enabled).

Decisions are cached per (peer, forwarded header) for a bounded number of addresses.
"""

from __future__ import annotations

import ipaddress
from collections import OrderedDict

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address

DEFAULTS = {"enabled": False, "mode": "blocklist", "allow": [], "block": [], "trustedProxies": []}
_CACHE_SIZE = 4096


def parse_network(text: str) -> Network:
    """A CIDR or a single address as a network; IPv4-mapped IPv6 addresses count as IPv4."""
    net = ipaddress.ip_network(text.strip(), strict=False)
    if isinstance(net, ipaddress.IPv6Network) and net.network_address.ipv4_mapped is not None and net.prefixlen >= 96:
        return ipaddress.ip_network(f"{net.network_address.ipv4_mapped}/{net.prefixlen - 96}")
    return net


def parse_address(text: str) -> Address | None:
    text = text.strip()
    if text.startswith("[") and "]" in text:  # "[2001:db8::1]:443" as some proxies write it
        text = text[1:text.index("]")]
    elif text.count(":") == 1:  # "203.0.113.9:5000"
        text = text.split(":", 1)[0]
    if "%" in text:  # a zone index ("fe80::1%eth0")
        text = text.split("%", 1)[0]
    try:
        addr = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        return addr.ipv4_mapped
    return addr


def _inside(addr: Address, networks: tuple[Network, ...]) -> bool:
    return any(addr.version == net.version and addr in net for net in networks)


class IpFilter:
    """The live filter; ``active`` is the only thing the hot path reads when nothing is configured."""

    def __init__(self):
        self.active = False  # filter enabled or trusted proxies named
        self.config = dict(DEFAULTS)
        self._enabled = False
        self._allowlist = False
        self._allow: tuple[Network, ...] = ()
        self._block: tuple[Network, ...] = ()
        self._trusted: tuple[Network, ...] = ()
        self._cache: OrderedDict[tuple, tuple[str | None, bool]] = OrderedDict()

    def configure(self, value: dict) -> None:
        """Make a validated ``ipFilter`` setting live (a bad network raises ValueError)."""
        config = {**DEFAULTS, **(value or {})}
        allow = tuple(parse_network(n) for n in config["allow"])
        block = tuple(parse_network(n) for n in config["block"])
        trusted = tuple(parse_network(n) for n in config["trustedProxies"])
        if config["mode"] not in ("allowlist", "blocklist"):
            raise ValueError(f"mode must be allowlist or blocklist, not {config['mode']!r}")
        self._enabled, self._allowlist = bool(config["enabled"]), config["mode"] == "allowlist"
        self._allow, self._block, self._trusted = allow, block, trusted
        self._cache = OrderedDict()
        self.config = config
        self.active = self._enabled or bool(trusted)

    def client_of(self, peer: str | None, forwarded: str | None) -> str | None:
        """The real client address: the peer, or, behind a trusted proxy, the forwarded client."""
        if peer is None or not self._trusted:
            return peer
        addr = parse_address(peer)
        if addr is None or not _inside(addr, self._trusted) or not forwarded:
            return peer
        client = peer
        for hop in reversed(forwarded.split(",")):
            hop_addr = parse_address(hop)
            if hop_addr is None:  # garbage in the chain: trust nothing to its left
                break
            client = str(hop_addr)
            if not _inside(hop_addr, self._trusted):
                break
        return client

    def allows(self, client: str | None) -> bool:
        """Whether the filter lets ``client`` in (an unparseable address is refused when enabled)."""
        if not self._enabled:
            return True
        addr = parse_address(client) if client else None
        if addr is None:
            return False
        if _inside(addr, self._block):
            return False
        return not self._allowlist or _inside(addr, self._allow)

    def decide(self, peer: str | None, forwarded: str | None) -> tuple[str | None, bool]:
        """(the real client address, allowed?) for one request; cached."""
        key = (peer, forwarded)
        hit = self._cache.get(key)
        if hit is not None:
            return hit
        client = self.client_of(peer, forwarded)
        result = (client, self.allows(client))
        self._cache[key] = result
        if len(self._cache) > _CACHE_SIZE:
            self._cache.popitem(last=False)
        return result

    def would_refuse(self, value: dict, client: str | None) -> bool:
        """Whether ``value`` would refuse ``client`` (an operator is not allowed to lock themselves out)."""
        trial = IpFilter()
        trial.configure(value)
        return not trial.allows(client)


def forwarded_for(scope) -> str | None:
    """All X-Forwarded-For headers of a request, joined in order."""
    values = [v.decode("latin-1") for k, v in scope.get("headers") or () if k == b"x-forwarded-for"]
    return ",".join(values) if values else None


def refusal(path: str, client: str | None) -> tuple[int, bytes]:
    """The 403 answer in the dialect of the route the client called."""
    import orjson

    message = f"access from {client or 'an unknown address'} is not allowed by this gateway's IP filter"
    if path.startswith("/v1/messages"):
        body = {"type": "error", "error": {"type": "permission_error", "message": message}}
    elif path.startswith("/v1beta/") or (path.startswith("/v1/models/") and ":" in path):
        body = {"error": {"code": 403, "message": message, "status": "PERMISSION_DENIED"}}
    elif path.startswith("/v1/"):
        body = {"error": {"message": message, "type": "permission_error", "code": "ip_not_allowed"}}
    else:  # the management API and the Ollama routes
        body = {"error": message}
    return 403, orjson.dumps(body)
