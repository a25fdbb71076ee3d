"""A whole (non-streamed) answer in canonical form."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from omniroute.schema.content import Part

StopReason = Literal["stop", "length", "tool_calls", "content_filter", "stop_sequence", "error"]


@dataclass(slots=True)
class Usage:
    """Token counts. ``input`` excludes cache reads and writes, which are counted apart."""

    input: int = 0
    output: int = 0
    cache_read: int = 0
    cache_write: int = 0
    reasoning: int = 0
    estimated: bool = False

    @property
    def prompt_total(self) -> int:
        """OpenAI's ``prompt_tokens``: input plus cache reads (cache writes are reported apart)."""
        return self.input + self.cache_read


@dataclass(slots=True)
class ChatResponse:
    id: str
    model: str
    parts: list[Part] = field(default_factory=list)
    stop_reason: StopReason = "stop"
    stop_sequence: str | None = None
    usage: Usage = field(default_factory=Usage)
