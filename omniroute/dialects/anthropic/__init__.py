"""Anthropic Messages (``/v1/messages``)."""

from __future__ import annotations

from omniroute.dialects.anthropic.request import decode_request, encode_request
from omniroute.dialects.anthropic.response import decode_response, encode_response
from omniroute.dialects.anthropic.stream import AnthropicStreamDecoder, AnthropicStreamEncoder, error_body
from omniroute.dialects.base import ModuleCodec

CODEC = ModuleCodec("anthropic", decode_request=decode_request, encode_request=encode_request,
                    decode_response=decode_response, encode_response=encode_response,
                    decoder=AnthropicStreamDecoder, encoder=AnthropicStreamEncoder)

__all__ = ["CODEC", "error_body"]
