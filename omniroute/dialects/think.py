"""Reasoning written inline as ``<think>…</think>`` at the start of an answer's text.

Several open-weight reasoning models (DeepSeek R1 and its distillations, QwQ, some Qwen 3
builds) are served by OpenAI-compatible and Ollama servers that leave the reasoning inside
the content. The decoders of those dialects split it out so that clients with a real
reasoning channel (Anthropic thinking blocks, Gemini thought parts, Responses reasoning
items) receive it there and never inside their text.

Only a block that opens the answer counts (leading whitespace allowed): a model that talks
*about* the tag later in its answer keeps its text as written.
"""

from __future__ import annotations

OPEN, CLOSE = "<think>", "</think>"


class ThinkSplitter:
    """Incremental: ``feed(text)`` → ``[(is_reasoning, text), …]``; tags may split across calls."""

    __slots__ = ("_state", "_held", "_after_block")

    def __init__(self) -> None:
        self._state = "start"  # start → thinking → text, or start → text
        self._held = ""
        self._after_block = False  # newlines right after </think> are dropped, however they arrive

    def feed(self, text: str) -> list[tuple[bool, str]]:
        if self._state == "text":
            if self._after_block:
                text = text.lstrip("\n")
                self._after_block = not text
            return [(False, text)] if text else []
        self._held += text
        out: list[tuple[bool, str]] = []
        if self._state == "start":
            stripped = self._held.lstrip()
            if not stripped:
                return out
            if len(stripped) < len(OPEN) and OPEN.startswith(stripped):
                return out  # could still become the opening tag
            if not stripped.startswith(OPEN):
                self._state, held, self._held = "text", self._held, ""
                return [(False, held)]
            self._state, self._held = "thinking", stripped[len(OPEN):]
        end = self._held.find(CLOSE)
        if end >= 0:
            reasoning, rest = self._held[:end], self._held[end + len(CLOSE):].lstrip("\n")
            self._state, self._held, self._after_block = "text", "", not rest
            if reasoning:
                out.append((True, reasoning))
            if rest:
                out.append((False, rest))
            return out
        keep = _partial_suffix(self._held, CLOSE)
        ready, self._held = self._held[:len(self._held) - keep], self._held[len(self._held) - keep:]
        if ready:
            out.append((True, ready))
        return out

    def flush(self) -> list[tuple[bool, str]]:
        """What is still held when the text ends (an unclosed block stays reasoning)."""
        held, self._held = self._held, ""
        if not held:
            return []
        return [(self._state == "thinking", held)]


def split_think(text: str) -> tuple[str, str]:
    """A whole answer's text → (reasoning, text)."""
    splitter = ThinkSplitter()
    pieces = splitter.feed(text) + splitter.flush()
    return ("".join(t for r, t in pieces if r), "".join(t for r, t in pieces if not r))


def _partial_suffix(text: str, tag: str) -> int:
    """Length of the longest end of ``text`` that is a proper beginning of ``tag``."""
    for n in range(min(len(tag) - 1, len(text)), 0, -1):
        if text.endswith(tag[:n]):
            return n
    return 0


def content_parts(content: str) -> list:
    """A whole answer's text → canonical parts: Reasoning (when it opens with a think block), Text."""
    from omniroute.schema import Reasoning, Text

    reasoning, text = split_think(content)
    parts: list = [Reasoning(text=reasoning)] if reasoning else []
    if text:
        parts.append(Text(text))
    return parts


def delta_events(splitter: ThinkSplitter, pieces: list[tuple[bool, str]]) -> list:
    """Split pieces → ReasoningDelta / TextDelta events."""
    from omniroute.schema import ReasoningDelta, TextDelta

    return [ReasoningDelta(text=t) if is_reasoning else TextDelta(t) for is_reasoning, t in pieces]
