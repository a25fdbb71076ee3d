"""The IP filter: allow- and block-lists of IPv4/IPv6 networks, checked before any other work on every
route, and X-Forwarded-For read only from a trusted proxy."""

from __future__ import annotations

import socket

import httpx
import pytest

from omniroute.server.ipfilter import IpFilter
from tests.support import Gateway


def _filter(**config) -> IpFilter:
    f = IpFilter()
    f.configure(config)
    return f


def test_cidr_edges_ipv4():
    f = _filter(enabled=True, mode="allowlist", allow=["192.168.10.0/24"], block=["192.168.10.128/25"])
    assert f.allows("192.168.10.0") and f.allows("192.168.10.127")
    assert not f.allows("192.168.10.128") and not f.allows("192.168.10.255")
    assert not f.allows("192.168.9.255") and not f.allows("192.168.11.0")
    assert not f.allows("not-an-address")


def test_cidr_edges_ipv6_and_mapped_addresses():
    f = _filter(enabled=True, mode="blocklist", block=["2001:db8::/32", "10.0.0.0/8"])
    assert not f.allows("2001:db8::1") and not f.allows("2001:db8:ffff:ffff:ffff:ffff:ffff:ffff")
    assert f.allows("2001:db9::") and f.allows("::1")
    assert not f.allows("::ffff:10.1.2.3"), "an IPv4-mapped IPv6 address is the IPv4 address"
    assert f.allows("11.0.0.0")
    # A v4 network never matches a v6 address of the same bits, and the other way round.
    assert _filter(enabled=True, mode="blocklist", block=["::/0"]).allows("1.2.3.4")


def test_disabled_filter_allows_everything_and_is_inactive():
    f = _filter(enabled=False, mode="allowlist", allow=["10.0.0.0/8"])
    assert f.allows("8.8.8.8") and not f.active


def test_forwarded_for_is_read_only_from_trusted_proxies():
    f = _filter(trustedProxies=["127.0.0.1", "10.0.0.0/8"])
    assert f.client_of("127.0.0.1", "203.0.113.7") == "203.0.113.7"
    # The rightmost untrusted hop is the client: what a client wrote further left is not believed.
    assert f.client_of("127.0.0.1", "198.51.100.1, 203.0.113.7, 10.2.3.4") == "203.0.113.7"
    assert f.client_of("127.0.0.1", "[2001:db8::7]:5000") == "2001:db8::7"
    assert f.client_of("192.0.2.50", "203.0.113.7") == "192.0.2.50", "an untrusted peer's header is ignored"
    assert f.client_of("127.0.0.1", "garbage") == "127.0.0.1"
    assert _filter().client_of("127.0.0.1", "203.0.113.7") == "127.0.0.1"


@pytest.fixture
def filtered(make_gateway):
    gw = make_gateway()
    admin = gw.admin()
    yield gw, admin
    admin.close()


def _put(admin, **config):
    return admin.put("/api/settings/ip-filter", json=config)


def test_allowlist_behind_a_trusted_proxy(filtered):
    gw, admin = filtered
    resp = _put(admin, enabled=True, mode="allowlist", allow=["127.0.0.1", "10.0.0.0/8", "2001:db8::/32"],
                block=["10.9.0.0/16"], trustedProxies=["127.0.0.1/32"])
    assert resp.status_code == 200, resp.text
    assert resp.json()["allow"] == ["127.0.0.1/32", "10.0.0.0/8", "2001:db8::/32"]

    def models(xff: str | None, path: str = "/v1/models") -> httpx.Response:
        return httpx.get(gw.url + path, headers={"X-Forwarded-For": xff} if xff else {})

    assert models("10.1.2.3").status_code == 200
    assert models("2001:db8::5").status_code == 200
    assert models("10.0.0.0").status_code == 200 and models("10.255.255.255").status_code == 200
    denied = models("10.9.0.1")
    assert denied.status_code == 403
    assert denied.json()["error"]["code"] == "ip_not_allowed" and "10.9.0.1" in denied.json()["error"]["message"]
    assert models("11.0.0.0").status_code == 403 and models("2001:db9::1").status_code == 403
    # A client cannot hide behind an address it writes further left in the chain.
    assert models("10.1.2.3, 192.168.1.1").status_code == 403
    assert models("192.168.1.1, 10.1.2.3").status_code == 200
    # Every route, in its own dialect: Anthropic, management, Ollama.
    anthropic = httpx.post(gw.url + "/v1/messages", json={}, headers={"X-Forwarded-For": "192.168.1.1"})
    assert anthropic.status_code == 403 and anthropic.json()["error"]["type"] == "permission_error"
    manage = admin.get("/api/providers", headers={"X-Forwarded-For": "192.168.1.1"})
    assert manage.status_code == 403 and "IP filter" in manage.json()["error"]
    assert models("192.168.1.1", "/api/tags").status_code == 403
    # The real client is what the rest of the gateway sees: the audit log names it.
    assert admin.put("/api/settings/require-login", json={"requireLogin": True},
                     headers={"X-Forwarded-For": "10.4.4.4"}).status_code == 200
    entries = admin.get("/api/compliance/audit-log", params={"limit": 5}).json()
    entries = entries.get("entries", entries.get("items", entries)) if isinstance(entries, dict) else entries
    assert any(e.get("ip") == "10.4.4.4" for e in entries), entries


def test_forwarded_header_is_ignored_without_a_trusted_proxy(filtered):
    gw, admin = filtered
    assert _put(admin, enabled=True, mode="blocklist", block=["10.0.0.0/8"]).status_code == 200
    # The header claims a blocked address, but 127.0.0.1 is no trusted proxy: the peer is judged.
    assert httpx.get(gw.url + "/v1/models", headers={"X-Forwarded-For": "10.1.1.1"}).status_code == 200
    # Spoofing an allowed address does not help a blocked peer either.
    assert _put(admin, enabled=True, mode="blocklist", block=["10.0.0.0/8"],
                trustedProxies=["127.0.0.1"]).status_code == 200
    assert httpx.get(gw.url + "/v1/models", headers={"X-Forwarded-For": "10.1.1.1"}).status_code == 403
    assert httpx.get(gw.url + "/v1/models").status_code == 200


def test_the_operator_cannot_lock_themselves_out_and_bad_input_is_400(filtered):
    gw, admin = filtered
    resp = _put(admin, enabled=True, mode="blocklist", block=["127.0.0.0/8"])
    assert resp.status_code == 400 and "127.0.0.1" in resp.json()["error"]
    assert _put(admin, enabled=True, mode="allowlist", allow=[]).status_code == 400
    bad = _put(admin, enabled=True, mode="allowlist", allow=["10.0.0.0/33"])
    assert bad.status_code == 400 and "allow" in bad.json()["error"]
    assert _put(admin, enabled=True, mode="denylist").status_code == 400
    assert _put(admin, enabled="yes").status_code == 400
    assert _put(admin, enabled=True, extra=1).status_code == 400
    assert admin.get("/api/settings/ip-filter").json()["enabled"] is False, "nothing was stored"
    assert httpx.get(gw.url + "/v1/models").status_code == 200


def _ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as sock:
            sock.bind(("::1", 0))
        return True
    except OSError:
        return False


@pytest.mark.skipif(not _ipv6_loopback(), reason="no IPv6 loopback on this machine")
def test_ipv6_peer_is_filtered_over_a_real_socket(tmp_path):
    gw = Gateway(tmp_path / "v6", {"HOST": "::1"})
    gw.url = f"http://[::1]:{gw.port}"
    gw.start()
    try:
        admin = gw.admin()
        refused = _put(admin, enabled=True, mode="blocklist", block=["::1/128"])
        assert refused.status_code == 400 and "::1" in refused.json()["error"]
        assert _put(admin, enabled=True, mode="allowlist", allow=["::1", "2001:db8::/32"], block=["2001:db8:bad::/48"],
                    trustedProxies=["::1"]).status_code == 200
        assert httpx.get(gw.url + "/v1/models").status_code == 200
        assert httpx.get(gw.url + "/v1/models", headers={"X-Forwarded-For": "2001:db8::1"}).status_code == 200
        denied = httpx.get(gw.url + "/v1/models", headers={"X-Forwarded-For": "2001:db8:bad::1"})
        assert denied.status_code == 403 and "2001:db8:bad::1" in denied.json()["error"]["message"]
        assert httpx.get(gw.url + "/v1/models", headers={"X-Forwarded-For": "10.0.0.1"}).status_code == 403
        admin.close()
    finally:
        gw.stop()
