"""Anthropic Messages answers (non-streamed) ⇄ canonical responses, plus the pieces the stream reuses."""

from __future__ import annotations

import orjson

from omniroute.schema import ChatResponse, Part, Reasoning, StopReason, Text, ToolCall, Usage

STOP_FROM_ANTHROPIC: dict[str, StopReason] = {
    "end_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "stop_sequence": "stop_sequence",
    "refusal": "content_filter",
    # A paused server-tool turn is a normal end from the client's point of view.
    "pause_turn": "stop",
}

STOP_TO_ANTHROPIC: dict[str, str] = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "content_filter": "refusal",
    "stop_sequence": "stop_sequence",
    # Anthropic has no "error" stop reason; the error itself travels apart.
    "error": "end_turn",
}


def stop_from_anthropic(reason) -> StopReason:
    """The canonical stop reason for an Anthropic ``stop_reason`` (unknown values read as a normal stop)."""
    return STOP_FROM_ANTHROPIC.get(reason, "stop") if isinstance(reason, str) else "stop"


def _int(value) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def merge_usage(usage: Usage, raw) -> bool:
    """Copy the counts present in an Anthropic ``usage`` object into ``usage``; True when any was."""
    if not isinstance(raw, dict):
        return False
    seen = False
    for key, attr in (
        ("input_tokens", "input"),
        ("output_tokens", "output"),
        ("cache_read_input_tokens", "cache_read"),
        ("cache_creation_input_tokens", "cache_write"),
    ):
        value = _int(raw.get(key))
        if value is not None:
            setattr(usage, attr, value)
            seen = True
    return seen


def usage_body(usage: Usage) -> dict:
    """Anthropic's ``usage`` object: ``input_tokens`` already excludes cache reads and writes."""
    return {
        "input_tokens": usage.input,
        "output_tokens": usage.output,
        "cache_creation_input_tokens": usage.cache_write,
        "cache_read_input_tokens": usage.cache_read,
    }


def parse_arguments(arguments: str) -> dict:
    """A tool call's JSON arguments as the object Anthropic's ``input`` needs ({} when not an object)."""
    try:
        value = orjson.loads(arguments) if arguments else {}
    except orjson.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def dump_arguments(value) -> str:
    """A tool_use ``input`` as canonical argument text."""
    return orjson.dumps(value if value is not None else {}).decode()


def block_to_part(block) -> Part | None:
    """One assistant content block as a canonical part; None for blocks the canonical model lacks."""
    if not isinstance(block, dict):
        return None
    kind = block.get("type")
    if kind == "text":
        return Text(block.get("text") or "")
    if kind == "thinking":
        return Reasoning(text=block.get("thinking") or "", signature=block.get("signature") or None)
    if kind == "redacted_thinking":
        return Reasoning(redacted=block.get("data") or "")
    if kind == "tool_use":
        return ToolCall(id=block.get("id") or "", name=block.get("name") or "",
                        arguments=dump_arguments(block.get("input")))
    # Server-side tool blocks (web search results etc.) have no canonical counterpart.
    return None


def part_to_block(part: Part) -> dict | None:
    """One assistant part as an Anthropic content block; None for parts an answer cannot hold."""
    if isinstance(part, Text):
        return {"type": "text", "text": part.text}
    if isinstance(part, Reasoning):
        if part.redacted:
            return {"type": "redacted_thinking", "data": part.redacted}
        if not part.text and not part.signature:
            return None
        return {"type": "thinking", "thinking": part.text, "signature": part.signature or ""}
    if isinstance(part, ToolCall):
        return {"type": "tool_use", "id": part.id, "name": part.name, "input": parse_arguments(part.arguments)}
    return None


def message_id(raw: str | None) -> str:
    """An id in Anthropic's ``msg_`` form."""
    raw = raw or ""
    return raw if raw.startswith("msg_") else f"msg_{raw}" if raw else "msg_omniroute"


def decode_response(body: dict) -> ChatResponse:
    """An Anthropic Message object → canonical response."""
    blocks = body.get("content") if isinstance(body, dict) else None
    parts = [p for p in (block_to_part(b) for b in blocks or []) if p is not None]
    usage = Usage()
    merge_usage(usage, body.get("usage"))
    stop_sequence = body.get("stop_sequence")
    return ChatResponse(
        id=str(body.get("id") or ""),
        model=str(body.get("model") or ""),
        parts=parts,
        stop_reason=stop_from_anthropic(body.get("stop_reason")),
        stop_sequence=stop_sequence if isinstance(stop_sequence, str) else None,
        usage=usage,
    )


def encode_response(response: ChatResponse) -> dict:
    """A canonical response → an Anthropic Message object."""
    content = []
    for part in response.parts:
        if isinstance(part, Reasoning) and part.redacted and part.text:
            # Readable reasoning that travels with an encrypted form (a Responses summary):
            # the text as thinking (unsigned, so never sent back), then the encrypted block.
            content.append({"type": "thinking", "thinking": part.text, "signature": ""})
        block = part_to_block(part)
        if block is not None:
            content.append(block)
    stop_reason = STOP_TO_ANTHROPIC.get(response.stop_reason, "end_turn")
    return {
        "id": message_id(response.id),
        "type": "message",
        "role": "assistant",
        "model": response.model,
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": response.stop_sequence if stop_reason == "stop_sequence" else None,
        "usage": usage_body(response.usage),
    }
