"""Messages and their parts."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal


@dataclass(slots=True)
class Text:
    text: str


@dataclass(slots=True)
class Image:
    """An image by URL (``url``) or inline bytes (``data``, base64 text, with ``media_type``)."""

    url: str | None = None
    data: str | None = None
    media_type: str | None = None
    detail: str | None = None  # OpenAI's "low" | "high" | "auto"


@dataclass(slots=True)
class Reasoning:
    """Thinking content. ``signature`` (Anthropic) and ``redacted``/encrypted payloads travel unchanged."""

    text: str = ""
    signature: str | None = None
    redacted: str | None = None
    origin: str | None = None  # the dialect that issued signature/redacted (see dialects/provenance.py)


@dataclass(slots=True)
class ToolCall:
    """A call the assistant makes; ``arguments`` is the JSON text exactly as produced."""

    id: str
    name: str
    arguments: str = "{}"
    kind: str = "function"  # as ToolDef.kind: how a Responses client expects the call back


@dataclass(slots=True)
class ToolResult:
    """The result of a tool call, sent back by the client."""

    call_id: str
    content: list[Text | Image] = field(default_factory=list)
    is_error: bool = False
    name: str | None = None


Part = Text | Image | Reasoning | ToolCall | ToolResult
Role = Literal["user", "assistant", "tool"]


@dataclass(slots=True)
class Message:
    """One turn. Tool results are parts of a ``tool`` (OpenAI) or ``user`` (Anthropic) turn."""

    role: Role
    parts: list[Part] = field(default_factory=list)

    def text(self) -> str:
        return "".join(p.text for p in self.parts if isinstance(p, Text))
