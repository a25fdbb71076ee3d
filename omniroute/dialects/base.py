"""The surface every dialect codec offers (used for clients and upstreams alike)."""

from __future__ import annotations

from typing import Protocol

from omniroute.schema import ChatRequest, ChatResponse, StreamEvent


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
