"""Pass-through relay of an OpenAI Chat Completions SSE stream.

Forwards upstream events untouched and as soon as they are whole, while it
notes the usage, notices the terminal ``[DONE]``, and hides the usage-only
chunk the gateway asked for on the client's behalf when the client did not.
"""

from __future__ import annotations

import orjson

from omniroute.transport.sse import SSESplitter, event_data


class OpenAIStreamRelay:
    """A small state machine: ``feed(bytes) -> bytes to send``; ``done`` once ``[DONE]`` is seen."""

    __slots__ = ("_split", "_client_wants_usage", "usage", "done", "finished", "chunks")

    def __init__(self, client_wants_usage: bool):
        self._split = SSESplitter()
        self._client_wants_usage = client_wants_usage
        self.usage: dict = {}
        self.done = False
        self.finished = False  # a choice carried a finish_reason
        self.chunks = 0  # data events relayed (about one token each: a usage estimate when none comes)

    def feed(self, chunk: bytes) -> bytes:
        return self._events(self._split.feed(chunk))

    def finish(self) -> bytes:
        """Whatever the upstream left unterminated when it closed."""
        return self._events(self._split.flush())

    def _events(self, events: list[bytes]) -> bytes:
        if not events:
            return b""
        out = []
        for event in events:
            data = event_data(event)
            if data is None:
                out.append(event)  # comments and keep-alives pass through
                continue
            if data == b"[DONE]":
                self.done = True
                out.append(b"data: [DONE]")
                continue
            if b'"usage"' in data and not self._keep_usage_chunk(data):
                continue
            if not self.finished and b'"finish_reason":"' in data.replace(b'": "', b'":"'):
                self.finished = True
            self.chunks += 1
            out.append(event)
        return b"\n\n".join(out) + b"\n\n" if out else b""

    def _keep_usage_chunk(self, data: bytes) -> bool:
        try:
            obj = orjson.loads(data)
        except orjson.JSONDecodeError:
            return True
        usage = obj.get("usage") if isinstance(obj, dict) else None
        if isinstance(usage, dict):
            self.usage = usage
            if not self._client_wants_usage and not obj.get("choices"):
                return False
        return True

    @staticmethod
    def error_event(message: str, code: str) -> bytes:
        """The OpenAI dialect's in-stream error (SDKs raise on a data event with ``error``)."""
        body = {"error": {"message": message, "type": "upstream_error", "code": code}}
        return b"data: " + orjson.dumps(body) + b"\n\n"
