"""Anthropic Messages (``/v1/messages``)."""

from __future__ import annotations

from omniroute.dialects.anthropic.request import decode_request, encode_request
from omniroute.dialects.anthropic.response import decode_response, encode_response
from omniroute.dialects.anthropic.stream import AnthropicStreamDecoder, AnthropicStreamEncoder, error_body
from omniroute.schema import ChatRequest, ChatResponse


class AnthropicCodec:
    """The Anthropic Messages dialect, for clients and upstreams alike."""

    name = "anthropic"

    def decode_request(self, body: dict) -> ChatRequest:
        """Client JSON → canonical request; raises InvalidRequest naming the field."""
        return decode_request(body)

    def encode_request(self, request: ChatRequest) -> dict:
        """Canonical request → Anthropic upstream JSON."""
        return encode_request(request)

    def decode_response(self, body: dict) -> ChatResponse:
        """Anthropic Message object → canonical response."""
        return decode_response(body)

    def encode_response(self, response: ChatResponse) -> dict:
        """Canonical response → Anthropic Message object."""
        return encode_response(response)

    def stream_decoder(self) -> AnthropicStreamDecoder:
        """A decoder for one Anthropic SSE stream."""
        return AnthropicStreamDecoder()

    def stream_encoder(self, model: str) -> AnthropicStreamEncoder:
        """An encoder writing one Anthropic SSE stream for ``model``."""
        return AnthropicStreamEncoder(model)


CODEC = AnthropicCodec()

__all__ = ["CODEC", "AnthropicCodec", "error_body"]
