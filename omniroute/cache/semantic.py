"""The semantic layer of the response cache: near-identical last user turns map to an earlier entry.

An exact-key miss asks the index for an earlier entry of the same scope (API key, resolved
model and a hash of everything in the request but the last user turn's text) whose last
user turn embeds within the threshold; the answer is that entry's exact cache key. The index
is a bounded in-memory structure owned by the app; losing it only costs cache hits.
"""

from __future__ import annotations

import math
import operator
from array import array
from collections import OrderedDict
from collections.abc import Sequence

import orjson

from omniroute.cache.embedders import Embedder

Vector = array  # array('f'): unit-length float32 components

_sumprod = getattr(math, "sumprod", None)  # Python 3.12+


def _dot(a: Vector, b: Vector) -> float:
    if _sumprod is not None:
        return _sumprod(a, b)
    return sum(map(operator.mul, a, b))


def scope_of(api_key_id: str | None, model: str, rest_hash: str) -> str:
    """The scope an entry lives in; JSON-encoded so no two (key, model, hash) triples collide."""
    return orjson.dumps([api_key_id, model, rest_hash]).decode()


def key_scope_prefix(api_key_id: str | None) -> str:
    """The prefix every scope of one API key starts with, for `SemanticIndex.clear`."""
    return orjson.dumps([api_key_id]).decode()[:-1] + ","


class SemanticIndex:
    """Last-user-turn embeddings per scope, bounded by an LRU over all entries."""

    def __init__(self, embedder: Embedder, threshold: float = 0.95, max_entries: int = 5000) -> None:
        if not 0.0 < threshold <= 1.0:
            raise ValueError("threshold must be in (0, 1]")
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self.embedder = embedder
        self.threshold = threshold
        self.max_entries = max_entries
        self._lru: OrderedDict[str, str] = OrderedDict()  # entry key -> scope, oldest first
        self._scopes: dict[str, dict[str, Vector]] = {}  # scope -> entry key -> vector

    def __len__(self) -> int:
        return len(self._lru)

    async def embed_once(self, text: str) -> Vector:
        """The text's vector, to pass to both `match` and `add` so a miss then a store embeds once."""
        (vector,) = await self.embedder.embed([text])
        return array("f", vector)

    async def match(self, scope: str, text: str, *, vector: Sequence[float] | None = None) -> str | None:
        """The exact key of the most similar entry in `scope` at or above the threshold, if any."""
        entries = self._scopes.get(scope)
        if not entries or not text.strip():
            return None  # nothing to compare with: leave the embedding to `add`
        query = await self._vector(text, vector)
        best_key, best_score = None, self.threshold
        size = len(query)
        # The scope may have changed while the embedding was awaited: read it afresh.
        for key, candidate in self._scopes.get(scope, {}).items():
            if len(candidate) != size:
                continue  # embedded by another model
            score = _dot(query, candidate)
            if score >= best_score:
                best_key, best_score = key, score
        if best_key is not None:
            self._lru.move_to_end(best_key)
        return best_key

    async def add(
        self, scope: str, text: str, entry_key: str, *, vector: Sequence[float] | None = None
    ) -> None:
        """Index `entry_key` under `scope` by its last user turn; the oldest entries go past the bound."""
        if not text.strip():
            return
        stored = await self._vector(text, vector)
        self.remove(entry_key)
        self._scopes.setdefault(scope, {})[entry_key] = stored
        self._lru[entry_key] = scope
        while len(self._lru) > self.max_entries:
            oldest, oldest_scope = self._lru.popitem(last=False)
            self._drop(oldest_scope, oldest)

    def remember(self, scope: str, text: str, entry_key: str, vector: Sequence[float]) -> None:
        """``add`` with the vector already embedded (no await: callable from a stream's end)."""
        if not text.strip():
            return
        self.remove(entry_key)
        self._scopes.setdefault(scope, {})[entry_key] = vector if isinstance(vector, array) else array("f", vector)
        self._lru[entry_key] = scope
        while len(self._lru) > self.max_entries:
            oldest, oldest_scope = self._lru.popitem(last=False)
            self._drop(oldest_scope, oldest)

    def remove(self, entry_key: str) -> None:
        """Forget one entry (e.g. when the exact store evicts or expires it)."""
        scope = self._lru.pop(entry_key, None)
        if scope is not None:
            self._drop(scope, entry_key)

    def clear(self, scope_prefix: str | None = None) -> None:
        """Forget every entry, or those whose scope starts with `scope_prefix`."""
        if scope_prefix is None:
            self._lru.clear()
            self._scopes.clear()
            return
        for scope in [s for s in self._scopes if s.startswith(scope_prefix)]:
            for key in self._scopes.pop(scope):
                self._lru.pop(key, None)

    async def _vector(self, text: str, vector: Sequence[float] | None) -> Vector:
        if vector is None:
            return await self.embed_once(text)
        return vector if isinstance(vector, array) and vector.typecode == "f" else array("f", vector)

    def _drop(self, scope: str, entry_key: str) -> None:
        entries = self._scopes.get(scope)
        if entries is None:
            return
        entries.pop(entry_key, None)
        if not entries:
            del self._scopes[scope]
