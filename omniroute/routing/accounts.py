"""Accounts (connections) ready for the hot path: their order, cooldowns and in-flight slots.

Cooldowns, selection counters and in-flight counts live in the shared state.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from urllib.parse import urlencode

from omniroute.auth.secrets import SecretBox
from omniroute.errors import RateLimited
from omniroute.providers.catalog import ProviderSpec
from omniroute.providers.registry import ProviderRegistry
from omniroute.routing.selection import FILL_FIRST, SelectionConfig, Selector, inflight_key
from omniroute.state import SharedState
from omniroute.transport.proxy import ProxySpec

log = logging.getLogger("omniroute")

COOLDOWN_BASE_S = 3.0
COOLDOWN_MAX_S = 120.0
# When every account of a provider is at its concurrency limit, a request waits this long for a
# free slot (checking every CONCURRENCY_POLL_S) before it is refused with 429.
CONCURRENCY_WAIT_S = 2.0
CONCURRENCY_POLL_S = 0.02
# Connections in these states are not tried until they are fixed (re-tested or re-activated).
UNUSABLE_STATUSES = frozenset({"expired", "error"})


def join_url(base: str, path: str, query: tuple[tuple[str, str], ...] = ()) -> str:
    if not query:
        return base + path
    return f"{base}{path}{'&' if '?' in path else '?'}{urlencode(query)}"


@dataclass(frozen=True, slots=True)
class Account:
    """One connection with its secret decrypted and its URLs resolved."""

    id: str
    provider: ProviderSpec
    name: str
    api_key: str | None
    base_url: str
    priority: int
    default_model: str | None
    headers: dict[str, str] = field(default_factory=dict)
    chat_url: str = ""
    max_concurrency: int | None = None  # requests in flight at once; None: no limit
    proxy: ProxySpec | None = None  # the connection's own outbound proxy (replaces the global one)

    def url(self, path: str) -> str:
        """``base_url + path`` with the provider's fixed query parameters (Azure's api-version)."""
        return join_url(self.base_url, path, self.provider.query)

    def url_for(self, model: str, stream: bool) -> str:
        """The upstream chat URL; Gemini carries the model and the streaming mode in the path."""
        if self.provider.dialect == "gemini":
            method = "streamGenerateContent?alt=sse" if stream else "generateContent"
            return self.url(f"/models/{model}:{method}")
        return self.chat_url

    def auth_headers(self) -> dict[str, str]:
        """Upstream request headers for this account (auth style from the catalog)."""
        out = {"Content-Type": "application/json", **dict(self.provider.headers)}
        if self.api_key:
            style = self.provider.auth
            if style == "bearer":
                out["Authorization"] = f"Bearer {self.api_key}"
            elif style == "x-api-key":
                out["x-api-key"] = self.api_key
            elif style == "api-key":
                out["api-key"] = self.api_key
            elif style == "x-goog-api-key":
                out["x-goog-api-key"] = self.api_key
            elif style == "token":
                out["Authorization"] = f"Token {self.api_key}"
            elif style == "raw":
                out["Authorization"] = self.api_key
            elif style in ("oauth", "none"):  # a local server started with a key, a subscription token
                out["Authorization"] = f"Bearer {self.api_key}"
        out.update(self.headers)
        return out


class AccountPool:
    """Usable accounts per provider in priority order, rebuilt on every configuration change."""

    def __init__(self, registry: ProviderRegistry, secrets: SecretBox, state: SharedState,
                 selector: Selector | None = None):
        self._registry = registry
        self._secrets = secrets
        self._state = state
        self.selector = selector or Selector(state)
        self._by_provider: dict[str, tuple[Account, ...]] = {}
        self._headers_cache: dict[str, dict[str, str]] = {}
        self._limited = False
        # Whether requests take in-flight slots: some account has a limit, or a strategy reads the counts.
        self.limits = False
        self.on_load = None  # called after every load (the proxy router drops sessions no one uses)

    def load(self, rows: list[dict]) -> None:
        by_provider: dict[str, list[Account]] = {}
        for row in rows:
            spec = self._registry.get(row["provider"])
            if spec is None or not row["isActive"] or row.get("status") in UNUSABLE_STATUSES:
                continue
            base = self.base_url_of(spec, row)
            if base is None:
                continue
            try:
                proxy = ProxySpec.from_json(self._secrets.decrypt_json(row["proxyEnc"])) \
                    if row.get("proxyEnc") else None
            except Exception as exc:  # noqa: BLE001 - a broken proxy must not send the account direct
                log.warning("connection %r is not served: its proxy is unusable (%s)", row["id"],
                            exc.__class__.__name__)
                continue
            account = Account(
                id=row["id"], provider=spec, name=row["name"],
                api_key=self._secrets.decrypt(row["apiKeyEnc"]), base_url=base,
                priority=row["priority"], default_model=row["defaultModel"],
                headers=self._secrets.decrypt_json(row["headersEnc"], {}),
                chat_url=join_url(base, spec.chat_path, spec.query),
                max_concurrency=row.get("maxConcurrency") or None,
                proxy=proxy,
            )
            by_provider.setdefault(spec.id, []).append(account)
        self._by_provider = {
            pid: tuple(sorted(accts, key=lambda a: (a.priority, a.id))) for pid, accts in by_provider.items()
        }
        self._headers_cache = {a.id: a.auth_headers() for accts in self._by_provider.values() for a in accts}
        self._limited = any(a.max_concurrency for accts in self._by_provider.values() for a in accts)
        self.limits = self._limited or self.selector.config.tracks_in_flight
        if self.on_load is not None:
            self.on_load()

    @staticmethod
    def base_url_of(spec: ProviderSpec, row: dict) -> str | None:
        """The connection's base URL, or the catalog's with its ``{field}``s filled from providerData."""
        if row["baseUrl"]:
            return row["baseUrl"].rstrip("/")
        fields = spec.url_fields
        if not fields:
            return spec.base_url
        data = row.get("providerData") or {}
        missing = [name for name in fields if not data.get(name)]
        if missing:
            log.warning("connection %r of %s is not served: it needs providerData %s or a baseUrl",
                        row["id"], spec.id, ", ".join(missing))
            return None
        return spec.base_url.format_map({name: str(data[name]) for name in fields}).rstrip("/")

    def configure(self, config: SelectionConfig) -> None:
        """Apply a new account-selection setting (live)."""
        self.selector.config = config
        self.limits = self._limited or config.tracks_in_flight

    def headers(self, account: Account) -> dict[str, str]:
        """Upstream headers, computed once per configuration load."""
        return self._headers_cache[account.id]

    def providers(self) -> list[str]:
        return list(self._by_provider)

    def accounts(self, provider_id: str) -> tuple[Account, ...]:
        return self._by_provider.get(provider_id, ())

    def get(self, account_id: str) -> Account | None:
        for accts in self._by_provider.values():
            for account in accts:
                if account.id == account_id:
                    return account
        return None

    async def candidates(self, provider_id: str) -> list[Account]:
        """Accounts to try: the strategy's order, accounts cooling down moved to the end, accounts
        at their concurrency limit left out (when all are, it waits briefly, then 429)."""
        accounts = self._by_provider.get(provider_id, ())
        if len(accounts) <= 1 and not self.limits:
            return list(accounts)
        ready, cooling = [], []
        for account in accounts:  # asked per request and account: a peek (see SharedState)
            (cooling if await self._state.peek(f"cooldown:{account.id}") is not None else ready).append(account)
        strategy = self.selector.config.strategy_for(provider_id)
        if strategy != FILL_FIRST and len(ready) > 1:
            ready = await self.selector.order(provider_id, strategy, ready)
        ordered = ready + cooling
        if self._limited:
            ordered = await self._with_free_slots(provider_id, ordered)
        return ordered

    async def _with_free_slots(self, provider_id: str, accounts: list[Account]) -> list[Account]:
        deadline = None
        while True:
            free = [a for a in accounts if not a.max_concurrency
                    or int(await self._state.get(inflight_key(a.id)) or 0) < a.max_concurrency]
            if free or not accounts:
                return free
            now = time.monotonic()
            if deadline is None:
                deadline = now + CONCURRENCY_WAIT_S
            elif now >= deadline:
                raise self.busy_error(provider_id)
            await asyncio.sleep(CONCURRENCY_POLL_S)

    @property
    def state(self) -> SharedState:
        """The shared state the pool keeps its counters in (combos keep theirs there too)."""
        return self._state

    @staticmethod
    def busy_error(provider_id: str) -> RateLimited:
        return RateLimited(f"every connection of provider '{provider_id}' is at its concurrency limit "
                           "(maxConcurrency); retry shortly", code="concurrency_limited")

    async def acquire(self, account: Account) -> bool:
        """Take an in-flight slot of ``account``; False when it is at its limit. Each True needs
        one ``release``. Only called while ``limits`` is on."""
        key = inflight_key(account.id)
        count = await self._state.incr(key)
        if account.max_concurrency and count > account.max_concurrency:
            await self._state.incr(key, -1)
            return False
        return True

    async def release(self, account: Account) -> None:
        await self._state.incr(inflight_key(account.id), -1)

    async def in_flight(self, account_id: str) -> int:
        return int(await self._state.get(inflight_key(account_id)) or 0)

    async def cool_down(self, account: Account, base_s: float = COOLDOWN_BASE_S, max_s: float = COOLDOWN_MAX_S,
                        seconds: float | None = None) -> float:
        """Put an account in cooldown, doubling from ``base_s`` per consecutive failure up to ``max_s``
        (or for the ``seconds`` the upstream asked for); returns seconds."""
        level = await self._state.incr(f"cooldown-level:{account.id}", ttl=max(max_s, seconds or 0) * 2)
        if seconds is None:
            seconds = min(base_s * 2 ** (level - 1), max_s)
        if seconds > 0:
            await self._state.set(f"cooldown:{account.id}", 1, ttl=seconds)
        return seconds

    async def cooldown_level(self, account_id: str) -> int:
        return int(await self._state.get(f"cooldown-level:{account_id}") or 0)

    async def recovered(self, account: Account) -> None:
        await self._state.delete(f"cooldown-level:{account.id}")

    async def cooldown_left(self, account_id: str) -> float | None:
        return await self._state.ttl(f"cooldown:{account_id}")
