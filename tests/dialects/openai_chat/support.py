"""Fixture loading and stream helpers shared by the Chat Completions codec tests."""

from __future__ import annotations

import json
from pathlib import Path

from omniroute.dialects.openai_chat import CODEC

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "openai_chat"


def load(name: str) -> dict:
    """A JSON fixture as a fresh dict."""
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def stream_bytes(name: str) -> bytes:
    """An SSE fixture's raw bytes."""
    return (FIXTURES / name).read_bytes()


def decode_stream(data: bytes, size: int | None = None) -> list:
    """Every event a fresh decoder yields for ``data`` fed in pieces of ``size`` bytes."""
    decoder = CODEC.stream_decoder()
    size = size or len(data) or 1
    events = []
    for start in range(0, len(data), size):
        events.extend(decoder.feed(data[start : start + size]))
    events.extend(decoder.finish())
    return events


def decode_split(data: bytes, cuts: list[int]) -> list:
    """Events for ``data`` cut at the given offsets."""
    decoder = CODEC.stream_decoder()
    events, last = [], 0
    for cut in [*sorted(cuts), len(data)]:
        events.extend(decoder.feed(data[last:cut]))
        last = cut
    events.extend(decoder.finish())
    return events
