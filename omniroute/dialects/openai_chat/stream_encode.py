"""Canonical stream events → OpenAI Chat Completions SSE bytes for a client."""

from __future__ import annotations

import time

import orjson

from omniroute.dialects.openai_chat.response import new_completion_id, stop_reason_out
from omniroute.dialects.openai_chat.usage import usage_to_openai
from omniroute.schema import (
    Finish,
    MessageStart,
    ReasoningDelta,
    StreamError,
    StreamEvent,
    TextDelta,
    ToolCallDelta,
    ToolCallStart,
    Usage,
    UsageUpdate,
)

DONE = b"data: [DONE]\n\n"


class OpenAIStreamEncoder:
    """``feed(event) -> bytes``: chat.completion.chunk events sharing one id, created and model."""

    def __init__(self, model: str, include_usage: bool = False) -> None:
        self._model = model
        self.include_usage = include_usage  # the client's stream_options.include_usage (settable later)
        self._id = new_completion_id()
        self._created = int(time.time())
        self._opened = False
        self._closed = False
        self._usage: Usage | None = None

    def feed(self, event: StreamEvent) -> bytes:
        """The bytes this event becomes (possibly none)."""
        if self._closed:
            return b""
        if isinstance(event, StreamError):
            self._closed = True
            body = {"error": {"message": event.message, "type": "upstream_error", "code": event.code}}
            return _sse(body)
        if isinstance(event, UsageUpdate):
            self._usage = event.usage  # sent after the finish chunk, as OpenAI does
            return b""
        out = b""
        if not self._opened:
            if isinstance(event, MessageStart) and event.id:
                self._id = event.id  # keeps the upstream's id visible to the client
            self._opened = True
            out += self._chunk({"role": "assistant", "content": ""})
        if isinstance(event, TextDelta) and event.text:
            out += self._chunk({"content": event.text})
        elif isinstance(event, ReasoningDelta) and event.text:
            # Signature-only or redacted deltas have no OpenAI form.
            out += self._chunk({"reasoning_content": event.text})
        elif isinstance(event, ToolCallStart):
            call = {
                "index": event.index,
                "id": event.id,
                "type": "function",
                "function": {"name": event.name, "arguments": ""},
            }
            out += self._chunk({"tool_calls": [call]})
        elif isinstance(event, ToolCallDelta) and event.arguments:
            out += self._chunk(
                {"tool_calls": [{"index": event.index, "function": {"arguments": event.arguments}}]}
            )
        elif isinstance(event, Finish):
            self._closed = True
            out += self._chunk({}, stop_reason_out(event.stop_reason))
            if self.include_usage:
                out += _sse(self._envelope([], usage=usage_to_openai(self._usage or Usage())))
            out += DONE
        return out

    def _chunk(self, delta: dict, finish_reason: str | None = None) -> bytes:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
        return _sse(self._envelope([choice]))

    def _envelope(self, choices: list, usage: dict | None = None) -> dict:
        body = {
            "id": self._id,
            "object": "chat.completion.chunk",
            "created": self._created,
            "model": self._model,
            "choices": choices,
        }
        if usage is not None:
            body["usage"] = usage
        return body


def _sse(body: dict) -> bytes:
    return b"data: " + orjson.dumps(body) + b"\n\n"
