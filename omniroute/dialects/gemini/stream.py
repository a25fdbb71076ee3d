"""Gemini ``streamGenerateContent?alt=sse`` streams ⇄ canonical stream events.

Each Gemini event is a whole ``GenerateContentResponse`` holding only the new parts; the last one
carries ``finishReason`` and the final ``usageMetadata``.
"""

from __future__ import annotations

import uuid
from dataclasses import replace

import orjson

from omniroute.dialects.base import TRUNCATED, FramedDecoder
from omniroute.dialects.gemini.response import (
    STOP_TO_GEMINI,
    args_object,
    call_id_for,
    stop_from_gemini,
    usage_body,
    usage_from_gemini,
)
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
from omniroute.transport.sse import SSESplitter, event_data


class GeminiStreamDecoder(FramedDecoder):
    """Gemini SSE bytes → canonical events; correct for any split of the bytes into chunks.

    The Finish is held until the byte stream ends, because Gemini may still send usage after the
    chunk that carries ``finishReason``.
    """

    def __init__(self) -> None:
        self._split = SSESplitter()
        self._started = False
        self._response_id = ""
        self._usage: Usage | None = None
        self._calls = 0
        self._reason: str | None = None
        self._failed = False

    def finish(self) -> list[StreamEvent]:
        """Events due at the end of the byte stream: the Finish, or a StreamError when none was due."""
        out = self._events(self._split.flush())
        if self._failed:
            return out
        self._failed = True  # nothing more is accepted after the end
        if self._reason is None:
            out.append(replace(TRUNCATED))
        else:
            out.append(Finish(stop_from_gemini(self._reason, self._calls > 0)))
        return out

    def _events(self, raw_events: list[bytes]) -> list[StreamEvent]:
        out: list[StreamEvent] = []
        for raw in raw_events:
            if self._failed:
                break
            data = event_data(raw)
            if not data:
                continue
            try:
                obj = orjson.loads(data)
            except orjson.JSONDecodeError:
                continue  # not JSON: nothing Gemini defines, so nothing to translate
            if isinstance(obj, list):
                # A stream requested without alt=sse is one JSON array; tolerate its elements as chunks.
                for item in obj:
                    if isinstance(item, dict) and not self._failed:
                        self._chunk(item, out)
            elif isinstance(obj, dict):
                self._chunk(obj, out)
        return out

    def _chunk(self, obj: dict, out: list[StreamEvent]) -> None:
        error = obj.get("error")
        if isinstance(error, dict):
            out.append(StreamError(str(error.get("message") or "upstream error"),
                                   str(error.get("status") or "upstream_error")))
            self._failed = True
            return
        if not self._started:
            self._started = True
            self._response_id = str(obj.get("responseId") or "")
            out.append(MessageStart(id=self._response_id or uuid.uuid4().hex, model=str(obj.get("modelVersion") or "")))
        candidates = obj.get("candidates")
        candidate = candidates[0] if isinstance(candidates, list) and candidates else None
        if isinstance(candidate, dict):
            content = candidate.get("content")
            parts = content.get("parts") if isinstance(content, dict) else None
            for part in parts if isinstance(parts, list) else []:
                if isinstance(part, dict):
                    self._part(part, out)
            if isinstance(candidate.get("finishReason"), str):
                self._reason = candidate["finishReason"]
        feedback = obj.get("promptFeedback")
        if isinstance(feedback, dict) and feedback.get("blockReason") and self._reason is None:
            self._reason = "SAFETY"  # the prompt was blocked: there will be no candidate
        usage = usage_from_gemini(obj.get("usageMetadata"))
        if usage is not None and usage != self._usage:
            self._usage = usage
            out.append(UsageUpdate(replace(usage)))

    def _part(self, part: dict, out: list[StreamEvent]) -> None:
        signature = part.get("thoughtSignature") if isinstance(part.get("thoughtSignature"), str) else None
        text = part.get("text") if isinstance(part.get("text"), str) else ""
        if part.get("thought") is True:
            if text:
                out.append(ReasoningDelta(text=text))
            if signature:
                out.append(ReasoningDelta(signature=signature))
            return
        if signature:
            out.append(ReasoningDelta(signature=signature, standalone=True))
        call = part.get("functionCall")
        if isinstance(call, dict):
            index = self._calls
            self._calls += 1
            call_id = call.get("id") if isinstance(call.get("id"), str) and call.get("id") else None
            out.append(ToolCallStart(index, call_id or call_id_for(self._response_id, index),
                                     str(call.get("name") or "")))
            args = call.get("args") if isinstance(call.get("args"), dict) else {}
            out.append(ToolCallDelta(index, orjson.dumps(args).decode()))
        elif text:
            out.append(TextDelta(text))


def sse(chunk: dict) -> bytes:
    """One Gemini SSE event."""
    return b"data: " + orjson.dumps(chunk) + b"\n\n"


class _Call:
    __slots__ = ("args", "id", "name")

    def __init__(self, call_id: str, name: str) -> None:
        self.id, self.name, self.args = call_id, name, []


class GeminiStreamEncoder:
    """Canonical events → Gemini SSE bytes, as soon as each can be written.

    Gemini sends a function call whole, so argument fragments are buffered per call. A call is
    written once other content starts, once a later call starts and its own arguments already
    parse, or at the finish; an upstream interleaving parallel calls therefore loses nothing.
    """

    def __init__(self, model: str, array: bool = False):
        self._model = model
        # Without ``?alt=sse`` Google streams one JSON array, written element by element.
        self._array = array
        self._frames = 0
        self._signature: str | None = None  # a standalone signature waiting for its part
        self._id: str | None = None
        self._usage = Usage()
        self._calls: dict[int, _Call] = {}
        self._done = False

    def feed(self, event: StreamEvent) -> bytes:
        """The SSE bytes ``event`` produces (possibly none)."""
        if self._done:
            return b""
        out: list[bytes] = []
        if isinstance(event, MessageStart):
            self._id = self._id or event.id
        elif isinstance(event, UsageUpdate):
            self._usage = replace(event.usage)
        elif isinstance(event, TextDelta):
            if event.text:
                self._flush_calls(out)
                out.append(self._chunk([{"text": event.text}]))
        elif isinstance(event, ReasoningDelta):
            self._reasoning(event, out)
        elif isinstance(event, ToolCallStart):
            self._flush_calls(out, complete_only=True)
            call = self._calls.setdefault(event.index, _Call(event.id, event.name))
            call.id, call.name = call.id or event.id, call.name or event.name
        elif isinstance(event, ToolCallDelta):
            call = self._calls.setdefault(event.index, _Call("", ""))
            call.args.append(event.arguments)
        elif isinstance(event, Finish):
            parts = self._call_parts(list(self._calls))
            self._calls.clear()
            out.append(self._chunk(parts or [{"text": ""}], STOP_TO_GEMINI.get(event.stop_reason, "STOP")))
            self._done = True
        elif isinstance(event, StreamError):
            out.append(self._frame(error_body(500, event.message)))
            self._done = True
        if self._done and self._array:
            out.append(b"]" if self._frames else b"[]")
        return b"".join(out)

    def _frame(self, obj: dict) -> bytes:
        if not self._array:
            return sse(obj)
        self._frames += 1
        return (b"[" if self._frames == 1 else b",\r\n") + orjson.dumps(obj)

    def _reasoning(self, event: ReasoningDelta, out: list[bytes]) -> None:
        # Redacted (encrypted) reasoning is another vendor's and has no Gemini form.
        if not event.text and not event.signature:
            return
        if event.standalone and not event.text:
            self._signature = event.signature  # it signs the part written next
            return
        self._flush_calls(out)
        part: dict = {"text": event.text, "thought": True}
        if event.signature:
            part["thoughtSignature"] = event.signature
        out.append(self._chunk([part]))

    def _call_parts(self, indexes: list[int]) -> list[dict]:
        parts = []
        for index in sorted(indexes):
            call = self._calls[index]
            body: dict = {"name": call.name, "args": args_object("".join(call.args))}
            if call.id:
                body["id"] = call.id
            parts.append({"functionCall": body})
        return parts

    def _flush_calls(self, out: list[bytes], complete_only: bool = False) -> None:
        indexes = list(self._calls)
        if complete_only:
            indexes = [i for i in indexes if _parses("".join(self._calls[i].args))]
        if not indexes:
            return
        out.append(self._chunk(self._call_parts(indexes)))
        for index in indexes:
            del self._calls[index]

    def _chunk(self, parts: list[dict], finish_reason: str | None = None) -> bytes:
        if self._id is None:
            self._id = uuid.uuid4().hex
        if self._signature and parts:
            parts[0]["thoughtSignature"], self._signature = self._signature, None
        candidate: dict = {"content": {"role": "model", "parts": parts}, "index": 0}
        chunk: dict = {"candidates": [candidate]}
        if finish_reason is not None:
            candidate["finishReason"] = finish_reason
            chunk["usageMetadata"] = usage_body(self._usage)
        chunk["modelVersion"] = self._model
        chunk["responseId"] = self._id
        return self._frame(chunk)


def _parses(text: str) -> bool:
    try:
        return isinstance(orjson.loads(text), dict)
    except orjson.JSONDecodeError:
        return False


_STATUSES = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
             429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 502: "UNAVAILABLE", 503: "UNAVAILABLE",
             504: "UNAVAILABLE"}


def error_body(status: int, message: str) -> dict:
    """Google's error shape for an HTTP status."""
    name = _STATUSES.get(status) or ("INTERNAL" if status >= 500 else "INVALID_ARGUMENT")
    return {"error": {"code": status, "message": message, "status": name}}
