"""/api/settings/ip-filter: which client addresses may use the gateway (omniroute/server/ipfilter.py)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from starlette.requests import Request
from starlette.routing import Route

from omniroute.server.api.common import ApiError, admin, audit, client_ip, json_response, read_model
from omniroute.server.ipfilter import parse_network

MAX_ENTRIES = 1000


def _networks(values: list[str]) -> list[str]:
    normalised = []
    for position, value in enumerate(values):
        try:
            normalised.append(str(parse_network(value)))
        except ValueError:
            raise ValueError(f"entry {position} ({value!r}) is not an IPv4 or IPv6 address or CIDR") from None
    return normalised


class IpFilterBody(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    enabled: bool = False
    mode: Literal["allowlist", "blocklist"] = "blocklist"
    allow: list[str] = Field(default_factory=list, max_length=MAX_ENTRIES)
    block: list[str] = Field(default_factory=list, max_length=MAX_ENTRIES)
    trustedProxies: list[str] = Field(default_factory=list, max_length=100)

    @field_validator("allow", "block", "trustedProxies")
    @classmethod
    def _cidrs(cls, values: list[str]) -> list[str]:
        return _networks(values)


@admin
async def ip_filter(request: Request):
    s = request.app.state.services
    if request.method == "GET":
        return json_response(s.ip_filter.config)
    body = await read_model(request, IpFilterBody)
    value = body.model_dump()
    if value["enabled"] and value["mode"] == "allowlist" and not value["allow"]:
        raise ApiError(400, "'allow': an enabled allow-list needs at least one network, or nothing could connect")
    me = client_ip(request)
    if s.ip_filter.would_refuse(value, me):
        raise ApiError(400, f"this filter would refuse your own address {me}; add it to 'allow' (or take it out "
                            "of 'block') first")
    await s.settings_repo.set("ipFilter", value)
    s.ip_filter.configure(value)
    await audit(request, "settings.ip-filter", f"{value['mode']} enabled={value['enabled']}")
    return json_response(s.ip_filter.config)


routes = [Route("/api/settings/ip-filter", ip_filter, methods=["GET", "PUT"])]
