"""OpenAI Chat Completions SSE bytes → canonical stream events.

Ordering: ``MessageStart`` comes with the first chunk; deltas follow in arrival order
(within one chunk: reasoning, then text, then tool calls). The upstream's
``finish_reason`` is held back and ``Finish`` is emitted only at ``[DONE]`` (or at the
end of the bytes), because OpenAI sends the usage-only chunk *after* the finish chunk
and the canonical order puts every ``UsageUpdate`` before ``Finish``.
"""

from __future__ import annotations

import orjson

from omniroute.dialects.base import TRUNCATED as TRUNCATED_EVENT
from omniroute.dialects.openai_chat.request_encode import new_call_id
from omniroute.dialects.openai_chat.response import stop_reason_in
from omniroute.dialects.openai_chat.usage import usage_from_openai
from omniroute.dialects.think import ThinkSplitter, delta_events
from omniroute.schema import (
    Finish,
    MessageStart,
    ReasoningDelta,
    StreamError,
    StreamEvent,
    ToolCallDelta,
    ToolCallStart,
    UsageUpdate,
)
from omniroute.transport.sse import SSESplitter, event_data

TRUNCATED = TRUNCATED_EVENT.message


class _Call:
    """One tool call being streamed: arguments wait here until its name is known."""

    __slots__ = ("id", "index", "name", "early")

    def __init__(self, call_id: str | None) -> None:
        self.id = call_id
        self.index: int | None = None  # canonical index, set once ToolCallStart is out
        self.name: str | None = None
        self.early: list[str] = []


class OpenAIStreamDecoder:
    """Incremental decoder: ``feed(bytes)`` and ``finish()`` return canonical events."""

    def __init__(self) -> None:
        self._split = SSESplitter()
        self._started = False
        self._stop: str | None = None  # upstream finish_reason, held until [DONE]
        self._saw_finish = False
        self._closed = False  # Finish or StreamError is out: ignore the rest
        self._calls: dict[int, _Call] = {}  # upstream index -> call being streamed
        self._next_index = 0
        self._think = ThinkSplitter()

    def feed(self, chunk: bytes) -> list[StreamEvent]:
        """Events completed by ``chunk``."""
        return self._events(self._split.feed(chunk))

    def finish(self) -> list[StreamEvent]:
        """Events still due when the bytes end; a stream cut short ends in StreamError."""
        out = self._events(self._split.flush())
        if self._closed:
            return out
        self._closed = True
        if self._saw_finish:
            out.extend(self._finish())
        else:
            out.append(StreamError(TRUNCATED, "upstream_stream_truncated"))
        return out

    def _events(self, raw_events: list[bytes]) -> list[StreamEvent]:
        out: list[StreamEvent] = []
        for raw in raw_events:
            if self._closed:
                break
            data = event_data(raw)
            if data is None:
                continue  # comments and keep-alives
            if data.strip() == b"[DONE]":
                self._closed = True
                out.extend(self._finish())
                continue
            try:
                obj = orjson.loads(data)
            except orjson.JSONDecodeError:
                self._closed = True
                out.append(StreamError("upstream sent a malformed stream chunk", "upstream_bad_chunk"))
                continue
            if isinstance(obj, dict):
                self._chunk(obj, out)
        return out

    def _chunk(self, obj: dict, out: list[StreamEvent]) -> None:
        error = obj.get("error")
        if error is not None:
            self._closed = True
            out.append(_stream_error(error))
            return
        if not self._started:
            self._started = True
            out.append(MessageStart(id=obj.get("id") or "", model=obj.get("model") or ""))
        choices = obj.get("choices")
        if isinstance(choices, list):
            for choice in choices:
                # Only the first choice is relayed: the canonical model holds one answer.
                if isinstance(choice, dict) and choice.get("index", 0) == 0:
                    self._choice(choice, out)
        usage = obj.get("usage")
        if isinstance(usage, dict):
            out.append(UsageUpdate(usage_from_openai(usage)))

    def _choice(self, choice: dict, out: list[StreamEvent]) -> None:
        delta = choice.get("delta")
        if isinstance(delta, dict):
            # DeepSeek streams reasoning_content, OpenRouter reasoning; read one so none repeats.
            reasoning = delta.get("reasoning_content")
            if not reasoning:
                reasoning = delta.get("reasoning")
            if isinstance(reasoning, str) and reasoning:
                out.append(ReasoningDelta(text=reasoning))
            content = delta.get("content")
            if isinstance(content, str) and content:
                out.extend(delta_events(self._think, self._think.feed(content)))
            calls = delta.get("tool_calls")
            if isinstance(calls, list):
                for position, call in enumerate(calls):
                    if isinstance(call, dict):
                        self._tool_call(call, position, out)
            legacy = delta.get("function_call")
            if isinstance(legacy, dict):
                self._tool_call({"index": 0, "function": legacy}, 0, out)
        reason = choice.get("finish_reason")
        if isinstance(reason, str) and reason and not self._saw_finish:
            self._saw_finish = True
            self._stop = reason

    def _tool_call(self, raw: dict, position: int, out: list[StreamEvent]) -> None:
        upstream_index = raw.get("index", position)
        call_id = raw.get("id") or None
        fn = raw.get("function") if isinstance(raw.get("function"), dict) else {}
        call = self._calls.get(upstream_index)
        # Some servers give every call index 0: a new id at a known index is a new call.
        if call is None or (call_id and call.id and call_id != call.id and call.index is not None):
            call = self._calls[upstream_index] = _Call(call_id)
        elif call_id and not call.id:
            call.id = call_id
        name = fn.get("name")
        if call.index is None and isinstance(name, str) and name:
            call.name = name
            call.index = self._next_index
            self._next_index += 1
            out.append(ToolCallStart(index=call.index, id=call.id or new_call_id(), name=name))
            out.extend(ToolCallDelta(call.index, early) for early in call.early)
            call.early = []
        arguments = fn.get("arguments")
        if isinstance(arguments, str) and arguments:
            if call.index is None:
                call.early.append(arguments)
            else:
                out.append(ToolCallDelta(call.index, arguments))

    def _finish(self) -> list[StreamEvent]:
        # [DONE] without a finish_reason still ends the answer cleanly.
        held = delta_events(self._think, self._think.flush())
        return [*held, Finish(stop_reason_in(self._stop, self._next_index > 0))]


def _stream_error(error) -> StreamError:
    if isinstance(error, dict):
        message = error.get("message") if isinstance(error.get("message"), str) else "upstream error"
        code = error.get("code")
        return StreamError(message, code if isinstance(code, str) and code else "upstream_error")
    return StreamError(str(error) if error else "upstream error")
