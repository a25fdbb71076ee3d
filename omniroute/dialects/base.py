"""The surface every dialect codec offers (used for clients and upstreams alike)."""

from __future__ import annotations

from dataclasses import replace
from typing import Protocol

from omniroute.schema import ChatRequest, ChatResponse, StreamError, StreamEvent

# What every stream decoder ends with when the upstream's bytes stop before its final event.
TRUNCATED = StreamError("upstream stream ended before its final event", "upstream_stream_truncated")


class StreamDecoder(Protocol):
    """Upstream bytes → canonical events, incrementally; never buffers a whole answer."""

    def feed(self, chunk: bytes) -> list[StreamEvent]: ...

    def finish(self) -> list[StreamEvent]:
        """Events still due when the byte stream ends (a missing terminal event is a StreamError)."""
        ...


class StreamEncoder(Protocol):
    """Canonical events → client bytes, incrementally: emits as soon as it can."""

    def feed(self, event: StreamEvent) -> bytes: ...


class Codec(Protocol):
    """One wire dialect."""

    name: str

    def decode_request(self, body: dict) -> ChatRequest:
        """Client JSON → canonical request; raises InvalidRequest naming the field."""
        ...

    def encode_request(self, request: ChatRequest) -> dict:
        """Canonical request → upstream JSON (``request.model`` is already the upstream's name)."""
        ...

    def decode_response(self, body: dict) -> ChatResponse: ...

    def encode_response(self, response: ChatResponse) -> dict: ...

    def stream_decoder(self) -> StreamDecoder: ...

    def stream_encoder(self, model: str) -> StreamEncoder: ...


class ModuleCodec:
    """A codec assembled from a dialect's module-level functions and stream classes."""

    def __init__(self, name: str, *, decode_request, encode_request, decode_response, encode_response,
                 decoder: type, encoder: type):
        self.name = name
        self.decode_request = decode_request
        self.encode_request = encode_request
        self.decode_response = decode_response
        self.encode_response = encode_response
        self._decoder = decoder
        self._encoder = encoder

    def stream_decoder(self) -> StreamDecoder:
        """A fresh decoder for one upstream stream."""
        return self._decoder()

    def stream_encoder(self, model: str, **options) -> StreamEncoder:
        """A fresh encoder writing one client stream for ``model`` (dialect options passed on)."""
        return self._encoder(model, **options)


class FramedDecoder:
    """The skeleton every framed stream decoder shares: ``_split`` cuts bytes into frames (SSE events,
    NDJSON lines), ``_events`` turns frames into canonical events and sets ``_finished`` once a
    Finish or StreamError is out; a stream that ends before that ends with TRUNCATED."""

    _split = None
    _finished = False

    def feed(self, chunk: bytes) -> list[StreamEvent]:
        """Events completed by ``chunk``."""
        return self._events(self._split.feed(chunk))

    def finish(self) -> list[StreamEvent]:
        """Events due at the end of the byte stream; a missing final event becomes a StreamError."""
        out = self._events(self._split.flush())
        if not self._finished:
            self._finished = True
            out.append(replace(TRUNCATED))
        return out

    def _events(self, frames: list[bytes]) -> list[StreamEvent]:
        raise NotImplementedError
