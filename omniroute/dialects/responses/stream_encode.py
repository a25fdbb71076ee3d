"""Canonical stream events → OpenAI Responses SSE bytes for a client."""

from __future__ import annotations

import time
from dataclasses import replace

import orjson

from omniroute.dialects.responses.response import (
    CUSTOM,
    LOCAL_SHELL,
    custom_call_item,
    custom_input,
    function_call_item,
    message_item,
    new_id,
    output_text,
    reasoning_item,
    response_id,
    response_object,
    shell_action,
    shell_call_item,
    status_for,
    usage_body,
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


def sse(kind: str, data: dict) -> bytes:
    """One Responses SSE event."""
    return b"event: " + kind.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


def stream_error_event(message: str, code: str, sequence_number: int = 0) -> bytes:
    """The Responses in-stream ``error`` event (the stream ends with it)."""
    return sse("error", {"type": "error", "code": code, "message": message, "param": None,
                         "sequence_number": sequence_number})


class _Item:
    """The open reasoning or message item."""

    __slots__ = ("kind", "index", "id", "text", "redacted", "part_open")

    def __init__(self, kind: str, index: int, item_id: str) -> None:
        self.kind = kind  # "reasoning" or "message"
        self.index = index
        self.id = item_id
        self.text = ""
        self.redacted: str | None = None
        self.part_open = False  # the summary part (reasoning) has been announced


class _Tool:
    __slots__ = ("index", "id", "call_id", "name", "arguments", "pending", "state", "kind")

    def __init__(self) -> None:
        self.index = -1  # output index once opened
        self.kind = "function"  # or a client-run tool's kind, known once opened
        self.id = ""
        self.call_id: str | None = None
        self.name: str | None = None
        self.arguments = ""
        self.pending: list[str] = []  # fragments that came before the call's start
        self.state = "waiting"  # waiting → open → closed


class ResponsesStreamEncoder:
    """Canonical events → Responses SSE, written as soon as each event allows.

    One reasoning or message item is open at a time; thinking never enters a message item.
    Function calls open their own items at once, and stay open (several at a time when an
    upstream interleaves parallel calls, each under its own ``output_index``) until other content
    or the finish comes, so every argument fragment is streamed live and none is lost.

    ``tool_kinds`` (tool name → ToolDef kind, from the client's request) names the client's custom
    and local shell tools: their calls come out as ``custom_tool_call`` and ``local_shell_call``
    items, opened at once like the others but filled in only when they close, as their text is
    known only once the whole JSON arguments are.
    """

    def __init__(self, model: str, tool_kinds: dict[str, str] | None = None, **_options) -> None:
        self._model = model
        self._tool_kinds = dict(tool_kinds or {})
        self._id: str | None = None
        self._created = int(time.time())
        self._seq = 0
        self._started = False
        self._done = False
        self._usage = Usage()
        self._items: list[dict | None] = []  # finished items by output index (None while open)
        self._open: _Item | None = None
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
            out.append(stream_error_event(event.message, event.code, self._next()))
        elif isinstance(event, MessageStart):
            self._id = self._id or (response_id(event.id) if event.id else None)
            self._start(out)
        else:
            self._start(out)
            if isinstance(event, TextDelta):
                self._text(event.text, out)
            elif isinstance(event, ReasoningDelta):
                self._reasoning(event, out)
            elif isinstance(event, ToolCallStart):
                self._tool_start(event, out)
            elif isinstance(event, ToolCallDelta):
                self._tool_delta(event, out)
            elif isinstance(event, Finish):
                self._finish(event, out)
        return b"".join(out)

    # ------------------------------------------------------------ plumbing

    def _next(self) -> int:
        self._seq += 1
        return self._seq - 1

    def _emit(self, out: list[bytes], kind: str, **fields) -> None:
        out.append(sse(kind, {"type": kind, **fields, "sequence_number": self._next()}))

    def _response(self, status: str, output: list[dict], usage: dict | None = None,
                  details: dict | None = None) -> dict:
        return response_object(id=self._id or "", model=self._model, created_at=self._created, status=status,
                               output=output, usage=usage, incomplete_details=details)

    def _start(self, out: list[bytes]) -> None:
        if self._started:
            return
        self._started = True
        self._id = self._id or response_id(None)
        self._emit(out, "response.created", response=self._response("in_progress", []))
        self._emit(out, "response.in_progress", response=self._response("in_progress", []))

    def _new_index(self) -> int:
        self._items.append(None)
        return len(self._items) - 1

    def _item_done(self, out: list[bytes], index: int, item: dict) -> None:
        self._items[index] = item
        self._emit(out, "response.output_item.done", output_index=index, item=item)

    # ------------------------------------------------------------ reasoning and message items

    def _open_item(self, kind: str, out: list[bytes]) -> _Item:
        self._close_item(out)
        self._close_tools(out)
        prefix = "rs" if kind == "reasoning" else "msg"
        item = self._open = _Item(kind, self._new_index(), new_id(prefix))
        if kind == "reasoning":
            self._emit(out, "response.output_item.added", output_index=item.index,
                       item={"id": item.id, "type": "reasoning", "summary": []})
        else:
            self._emit(out, "response.output_item.added", output_index=item.index,
                       item=message_item(item.id, [], "in_progress"))
            self._emit(out, "response.content_part.added", item_id=item.id, output_index=item.index,
                       content_index=0, part=output_text(""))
        return item

    def _close_item(self, out: list[bytes], status: str = "completed") -> None:
        item, self._open = self._open, None
        if item is None:
            return
        where = {"item_id": item.id, "output_index": item.index}
        if item.kind == "message":
            self._emit(out, "response.output_text.done", **where, content_index=0, text=item.text, logprobs=[])
            self._emit(out, "response.content_part.done", **where, content_index=0, part=output_text(item.text))
            self._item_done(out, item.index, message_item(item.id, [item.text], status))
            return
        if item.part_open:
            self._emit(out, "response.reasoning_summary_text.done", **where, summary_index=0, text=item.text)
            self._emit(out, "response.reasoning_summary_part.done", **where, summary_index=0,
                       part={"type": "summary_text", "text": item.text})
        self._item_done(out, item.index, reasoning_item(item.id, item.text, item.redacted))

    def _text(self, text: str, out: list[bytes]) -> None:
        if not text:
            return
        item = self._open if self._open is not None and self._open.kind == "message" else None
        item = item or self._open_item("message", out)
        item.text += text
        self._emit(out, "response.output_text.delta", item_id=item.id, output_index=item.index, content_index=0,
                   delta=text, logprobs=[])

    def _reasoning(self, event: ReasoningDelta, out: list[bytes]) -> None:
        if not event.text and not event.redacted:
            return  # a signature alone has no Responses form
        item = self._open
        # Encrypted content ends a reasoning item: more reasoning after it starts a new one; a
        # standalone payload (it signs what follows, not the reasoning so far) gets an item of its own.
        if item is None or item.kind != "reasoning" or item.redacted or event.standalone:
            item = self._open_item("reasoning", out)
        if event.text:
            if not item.part_open:
                item.part_open = True
                self._emit(out, "response.reasoning_summary_part.added", item_id=item.id, output_index=item.index,
                           summary_index=0, part={"type": "summary_text", "text": ""})
            item.text += event.text
            self._emit(out, "response.reasoning_summary_text.delta", item_id=item.id, output_index=item.index,
                       summary_index=0, delta=event.text)
        if event.redacted:
            item.redacted = event.redacted

    # ------------------------------------------------------------ function calls

    def _tool(self, index: int) -> _Tool:
        if index not in self._tools:
            self._tools[index] = _Tool()
        return self._tools[index]

    def _open_tool(self, tool: _Tool, out: list[bytes]) -> None:
        self._close_item(out)
        tool.state = "open"
        tool.index = self._new_index()
        tool.call_id = tool.call_id or new_id("call")
        kind = self._tool_kinds.get(tool.name or "")
        tool.kind = kind if kind in (CUSTOM, LOCAL_SHELL) else "function"
        if tool.kind == CUSTOM:
            tool.id = new_id("ctc")
            item = custom_call_item(tool.id, tool.call_id, tool.name or "", "", "in_progress")
        elif tool.kind == LOCAL_SHELL:
            tool.id = new_id("lsh")
            item = shell_call_item(tool.id, tool.call_id, shell_action(""), "in_progress")
        else:
            tool.id = new_id("fc")
            item = function_call_item(tool.id, tool.call_id, tool.name or "", "", "in_progress")
        self._emit(out, "response.output_item.added", output_index=tool.index, item=item)
        for fragment in tool.pending:
            self._arguments(tool, fragment, out)
        tool.pending.clear()

    def _arguments(self, tool: _Tool, fragment: str, out: list[bytes]) -> None:
        tool.arguments += fragment
        if tool.kind == "function":  # the others are written whole when they close
            self._emit(out, "response.function_call_arguments.delta", item_id=tool.id, output_index=tool.index,
                       delta=fragment)

    def _close_tool(self, tool: _Tool, out: list[bytes]) -> None:
        tool.state = "closed"
        where = {"item_id": tool.id, "output_index": tool.index}
        if tool.kind == CUSTOM:
            text = custom_input(tool.arguments or "{}")
            if text:
                self._emit(out, "response.custom_tool_call_input.delta", **where, delta=text)
            self._emit(out, "response.custom_tool_call_input.done", **where, input=text)
            self._item_done(out, tool.index, custom_call_item(tool.id, tool.call_id or "", tool.name or "", text))
        elif tool.kind == LOCAL_SHELL:
            self._item_done(out, tool.index, shell_call_item(tool.id, tool.call_id or "", shell_action(tool.arguments)))
        else:
            self._emit(out, "response.function_call_arguments.done", **where, arguments=tool.arguments)
            self._item_done(out, tool.index,
                            function_call_item(tool.id, tool.call_id or "", tool.name or "", tool.arguments))

    def _close_tools(self, out: list[bytes], all_waiting: bool = False) -> None:
        """End the open calls in output order (at the finish, also those that only ever got fragments)."""
        if all_waiting:
            for index in sorted(self._tools):
                if self._tools[index].state == "waiting":
                    self._open_tool(self._tools[index], out)
        for tool in sorted((t for t in self._tools.values() if t.state == "open"), key=lambda t: t.index):
            self._close_tool(tool, out)

    def _tool_start(self, event: ToolCallStart, out: list[bytes]) -> None:
        tool = self._tool(event.index)
        if tool.state != "waiting":
            return  # a repeated start for a call already written
        tool.call_id, tool.name = event.id or tool.call_id, event.name or tool.name
        self._open_tool(tool, out)

    def _tool_delta(self, event: ToolCallDelta, out: list[bytes]) -> None:
        if not event.arguments:
            return
        tool = self._tool(event.index)
        if tool.state == "open":
            self._arguments(tool, event.arguments, out)
        elif tool.state == "waiting":
            tool.pending.append(event.arguments)
        # A fragment for a call already ended cannot be placed: it happens only if an upstream
        # resumes a call after other content, which no known dialect does.

    # ------------------------------------------------------------ the end

    def _finish(self, event: Finish, out: list[bytes]) -> None:
        status, details = status_for(event.stop_reason)
        self._close_item(out, status)  # a message cut short is itself incomplete
        self._close_tools(out, all_waiting=True)
        output = [item for item in self._items if item is not None]
        response = self._response(status, output, usage_body(self._usage), details)
        self._emit(out, "response.completed" if status == "completed" else "response.incomplete", response=response)
        self._done = True
