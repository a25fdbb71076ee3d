"""Fake Fireworks image upstream: FLUX workflows at /inference/v1/workflows/{model}/text_to_image.

A JSON request (prompt, aspect_ratio, guidance_scale, num_inference_steps, seed) makes one image:
raw PNG bytes when the Accept header asks for an image, else JSON with a list of base64 data URLs.
Fields of OpenAI's shape are refused, so a test sees any that were not translated.
"""

from __future__ import annotations

import base64
import itertools
from typing import Any

from aiohttp import web

from tests.fakes.base import FakeUpstream, json_response
from tests.fakes.openai_answers import tiny_png

RATIOS = ("1:1", "21:9", "16:9", "3:2", "5:4", "4:5", "2:3", "9:16", "9:21")
FIELDS = {"prompt", "aspect_ratio", "guidance_scale", "num_inference_steps", "seed"}
_ids = itertools.count(1)


class FakeFireworks(FakeUpstream):
    name = "fake-fireworks"
    description = "Fake Fireworks image generation upstream"
    default_port = 18090
    api_prefix = "/inference/v1"
    default_models = ("accounts/fireworks/models/flux-1-schnell-fp8",)

    def add_routes(self, router: web.UrlDispatcher) -> None:
        router.add_post("/inference/v1/workflows/{model:.+}/text_to_image", self.handle_generate)

    def error_body(self, status: int, message: str | None = None) -> dict[str, Any]:
        return {"error": {"object": "error", "type": "invalid_request_error" if status < 500 else "internal_error",
                          "message": message or f"fake fireworks error {status}"}}

    def request_context(self, request: web.Request) -> dict[str, Any]:
        return {"model": request.match_info["model"]}

    def reject(self, headers: dict[str, str], body: Any, ctx: dict[str, Any]) -> web.Response | None:
        if not isinstance(body, dict) or not isinstance(body.get("prompt"), str) or not body["prompt"]:
            return self.error(400, "prompt is required")
        unknown = sorted(set(body) - FIELDS)
        if unknown:
            return self.error(400, f"unknown fields: {', '.join(unknown)}")
        if body.get("aspect_ratio", "1:1") not in RATIOS:
            return self.error(400, f"aspect_ratio {body['aspect_ratio']!r} is not supported")
        if ctx["model"] not in self.models:
            return self.error(404, f"model {ctx['model']} not found")
        return None

    async def answer(
        self, request: web.Request, body: dict[str, Any], streaming: bool, cut: int | None,
        ctx: dict[str, Any],
    ) -> web.StreamResponse:
        if request.headers.get("Accept", "").startswith("image/"):
            return web.Response(body=tiny_png(), content_type="image/png")
        png = base64.b64encode(tiny_png()).decode()
        return json_response({"id": f"fw-{next(_ids)}", "base64": [f"data:image/png;base64,{png}"],
                              "finishReason": "SUCCESS", "seed": body.get("seed", 0)})


if __name__ == "__main__":
    FakeFireworks.main()
