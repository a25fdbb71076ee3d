"""Anthropic Messages SSE ⇄ canonical stream events."""

from __future__ import annotations

import uuid
from dataclasses import replace

import orjson

from omniroute.dialects.anthropic.response import (
    STOP_TO_ANTHROPIC,
    merge_usage,
    message_id,
    stop_from_anthropic,
    usage_body,
)
from omniroute.dialects.base import FramedDecoder
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


class AnthropicStreamDecoder(FramedDecoder):
    """Anthropic SSE bytes → canonical events; correct for any split of the bytes into chunks."""

    def __init__(self) -> None:
        self._split = SSESplitter()
        self._usage = Usage()
        self._tools: dict[int, int] = {}  # content block index → tool call index
        self._finished = False  # Finish or StreamError emitted: later events are ignored
        self._stop_reason: str | None = None
        self._stop_sequence: str | None = None

    def _events(self, raw_events: list[bytes]) -> list[StreamEvent]:
        out: list[StreamEvent] = []
        for raw in raw_events:
            if self._finished:
                break
            data = event_data(raw)
            if not data:
                continue
            try:
                obj = orjson.loads(data)
            except orjson.JSONDecodeError:
                continue  # not JSON: nothing Anthropic defines, so nothing to translate
            if isinstance(obj, dict):
                self._event(obj, out)
        return out

    def _event(self, obj: dict, out: list[StreamEvent]) -> None:
        kind = obj.get("type")
        if kind == "content_block_delta":
            self._delta(obj, out)
        elif kind == "content_block_start":
            self._block_start(obj, out)
        elif kind == "message_start":
            message = obj.get("message") if isinstance(obj.get("message"), dict) else {}
            out.append(MessageStart(id=str(message.get("id") or ""), model=str(message.get("model") or "")))
            if merge_usage(self._usage, message.get("usage")):
                out.append(UsageUpdate(replace(self._usage)))
        elif kind == "message_delta":
            delta = obj.get("delta") if isinstance(obj.get("delta"), dict) else {}
            # Usage first, so an encoder has it when the Finish arrives.
            if merge_usage(self._usage, obj.get("usage")):
                out.append(UsageUpdate(replace(self._usage)))
            if delta.get("stop_reason"):
                self._stop_reason = delta["stop_reason"]
                sequence = delta.get("stop_sequence")
                self._stop_sequence = sequence if isinstance(sequence, str) else None
                self._finish(out)
        elif kind == "message_stop":
            self._finish(out)
        elif kind == "error":
            error = obj.get("error") if isinstance(obj.get("error"), dict) else {}
            out.append(StreamError(str(error.get("message") or "upstream error"), str(error.get("type") or "api_error")))
            self._finished = True

    def _finish(self, out: list[StreamEvent]) -> None:
        reason = stop_from_anthropic(self._stop_reason)
        out.append(Finish(reason, self._stop_sequence if reason == "stop_sequence" else None))
        self._finished = True

    def _block_start(self, obj: dict, out: list[StreamEvent]) -> None:
        block = obj.get("content_block")
        if not isinstance(block, dict):
            return
        kind = block.get("type")
        if kind == "text" and block.get("text"):
            out.append(TextDelta(block["text"]))
        elif kind == "thinking":
            if block.get("thinking"):
                out.append(ReasoningDelta(text=block["thinking"]))
            if block.get("signature"):
                out.append(ReasoningDelta(signature=block["signature"]))
        elif kind == "redacted_thinking":
            out.append(ReasoningDelta(redacted=str(block.get("data") or "")))
        elif kind == "tool_use":
            index = len(self._tools)
            self._tools[obj.get("index")] = index
            out.append(ToolCallStart(index=index, id=str(block.get("id") or ""), name=str(block.get("name") or "")))
            if block.get("input"):
                # Input given whole at the start (some proxies do this): it is the complete argument text.
                out.append(ToolCallDelta(index, orjson.dumps(block["input"]).decode()))

    def _delta(self, obj: dict, out: list[StreamEvent]) -> None:
        delta = obj.get("delta")
        if not isinstance(delta, dict):
            return
        kind = delta.get("type")
        if kind == "text_delta":
            if delta.get("text"):
                out.append(TextDelta(delta["text"]))
        elif kind == "input_json_delta":
            tool = self._tools.get(obj.get("index"))
            if tool is not None and delta.get("partial_json"):
                out.append(ToolCallDelta(tool, delta["partial_json"]))
        elif kind == "thinking_delta":
            if delta.get("thinking"):
                out.append(ReasoningDelta(text=delta["thinking"]))
        elif kind == "signature_delta":
            if delta.get("signature"):
                out.append(ReasoningDelta(signature=delta["signature"]))


def sse(event: str, data: dict) -> bytes:
    """One Anthropic SSE event."""
    return b"event: " + event.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


class _Tool:
    __slots__ = ("id", "name", "pending", "state")

    def __init__(self) -> None:
        self.id: str | None = None
        self.name: str | None = None
        self.pending: list[str] = []  # fragments held until the tool's block can be opened
        self.state = "waiting"  # waiting → open → closed


class AnthropicStreamEncoder:
    """Canonical events → Anthropic SSE bytes, as soon as each can be written.

    Anthropic content blocks are strictly sequential, so only one block is open at a time. A tool
    call's block stays open while other tool calls' fragments are held back; those are written,
    whole and in order, once the open block has to end (other content, or the finish). This keeps
    every fragment even when an upstream interleaves parallel tool calls. ``message_start`` waits
    for the first content so it can carry the usage already known.
    """

    def __init__(self, model: str):
        self._model = model
        self._started = False
        self._id: str | None = None
        self._done = False
        self._usage = Usage()
        self._index = -1  # index of the most recent content block
        self._open: str | None = None  # "text", "thinking" or "tool"; None when no block is open
        self._open_tool: int | None = None
        self._signed = False  # the open thinking block already got its signature
        self._tools: dict[int, _Tool] = {}

    def feed(self, event: StreamEvent) -> bytes:
        """The SSE bytes ``event`` produces (possibly none)."""
        if self._done:
            return b""
        out: list[bytes] = []
        if isinstance(event, UsageUpdate):
            self._usage = replace(event.usage)
        elif isinstance(event, StreamError):
            self._done = True
            body = error_body(502, event.message)
            if event.code in _ERROR_TYPES.values():
                body["error"]["type"] = event.code  # an Anthropic upstream's own error type passes through
            out.append(sse("error", body))
        elif isinstance(event, MessageStart):
            # Written with the first content instead, so usage that follows the start is included.
            self._id = self._id or event.id
        else:
            self._start(out)
            if isinstance(event, TextDelta):
                self._text(event, out)
            elif isinstance(event, ReasoningDelta):
                self._reasoning(event, out)
            elif isinstance(event, ToolCallStart):
                self._tool_start(event, out)
            elif isinstance(event, ToolCallDelta):
                self._tool_delta(event, out)
            elif isinstance(event, Finish):
                self._finish(event, out)
        return b"".join(out)

    def _start(self, out: list[bytes]) -> None:
        if self._started:
            return
        self._started = True
        usage = usage_body(self._usage)
        message = {"id": message_id(self._id or uuid.uuid4().hex), "type": "message", "role": "assistant",
                   "model": self._model, "content": [], "stop_reason": None, "stop_sequence": None,
                   "usage": usage}
        out.append(sse("message_start", {"type": "message_start", "message": message}))

    def _open_block(self, kind: str, block: dict, out: list[bytes]) -> None:
        self._close(out)
        self._index += 1
        self._open = kind
        self._signed = False
        out.append(sse("content_block_start", {"type": "content_block_start", "index": self._index,
                                               "content_block": block}))

    def _close(self, out: list[bytes]) -> None:
        if self._open is None:
            return
        if self._open == "tool" and self._open_tool is not None:
            self._tools[self._open_tool].state = "closed"
            self._open_tool = None
        self._open = None
        out.append(sse("content_block_stop", {"type": "content_block_stop", "index": self._index}))

    def _delta(self, delta: dict, out: list[bytes]) -> None:
        out.append(sse("content_block_delta", {"type": "content_block_delta", "index": self._index, "delta": delta}))

    def _leave_tools(self, out: list[bytes]) -> None:
        """End the open tool block and write every held-back tool call, in index order."""
        if self._open == "tool":
            self._close(out)
        for index in sorted(self._tools):
            tool = self._tools[index]
            if tool.state == "waiting":
                self._open_tool_block(index, out)
                self._close(out)

    def _open_tool_block(self, index: int, out: list[bytes]) -> None:
        tool = self._tools[index]
        block = {"type": "tool_use", "id": tool.id or f"toolu_{uuid.uuid4().hex[:24]}", "name": tool.name or "",
                 "input": {}}
        self._open_block("tool", block, out)
        self._open_tool = index
        tool.state = "open"
        for fragment in tool.pending:
            self._delta({"type": "input_json_delta", "partial_json": fragment}, out)
        tool.pending.clear()

    def _text(self, event: TextDelta, out: list[bytes]) -> None:
        if not event.text:
            return
        if self._open != "text":
            self._leave_tools(out)
            self._open_block("text", {"type": "text", "text": ""}, out)
        self._delta({"type": "text_delta", "text": event.text}, out)

    def _reasoning(self, event: ReasoningDelta, out: list[bytes]) -> None:
        if event.redacted:
            self._leave_tools(out)
            self._open_block("redacted", {"type": "redacted_thinking", "data": event.redacted}, out)
            self._close(out)
        if not event.text and not event.signature:
            return
        # A signature ends a thinking block: more thinking after it starts a new block, and a
        # standalone signature gets an empty block of its own (as the non-streamed answer has).
        if self._open != "thinking" or (self._signed and event.text) or event.standalone:
            self._leave_tools(out)
            self._open_block("thinking", {"type": "thinking", "thinking": "", "signature": ""}, out)
        if event.text:
            self._delta({"type": "thinking_delta", "thinking": event.text}, out)
        if event.signature:
            self._delta({"type": "signature_delta", "signature": event.signature}, out)
            self._signed = True

    def _tool(self, index: int) -> _Tool:
        if index not in self._tools:
            self._tools[index] = _Tool()
        return self._tools[index]

    def _tool_start(self, event: ToolCallStart, out: list[bytes]) -> None:
        tool = self._tool(event.index)
        if tool.state != "waiting":
            return  # a repeated start for a call already written
        tool.id, tool.name = event.id or tool.id, event.name or tool.name
        if self._open != "tool":
            self._close(out)
            self._open_tool_block(event.index, out)

    def _tool_delta(self, event: ToolCallDelta, out: list[bytes]) -> None:
        if not event.arguments:
            return
        tool = self._tool(event.index)
        if tool.state == "open":
            self._delta({"type": "input_json_delta", "partial_json": event.arguments}, out)
        elif tool.state == "waiting":
            tool.pending.append(event.arguments)
            if self._open != "tool" and tool.id is not None:
                self._close(out)
                self._open_tool_block(event.index, out)
        # A fragment for a call whose block has ended cannot be placed anywhere any more. It only
        # happens if an upstream resumes a call after other content, which no known dialect does.

    def _finish(self, event: Finish, out: list[bytes]) -> None:
        self._leave_tools(out)
        self._close(out)
        stop_reason = STOP_TO_ANTHROPIC.get(event.stop_reason, "end_turn")
        sequence = event.stop_sequence if stop_reason == "stop_sequence" else None
        out.append(sse("message_delta", {"type": "message_delta",
                                         "delta": {"stop_reason": stop_reason, "stop_sequence": sequence},
                                         "usage": usage_body(self._usage)}))
        out.append(sse("message_stop", {"type": "message_stop"}))
        self._done = True


_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    429: "rate_limit_error",
    504: "timeout_error",
    529: "overloaded_error",
    503: "overloaded_error",
}


def error_body(status: int, message: str) -> dict:
    """Anthropic's error shape for an HTTP status."""
    kind = _ERROR_TYPES.get(status) or ("api_error" if status >= 500 else "invalid_request_error")
    return {"type": "error", "error": {"type": kind, "message": message}}
