"""Accounts (connections) ready for the hot path, and their cooldowns in shared state."""

from __future__ import annotations

from dataclasses import dataclass, field

from omniroute.auth.secrets import SecretBox
from omniroute.providers.catalog import ProviderSpec
from omniroute.providers.registry import ProviderRegistry
from omniroute.state import SharedState

COOLDOWN_BASE_S = 3.0
COOLDOWN_MAX_S = 120.0


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

    def url_for(self, model: str, stream: bool) -> str:
        """The upstream chat URL; Gemini carries the model and the streaming mode in the path."""
        if self.provider.dialect == "gemini":
            method = "streamGenerateContent?alt=sse" if stream else "generateContent"
            return f"{self.base_url}/models/{model}:{method}"
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
        out.update(self.headers)
        return out


class AccountPool:
    """Active accounts per provider in priority order, rebuilt on every configuration change."""

    def __init__(self, registry: ProviderRegistry, secrets: SecretBox, state: SharedState):
        self._registry = registry
        self._secrets = secrets
        self._state = state
        self._by_provider: dict[str, tuple[Account, ...]] = {}
        self._headers_cache: dict[str, dict[str, str]] = {}

    def load(self, rows: list[dict]) -> None:
        by_provider: dict[str, list[Account]] = {}
        for row in rows:
            spec = self._registry.get(row["provider"])
            if spec is None or not row["isActive"]:
                continue
            base = (row["baseUrl"] or spec.base_url).rstrip("/")
            account = Account(
                id=row["id"], provider=spec, name=row["name"],
                api_key=self._secrets.decrypt(row["apiKeyEnc"]), base_url=base,
                priority=row["priority"], default_model=row["defaultModel"],
                headers=self._secrets.decrypt_json(row["headersEnc"], {}), chat_url=base + spec.chat_path,
            )
            by_provider.setdefault(spec.id, []).append(account)
        self._by_provider = {
            pid: tuple(sorted(accts, key=lambda a: (a.priority, a.id))) for pid, accts in by_provider.items()
        }
        self._headers_cache = {a.id: a.auth_headers() for accts in self._by_provider.values() for a in accts}

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
        """Accounts to try, in priority order, the ones cooling down moved to the end."""
        accounts = self._by_provider.get(provider_id, ())
        if len(accounts) <= 1:
            return list(accounts)
        ready, cooling = [], []
        for account in accounts:
            (cooling if await self._state.ttl(f"cooldown:{account.id}") else ready).append(account)
        return ready + cooling

    async def cool_down(self, account: Account) -> float:
        """Put an account in cooldown, doubling per consecutive failure; returns seconds."""
        level = await self._state.incr(f"cooldown-level:{account.id}", ttl=COOLDOWN_MAX_S * 2)
        seconds = min(COOLDOWN_BASE_S * 2 ** (level - 1), COOLDOWN_MAX_S)
        await self._state.set(f"cooldown:{account.id}", 1, ttl=seconds)
        return seconds

    async def recovered(self, account: Account) -> None:
        await self._state.delete(f"cooldown-level:{account.id}")

    async def cooldown_left(self, account_id: str) -> float | None:
        return await self._state.ttl(f"cooldown:{account_id}")
