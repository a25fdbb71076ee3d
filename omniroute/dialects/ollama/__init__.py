"""Ollama chat (``/api/chat``), streamed as NDJSON."""

from __future__ import annotations

from omniroute.dialects.base import ModuleCodec
from omniroute.dialects.ollama.request import decode_request, encode_request
from omniroute.dialects.ollama.response import decode_response, encode_response, error_body
from omniroute.dialects.ollama.stream import OllamaStreamDecoder, OllamaStreamEncoder

CODEC = ModuleCodec("ollama", decode_request=decode_request, encode_request=encode_request,
                    decode_response=decode_response, encode_response=encode_response,
                    decoder=OllamaStreamDecoder, encoder=OllamaStreamEncoder)

__all__ = ["CODEC", "error_body"]
