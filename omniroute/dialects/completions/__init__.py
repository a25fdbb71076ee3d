"""OpenAI's legacy Completions (``POST /v1/completions``): one text prompt in, text out."""

from __future__ import annotations

from omniroute.dialects.base import ModuleCodec
from omniroute.dialects.completions.request import decode_request, encode_request, wants_usage
from omniroute.dialects.completions.response import decode_response, encode_response
from omniroute.dialects.completions.stream import CompletionsStreamDecoder, CompletionsStreamEncoder

# As with the Chat codec, ``include_usage`` is set on the encoder when the client asked for usage
# (``wants_usage(body)`` reads the client's ``stream_options``).
CODEC = ModuleCodec("completions", decode_request=decode_request, encode_request=encode_request,
                    decode_response=decode_response, encode_response=encode_response,
                    decoder=CompletionsStreamDecoder, encoder=CompletionsStreamEncoder)

__all__ = ["CODEC", "wants_usage"]
