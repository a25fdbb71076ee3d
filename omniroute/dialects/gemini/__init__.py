"""Google Gemini ``generateContent`` / ``streamGenerateContent`` (model and streaming in the URL)."""

from __future__ import annotations

from omniroute.dialects.base import ModuleCodec
from omniroute.dialects.gemini.request import decode_request, encode_request
from omniroute.dialects.gemini.response import decode_response, encode_response
from omniroute.dialects.gemini.stream import GeminiStreamDecoder, GeminiStreamEncoder, error_body

CODEC = ModuleCodec("gemini", decode_request=decode_request, encode_request=encode_request,
                    decode_response=decode_response, encode_response=encode_response,
                    decoder=GeminiStreamDecoder, encoder=GeminiStreamEncoder)

__all__ = ["CODEC", "error_body"]
