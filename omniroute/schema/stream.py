"""Stream events in canonical form: what stream decoders emit and stream encoders consume.

Order: MessageStart, then any mix of ReasoningDelta / TextDelta / ToolCallStart+ToolCallDelta,
then UsageUpdate (any time, possibly several) and exactly one Finish. StreamError ends a broken
stream instead of Finish. Tool calls are addressed by ``index`` (their order in the answer).
"""

from __future__ import annotations

from dataclasses import dataclass

from omniroute.schema.response import StopReason, Usage


@dataclass(slots=True)
class MessageStart:
    id: str
    model: str


@dataclass(slots=True)
class TextDelta:
    text: str


@dataclass(slots=True)
class ReasoningDelta:
    text: str = ""
    signature: str | None = None
    redacted: str | None = None
    # The signature belongs to a block of its own (Gemini signs the part after the thoughts),
    # not to the thinking streamed so far.
    standalone: bool = False
    origin: str | None = None  # as Reasoning.origin


@dataclass(slots=True)
class ToolCallStart:
    index: int
    id: str
    name: str


@dataclass(slots=True)
class ToolCallDelta:
    index: int
    arguments: str


@dataclass(slots=True)
class UsageUpdate:
    usage: Usage


@dataclass(slots=True)
class Finish:
    stop_reason: StopReason
    stop_sequence: str | None = None


@dataclass(slots=True)
class StreamError:
    message: str
    code: str = "upstream_error"


StreamEvent = MessageStart | TextDelta | ReasoningDelta | ToolCallStart | ToolCallDelta | UsageUpdate | Finish | StreamError
