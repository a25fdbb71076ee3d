"""Fake OpenAI Chat Completions upstream: a real aiohttp server for tests and benchmarks."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from tests.fakes.base import FakeUpstream, RecordedRequest, _Fault, json_response
from tests.fakes.openai_answers import Plan, error_body, models_list

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
        router.add_get("/v1/models", self.handle_models)

    send_usage = True  # False: like servers that report no usage at all

    def error_body(self, status: int, message: str | None = None) -> dict[str, Any]:
        return error_body(status)

    def models_page(self) -> dict[str, Any]:
        return models_list(self.models)

    def reject(self, headers: dict[str, str], body: Any, ctx: dict[str, Any]) -> web.Response | None:
        return None if isinstance(body, dict) else self.error(400)

    async def answer(
        self, request: web.Request, body: dict[str, Any], streaming: bool, cut: int | None,
        ctx: dict[str, Any],
    ) -> web.StreamResponse:
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


def main(argv: list[str] | None = None) -> None:
    """Run the fake upstream in the foreground until SIGTERM/SIGINT."""
    FakeOpenAI.main(argv)


if __name__ == "__main__":
    main()
