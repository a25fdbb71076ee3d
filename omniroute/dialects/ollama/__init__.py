"""Ollama chat (``/api/chat``), streamed as NDJSON."""

from __future__ import annotations

from omniroute.dialects.ollama.request import decode_request, encode_request
from omniroute.dialects.ollama.response import decode_response, encode_response, error_body
from omniroute.dialects.ollama.stream import OllamaStreamDecoder, OllamaStreamEncoder
from omniroute.schema import ChatRequest, ChatResponse


class OllamaCodec:
    """The Ollama chat dialect, for clients and upstreams alike."""

    name = "ollama"

    def decode_request(self, body: dict) -> ChatRequest:
        """Client JSON → canonical request; raises InvalidRequest naming the field."""
        return decode_request(body)

    def encode_request(self, request: ChatRequest) -> dict:
        """Canonical request → Ollama upstream JSON (POST /api/chat)."""
        return encode_request(request)

    def decode_response(self, body: dict) -> ChatResponse:
        """Ollama chat answer → canonical response."""
        return decode_response(body)

    def encode_response(self, response: ChatResponse) -> dict:
        """Canonical response → Ollama chat answer."""
        return encode_response(response)

    def stream_decoder(self) -> OllamaStreamDecoder:
        """A decoder for one Ollama NDJSON stream."""
        return OllamaStreamDecoder()

    def stream_encoder(self, model: str) -> OllamaStreamEncoder:
        """An encoder writing one Ollama NDJSON stream for ``model``."""
        return OllamaStreamEncoder(model)


CODEC = OllamaCodec()

__all__ = ["CODEC", "OllamaCodec", "error_body"]
