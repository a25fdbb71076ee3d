"""Usage estimates for answers whose upstream reported none (marked ``estimated`` in the ledger).

No tokenizer is loaded for this: it runs on the request path of servers that send no usage
(some local and OpenAI-compatible servers ignore ``stream_options.include_usage``), and a
character-based estimate is as good as any once the provider's own count is missing.
"""

from __future__ import annotations

from omniroute.schema import ChatRequest, ChatResponse, Image, Reasoning, Text, ToolCall, ToolResult, Usage
from omniroute.tokens import TOKENS_PER_IMAGE, TOKENS_PER_MESSAGE, estimate_text_tokens


def request_tokens(request: ChatRequest) -> int:
    """Estimated input tokens of a request."""
    total = sum(estimate_text_tokens(t.text) for t in request.system)
    for message in request.messages:
        total += TOKENS_PER_MESSAGE
        for part in message.parts:
            total += _part_tokens(part)
    for tool in request.tools:
        total += estimate_text_tokens(tool.name) + estimate_text_tokens(tool.description or "")
        total += estimate_text_tokens(str(tool.parameters))
    return total


def response_tokens(response: ChatResponse) -> int:
    """Estimated output tokens of a whole answer."""
    return sum(_part_tokens(part) for part in response.parts)


def estimated(input_tokens: int, output_tokens: int) -> Usage:
    return Usage(input=input_tokens, output=output_tokens, estimated=True)


def missing(usage: Usage | None) -> bool:
    """True when an upstream reported no usage at all."""
    return usage is None or (usage.input == 0 and usage.output == 0 and usage.cache_read == 0
                             and usage.cache_write == 0)


def _part_tokens(part) -> int:
    if isinstance(part, Text | Reasoning):
        return estimate_text_tokens(part.text)
    if isinstance(part, ToolCall):
        return estimate_text_tokens(part.name) + estimate_text_tokens(part.arguments)
    if isinstance(part, ToolResult):
        return sum(_part_tokens(p) for p in part.content)
    if isinstance(part, Image):
        return TOKENS_PER_IMAGE
    return 0
