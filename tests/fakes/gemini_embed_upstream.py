"""Fake Gemini embeddings upstream: POST /v1beta/models/{model}:batchEmbedContents."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from tests.fakes.base import FakeUpstream, json_response
from tests.fakes.gemini_upstream import error_body
from tests.fakes.openai_answers import embedding_vector


class FakeGeminiEmbed(FakeUpstream):
    name = "fake-gemini-embed"
    description = "Fake Gemini batchEmbedContents upstream"
    default_port = 18091
    api_prefix = "/v1beta"
    default_models = ("gemini-embedding-001", "text-embedding-004")

    def add_routes(self, router: web.UrlDispatcher) -> None:
        router.add_post("/v1beta/models/{tail:.+}", self.handle_generate)

    def api_key(self, request: web.Request, headers: dict[str, str]) -> str | None:
        return headers.get("x-goog-api-key") or request.query.get("key")

    def error_body(self, status: int, message: str | None = None) -> dict[str, Any]:
        return error_body(status, message)

    def request_context(self, request: web.Request) -> dict[str, Any]:
        model, _, method = request.match_info["tail"].rpartition(":")
        return {"model": model, "method": method}

    def reject(self, headers: dict[str, str], body: Any, ctx: dict[str, Any]) -> web.Response | None:
        if ctx["method"] != "batchEmbedContents":
            return self.error(404, f"method {ctx['method']} not found")
        if ctx["model"] not in self.models:
            return self.error(404, f"models/{ctx['model']} is not found")
        requests = body.get("requests") if isinstance(body, dict) else None
        if not isinstance(requests, list) or not requests:
            return self.error(400, "requests is required")
        for one in requests:
            parts = (one.get("content") or {}).get("parts") if isinstance(one, dict) else None
            if one.get("model") != f"models/{ctx['model']}" or not parts or not isinstance(parts[0].get("text"), str):
                return self.error(400, "each request needs the URL's model and text content")
        return None

    async def answer(
        self, request: web.Request, body: dict[str, Any], streaming: bool, cut: int | None,
        ctx: dict[str, Any],
    ) -> web.StreamResponse:
        out = []
        for one in body["requests"]:
            text = " ".join(p.get("text", "") for p in one["content"]["parts"])
            out.append({"values": embedding_vector(text, one.get("outputDimensionality") or 16)})
        return json_response({"embeddings": out})
