"""Legacy Completions streams: ``text_completion`` SSE chunks ⇄ canonical events.

A stream is a run of ``data:`` chunks, each a whole ``text_completion`` object whose one choice
carries the next piece of ``text``; the last choice chunk has the finish_reason, a usage-only
chunk (no choices) follows when the client asked for it, then ``data: [DONE]``.
"""

from __future__ import annotations

import time

import orjson

from omniroute.dialects.completions.response import completion_id, finish_reason_out
from omniroute.dialects.openai_chat.stream import OpenAIStreamRelay
from omniroute.dialects.openai_chat.stream_decode import OpenAIStreamDecoder
from omniroute.dialects.openai_chat.stream_encode import DONE
from omniroute.dialects.openai_chat.usage import usage_to_openai
from omniroute.schema import Finish, MessageStart, StreamError, StreamEvent, TextDelta, Usage, UsageUpdate


class CompletionsStreamEncoder:
    """``feed(event) -> bytes``: chunks sharing one id, created and model.

    Only text is written; reasoning and tool-call events have no legacy form and are skipped.
    """

    def __init__(self, model: str, include_usage: bool = False) -> None:
        self._model = model
        self.include_usage = include_usage  # the client's stream_options.include_usage (settable later)
        self._id = completion_id()
        self._created = int(time.time())
        self._closed = False
        self._usage: Usage | None = None

    def feed(self, event: StreamEvent) -> bytes:
        """The bytes this event becomes (possibly none)."""
        if self._closed:
            return b""
        if isinstance(event, StreamError):
            self._closed = True
            return OpenAIStreamRelay.error_event(event.message, event.code)
        if isinstance(event, MessageStart):
            if event.id:
                self._id = completion_id(event.id)
            return b""
        if isinstance(event, UsageUpdate):
            self._usage = event.usage  # written after the finish chunk
            return b""
        if isinstance(event, TextDelta) and event.text:
            return self._chunk(event.text, None)
        if isinstance(event, Finish):
            self._closed = True
            out = self._chunk("", finish_reason_out(event.stop_reason))
            if self.include_usage:
                out += _sse(self._envelope([], usage_to_openai(self._usage or Usage())))
            return out + DONE
        return b""

    def _chunk(self, text: str, finish_reason: str | None) -> bytes:
        choice = {"index": 0, "text": text, "finish_reason": finish_reason, "logprobs": None}
        return _sse(self._envelope([choice]))

    def _envelope(self, choices: list, usage: dict | None = None) -> dict:
        body = {
            "id": self._id,
            "object": "text_completion",
            "created": self._created,
            "model": self._model,
            "choices": choices,
        }
        if usage is not None:
            body["usage"] = usage
        return body


class CompletionsStreamDecoder(OpenAIStreamDecoder):
    """Upstream ``text_completion`` SSE bytes → canonical events.

    The framing, usage, errors and end-of-stream rules are the Chat stream's; only a choice's
    shape differs (``text`` where Chat has ``delta.content``), so each choice is read as the
    equivalent Chat choice.
    """

    def _choice(self, choice: dict, out: list[StreamEvent]) -> None:
        super()._choice({"delta": {"content": choice.get("text")}, "finish_reason": choice.get("finish_reason")},
                        out)


def _sse(body: dict) -> bytes:
    return b"data: " + orjson.dumps(body) + b"\n\n"
