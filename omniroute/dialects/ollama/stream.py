"""Ollama NDJSON streams ⇄ canonical stream events."""

from __future__ import annotations

from dataclasses import replace

import orjson

from omniroute.dialects.base import FramedDecoder
from omniroute.dialects.ollama.response import (
    STOP_TO_OLLAMA,
    calls_from,
    created_at,
    new_response_id,
    parse_arguments,
    stop_from_ollama,
    usage_from,
)
from omniroute.dialects.think import ThinkSplitter, delta_events
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


class LineSplitter:
    """Incremental NDJSON framing: ``feed(bytes)`` returns the complete lines seen so far."""

    __slots__ = ("_buf",)

    def __init__(self) -> None:
        self._buf = b""

    def feed(self, chunk: bytes) -> list[bytes]:
        """Whole lines completed by ``chunk`` (without their terminators)."""
        lines = (self._buf + chunk).split(b"\n")
        self._buf = lines.pop()
        return [s for s in (line.strip() for line in lines) if s]

    def flush(self) -> list[bytes]:
        """The unterminated last line, if any."""
        rest, self._buf = self._buf.strip(), b""
        return [rest] if rest else []


class OllamaStreamDecoder(FramedDecoder):
    """Ollama NDJSON bytes → canonical events; correct for any split of the bytes into chunks."""

    def __init__(self) -> None:
        self._split = LineSplitter()
        self._started = False
        self._finished = False  # Finish or StreamError emitted: later lines are ignored
        self._tools = 0  # tool calls seen so far, which also gives the next call's index
        self._think = ThinkSplitter()

    def _events(self, lines: list[bytes]) -> list[StreamEvent]:
        out: list[StreamEvent] = []
        for line in lines:
            if self._finished:
                break
            try:
                obj = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue  # not JSON: nothing Ollama defines, so nothing to translate
            if isinstance(obj, dict):
                self._line(obj, out)
        return out

    def _line(self, obj: dict, out: list[StreamEvent]) -> None:
        if obj.get("error") is not None:
            error = obj["error"]
            message = error.get("message") if isinstance(error, dict) else error
            out.append(StreamError(str(message or "upstream error")))
            self._finished = True
            return
        if not self._started:
            self._started = True
            out.append(MessageStart(id=new_response_id(), model=str(obj.get("model") or "")))
        message = obj.get("message") if isinstance(obj.get("message"), dict) else {}
        if isinstance(message.get("thinking"), str) and message["thinking"]:
            out.append(ReasoningDelta(text=message["thinking"]))
        if isinstance(message.get("content"), str) and message["content"]:
            out.extend(delta_events(self._think, self._think.feed(message["content"])))
        for call in calls_from(message):
            # Ollama sends each call whole, so one delta carries all of its arguments.
            out.append(ToolCallStart(index=self._tools, id=call.id, name=call.name))
            out.append(ToolCallDelta(self._tools, call.arguments))
            self._tools += 1
        if obj.get("done") is True:
            out.extend(delta_events(self._think, self._think.flush()))
            out.append(UsageUpdate(usage_from(obj)))
            out.append(Finish(stop_from_ollama(obj.get("done_reason"), self._tools > 0)))
            self._finished = True


def ndjson(obj: dict) -> bytes:
    """One NDJSON line."""
    return orjson.dumps(obj) + b"\n"


class _Call:
    __slots__ = ("fragments", "name")

    def __init__(self, name: str) -> None:
        self.name = name
        self.fragments: list[str] = []

    def complete(self) -> bool:
        """True when the arguments so far form a whole JSON object (none yet means more may come)."""
        if not self.fragments:
            return False
        try:
            return isinstance(orjson.loads("".join(self.fragments)), dict)
        except orjson.JSONDecodeError:
            return False


class OllamaStreamEncoder:
    """Canonical events → Ollama NDJSON bytes, as soon as each can be written.

    Ollama sends every tool call whole, so a call's argument fragments are held until the call is
    complete: when a later call starts (if the arguments already form a whole object; upstreams
    that interleave calls keep theirs until the end) or at the finish.
    """

    def __init__(self, model: str):
        self._model = model
        self._done = False
        self._usage = Usage()
        self._calls: dict[int, _Call] = {}
        self._sent: set[int] = set()  # calls already written; late fragments for them are dropped

    def _line(self, message: dict, **extra) -> bytes:
        return ndjson({"model": self._model, "created_at": created_at(), "message": message, **extra})

    def feed(self, event: StreamEvent) -> bytes:
        """The NDJSON bytes ``event`` produces (possibly none)."""
        if self._done:
            return b""
        if isinstance(event, TextDelta):
            if event.text:
                return self._line({"role": "assistant", "content": event.text}, done=False)
        elif isinstance(event, ReasoningDelta):
            # Signatures and redacted thinking have no Ollama counterpart.
            if event.text:
                return self._line({"role": "assistant", "content": "", "thinking": event.text}, done=False)
        elif isinstance(event, ToolCallStart):
            out = self._flush(only_complete=True)
            if event.index not in self._sent:
                call = self._calls.setdefault(event.index, _Call(event.name))
                call.name = event.name or call.name
            return out
        elif isinstance(event, ToolCallDelta):
            if event.arguments and event.index not in self._sent:
                self._calls.setdefault(event.index, _Call("")).fragments.append(event.arguments)
        elif isinstance(event, UsageUpdate):
            self._usage = replace(event.usage)
        elif isinstance(event, Finish):
            self._done = True
            final = self._line({"role": "assistant", "content": ""}, done=True,
                               done_reason=STOP_TO_OLLAMA.get(event.stop_reason, "stop"),
                               prompt_eval_count=self._usage.prompt_total + self._usage.cache_write, eval_count=self._usage.output)
            return self._flush(only_complete=False) + final
        elif isinstance(event, StreamError):
            self._done = True
            return ndjson({"error": event.message})
        # MessageStart writes nothing: Ollama streams have no opening line.
        return b""

    def _flush(self, only_complete: bool) -> bytes:
        out = []
        for index in sorted(self._calls):
            call = self._calls[index]
            if only_complete and not call.complete():
                continue
            del self._calls[index]
            self._sent.add(index)
            function = {"name": call.name, "arguments": parse_arguments("".join(call.fragments))}
            out.append(self._line({"role": "assistant", "content": "", "tool_calls": [{"function": function}]},
                                  done=False))
        return b"".join(out)
