"""The response cache in the request flow: look a request up before routing it upstream, answer a
hit in the client's dialect (a stream for a streaming request), and keep a finished answer."""

from __future__ import annotations

import logging
import time

from omniroute.cache import codec, keys
from omniroute.cache.store import ResponseCache
from omniroute.dialects import provenance, translate
from omniroute.dialects.tap import progress_event, progress_supported
from omniroute.schema import ChatRequest, ChatResponse

log = logging.getLogger("omniroute")


class Replay:
    """A cached answer told as one stream chunk; closing it records the exchange."""

    def __init__(self, data: bytes, on_close, ex):
        self._data = data
        self._on_close = on_close
        self._ex = ex

    def __aiter__(self):
        return self

    async def __anext__(self) -> bytes:
        if not self._data:
            raise StopAsyncIteration
        data, self._data = self._data, b""
        return data

    async def aclose(self) -> None:
        if self._on_close is not None:
            on_close, self._on_close = self._on_close, None
            on_close(self._ex)


class CacheResponder:
    """Glue between the pipeline and ``ResponseCache`` (and the semantic layer, when it is on)."""

    def __init__(self, cache: ResponseCache):
        self.cache = cache
        self.semantic = None  # cache.semantic.SemanticIndex when the setting turns it on

    def settings(self) -> dict:
        """The ``cache`` setting as it is live."""
        semantic = self.semantic
        return {**self.cache.config.to_json(), "semantic": {
            "enabled": semantic is not None, "threshold": semantic.threshold if semantic else 0.95,
            "embedder": "local" if semantic is None or semantic.embedder.name.startswith("all-MiniLM")
            else semantic.embedder.name}}

    def wants(self, ex, canonical: ChatRequest | None) -> bool:
        """Whether the cache may answer this request (mode, opt-out header, determinism)."""
        mode = self.cache.config.mode
        if mode == keys.OFF or ex.no_cache:
            return False
        if mode == keys.DETERMINISTIC and not keys.deterministic(ex.client_format, ex.body, canonical):
            return False
        return not keys.several_answers(ex.client_format, ex.body)

    async def lookup(self, ex, canonical: ChatRequest, resolved: str):
        """The cached entry for this request, or None (then the exchange is marked as a miss)."""
        key = keys.request_key(ex.api_key.id if ex.api_key else None, resolved, canonical, ex.client_format,
                               ex.body)
        entry = await self.cache.get(key)
        if entry is None and self.semantic is not None:
            entry = await self._semantic(ex, canonical, resolved, key)
        ex.cache_key, ex.cache_model = key, resolved
        ex.cache = "HIT" if entry is not None else "MISS"
        return entry

    async def _semantic(self, ex, canonical: ChatRequest, resolved: str, key: str):
        text = keys.last_user_text(canonical)
        if not text:
            return None
        from omniroute.cache.semantic import scope_of

        scope = scope_of(ex.api_key.id if ex.api_key else None, resolved, keys.rest_hash(canonical, resolved))
        try:
            vector = await self.semantic.embed_once(text)  # once: the store after a miss reuses it
            match = await self.semantic.match(scope, text, vector=vector)
        except Exception as exc:  # the semantic layer is best effort: a failure is a miss
            log.warning("semantic cache lookup failed: %s", exc)
            return None
        ex.semantic = (scope, text, vector)
        return None if match is None else await self.cache.get(match)

    def store(self, ex, answer: ChatResponse, upstream: str) -> None:
        """Keep a whole, successful answer (call before it is encoded for the client)."""
        if answer.stop_reason == "error":
            return
        if self.cache.put(ex.cache_key, codec.dumps(answer), upstream, ex.cache_model):
            if ex.semantic is not None and self.semantic is not None:
                scope, text, vector = ex.semantic
                self.semantic.remember(scope, text, ex.cache_key, vector)

    def answer(self, ex, entry, canonical: ChatRequest, streaming: bool, on_close, headers):
        """The client's answer for a hit: (status, headers, body or stream)."""
        answer = codec.loads(entry.value)
        ex.usage = answer.usage
        client = ex.client_format
        headers = [*headers, (b"x-omniroute-cache", b"HIT")]
        if not streaming:
            import orjson

            body = orjson.dumps(translate.encode_answer(answer, entry.upstream, client, canonical))
            return headers + [(b"content-type", b"application/json")], body, None
        options = {"array": True} if ex.json_array else {}
        encoder = translate.stream_encoder(client, ex.requested_model, canonical, **options)
        if hasattr(encoder, "include_usage"):
            encoder.include_usage = (ex.body.get("stream_options") or {}).get("include_usage") is True
        out = b"".join(encoder.feed(provenance.stream_event(event, entry.upstream, client))
                       for event in codec.replay(answer, ex.requested_model))
        if ex.progress and progress_supported(client, ex.json_array):
            out += progress_event(client, ex.requested_model, answer.usage.output,
                                  int((time.perf_counter() - ex.started) * 1000), True)
            headers.append((b"x-omniroute-progress", b"enabled"))
        headers += [(b"content-type", translate.stream_media_type(client, ex.json_array)),
                    (b"cache-control", b"no-cache")]
        return headers, b"", Replay(out, on_close, ex)


def configure(responder: CacheResponder, value: dict, embed_via_gateway=None) -> None:
    """Apply the ``cache`` setting: the store's limits and mode, and the semantic layer."""
    from omniroute.cache.store import CacheConfig

    fields = {k: v for k, v in value.items() if k in CacheConfig.__dataclass_fields__}
    responder.cache.configure(CacheConfig(**fields))
    semantic = value.get("semantic") or {}
    if not semantic.get("enabled"):
        responder.semantic = None
        return
    from omniroute.cache.embedders import GatewayEmbedder, LocalMiniLM
    from omniroute.cache.semantic import SemanticIndex

    source = semantic.get("embedder") or "local"
    if source == "local":
        embedder = LocalMiniLM()
    else:
        embedder = GatewayEmbedder(lambda texts: embed_via_gateway(source, texts), name=source)
    old = responder.semantic
    if old is None or old.embedder.name != embedder.name:
        responder.semantic = SemanticIndex(embedder, threshold=float(semantic.get("threshold", 0.95)))
    else:
        old.threshold = float(semantic.get("threshold", 0.95))
