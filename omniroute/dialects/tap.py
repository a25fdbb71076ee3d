"""A relay that also watches the upstream's canonical events: to keep a streamed answer for the
response cache, and to count output tokens for progress events (API reference §1.4).

Only requests that need it get one (a cacheable request, or ``X-OmniRoute-Progress: true``); it
decodes the upstream bytes a second time with its own decoder, so the relay it wraps — pass-through
or translating — is untouched.
"""

from __future__ import annotations

import time

import orjson

from omniroute.cache.codec import Collector
from omniroute.schema import ReasoningDelta, TextDelta, ToolCallDelta

PROGRESS_EVERY_S = 2.0
# Where each client stream ends: the final progress event goes just before it (Ollama: its done line).
_END_MARKERS = {"openai": b"data: [DONE]", "completions": b"data: [DONE]", "anthropic": b"event: message_stop",
                "responses": b"event: response.completed", "ollama": b'"done":true'}


def progress_event(client: str, model: str, tokens: int, elapsed_ms: int, done: bool) -> bytes:
    """One progress event in the client's stream framing."""
    data: dict = {"tokens_generated": tokens, "elapsed_ms": elapsed_ms}
    if done:
        data["done"] = True
    if client == "ollama":  # an NDJSON chunk the Ollama client reads as an empty message
        line = {"model": model, "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "message": {"role": "assistant", "content": ""}, "done": False, "progress": data}
        return orjson.dumps(line) + b"\n"
    if client in ("openai", "completions"):
        # A chunk with no choices (as the usage chunk is), so SDKs that parse every event accept it.
        kind = "chat.completion.chunk" if client == "openai" else "text_completion"
        data = {"id": "progress", "object": kind, "created": int(time.time()), "model": model, "choices": [],
                **data}
    else:
        data = {"type": "progress", **data}
    return b"event: progress\ndata: " + orjson.dumps(data) + b"\n\n"


def progress_supported(client: str, json_array: bool) -> bool:
    """Google's client rejects any stream line that is not a response chunk; a JSON array has no events."""
    return client != "gemini" and not json_array


class _TokenCounter:
    def __init__(self):
        self._pending: list[str] = []
        self.tokens = 0

    def add(self, text: str) -> None:
        if text:
            self._pending.append(text)

    def count(self) -> int:
        if self._pending:
            from omniroute.tokens import _get_encoding

            self.tokens += len(_get_encoding().encode_ordinary("".join(self._pending)))
            self._pending.clear()
        return self.tokens


class StreamTap:
    """Wraps a relay: same surface, plus a collected answer and progress events."""

    def __init__(self, relay, decoder, *, collect: bool, progress: tuple[str, str] | None, started: float):
        self._relay = relay
        self._decoder = decoder
        self.collector = Collector() if collect else None
        self._progress = progress  # (client dialect, model) when progress events are on
        self._counter = _TokenCounter() if progress else None
        self._started = started
        self._last = time.monotonic()
        self._final_sent = False
        self._boundary = b"\n" if progress and progress[0] == "ollama" else b"\n\n"

    def __getattr__(self, name: str):
        return getattr(self._relay, name)

    def feed(self, chunk: bytes) -> bytes:
        out = self._relay.feed(chunk)
        self._watch(self._decoder.feed(chunk))
        if self._progress is None or self._final_sent:
            return out
        marker = _END_MARKERS.get(self._progress[0])
        if self._relay.done or (marker is not None and marker in out):
            return self._with_final(out, last=False)  # the final event goes before the stream's end marker
        # Between whole events only: a relay that forwards raw bytes may stop mid-event.
        if time.monotonic() - self._last >= PROGRESS_EVERY_S and out.endswith(self._boundary):
            out += self._event(False)
        return out

    def finish(self) -> bytes:
        out = self._relay.finish()
        self._watch(self._decoder.finish())
        if self._progress is not None and not self._final_sent:
            out = self._with_final(out, last=True)
        return out

    def _with_final(self, out: bytes, last: bool) -> bytes:
        client = self._progress[0]
        marker = _END_MARKERS.get(client)
        at = out.rfind(marker) if marker else -1
        if at >= 0 and client == "ollama":
            at = out.rfind(b"\n", 0, at) + 1  # the start of the closing line
        if at < 0:
            if not (last or out.endswith(self._boundary)):
                return out  # the end marker is still to come
            at = len(out)
        self._final_sent = True
        return out[:at] + self._event(True) + out[at:]

    def fail(self, message: str, code: str) -> bytes:
        out = self._relay.fail(message, code)
        if self.collector is not None:
            self.collector.failed = True
        return out

    def answer(self):
        """The whole answer, when the stream finished cleanly (else None)."""
        return self.collector.answer() if self.collector is not None and self._relay.done else None

    def _watch(self, events) -> None:
        if not events:
            return
        if self.collector is not None:
            self.collector.feed(events)
        counter = self._counter
        if counter is not None:
            for event in events:
                if event.__class__ is TextDelta or event.__class__ is ReasoningDelta:
                    counter.add(event.text)
                elif event.__class__ is ToolCallDelta:
                    counter.add(event.arguments)

    def _event(self, done: bool) -> bytes:
        self._last = time.monotonic()
        client, model = self._progress
        tokens = self._counter.count()
        if done:
            reported = self._relay.usage.output if self._relay.usage is not None else 0
            tokens = reported or tokens  # the upstream's own count, when it gave one
        elapsed = int((time.perf_counter() - self._started) * 1000)
        return progress_event(client, model, tokens, elapsed, done)
