"""Fake Kiro (AWS CodeWhisperer streaming) upstream: ``POST /generateAssistantResponse`` with a
``conversationState`` body, answered as a binary AWS event stream of ``assistantResponseEvent``
frames (each ``{"content": "<piece>"}``), then a ``meteringEvent``.

The frame encoder here is written from the event-stream format itself (prelude, headers, payload,
two CRC32s), apart from the gateway's decoder, so the two check each other."""

from __future__ import annotations

import struct
import zlib
from typing import Any

import orjson
from aiohttp import web

from tests.fakes.base import FakeUpstream, json_response


def encode_frame(event_type: str, payload: dict) -> bytes:
    """One event-stream message with string headers."""
    headers = b""
    for name, value in ((":event-type", event_type), (":content-type", "application/json"),
                        (":message-type", "event")):
        raw_name, raw_value = name.encode(), value.encode()
        headers += bytes([len(raw_name)]) + raw_name + b"\x07" + struct.pack(">H", len(raw_value)) + raw_value
    body = orjson.dumps(payload)
    total = 12 + len(headers) + len(body) + 4
    prelude = struct.pack(">II", total, len(headers))
    message = prelude + struct.pack(">I", zlib.crc32(prelude)) + headers + body
    return message + struct.pack(">I", zlib.crc32(message))


class FakeKiro(FakeUpstream):
    name = "fake-kiro"
    description = "Fake Kiro / CodeWhisperer streaming upstream"
    default_port = 18089
    api_prefix = ""

    def add_routes(self, router: web.UrlDispatcher) -> None:
        router.add_post("/generateAssistantResponse", self.handle_generate)

    def error_body(self, status: int, message: str | None = None) -> dict[str, Any]:
        return {"message": message or "error", "__type": "ThrottlingException" if status == 429 else "ServerError"}

    def models_page(self) -> Any:
        return {"models": []}

    def reject(self, headers: dict[str, str], body: Any, ctx: dict[str, Any]) -> web.Response | None:
        state = body.get("conversationState") if isinstance(body, dict) else None
        if not isinstance(state, dict) or "userInputMessage" not in (state.get("currentMessage") or {}):
            return json_response(self.error_body(400, "Improperly formed request."), 400)
        return None

    def is_streaming(self, request: web.Request, body: dict[str, Any], ctx: dict[str, Any]) -> bool:
        return True  # the API always streams

    async def answer(self, request: web.Request, body: dict[str, Any], streaming: bool, cut: int | None,
                     ctx: dict[str, Any]) -> web.StreamResponse:
        text = body["conversationState"]["currentMessage"]["userInputMessage"]["content"]
        words = f"echo: {text.rsplit(chr(10), 1)[-1]}".split(" ")
        frames = [encode_frame("assistantResponseEvent", {"content": w if i == 0 else " " + w})
                  for i, w in enumerate(words)]
        if cut is not None:
            frames = frames[:cut]
        frames.append(encode_frame("meteringEvent", {"unit": "credit", "usage": 0.01}))
        return await self.write_stream(request, "application/vnd.amazon.eventstream", frames, cut=cut is not None)
