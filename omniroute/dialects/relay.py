"""Stream relays: what turns upstream stream bytes into client stream bytes.

Three kinds share one surface (``feed``, ``finish``, ``fail``, ``done``, ``usage``):
the OpenAI pass-through (bytes forwarded, usage chunk hidden when not asked for), the
observing pass-through (same dialect on both sides: bytes forwarded untouched while a
decoder watches for usage and the end), and the translating relay (decode upstream
events, encode them in the client's dialect).
"""

from __future__ import annotations

from omniroute.dialects import provenance
from omniroute.dialects.base import TRUNCATED as TRUNCATED_EVENT
from omniroute.dialects.openai_chat.stream import OpenAIStreamRelay
from omniroute.schema import (
    Finish,
    ReasoningDelta,
    StreamError,
    StreamEvent,
    TextDelta,
    ToolCallDelta,
    Usage,
    UsageUpdate,
)

TRUNCATED = TRUNCATED_EVENT.message


class TranslatingRelay:
    """Upstream decoder → canonical events → client encoder, incrementally."""

    def __init__(self, decoder, encoder, upstream: str | None = None, client: str | None = None):
        self._decoder = decoder
        self._encoder = self.encoder = encoder
        # Reasoning payloads are tagged with their issuer, and wrapped for a client of another dialect.
        self._origin = upstream if upstream in provenance.ISSUERS else None
        self._client = client
        self.usage = Usage()
        self.done = False
        self.failed = False
        self.output_chars = 0  # text, reasoning and tool arguments relayed (for usage estimates)

    def output_estimate(self) -> int:
        """Output tokens estimated from what was relayed, when the upstream reports none."""
        return -(-self.output_chars // 4)

    def feed(self, chunk: bytes) -> bytes:
        return self._emit(self._decoder.feed(chunk))

    def finish(self) -> bytes:
        """At the upstream's end of stream: what is still due, an error event when it ended early."""
        return self._emit(self._decoder.finish())

    def fail(self, message: str, code: str) -> bytes:
        return self._emit([StreamError(message, code)])

    def _observe(self, events: list[StreamEvent]) -> None:
        for event in events:
            if isinstance(event, TextDelta | ReasoningDelta):
                self.output_chars += len(event.text)
            elif isinstance(event, ToolCallDelta):
                self.output_chars += len(event.arguments)
            elif isinstance(event, UsageUpdate):
                self.usage = event.usage
            elif isinstance(event, Finish):
                self.done = True
            elif isinstance(event, StreamError):
                self.done, self.failed = False, True

    def _emit(self, events: list[StreamEvent]) -> bytes:
        if not events:
            return b""
        if self._origin is not None:
            events = [provenance.stream_event(e, self._origin, self._client) for e in events]
        self._observe(events)
        return b"".join(self._encoder.feed(event) for event in events)


class ObservingRelay(TranslatingRelay):
    """Same dialect on both sides: forward the upstream's bytes untouched, decode only to watch."""

    def feed(self, chunk: bytes) -> bytes:
        self._observe(self._decoder.feed(chunk))
        return chunk

    def finish(self) -> bytes:
        events = self._decoder.finish()
        self._observe(events)
        errors = [e for e in events if isinstance(e, StreamError)]
        return b"".join(self._encoder.feed(e) for e in errors)


class OpenAIPassThrough:
    """OpenAI client over an OpenAI upstream: the cheapest relay (no per-chunk JSON parsing)."""

    def __init__(self, client_wants_usage: bool):
        self._relay = OpenAIStreamRelay(client_wants_usage)
        self.done = False
        self.failed = False

    @property
    def usage(self) -> Usage:
        from omniroute.dialects.openai_chat.usage import usage_from_openai

        return usage_from_openai(self._relay.usage)

    def output_estimate(self) -> int:
        """OpenAI-compatible servers stream about one token per chunk."""
        return self._relay.chunks

    def feed(self, chunk: bytes) -> bytes:
        return self._relay.feed(chunk)

    def finish(self) -> bytes:
        out = self._relay.finish()
        if not self._relay.done and self._relay.finished:
            # Finished without the terminator some servers leave out: the answer is whole,
            # so the client gets the terminator its SDK expects.
            out += b"data: [DONE]\n\n"
        self.done = self._relay.done or self._relay.finished
        if not self.done:
            out += self.fail(TRUNCATED, "upstream_stream_truncated")
        return out

    def fail(self, message: str, code: str) -> bytes:
        self.failed = True
        return OpenAIStreamRelay.error_event(message, code)
