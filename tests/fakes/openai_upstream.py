"""Fake OpenAI upstream (chat completions, embeddings, image generation): a real aiohttp server for tests
and benchmarks."""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from tests.fakes.base import ErrorEvent, FakeUpstream, RecordedRequest, _Fault, json_response
from tests.fakes.openai_answers import (
    Plan,
    embedding_inputs,
    embeddings_answer,
    error_body,
    image_error,
    images_answer,
    models_list,
    tiny_png,
)

__all__ = ["DEFAULT_MODELS", "FakeOpenAI", "RecordedRequest", "_Fault", "main"]

DEFAULT_MODELS = ["gpt-4o-mini", "gpt-4o", "fake-model"]
_DONE = b"data: [DONE]\n\n"


class FakeOpenAI(FakeUpstream):
    """A fake OpenAI upstream with recording, latency and fault injection.

    cut_stream_after(n) drops the connection after the role chunk and `n` content chunks."""

    name = "fake-openai"
    description = "Fake OpenAI Chat Completions upstream"
    default_port = 18080
    default_models = tuple(DEFAULT_MODELS)

    def add_routes(self, router: web.UrlDispatcher) -> None:
        router.add_post("/v1/chat/completions", self.handle_generate)
        router.add_post("/v1/embeddings", self.handle_generate)
        router.add_post("/v1/images/generations", self.handle_generate)
        router.add_get("/v1/models", self.handle_models)
        router.add_post("/v1/audio/transcriptions", self.handle_transcription)
        router.add_get("/files/{name}", self.handle_file)

    async def handle_file(self, request: web.Request) -> web.Response:
        """The image behind a URL answer of /v1/images/generations."""
        return web.Response(body=tiny_png(), content_type="image/png")

    send_usage = True  # False: like servers that report no usage at all

    def error_body(self, status: int, message: str | None = None) -> dict[str, Any]:
        body = error_body(status)
        if message is not None:
            body["error"]["message"] = message
        return body

    def stream_error(
        self, request: web.Request, body: dict[str, Any], ctx: dict[str, Any], event: ErrorEvent
    ) -> tuple[str, list[bytes]]:
        # What OpenAI sends when a stream fails after its 200: one data event carrying an `error`
        # object (the openai SDK raises APIError on it), then the body ends without [DONE].
        error = {"message": event.message, "type": event.kind, "param": None, "code": None}
        return "text/event-stream", [b"data: " + orjson.dumps({"error": error}) + b"\n\n"]

    def models_page(self) -> dict[str, Any]:
        return models_list(self.models)

    def reject(self, headers: dict[str, str], body: Any, ctx: dict[str, Any]) -> web.Response | None:
        return None if isinstance(body, dict) else self.error(400)

    async def answer(
        self, request: web.Request, body: dict[str, Any], streaming: bool, cut: int | None,
        ctx: dict[str, Any],
    ) -> web.StreamResponse:
        if request.path == "/v1/embeddings":
            inputs = embedding_inputs(body.get("input"))
            if inputs is None:
                return json_response(image_error("'input' must be a string or a list", "input"), 400)
            answer = embeddings_answer(body, inputs)
            if not self.send_usage:
                del answer["usage"]
            return json_response(answer)
        if request.path == "/v1/images/generations":
            status, answer = images_answer(body, self.url + "/files")
            return json_response(answer, status)
        plan = Plan(body)
        if not streaming:
            completion = plan.completion()
            if not self.send_usage:
                del completion["usage"]
            return json_response(completion)
        opts = body.get("stream_options")
        include_usage = isinstance(opts, dict) and bool(opts.get("include_usage")) and self.send_usage
        events, tail = plan.stream_events(include_usage)
        if cut is not None:
            return await self.write_stream(request, "text/event-stream", events[: cut + 1], cut=True)
        if not self.send_done:  # some OpenAI-compatible servers end after the finish chunk
            tail = [event for event in tail if event != _DONE]
        return await self.write_stream(request, "text/event-stream", events + tail, cut=False)

    transcript_text = "Hello from the fake Whisper."

    async def handle_transcription(self, request: web.Request) -> web.StreamResponse:
        """``POST /v1/audio/transcriptions`` (multipart); the body recorded is the form's text fields
        plus ``file`` as ``{"filename", "content_type", "size"}``. Faults apply as to chat requests."""
        try:
            form = await request.post()
        except ValueError:
            form = {}
        upload = form.get("file")
        body: dict[str, Any] = {k: v for k, v in form.items() if isinstance(v, str)}
        if upload is not None and not isinstance(upload, str):
            data = upload.file.read()
            body["file"] = {"filename": upload.filename, "content_type": upload.content_type, "size": len(data)}
        denied, _ = self.admit(request, b"", body)
        if denied is not None:
            return denied
        if self._faults:
            fault = self._faults.popleft()
            return json_response(fault.body or self.error_body(fault.status), fault.status, fault.headers)
        if "file" not in body or not body.get("model"):
            return json_response({"error": {"message": "you must provide a file and a model", "type":
                                            "invalid_request_error", "param": None, "code": None}}, 400)
        duration = round(body["file"]["size"] / 32_000, 3)
        kind = body.get("response_format", "json")
        if kind == "text":
            return web.Response(text=self.transcript_text + "\n", content_type="text/plain")
        if kind == "verbose_json":
            return json_response({"task": "transcribe", "language": body.get("language") or "english",
                                  "duration": duration, "text": self.transcript_text, "segments": []})
        return json_response({"text": self.transcript_text, "usage": {"type": "duration", "seconds": duration}})


def main(argv: list[str] | None = None) -> None:
    """Run the fake upstream in the foreground until SIGTERM/SIGINT."""
    FakeOpenAI.main(argv)


if __name__ == "__main__":
    main()
