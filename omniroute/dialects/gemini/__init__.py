"""Google Gemini ``generateContent`` / ``streamGenerateContent`` (model and streaming in the URL)."""

from __future__ import annotations

from omniroute.dialects.gemini.request import decode_request, encode_request
from omniroute.dialects.gemini.response import decode_response, encode_response
from omniroute.dialects.gemini.stream import GeminiStreamDecoder, GeminiStreamEncoder, error_body
from omniroute.schema import ChatRequest, ChatResponse


class GeminiCodec:
    """The Gemini dialect, for clients and upstreams alike."""

    name = "gemini"

    def decode_request(self, body: dict) -> ChatRequest:
        """Client JSON → canonical request with model "" and stream False (both come from the URL)."""
        return decode_request(body)

    def encode_request(self, request: ChatRequest) -> dict:
        """Canonical request → Gemini body; the caller puts the model and streaming in the URL."""
        return encode_request(request)

    def decode_response(self, body: dict) -> ChatResponse:
        """Gemini GenerateContentResponse → canonical response."""
        return decode_response(body)

    def encode_response(self, response: ChatResponse) -> dict:
        """Canonical response → Gemini GenerateContentResponse."""
        return encode_response(response)

    def stream_decoder(self) -> GeminiStreamDecoder:
        """A decoder for one Gemini ``alt=sse`` stream."""
        return GeminiStreamDecoder()

    def stream_encoder(self, model: str) -> GeminiStreamEncoder:
        """An encoder writing one Gemini ``alt=sse`` stream for ``model``."""
        return GeminiStreamEncoder(model)


CODEC = GeminiCodec()

__all__ = ["CODEC", "GeminiCodec", "error_body"]
