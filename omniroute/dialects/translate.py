"""A translated exchange, step by step: the one path the pipeline and the golden table both take.

client body → canonical request → upstream body; upstream answer → canonical → client answer;
upstream stream → canonical events → client stream. Reasoning payloads get their provenance on
the way (see ``provenance.py``).
"""

from __future__ import annotations

from omniroute.dialects import provenance
from omniroute.dialects.registry import codec
from omniroute.dialects.relay import TranslatingRelay
from omniroute.schema import ChatRequest, ChatResponse


def decode_client(client: str, body: dict) -> ChatRequest:
    """A client's body in canonical form, with the reasoning payloads it hands back restored."""
    request = codec(client).decode_request(body)
    request.foreign_reasoning = provenance.from_client(request, client)
    return request


def encode_upstream(request: ChatRequest, upstream: str) -> dict:
    """The upstream's body for a canonical request (only payloads that upstream issued)."""
    provenance.for_upstream(request, upstream)
    return codec(upstream).encode_request(request)


def decode_answer(upstream: str, data: dict) -> ChatResponse:
    return codec(upstream).decode_response(data)


def encode_answer(answer: ChatResponse, upstream: str, client: str, request: ChatRequest | None = None) -> dict:
    """The client's answer; reasoning payloads of the upstream are wrapped for a client of another dialect."""
    provenance.for_client(answer.parts, upstream, client)
    return codec(client).encode_response(answer, **_client_options(client, request))


def stream_relay(upstream: str, client: str, model: str, request: ChatRequest | None = None,
                 **options) -> TranslatingRelay:
    """Upstream stream bytes → client stream bytes."""
    return TranslatingRelay(codec(upstream).stream_decoder(), stream_encoder(client, model, request, **options),
                            upstream, client)


def stream_encoder(client: str, model: str, request: ChatRequest | None = None, **options):
    """The client's stream encoder, told what it must know of the request."""
    return codec(client).stream_encoder(model, **options, **_client_options(client, request))


def stream_media_type(client: str, json_array: bool = False) -> bytes:
    """The Content-Type of a stream in the client's framing (a Gemini stream without SSE: one JSON array)."""
    if json_array:
        return b"application/json; charset=utf-8"
    return b"application/x-ndjson" if client == "ollama" else b"text/event-stream; charset=utf-8"


def _client_options(client: str, request: ChatRequest | None) -> dict:
    """What a client encoder must know of the request: which tools a Responses client runs itself."""
    if client != "responses" or request is None:
        return {}
    kinds = {tool.name: tool.kind for tool in request.tools if tool.kind != "function"}
    return {"tool_kinds": kinds} if kinds else {}
