"""Ollama ``/api/chat`` answers (non-streamed) ⇄ canonical responses, plus the pieces the stream reuses."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import orjson

from omniroute.dialects.think import content_parts
from omniroute.schema import ChatResponse, Part, Reasoning, StopReason, Text, ToolCall, Usage

STOP_FROM_OLLAMA: dict[str, StopReason] = {
    "stop": "stop",
    "length": "length",
    # Model (un)loading answers carry no generation; they read as a normal end.
    "load": "stop",
    "unload": "stop",
}

STOP_TO_OLLAMA: dict[str, str] = {
    "stop": "stop",
    "length": "length",
    # Ollama reports a tool-calling turn as a plain "stop"; the tool calls themselves tell the rest.
    "tool_calls": "stop",
    "content_filter": "stop",
    "stop_sequence": "stop",
    "error": "stop",
}


def stop_from_ollama(reason, has_tool_calls: bool = False) -> StopReason:
    """The canonical stop reason for an Ollama ``done_reason``; tool calls make it ``tool_calls``."""
    if has_tool_calls:
        return "tool_calls"
    return STOP_FROM_OLLAMA.get(reason, "stop") if isinstance(reason, str) else "stop"


def new_call_id() -> str:
    """A fresh tool-call id (Ollama tool calls have none of their own)."""
    return "call_" + uuid.uuid4().hex[:24]


def new_response_id() -> str:
    """A fresh answer id (Ollama answers have none of their own)."""
    return "chatcmpl-" + uuid.uuid4().hex[:24]


def created_at() -> str:
    """The current time in RFC 3339, as Ollama writes ``created_at``."""
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def parse_arguments(arguments: str) -> dict:
    """A tool call's JSON arguments as the object Ollama needs ({} when not an object)."""
    try:
        value = orjson.loads(arguments) if arguments else {}
    except orjson.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def dump_arguments(value) -> str:
    """Ollama's ``arguments`` object as canonical argument text."""
    return orjson.dumps(value if value is not None else {}).decode()


def _int(value) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def usage_from(body: dict) -> Usage:
    """The token counts of an Ollama final answer."""
    return Usage(input=_int(body.get("prompt_eval_count")) or 0, output=_int(body.get("eval_count")) or 0)


def calls_from(message: dict) -> list[ToolCall]:
    """The tool calls of an Ollama message, each given a fresh id."""
    calls = message.get("tool_calls")
    out = []
    for call in calls if isinstance(calls, list) else []:
        function = call.get("function") if isinstance(call, dict) else None
        if not isinstance(function, dict):
            continue
        arguments = function.get("arguments")
        text = arguments if isinstance(arguments, str) else dump_arguments(arguments)
        out.append(ToolCall(id=new_call_id(), name=str(function.get("name") or ""), arguments=text))
    return out


def call_body(call: ToolCall) -> dict:
    """One canonical tool call in Ollama's shape (arguments as an object)."""
    return {"function": {"name": call.name, "arguments": parse_arguments(call.arguments)}}


def decode_response(body: dict) -> ChatResponse:
    """An Ollama chat answer → canonical response."""
    body = body if isinstance(body, dict) else {}
    message = body.get("message") if isinstance(body.get("message"), dict) else {}
    parts: list[Part] = []
    if isinstance(message.get("thinking"), str) and message["thinking"]:
        parts.append(Reasoning(text=message["thinking"]))
    if isinstance(message.get("content"), str) and message["content"]:
        parts.extend(content_parts(message["content"]))
    calls = calls_from(message)
    parts.extend(calls)
    return ChatResponse(
        id=new_response_id(),
        model=str(body.get("model") or ""),
        parts=parts,
        stop_reason=stop_from_ollama(body.get("done_reason"), bool(calls)),
        usage=usage_from(body),
    )


def encode_response(response: ChatResponse) -> dict:
    """A canonical response → an Ollama chat answer."""
    message: dict = {"role": "assistant", "content": "".join(p.text for p in response.parts if isinstance(p, Text))}
    thinking = "".join(p.text for p in response.parts if isinstance(p, Reasoning))
    if thinking:
        message["thinking"] = thinking
    calls = [call_body(p) for p in response.parts if isinstance(p, ToolCall)]
    if calls:
        message["tool_calls"] = calls
    return {
        "model": response.model,
        "created_at": created_at(),
        "message": message,
        "done": True,
        "done_reason": STOP_TO_OLLAMA.get(response.stop_reason, "stop"),
        # Durations are unknown to the gateway, so they are left out rather than invented.
        "prompt_eval_count": response.usage.prompt_total + response.usage.cache_write,
        "eval_count": response.usage.output,
    }


def error_body(status: int, message: str) -> dict:
    """Ollama's error shape (the same for every HTTP status)."""
    return {"error": message}
