"""The OpenAI Chat Completions dialect as a translation codec."""

from __future__ import annotations

from omniroute.dialects.openai_chat.request_decode import decode_request
from omniroute.dialects.openai_chat.request_encode import encode_request
from omniroute.dialects.openai_chat.response import decode_response, encode_response
from omniroute.dialects.openai_chat.stream_decode import OpenAIStreamDecoder
from omniroute.dialects.openai_chat.stream_encode import OpenAIStreamEncoder
from omniroute.schema import ChatRequest, ChatResponse


class OpenAIChatCodec:
    """Chat Completions ⇄ canonical, for clients and OpenAI-compatible upstreams alike."""

    name = "openai"

    def decode_request(self, body: dict) -> ChatRequest:
        """Client JSON → canonical request; raises InvalidRequest naming the field."""
        return decode_request(body)

    def encode_request(self, request: ChatRequest) -> dict:
        """Canonical request → upstream JSON."""
        return encode_request(request)

    def decode_response(self, body: dict) -> ChatResponse:
        """Upstream chat.completion → canonical response."""
        return decode_response(body)

    def encode_response(self, response: ChatResponse) -> dict:
        """Canonical response → chat.completion for the client."""
        return encode_response(response)

    def stream_decoder(self) -> OpenAIStreamDecoder:
        """A fresh decoder of upstream SSE bytes."""
        return OpenAIStreamDecoder()

    def stream_encoder(self, model: str, include_usage: bool = False) -> OpenAIStreamEncoder:
        """A fresh encoder of client SSE bytes; ``include_usage`` mirrors the client's stream_options."""
        return OpenAIStreamEncoder(model, include_usage=include_usage)
