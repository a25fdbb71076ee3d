"""Fake AssemblyAI (v2) upstream: upload, create a transcript, poll it. A real aiohttp server for tests.

A transcript moves one step per poll: ``queued`` when created, ``processing`` on the first
``GET /v2/transcript/{id}``, then ``completed`` (or ``error``) once ``polls_to_finish`` polls
have been made. ``fail_with`` makes new transcripts end in ``error``; ``never_finish`` keeps
them ``processing`` for good (for timeouts).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.fakes.base import FakeUpstream, RecordedRequest, json_response

DEFAULT_MODELS = ["best", "nano", "universal", "slam-1", "universal-2", "universal-3-pro"]
BYTES_PER_SECOND = 32_000  # the notional audio rate that sets the reported duration

_ERRORS: dict[int, str] = {
    400: "Invalid request",
    401: "Authentication error, API token missing/invalid",
    404: "Transcript not found",
    429: "Too many requests",
    500: "Internal server error",
    503: "Service unavailable",
}


def error_body(status: int, message: str | None = None) -> dict[str, Any]:
    """AssemblyAI's error shape: ``{"error": "message"}``."""
    return {"error": message or _ERRORS.get(status, "Upstream error")}


@dataclass
class RecordedAssemblyAIRequest(RecordedRequest):
    """A RecordedRequest plus which step of the flow it was (upload, create, poll)."""

    action: str = ""


@dataclass
class _Job:
    transcript: dict[str, Any]
    audio: bytes
    polls: int = 0
    fail_with: str | None = None
    never_finish: bool = False
    steps: list[str] = field(default_factory=list)  # statuses reported so far


class FakeAssemblyAI(FakeUpstream):
    """A fake AssemblyAI: the raw key in ``Authorization``, uploads, transcripts that finish over polls.

    Faults (``fail_next``, ``hang_next``) apply to uploads and transcript creation, in arrival order."""

    name = "fake-assemblyai"
    description = "Fake AssemblyAI pre-recorded transcription upstream"
    default_port = 18091
    api_prefix = "/v2"
    default_models = tuple(DEFAULT_MODELS)

    def __init__(self, latency_ms: float = 0, port: int = 0, *, record: bool = True, host: str = "127.0.0.1"):
        super().__init__(latency_ms, port, record=record, host=host)
        self.uploads: dict[str, bytes] = {}
        self.jobs: dict[str, _Job] = {}
        self._defaults()

    def _defaults(self) -> None:
        self.text = "Hello from the fake AssemblyAI."
        self.detected_language = "en_us"
        self.polls_to_finish = 2
        self.fail_with: str | None = None
        self.never_finish = False

    def reset(self) -> None:
        """Forget recordings, uploads, transcripts and faults, and restore the default behaviour."""
        self.clear()
        self.uploads.clear()
        self.jobs.clear()
        self.valid_keys = None
        self.latency_ms = 0
        self._defaults()

    def add_routes(self, router: web.UrlDispatcher) -> None:
        router.add_post("/v2/upload", self.handle_generate)
        router.add_post("/v2/transcript", self.handle_generate)
        router.add_get("/v2/transcript/{transcript_id}", self.handle_poll)

    def api_key(self, request: web.Request, headers: dict[str, str]) -> str | None:
        return headers.get("authorization", "").strip() or None

    def error_body(self, status: int, message: str | None = None) -> dict[str, Any]:
        return error_body(status, message)

    def request_context(self, request: web.Request) -> dict[str, Any]:
        return {"action": "upload" if request.path.endswith("/upload") else "create"}

    def recorded(self, request, headers, raw, body, key, ctx) -> RecordedAssemblyAIRequest:
        if ctx.get("action") == "upload":
            body = None  # the audio bytes stay in `raw`
        return RecordedAssemblyAIRequest(request.method, request.path, headers, body, raw, key,
                                         action=ctx.get("action", "poll"))

    def reject(self, headers: dict[str, str], body: Any, ctx: dict[str, Any]) -> web.Response | None:
        if ctx["action"] == "upload":
            return None
        if not isinstance(body, dict):
            return self.error(400, "Invalid JSON body")
        audio_url = body.get("audio_url")
        if not isinstance(audio_url, str) or not audio_url:
            return self.error(400, "audio_url is required")
        if "speech_model" in body:
            return self.error(400, "speech_model is no longer supported; use speech_models")
        models = body.get("speech_models")
        if models is not None:
            if not isinstance(models, list) or not models or not all(isinstance(m, str) for m in models):
                return self.error(400, "speech_models must be a non-empty list of model names")
            unknown = [m for m in models if m not in self.models]
            if unknown:
                return self.error(400, f"Invalid speech model(s): {', '.join(unknown)}")
        if body.get("language_code") and body.get("language_detection"):
            return self.error(400, "language_code and language_detection cannot be used together")
        return None

    def is_streaming(self, request: web.Request, body: Any, ctx: dict[str, Any]) -> bool:
        return False

    async def answer(self, request, body, streaming, cut, ctx) -> web.StreamResponse:
        if ctx["action"] == "upload":
            raw = await request.read()
            if not raw:
                return self.error(400, "Upload is empty")
            url = f"{self.url}/cdn/upload/{uuid.uuid4()}"
            self.uploads[url] = raw
            return json_response({"upload_url": url})
        transcript_id = str(uuid.uuid4())
        audio = self.uploads.get(body["audio_url"], b"")
        transcript = {
            "id": transcript_id, "status": "queued", "audio_url": body["audio_url"],
            "speech_model": None, "speech_models": body.get("speech_models"),
            "language_code": body.get("language_code"), "language_detection": bool(body.get("language_detection")),
            "text": None, "words": None, "confidence": None, "audio_duration": None, "error": None,
        }
        self.jobs[transcript_id] = _Job(transcript, audio, fail_with=self.fail_with, never_finish=self.never_finish,
                                        steps=["queued"])
        return json_response(transcript)

    async def handle_poll(self, request: web.Request) -> web.StreamResponse:
        """``GET /v2/transcript/{id}``: one step further per call."""
        denied, _ = self.admit(request, b"", None, {"action": "poll"})
        if denied is not None:
            return denied
        job = self.jobs.get(request.match_info["transcript_id"])
        if job is None:
            return self.error(404)
        job.polls += 1
        t = job.transcript
        if job.never_finish or job.polls < self.polls_to_finish:
            t["status"] = "processing"
        elif job.fail_with is not None:
            t["status"], t["error"] = "error", job.fail_with
        elif not job.audio:
            t["status"], t["error"] = "error", "Download error, unable to download the audio file"
        else:
            self._complete(t, job.audio)
        job.steps.append(t["status"])
        return json_response(t)

    def _complete(self, t: dict[str, Any], audio: bytes) -> None:
        duration = round(len(audio) / BYTES_PER_SECOND, 3)
        words = self.text.split()
        step_ms = int(duration * 1000 / max(len(words), 1))
        t.update(
            status="completed", text=self.text, confidence=0.95, audio_duration=duration,
            language_code=t["language_code"] or (self.detected_language if t["language_detection"] else "en_us"),
            words=[{"text": w, "start": i * step_ms, "end": (i + 1) * step_ms, "confidence": 0.95, "speaker": None}
                   for i, w in enumerate(words)],
        )


def main(argv: list[str] | None = None) -> None:
    """Run the fake upstream in the foreground until SIGTERM/SIGINT."""
    FakeAssemblyAI.main(argv)


if __name__ == "__main__":
    main()
