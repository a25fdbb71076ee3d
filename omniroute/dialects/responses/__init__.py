"""OpenAI Responses (``/v1/responses``)."""

from __future__ import annotations

from omniroute.dialects.base import ModuleCodec
from omniroute.dialects.responses.request import decode_request, encode_request
from omniroute.dialects.responses.response import decode_response, encode_response
from omniroute.dialects.responses.stream import (
    ResponsesStreamDecoder,
    ResponsesStreamEncoder,
    stream_error_event,
)

CODEC = ModuleCodec("responses", decode_request=decode_request, encode_request=encode_request,
                    decode_response=decode_response, encode_response=encode_response,
                    decoder=ResponsesStreamDecoder, encoder=ResponsesStreamEncoder)

_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    409: "conflict_error",
    413: "invalid_request_error",
    422: "invalid_request_error",
    429: "rate_limit_error",
}


def error_body(status: int, message: str, code: str | None = None) -> dict:
    """The OpenAI-family error shape the Responses API answers with for an HTTP status."""
    kind = _ERROR_TYPES.get(status) or ("server_error" if status >= 500 else "invalid_request_error")
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}


__all__ = ["CODEC", "error_body", "stream_error_event"]
