"""OpenAI Responses SSE → canonical stream events (the encoder lives in ``stream_encode``)."""

from __future__ import annotations

import orjson

from omniroute.dialects.base import TRUNCATED, FramedDecoder
from omniroute.dialects.responses.response import (
    LOCAL_SHELL,
    arguments_text,
    reasoning_text,
    shell_arguments,
    stop_from_responses,
    usage_from_responses,
)
from omniroute.dialects.responses.stream_encode import ResponsesStreamEncoder, sse, stream_error_event
from omniroute.schema import (
    Finish,
    MessageStart,
    ReasoningDelta,
    StreamError,
    StreamEvent,
    TextDelta,
    ToolCallDelta,
    ToolCallStart,
    UsageUpdate,
)
from omniroute.transport.sse import SSESplitter, event_data

__all__ = ["TRUNCATED", "ResponsesStreamDecoder", "ResponsesStreamEncoder", "sse", "stream_error_event"]



class _Call:
    __slots__ = ("index", "sent", "text", "open")

    def __init__(self, index: int) -> None:
        self.index = index  # the canonical tool-call index
        self.sent = ""  # argument text already emitted
        self.text: str | None = None  # a custom call's input already emitted (inside its JSON string)
        self.open = False  # a custom call's JSON string awaits its closing quote


def _json_chars(text: str) -> str:
    """``text`` as it reads inside a JSON string."""
    return orjson.dumps(text).decode()[1:-1]


class ResponsesStreamDecoder(FramedDecoder):
    """Responses SSE bytes → canonical events; correct for any split of the bytes into chunks.

    Deltas carry the content as it comes; the ``done`` events only fill in what no delta sent
    (some Responses servers skip the deltas), so nothing is emitted twice.
    """

    def __init__(self) -> None:
        self._split = SSESplitter()
        self._started = False
        self._finished = False  # Finish or StreamError emitted: later events are ignored
        self._calls: dict[int, _Call] = {}  # output index → call
        self._streamed: set[int] = set()  # output indexes whose text or reasoning came as deltas
        self._summaries: dict[int, int] = {}  # output index → reasoning summary parts seen

    def _events(self, raw_events: list[bytes]) -> list[StreamEvent]:
        out: list[StreamEvent] = []
        for raw in raw_events:
            if self._finished:
                break
            data = event_data(raw)
            if not data or data == b"[DONE]":
                continue
            try:
                obj = orjson.loads(data)
            except orjson.JSONDecodeError:
                continue  # not JSON: nothing the dialect defines, so nothing to translate
            if isinstance(obj, dict) and isinstance(obj.get("type"), str):
                self._event(obj, out)
        return out

    def _start(self, out: list[StreamEvent], response=None) -> None:
        if self._started:
            return
        self._started = True
        response = response if isinstance(response, dict) else {}
        out.append(MessageStart(id=str(response.get("id") or ""), model=str(response.get("model") or "")))

    def _event(self, obj: dict, out: list[StreamEvent]) -> None:
        kind: str = obj["type"]
        if kind in ("response.created", "response.in_progress", "response.queued"):
            self._start(out, obj.get("response"))
            return
        if kind in ("response.failed", "error"):
            self._error(obj, out)
            return
        self._start(out)
        index = obj.get("output_index")
        if kind in ("response.output_text.delta", "response.refusal.delta"):
            if isinstance(obj.get("delta"), str) and obj["delta"]:
                self._streamed.add(index)
                out.append(TextDelta(obj["delta"]))
        elif kind in ("response.reasoning_summary_text.delta", "response.reasoning_text.delta"):
            if isinstance(obj.get("delta"), str) and obj["delta"]:
                self._streamed.add(index)
                out.append(ReasoningDelta(text=obj["delta"]))
        elif kind == "response.reasoning_summary_part.added":
            # Summaries are separate paragraphs, as in a whole answer.
            seen = self._summaries.get(index, 0)
            self._summaries[index] = seen + 1
            if seen and index in self._streamed:
                out.append(ReasoningDelta(text="\n\n"))
        elif kind == "response.function_call_arguments.delta":
            call = self._calls.get(index)
            if call is not None and isinstance(obj.get("delta"), str) and obj["delta"]:
                call.sent += obj["delta"]
                out.append(ToolCallDelta(call.index, obj["delta"]))
        elif kind == "response.function_call_arguments.done":
            call = self._calls.get(index)
            if call is not None:
                self._rest_of_arguments(call, arguments_text(obj.get("arguments")), out)
        elif kind == "response.custom_tool_call_input.delta":
            call = self._calls.get(index)
            if call is not None and isinstance(obj.get("delta"), str):
                self._custom_text(call, (call.text or "") + obj["delta"], out)
        elif kind == "response.custom_tool_call_input.done":
            call = self._calls.get(index)
            if call is not None and isinstance(obj.get("input"), str):
                self._custom_text(call, obj["input"], out)
        elif kind == "response.output_item.added":
            item = obj.get("item")
            if isinstance(item, dict) and item.get("type") == "function_call":
                self._call_start(index, item, out)
            elif isinstance(item, dict) and item.get("type") == "custom_tool_call":
                self._custom_start(index, item, out)
            elif isinstance(item, dict) and item.get("type") == "local_shell_call":
                self._open_call(index, item, LOCAL_SHELL, out)
        elif kind == "response.output_item.done":
            self._item_done(index, obj.get("item"), out)
        elif kind in ("response.completed", "response.incomplete"):
            self._complete(obj.get("response"), out)

    def _open_call(self, index, item: dict, name: str, out: list[StreamEvent]) -> _Call:
        call = self._calls.get(index)
        if call is None:
            call = self._calls[index] = _Call(len(self._calls))
            call_id = item.get("call_id") or item.get("id") or ""
            out.append(ToolCallStart(index=call.index, id=str(call_id), name=name))
        return call

    def _call_start(self, index, item: dict, out: list[StreamEvent]) -> _Call:
        call = self._open_call(index, item, str(item.get("name") or ""), out)
        self._rest_of_arguments(call, arguments_text(item.get("arguments") or ""), out)
        return call

    def _custom_start(self, index, item: dict, out: list[StreamEvent]) -> _Call:
        """A custom call carried as a function: its input streams inside the JSON string ``input``."""
        call = self._open_call(index, item, str(item.get("name") or ""), out)
        if call.text is None:
            call.text, call.open = "", True
            call.sent = '{"input":"'
            out.append(ToolCallDelta(call.index, call.sent))
        if isinstance(item.get("input"), str):
            self._custom_text(call, item["input"], out)
        return call

    @staticmethod
    def _custom_text(call: _Call, text: str, out: list[StreamEvent]) -> None:
        """Emit the part of a custom call's input ``text`` (all of it so far) that was not sent yet."""
        sent = call.text or ""
        if call.open and text.startswith(sent) and len(text) > len(sent):
            chars = _json_chars(text[len(sent):])
            call.text, call.sent = text, call.sent + chars
            out.append(ToolCallDelta(call.index, chars))

    @staticmethod
    def _close_custom(call: _Call, out: list[StreamEvent]) -> None:
        if call.open:
            call.open = False
            call.sent += '"}'
            out.append(ToolCallDelta(call.index, '"}'))

    @staticmethod
    def _rest_of_arguments(call: _Call, arguments: str, out: list[StreamEvent]) -> None:
        """Emit the part of the complete ``arguments`` that no delta has carried yet."""
        if arguments.startswith(call.sent) and len(arguments) > len(call.sent):
            out.append(ToolCallDelta(call.index, arguments[len(call.sent):]))
            call.sent = arguments

    def _item_done(self, index, item, out: list[StreamEvent]) -> None:
        if not isinstance(item, dict):
            return
        kind = item.get("type")
        if kind == "function_call":
            self._call_start(index, item, out)
        elif kind == "custom_tool_call":
            self._close_custom(self._custom_start(index, item, out), out)
        elif kind == "local_shell_call":
            call = self._open_call(index, item, LOCAL_SHELL, out)
            self._rest_of_arguments(call, shell_arguments(item.get("action")), out)
        elif kind == "reasoning":
            text = reasoning_text(item)
            if text and index not in self._streamed:
                out.append(ReasoningDelta(text=text))
            if isinstance(item.get("encrypted_content"), str) and item["encrypted_content"]:
                out.append(ReasoningDelta(redacted=item["encrypted_content"]))
        elif kind == "message" and index not in self._streamed:
            for content in item.get("content") or []:
                if isinstance(content, dict):
                    text = content.get("text") if content.get("type") == "output_text" else content.get("refusal")
                    if isinstance(text, str) and text:
                        out.append(TextDelta(text))

    def _complete(self, response, out: list[StreamEvent]) -> None:
        for call in self._calls.values():
            self._close_custom(call, out)  # a custom call whose item never closed
        response = response if isinstance(response, dict) else {}
        usage = usage_from_responses(response.get("usage"))
        if usage is not None:
            out.append(UsageUpdate(usage))  # before the Finish, so an encoder has it in time
        reason = stop_from_responses(response.get("status") or "completed", response.get("incomplete_details"),
                                     bool(self._calls))
        out.append(Finish(reason))
        self._finished = True

    def _error(self, obj: dict, out: list[StreamEvent]) -> None:
        if obj["type"] == "error":
            source = obj.get("error") if isinstance(obj.get("error"), dict) else obj
        else:
            response = obj.get("response") if isinstance(obj.get("response"), dict) else {}
            source = response.get("error") if isinstance(response.get("error"), dict) else {}
        message = source.get("message") if isinstance(source.get("message"), str) else "upstream error"
        code = source.get("code") if isinstance(source.get("code"), str) else "upstream_error"
        out.append(StreamError(message or "upstream error", code or "upstream_error"))
        self._finished = True
