"""Canonical answers as stored bytes, and the stream events that rebuild or replay them.

The cache keeps answers in canonical form (not in any one dialect) so a hit can be answered in
whatever dialect the client speaks, as a whole answer or as a stream.
"""

from __future__ import annotations

import orjson

from omniroute.schema import (
    ChatResponse,
    Finish,
    MessageStart,
    ReasoningDelta,
    StreamEvent,
    TextDelta,
    ToolCallDelta,
    ToolCallStart,
    Usage,
    UsageUpdate,
)
from omniroute.schema.content import Image, Reasoning, Text, ToolCall

_USAGE_FIELDS = ("input", "output", "cache_read", "cache_write", "reasoning")


def dumps(answer: ChatResponse) -> bytes:
    parts = []
    for part in answer.parts:
        if isinstance(part, Text):
            parts.append({"t": "text", "text": part.text})
        elif isinstance(part, Reasoning):
            parts.append({"t": "reasoning", "text": part.text, "signature": part.signature,
                          "redacted": part.redacted, "origin": part.origin})
        elif isinstance(part, ToolCall):
            parts.append({"t": "tool", "id": part.id, "name": part.name, "arguments": part.arguments,
                          "kind": part.kind})
        elif isinstance(part, Image):
            parts.append({"t": "image", "url": part.url, "data": part.data, "media_type": part.media_type})
    usage = answer.usage
    return orjson.dumps({"id": answer.id, "model": answer.model, "parts": parts, "stop": answer.stop_reason,
                         "stop_sequence": answer.stop_sequence,
                         "usage": {f: getattr(usage, f) for f in _USAGE_FIELDS}})


def loads(raw: bytes | str) -> ChatResponse:
    data = orjson.loads(raw)
    parts = []
    for part in data["parts"]:
        kind = part["t"]
        if kind == "text":
            parts.append(Text(part["text"]))
        elif kind == "reasoning":
            parts.append(Reasoning(part["text"], part["signature"], part["redacted"], part["origin"]))
        elif kind == "tool":
            parts.append(ToolCall(part["id"], part["name"], part["arguments"], part["kind"]))
        elif kind == "image":
            parts.append(Image(url=part["url"], data=part["data"], media_type=part["media_type"]))
    return ChatResponse(data["id"], data["model"], parts, data["stop"], data["stop_sequence"],
                        Usage(**data["usage"]))


class Collector:
    """Builds the whole answer from a stream's canonical events (to store a streamed answer)."""

    def __init__(self):
        self.id = ""
        self.model = ""
        self._parts: list = []
        self._calls: dict[int, ToolCall] = {}
        self.usage = Usage()
        self.finish: Finish | None = None
        self.failed = False

    def feed(self, events: list[StreamEvent]) -> None:
        parts = self._parts
        for event in events:
            if isinstance(event, TextDelta):
                if parts and isinstance(parts[-1], Text):
                    parts[-1].text += event.text
                else:
                    parts.append(Text(event.text))
            elif isinstance(event, ReasoningDelta):
                last = parts[-1] if parts else None
                if (isinstance(last, Reasoning) and not event.standalone and last.signature is None
                        and last.redacted is None):
                    last.text += event.text
                    last.signature, last.redacted = event.signature, event.redacted
                    last.origin = last.origin or event.origin
                else:
                    parts.append(Reasoning(event.text, event.signature, event.redacted, event.origin))
            elif isinstance(event, ToolCallStart):
                call = self._calls[event.index] = ToolCall(event.id, event.name, "")
                parts.append(call)
            elif isinstance(event, ToolCallDelta):
                call = self._calls.get(event.index)
                if call is not None:
                    call.arguments += event.arguments
            elif isinstance(event, UsageUpdate):
                self.usage = event.usage
            elif isinstance(event, Finish):
                self.finish = event
            elif isinstance(event, MessageStart):
                self.id, self.model = event.id, event.model
            else:  # StreamError
                self.failed = True

    def answer(self) -> ChatResponse | None:
        """The whole answer, or None when the stream did not finish cleanly."""
        if self.finish is None or self.failed:
            return None
        for call in self._calls.values():
            call.arguments = call.arguments or "{}"
        return ChatResponse(self.id, self.model, self._parts, self.finish.stop_reason, self.finish.stop_sequence,
                            self.usage)


def replay(answer: ChatResponse, model: str) -> list[StreamEvent]:
    """The stream events that tell ``answer`` again."""
    events: list[StreamEvent] = [MessageStart(answer.id, model)]
    index = 0
    for part in answer.parts:
        if isinstance(part, Text):
            events.append(TextDelta(part.text))
        elif isinstance(part, Reasoning):
            events.append(ReasoningDelta(part.text, part.signature, part.redacted, origin=part.origin))
        elif isinstance(part, ToolCall):
            events += [ToolCallStart(index, part.id, part.name), ToolCallDelta(index, part.arguments)]
            index += 1
    events += [UsageUpdate(answer.usage), Finish(answer.stop_reason, answer.stop_sequence)]
    return events
