"""A chat request in canonical form."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from omniroute.schema.content import Message, Text


@dataclass(slots=True)
class ToolDef:
    name: str
    description: str | None = None
    parameters: dict[str, Any] = field(default_factory=lambda: {"type": "object", "properties": {}})
    strict: bool | None = None  # OpenAI structured tool arguments
    # "function" (JSON arguments), or a Responses client-run tool carried as a function elsewhere:
    # "custom" (free-form text input) or "local_shell" (a command to run).
    kind: str = "function"


@dataclass(slots=True)
class ToolChoice:
    """``auto``, ``none``, ``required`` (any tool) or ``tool`` (the one named)."""

    mode: Literal["auto", "none", "required", "tool"] = "auto"
    name: str | None = None
    parallel: bool | None = None


@dataclass(slots=True)
class ReasoningConfig:
    """Reasoning asked for: an effort level, a token budget, or both (codecs convert)."""

    effort: Literal["minimal", "low", "medium", "high"] | None = None
    budget_tokens: int | None = None
    enabled: bool = True


# The original's mapping between effort levels and thinking budgets.
EFFORT_BUDGETS = {"minimal": 512, "low": 1024, "medium": 10240, "high": 131072}


def budget_to_effort(budget: int) -> str:
    """The smallest effort level whose budget covers ``budget``."""
    for effort, tokens in EFFORT_BUDGETS.items():
        if budget <= tokens:
            return effort
    return "high"


@dataclass(slots=True)
class ChatRequest:
    model: str
    messages: list[Message]
    system: list[Text] = field(default_factory=list)
    tools: list[ToolDef] = field(default_factory=list)
    tool_choice: ToolChoice | None = None
    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    stop: list[str] = field(default_factory=list)
    seed: int | None = None
    stream: bool = False
    response_format: dict[str, Any] | None = None  # OpenAI shape: {"type": "json_object"|"json_schema", ...}
    reasoning: ReasoningConfig | None = None
    frequency_penalty: float | None = None
    presence_penalty: float | None = None
    user: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    # Features of the client's body that only an upstream of the same dialect can honour
    # (e.g. a Responses ``previous_response_id``). Translating such a request is a 400 naming them.
    unportable: list[str] = field(default_factory=list)
    # Reasoning payloads another vendor issued came back (see dialects/provenance.py): even an
    # upstream of the client's own dialect must then get the request re-encoded, not passed through.
    foreign_reasoning: bool = False
