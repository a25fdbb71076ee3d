"""Client API keys: generation, hashing and the in-memory key ring used on the hot path."""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass
from fnmatch import fnmatchcase

KEY_PREFIX = "sk-omni-"


def generate_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_key(raw: str) -> str:
    # Keys carry 256 bits of randomness, so a fast hash is enough and keeps lookups O(1).
    return hashlib.sha256(raw.encode()).hexdigest()


def key_hint(raw: str) -> str:
    return f"{raw[:len(KEY_PREFIX) + 4]}…{raw[-4:]}"


@dataclass(frozen=True, slots=True)
class ApiKey:
    """What the hot path needs to know about a known key."""

    id: str
    name: str
    scopes: frozenset[str]
    allowed_models: tuple[str, ...] | None
    expires_at: float | None
    revoked_at: float | None

    def usable(self, now: float | None = None) -> bool:
        if self.revoked_at is not None:
            return False
        return self.expires_at is None or self.expires_at > (now or time.time())

    def allows_model(self, model: str) -> bool:
        if not self.allowed_models:
            return True
        return any(fnmatchcase(model, pattern) for pattern in self.allowed_models)


class KeyRing:
    """Every known key by hash, rebuilt after each change through the management API."""

    _MEMO_SIZE = 4096

    def __init__(self) -> None:
        self._by_hash: dict[str, ApiKey] = {}
        self._memo: dict[str, ApiKey | None] = {}  # presented secret → answer, spares a hash per request

    def load(self, rows: list[dict]) -> None:
        self._by_hash = {
            row["keyHash"]: ApiKey(
                id=row["id"],
                name=row["name"],
                scopes=frozenset(row["scopes"] or ()),
                allowed_models=tuple(row["allowedModels"]) if row["allowedModels"] else None,
                expires_at=row["expiresAt"],
                revoked_at=row["revokedAt"],
            )
            for row in rows
        }
        self._memo = {}

    def lookup(self, raw: str | None) -> ApiKey | None:
        """The key record for a presented secret, or None when it is unknown."""
        if not raw:
            return None
        try:
            return self._memo[raw]
        except KeyError:
            pass
        key = self._by_hash.get(hash_key(raw))
        if len(self._memo) >= self._MEMO_SIZE:
            self._memo.clear()  # bounded: random keys sent by strangers cannot grow it
        self._memo[raw] = key
        return key

    def __len__(self) -> int:
        return len(self._by_hash)
