"""Every singleton of a running gateway, built by the app factory and passed explicitly."""

from __future__ import annotations

import asyncio
import functools
import gc
import logging
import secrets
import time

from omniroute import __version__
from omniroute.auth.apikeys import KeyRing
from omniroute.auth.passwords import hash_password
from omniroute.auth.secrets import SecretBox
from omniroute.auth.sessions import LoginGuard, SessionSigner
from omniroute.cache.idempotency import Idempotency
from omniroute.cache.responder import CacheResponder
from omniroute.cache.responder import configure as configure_cache
from omniroute.cache.store import ResponseCache
from omniroute.dialects.shaping import Shaping
from omniroute.oauth import OAuthFlows, OAuthProviders, TokenManager
from omniroute.pipeline import ChatPipeline
from omniroute.providers.registry import ProviderRegistry, node_spec
from omniroute.routing.accounts import AccountPool
from omniroute.routing.policies import PolicySet
from omniroute.routing.resilience import Resilience, ResilienceConfig
from omniroute.routing.resolve import ModelTable
from omniroute.routing.selection import SelectionConfig
from omniroute.routing.sessions import SessionTracker
from omniroute.server.idle import IdleTrimmer
from omniroute.server.ipfilter import IpFilter
from omniroute.server.limits import RateLimits
from omniroute.server.peers import Peers
from omniroute.settings import Settings
from omniroute.state import MemoryState, SharedState
from omniroute.store.backups import BackupManager
from omniroute.store.engine import create_engine, migrate
from omniroute.store.repos import (
    AuditRepo,
    CombosRepo,
    ConnectionsRepo,
    KeysRepo,
    ModelAliasesRepo,
    ProviderModelsRepo,
    ProviderNodesRepo,
    SettingsRepo,
    UsageRepo,
)
from omniroute.transport.proxy import ProxyRouter, global_proxy
from omniroute.usage.budgets import Budgets
from omniroute.usage.metrics import Metrics
from omniroute.usage.recorder import UsageRecorder
from omniroute.usage.retention import Retention
from omniroute.usage.telemetry import Telemetry

log = logging.getLogger("omniroute")

# The "usage" general setting (validated by server/api/settings.UsageSettings).
USAGE_DEFAULTS = {"retentionDays": 90, "detailedLogging": False, "detailMaxBytes": 65_536}

# Each request allocates a few hundred short-lived containers; collecting the youngest
# generation every 700 allocations cost ~7% of throughput in `make bench`.
GC_THRESHOLDS = (20_000, 20, 100)


def shared_state(settings: Settings) -> SharedState:
    """Redis when ``REDIS_URL`` is set (several instances as one), otherwise in-process."""
    if settings.redis_url:
        from omniroute.state.redis import RedisState

        return RedisState(settings.redis_url, prefix=settings.redis_prefix)
    return MemoryState()


class Services:
    """Owns the engine, repositories, state, registries, upstream session and usage recorder."""

    def __init__(self, settings: Settings, state: SharedState | None = None):
        self.settings = settings
        self.version = __version__
        self.started_at = time.time()
        self.engine = create_engine(settings.database_url)
        self.settings_repo = SettingsRepo(self.engine)
        self.connections = ConnectionsRepo(self.engine)
        self.nodes = ProviderNodesRepo(self.engine)
        self.provider_models = ProviderModelsRepo(self.engine)
        self.model_aliases = ModelAliasesRepo(self.engine)
        self.combos = CombosRepo(self.engine)
        self.keys = KeysRepo(self.engine)
        self.usage = UsageRepo(self.engine)
        self.audit = AuditRepo(self.engine)
        self.state = state or shared_state(settings)
        self.secrets = SecretBox(settings.storage_encryption_key)
        self.signer = SessionSigner(settings.jwt_secret)
        self.login_guard = LoginGuard(self.state)
        self.registry = ProviderRegistry()
        # Aliases and the operator's model lists, read by resolution through the registry.
        self.model_table = ModelTable()
        self.registry.model_table = self.model_table
        # Upstream model lists per connection id: (fetched at, models), for GET /api/providers/{id}/models.
        self.upstream_models: dict[str, tuple[float, list[dict]]] = {}
        self.keyring = KeyRing()
        self.pool = AccountPool(self.registry, self.secrets, self.state)
        # Upstream sessions: the direct one (self.session) and one per outbound proxy in use.
        self.proxies = ProxyRouter(settings, self.pool)
        self.pool.on_load = self.proxies.prune
        self.resilience = Resilience(self.state, self.pool)
        self.telemetry = Telemetry()
        self.response_cache = ResponseCache(self.engine)
        self.cache = CacheResponder(self.response_cache)
        self.idempotency = Idempotency(self.state)
        self.oauth_providers = OAuthProviders()  # OMNIROUTE_OAUTH_ENDPOINTS may point them elsewhere
        self.oauth = OAuthFlows(self.state, lambda: self.proxies)
        self.tokens = TokenManager(self.connections, self.secrets, self.state, self.oauth, self.oauth_providers)
        self.recorder = UsageRecorder(self.usage, interval_s=settings.usage_flush_interval_s,
                                      batch_size=settings.usage_batch_size)
        self.trimmer = IdleTrimmer(lambda: self.recorder.recorded)
        self.metrics = Metrics()
        self.budgets = Budgets(self.state, self.settings_repo, self.usage, self.recorder)
        self.budgets.on_refusal = self._budget_refused
        self.budgets.on_warning = self._budget_warning
        self.retention = Retention(self)
        self.backups = BackupManager(settings, self.engine, on_replaced=self.reload_state)
        self.peers = Peers(self)  # other instances on the same Redis: configuration change events
        self.ip_filter = IpFilter()  # the "ipFilter" setting, checked by the app before any other work
        self.metrics_public = False  # the "metrics" setting: /metrics without a login from any address
        self.shaping = Shaping()  # the "systemPrompt" and "thinkingBudget" settings (chat requests)
        # --- policies, client rate limits and sessions (built here, loaded in start) ---
        self.policies = PolicySet()
        self.limits = RateLimits(self.state)
        self.sessions = SessionTracker(self.state)
        # --- end policies, client rate limits and sessions ---
        self.usage_config = dict(USAGE_DEFAULTS)
        self._pricing_overrides: dict | None = None
        self.inflight = 0  # client requests being served (the /metrics gauge)
        self.lifecycle_action: str | None = None  # "shutdown" or "restart" once asked for over the API
        self.require_login = True
        self.require_api_key_setting = False
        self.session = None
        self.pipeline: ChatPipeline | None = None
        self._password_task: asyncio.Task | None = None

    @functools.cached_property
    def pricing(self):
        """The pricing table: the defaults under the stored overrides (built on first use)."""
        from omniroute.usage.pricing import PricingTable

        table = PricingTable()
        try:
            table.set_overrides(self._pricing_overrides or {})
        except ValueError as exc:
            log.warning("stored pricing overrides are ignored: %s", exc)
        return table

    @property
    def require_api_key(self) -> bool:
        return self.settings.require_api_key or self.require_api_key_setting

    async def start(self) -> None:
        """Migrate, load configuration into memory, open the upstream session."""
        if self.state.shared:
            await self.state.ping()  # a gateway that cannot share its state must not serve alone
        await migrate(self.engine)
        # A slow hash on first run need not hold up serving clients; login waits for it.
        self._password_task = asyncio.create_task(self._ensure_password())
        await self._load_config()
        self.session = self.proxies.open()
        self.pipeline = ChatPipeline(registry=self.registry, pool=self.pool, session=self.proxies,
                                     recorder=self.recorder, resilience=self.resilience)
        self.pipeline.tokens = self.tokens
        self.pipeline.policies = self.policies
        self.pipeline.sessions = self.sessions
        self.pipeline.telemetry = self.telemetry
        self.pipeline.cache = self.cache
        self.pipeline.services = self
        self.pipeline.metrics = self.metrics
        self.pipeline.budgets = self.budgets
        self.shaping.attach(self.pipeline)
        self.response_cache.start()
        await self.budgets.load()
        self.recorder.start()
        self.trimmer.start()
        self.retention.start()
        self.backups.start()
        await self.peers.start()
        # Everything built so far lives as long as the process: move it out of the
        # collector's reach so full collections stay cheap under load.
        gc.collect()
        gc.freeze()
        gc.set_threshold(*GC_THRESHOLDS)

    def _budget_refused(self, key_id: str, message: str, ip: str | None) -> None:
        self.audit.add_later(action="budget.refused", status="refused", actor=f"key:{key_id}", target=key_id, ip=ip)

    def _budget_warning(self, budget, spent: float) -> None:
        log.warning("API key %r has spent $%.4f of its %s budget of $%g", budget.key_id, spent, budget.period,
                    budget.limit)
        self.audit.add_later(action="budget.warning", status="warning", actor=f"key:{budget.key_id}",
                             target=f"{budget.period} ${spent:.4f} of ${budget.limit:g}")

    async def password_hash(self) -> str | None:
        """The stored dashboard password hash (after first-run set-up has finished)."""
        if self._password_task is not None:
            await self._password_task
        return await self.settings_repo.get("passwordHash")

    async def stop(self) -> None:
        """Flush usage, close the upstream session and the database."""
        if self._password_task is not None:
            await self._password_task
        await self.peers.close()
        await self.trimmer.close()
        await self.retention.close()
        await self.backups.close()
        await self.audit.close()
        await self.recorder.close()
        await self.response_cache.close()
        await self.proxies.close()  # the direct session and every proxy's
        await self.state.close()
        await self.engine.dispose()

    # Keys of the general settings object (GET/PUT /api/settings), each stored under its own key.
    GENERAL_SETTINGS = ("accountSelection", "resilience", "cache", "idempotency", "usage", "metrics", "backups")

    async def load_settings(self) -> None:
        """Apply every stored general setting; a stored value that no longer validates is ignored."""
        for key in self.GENERAL_SETTINGS:
            value = await self.settings_repo.get(key)
            if value is None:
                continue
            try:
                self.apply_setting(key, value)
            except (ValueError, TypeError) as exc:
                log.warning("stored setting %r is ignored: %s", key, exc)
        # Settings with their own routes (/api/settings/...), each read the same way.
        try:
            self.ip_filter.configure(await self.settings_repo.get("ipFilter") or {})
        except (ValueError, TypeError, KeyError) as exc:
            log.warning("stored setting 'ipFilter' is ignored: %s", exc)
        for key in await self.shaping.load(self.settings_repo):
            log.warning("stored setting %r is ignored: it no longer validates", key)
        await self.load_proxy()

    async def load_proxy(self) -> None:
        """The stored global outbound proxy ("proxy" setting) made live."""
        try:
            self.proxies.configure(global_proxy(await self.settings_repo.get("proxy"), self.secrets))
        except Exception as exc:  # noqa: BLE001 - a value that no longer decrypts or validates
            log.warning("stored setting 'proxy' is ignored: %s", exc.__class__.__name__)

    def apply_setting(self, key: str, value) -> None:
        """Make one validated general setting live."""
        if key == "accountSelection":
            self.pool.configure(SelectionConfig.from_json(value))
        elif key == "resilience":
            self.resilience.config = ResilienceConfig.from_json(value)
        elif key == "cache":
            configure_cache(self.cache, value, self.embed_via_gateway)
        elif key == "idempotency":
            self.idempotency.window_ms = int(value["windowMs"])
        elif key == "usage":
            self.usage_config = {**USAGE_DEFAULTS, **value}
        elif key == "metrics":
            self.metrics_public = bool(value.get("public", False))
        elif key == "backups":
            self.backups.configure(value)

    async def embed_via_gateway(self, model: str, texts: list[str]) -> list[list[float]]:
        """Embeddings from one of the gateway's own embedding models (the semantic cache's source)."""
        import orjson

        from omniroute.pipeline import Exchange
        from omniroute.server.client_embeddings import EmbeddingsRoute

        ex = Exchange(body={"model": model, "input": texts}, api_key=None)
        try:
            answer = await EmbeddingsRoute(self).run(ex, None)
        finally:
            self.pipeline.record(ex)
        return [item["embedding"] for item in orjson.loads(answer.body)["data"]]

    async def reload_state(self, reseed: bool = True) -> None:
        """Re-read everything kept in memory from the database, after a restore or an import replaced
        it (no restart), or after another instance changed it. A feature that keeps database contents
        in memory reloads them here too. ``reseed``: budgets' ledgers are counted again from the usage
        table (a restore or an import); another instance's change keeps them."""
        from omniroute.server.api.settings import section_defaults

        for key in self.GENERAL_SETTINGS:  # a section absent now goes back to its default
            default = section_defaults(key)
            if default is None or await self.settings_repo.get(key) is not None:
                continue
            try:
                self.apply_setting(key, default)
            except (ValueError, TypeError) as exc:
                log.warning("default of setting %r not applied: %s", key, exc)
        await self._load_config()
        if "pricing" in self.__dict__:  # the table was built: swap its overrides
            try:
                self.pricing.set_overrides(self._pricing_overrides or {})
            except ValueError as exc:
                log.warning("stored pricing overrides are ignored: %s", exc)
        self.upstream_models.clear()
        await self.budgets.reload(reseed)

    async def _load_config(self) -> None:
        """Everything configured in the database into memory: flags, settings, prices, policies, limits,
        keys, providers and models (at start-up and after a restore, an import or a sync)."""
        self.require_login = bool(await self.settings_repo.get("requireLogin", True))
        self.require_api_key_setting = bool(await self.settings_repo.get("requireApiKey", False))
        await self.load_settings()
        self._pricing_overrides = await self.settings_repo.get("pricing")
        self.policies.load(await self.settings_repo.get("policies") or [])  # rows that fail are skipped
        try:
            self.limits.configure(await self.settings_repo.get("rateLimit") or {})
        except ValueError as exc:
            log.warning("stored setting 'rateLimit' is ignored: %s", exc)
        await self.reload_keys()
        await self.reload_providers()
        await self.reload_models()

    async def reload_keys(self) -> None:
        self.keyring.load(await self.keys.list())

    async def reload_accounts(self) -> None:
        rows = await self.connections.list()
        self.pool.load(rows)
        self.tokens.load(rows)

    async def reload_providers(self) -> None:
        """Provider nodes into the live registry, then the accounts bound to the new specs."""
        nodes, rows = await self.nodes.list(), await self.connections.list()
        specs = []
        for node in nodes:
            try:
                specs.append(node_spec(node, self.secrets.decrypt_json(node["headersEnc"], {})))
            except ValueError as exc:
                log.warning("provider node %r is not served: %s", node["id"], exc)
        # Both swaps happen without yielding, so no request sees a node without its accounts.
        for spec, reason in self.registry.replace_custom(specs):
            log.warning("provider node %r is not served: %s", spec.id, reason)
        self.pool.load(rows)
        self.tokens.load(rows)

    async def reload_models(self) -> None:
        """Provider models, aliases and combos into the in-memory model table."""
        rows, aliases, combos = (await self.provider_models.list(), await self.model_aliases.list(),
                                 await self.combos.list())
        self.model_table.load(rows, aliases, combos)

    async def _ensure_password(self) -> None:
        if await self.settings_repo.get("passwordHash") is not None:
            return
        password = self.settings.initial_password
        generated = password is None
        if generated:
            password = secrets.token_urlsafe(12)
        await self.settings_repo.set("passwordHash", await asyncio.to_thread(hash_password, password))
        if generated:
            # Printed once, to the console only: it is never written to a log file.
            print(f"\n  OmniRoute dashboard password (generated, shown once): {password}\n", flush=True)
