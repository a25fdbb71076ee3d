"""Fake ChatGPT Codex backend (``POST /backend-api/codex/responses``): the fake Responses upstream
with the backend's own rules: streaming only, nothing stored, instructions required, no
``max_output_tokens``, and the ChatGPT account header."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from tests.fakes.responses_upstream import FakeResponses


class FakeCodex(FakeResponses):
    name = "fake-codex"
    description = "Fake ChatGPT Codex backend"
    default_port = 18087
    api_prefix = "/backend-api/codex"

    def add_routes(self, router: web.UrlDispatcher) -> None:
        router.add_post("/backend-api/codex/responses", self.handle_generate)

    def reject(self, headers: dict[str, str], body: Any, ctx: dict[str, Any]) -> web.Response | None:
        if not headers.get("chatgpt-account-id"):
            return self.invalid("Missing chatgpt-account-id header", None, None, 400)
        if isinstance(body, dict):
            if body.get("stream") is not True:
                return self.invalid("Stream must be set to true", "stream", None)
            if body.get("store") is not False:
                return self.invalid("Store must be set to false", "store", None)
            if not body.get("instructions"):
                return self.invalid("Instructions are required", "instructions", None)
            if "max_output_tokens" in body:
                return self.invalid("Unsupported parameter: max_output_tokens", "max_output_tokens", None)
        return super().reject(headers, body, ctx)


def main(argv: list[str] | None = None) -> None:
    """Run the fake upstream in the foreground until SIGTERM/SIGINT."""
    FakeCodex.main(argv)


if __name__ == "__main__":
    main()
