"""Fake Deepgram pre-recorded transcription upstream (``POST /v1/listen``): a real aiohttp server for tests."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.fakes.base import FakeUpstream, RecordedRequest, json_response

DEFAULT_MODELS = ["nova-3", "nova-2", "whisper-large"]
# Bytes per second of the fake's notional audio (16 kHz, 16-bit, mono), which sets the reported duration.
BYTES_PER_SECOND = 32_000

_ERRORS: dict[int, tuple[str, str]] = {
    400: ("Bad Request", "Bad Request: failed to process audio: corrupt or unsupported data"),
    401: ("INVALID_AUTH", "Invalid credentials."),
    402: ("ASR_PAYMENT_REQUIRED", "Project does not have enough credits for an ASR request."),
    403: ("INSUFFICIENT_PERMISSIONS", "User does not have sufficient permissions."),
    404: ("Not Found", "The requested resource was not found."),
    413: ("Payload Too Large", "The request body is too large."),
    429: ("TOO_MANY_REQUESTS", "Too many requests. Please try again later."),
    500: ("INTERNAL_SERVER_ERROR", "An internal server error occurred."),
    503: ("SERVICE_UNAVAILABLE", "The service is temporarily unavailable."),
}


def error_body(status: int, message: str | None = None) -> dict[str, Any]:
    """Deepgram's error shape: ``{"err_code", "err_msg", "request_id"}``."""
    code, text = _ERRORS.get(status, ("UNKNOWN", "Upstream error"))
    return {"err_code": code, "err_msg": message or text, "request_id": str(uuid.uuid4())}


@dataclass
class RecordedDeepgramRequest(RecordedRequest):
    """A RecordedRequest plus the query parameters (model, language, options)."""

    query: dict[str, str] = field(default_factory=dict)


class FakeDeepgram(FakeUpstream):
    """A fake Deepgram: ``Authorization: Token <key>``, audio bytes in the body, options in the query.

    ``transcript`` is the text every answer carries; the duration follows the body's size
    (``BYTES_PER_SECOND``) unless ``duration`` is set; ``detected_language`` is reported when the
    request asks for ``detect_language=true``."""

    name = "fake-deepgram"
    description = "Fake Deepgram pre-recorded transcription upstream"
    default_port = 18090
    default_models = tuple(DEFAULT_MODELS)

    def __init__(self, latency_ms: float = 0, port: int = 0, *, record: bool = True, host: str = "127.0.0.1"):
        super().__init__(latency_ms, port, record=record, host=host)
        self.transcript = "Hello from the fake Deepgram."
        self.duration: float | None = None
        self.detected_language = "en"

    def reset(self) -> None:
        """Forget recordings and faults and restore the default answer."""
        self.clear()
        self.valid_keys = None
        self.latency_ms = 0
        self.transcript = "Hello from the fake Deepgram."
        self.duration = None
        self.detected_language = "en"

    def add_routes(self, router: web.UrlDispatcher) -> None:
        router.add_post("/v1/listen", self.handle_generate)
        router.add_get("/v1/models", self.handle_models)

    def api_key(self, request: web.Request, headers: dict[str, str]) -> str | None:
        scheme, _, token = headers.get("authorization", "").partition(" ")
        return token.strip() if scheme.lower() == "token" and token.strip() else None

    def error_body(self, status: int, message: str | None = None) -> dict[str, Any]:
        return error_body(status, message)

    def models_page(self) -> dict[str, Any]:
        return {"stt": [{"name": m, "canonical_name": m, "batch": True, "streaming": True} for m in self.models]}

    def request_context(self, request: web.Request) -> dict[str, Any]:
        return {"query": dict(request.query)}

    def recorded(self, request, headers, raw, body, key, ctx) -> RecordedDeepgramRequest:
        return RecordedDeepgramRequest(request.method, request.path, headers, None, raw, key,
                                       query=ctx.get("query", {}))

    def reject(self, headers: dict[str, str], body: Any, ctx: dict[str, Any]) -> web.Response | None:
        kind = headers.get("content-type", "")
        if not (kind.startswith("audio/") or kind.startswith("video/") or kind == "application/octet-stream"):
            return self.error(400, f"Bad Request: content type '{kind}' is not audio")
        model = ctx["query"].get("model")
        if model is not None and model not in self.models:
            return self.error(400, f"Bad Request: No such model/language/tier combination found: {model}")
        return None

    def is_streaming(self, request: web.Request, body: Any, ctx: dict[str, Any]) -> bool:
        return False

    async def answer(self, request, body, streaming, cut, ctx) -> web.StreamResponse:
        raw = await request.read()
        if not raw:
            return self.error(400, "Bad Request: failed to process audio: corrupt or unsupported data")
        query = ctx["query"]
        duration = self.duration if self.duration is not None else round(len(raw) / BYTES_PER_SECOND, 3)
        words = self.transcript.split()
        step = duration / max(len(words), 1)
        alternative = {
            "transcript": self.transcript,
            "confidence": 0.98,
            "words": [{"word": w.strip(".,!?").lower(), "start": round(i * step, 3), "end": round((i + 1) * step, 3),
                       "confidence": 0.98, "punctuated_word": w} for i, w in enumerate(words)],
        }
        channel: dict[str, Any] = {"alternatives": [alternative]}
        if query.get("detect_language") == "true":
            channel["detected_language"] = self.detected_language
            channel["language_confidence"] = 0.97
        request_id = str(uuid.uuid4())
        return json_response({
            "metadata": {
                "transaction_key": "deprecated", "request_id": request_id, "sha256": "0" * 64,
                "created": "2025-01-01T00:00:00.000Z", "duration": duration, "channels": 1,
                "models": [str(uuid.uuid4())],
                "model_info": {"fake": {"name": query.get("model", "nova-3"), "version": "fake", "arch": "fake"}},
            },
            "results": {"channels": [channel]},
        })


def main(argv: list[str] | None = None) -> None:
    """Run the fake upstream in the foreground until SIGTERM/SIGINT."""
    FakeDeepgram.main(argv)


if __name__ == "__main__":
    main()
