"""Fake Cloud Code Assist upstream (the ``v1internal`` API behind Gemini CLI and Antigravity
sign-ins): envelopes in, wrapped answers out. The answers themselves are the fake Gemini's."""

from __future__ import annotations

import secrets
from typing import Any

import orjson
from aiohttp import web

from tests.fakes.base import FakeUpstream, json_response
from tests.fakes.gemini_upstream import Answer, _validate, count_words, error_body

_ACTIONS = {"generateContent": False, "streamGenerateContent": True, "countTokens": False}


def wrapped(response: dict[str, Any], trace_id: str) -> dict[str, Any]:
    return {"response": response, "traceId": trace_id}


class FakeCloudCode(FakeUpstream):
    """A fake ``cloudcode-pa.googleapis.com``: ``POST /v1internal:<method>`` with the envelope
    ``{"model", "project", "request": <GenerateContentRequest>, …}``; answers (JSON and each SSE
    event) come back as ``{"response": <GenerateContentResponse>, "traceId"}``.

    ``projects``: when set, envelopes naming another project (or none) get a 403, as for an
    account that is not onboarded."""

    name = "fake-cloudcode"
    description = "Fake Cloud Code Assist (v1internal) upstream"
    default_port = 18086
    api_prefix = "/v1internal"
    default_models = ("gemini-2.5-pro", "gemini-2.5-flash")

    def __init__(self, latency_ms: float = 0, port: int = 0, *, record: bool = True, host: str = "127.0.0.1"):
        super().__init__(latency_ms, port, record=record, host=host)
        self.projects: set[str] | None = None

    def add_routes(self, router: web.UrlDispatcher) -> None:
        router.add_post("/{target:v1internal:[A-Za-z]+}", self.handle_generate)

    def error_body(self, status: int, message: str | None = None) -> dict[str, Any]:
        return error_body(status, message)

    def request_context(self, request: web.Request) -> dict[str, Any]:
        return {"action": request.match_info["target"].partition(":")[2]}

    def reject(self, headers: dict[str, str], body: Any, ctx: dict[str, Any]) -> web.Response | None:
        if ctx["action"] not in _ACTIONS:
            return self.error(404, f"Method not found: {ctx['action']}")
        if not isinstance(body, dict) or not isinstance(body.get("request"), dict):
            return self.error(400, "Invalid JSON payload received. Unknown name \"contents\": Cannot find field.")
        if not body.get("model"):
            return self.error(400, "model is required")
        if self.projects is not None and body.get("project") not in self.projects:
            return self.error(403, "The caller does not have permission")
        if ctx["action"] == "countTokens":
            return None
        problem = _validate(body["request"])
        return None if problem is None else self.error(400, problem)

    def is_streaming(self, request: web.Request, body: dict[str, Any], ctx: dict[str, Any]) -> bool:
        return _ACTIONS[ctx["action"]]

    async def answer(
        self, request: web.Request, body: dict[str, Any], streaming: bool, cut: int | None,
        ctx: dict[str, Any],
    ) -> web.StreamResponse:
        inner = body["request"]
        if ctx["action"] == "countTokens":
            return json_response({"totalTokens": count_words(inner)})
        trace = secrets.token_hex(8)
        answer = Answer(inner, str(body["model"]))
        if not streaming:
            return json_response(wrapped(answer.response(), trace))
        pieces = answer.stream_parts()
        last = len(pieces) - 1
        finish = self.send_done and cut is None
        chunks = [answer.chunk(p, final=finish and i == last) for i, p in enumerate(pieces)]
        if cut is not None:
            chunks = chunks[:cut]
        events = [b"data: " + orjson.dumps(wrapped(c, trace)) + b"\r\n\r\n" for c in chunks]
        return await self.write_stream(request, "text/event-stream", events, cut=cut is not None)


def main(argv: list[str] | None = None) -> None:
    """Run the fake upstream in the foreground until SIGTERM/SIGINT."""
    FakeCloudCode.main(argv)


if __name__ == "__main__":
    main()
