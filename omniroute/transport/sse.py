"""Server-sent-event framing: split an upstream byte stream into whole events."""

from __future__ import annotations


class SSESplitter:
    """Incremental splitter: ``feed(bytes)`` returns the complete events seen so far.

    Events are returned raw (without the blank-line terminator) so a pass-through
    can forward them untouched.
    """

    __slots__ = ("_buf",)

    def __init__(self) -> None:
        self._buf = b""

    def feed(self, chunk: bytes) -> list[bytes]:
        buf = self._buf + chunk if self._buf else chunk
        if b"\r" in buf:
            # A CR at the very end may be the first half of a CRLF: decide once the next byte arrives.
            held = buf.endswith(b"\r")
            if held:
                buf = buf[:-1]
            buf = buf.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
            if held:
                events = buf.split(b"\n\n")
                self._buf = events.pop() + b"\r"
                return [e for e in events if e]
        events = buf.split(b"\n\n")
        self._buf = events.pop()
        return [e for e in events if e]

    def flush(self) -> list[bytes]:
        """What is left when the stream ends (an unterminated last event)."""
        rest, self._buf = self._buf.replace(b"\r", b"\n").strip(b"\n"), b""
        return [rest] if rest else []


def event_data(event: bytes) -> bytes | None:
    """The joined ``data:`` payload of one raw event, or None when it has none."""
    if event.startswith(b"data:") and b"\n" not in event:
        return _value(event)
    parts = [_value(line) for line in event.split(b"\n") if line.startswith(b"data:")]
    return b"\n".join(parts) if parts else None


def _value(line: bytes) -> bytes:
    # The SSE format drops exactly one space after the colon.
    return line[6:] if line[5:6] == b" " else line[5:]
