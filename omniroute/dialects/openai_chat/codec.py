"""The OpenAI Chat Completions dialect as a translation codec."""

from __future__ import annotations

from omniroute.dialects.base import ModuleCodec
from omniroute.dialects.openai_chat.request_decode import decode_request
from omniroute.dialects.openai_chat.request_encode import encode_request
from omniroute.dialects.openai_chat.response import decode_response, encode_response
from omniroute.dialects.openai_chat.stream_decode import OpenAIStreamDecoder
from omniroute.dialects.openai_chat.stream_encode import OpenAIStreamEncoder

# The pipeline sets ``include_usage`` on the encoder when the client asked for the usage chunk.
CODEC = ModuleCodec("openai", decode_request=decode_request, encode_request=encode_request,
                    decode_response=decode_response, encode_response=encode_response,
                    decoder=OpenAIStreamDecoder, encoder=OpenAIStreamEncoder)
