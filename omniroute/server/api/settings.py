"""/api/settings: the general settings object.

Each top-level key is one section: a pydantic model that validates it, a reader of the live
value, and ``Services.apply_setting`` to make it live. A section is stored under its own key,
so adding one is a model here plus a line in ``Services.GENERAL_SETTINGS``. PUT replaces the
sections it names and leaves the others as they are.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.routing import Route

from omniroute.server.api.common import ApiError, admin, client_ip, json_response, read_model

Strategy = Literal["fill-first", "round-robin", "random", "least-used", "p2c"]


class AccountSelection(BaseModel):
    """How a provider's accounts are chosen; ``perProvider`` overrides ``strategy`` by provider id."""

    model_config = ConfigDict(extra="forbid", strict=True)
    strategy: Strategy = "fill-first"
    stickyUses: int = Field(default=3, ge=1, le=10_000)
    perProvider: dict[str, Strategy] = Field(default_factory=dict)

    def check(self, services) -> None:
        unknown = sorted(p for p in self.perProvider if services.registry.get(p) is None)
        if unknown:
            raise ApiError(400, f"'accountSelection.perProvider': unknown provider(s) {', '.join(unknown)}")


class GeneralSettings(BaseModel):
    """The PUT body: every section optional, unknown keys refused."""

    model_config = ConfigDict(extra="forbid", strict=True)
    accountSelection: AccountSelection | None = None


# Section name → how to read its live value.
_READERS: dict[str, Callable] = {
    "accountSelection": lambda s: s.pool.selector.config.to_json(),
}


def _current(s) -> dict:
    return {name: read(s) for name, read in _READERS.items()}


@admin
async def settings(request: Request):
    s = request.app.state.services
    if request.method == "GET":
        return json_response(_current(s))
    body = await read_model(request, GeneralSettings)
    sections = {name: getattr(body, name) for name in body.model_fields_set if getattr(body, name) is not None}
    for section in sections.values():
        section.check(s)
    for name, section in sections.items():
        value = section.model_dump()
        await s.settings_repo.set(name, value)
        s.apply_setting(name, value)
    await s.audit.add(action="settings.update", status="ok", actor=request.state.actor,
                      target=",".join(sorted(sections)) or None, ip=client_ip(request))
    return json_response(_current(s))


routes = [
    Route("/api/settings", settings, methods=["GET", "PUT"]),
]
