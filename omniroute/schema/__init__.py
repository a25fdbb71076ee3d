"""The canonical model of a chat exchange: a superset of every wire dialect.

Pure data: no I/O, no provider names. Dialect codecs translate to and from it.
"""

from omniroute.schema.content import Image, Message, Part, Reasoning, Text, ToolCall, ToolResult
from omniroute.schema.request import ChatRequest, ReasoningConfig, ToolChoice, ToolDef
from omniroute.schema.response import ChatResponse, StopReason, Usage
from omniroute.schema.stream import (
    Finish,
    MessageStart,
    ReasoningDelta,
    StreamError,
    StreamEvent,
    TextDelta,
    ToolCallDelta,
    ToolCallStart,
    UsageUpdate,
)

__all__ = [
    "ChatRequest", "ChatResponse", "Finish", "Image", "Message", "MessageStart", "Part", "Reasoning",
    "ReasoningConfig", "ReasoningDelta", "StopReason", "StreamError", "StreamEvent", "Text", "TextDelta",
    "ToolCall", "ToolCallDelta", "ToolCallStart", "ToolChoice", "ToolDef", "ToolResult", "Usage",
    "UsageUpdate",
]
