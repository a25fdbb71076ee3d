"""Whole (non-streamed) Chat Completions answers ⇄ canonical ChatResponse."""

from __future__ import annotations

import secrets
import time

import orjson

from omniroute.dialects.openai_chat.request_encode import new_call_id
from omniroute.dialects.openai_chat.usage import usage_from_openai, usage_to_openai
from omniroute.dialects.think import content_parts
from omniroute.errors import UpstreamServerError
from omniroute.schema import ChatResponse, Reasoning, StopReason, Text, ToolCall

_STOP_IN: dict[str, StopReason] = {
    "stop": "stop",
    "length": "length",
    "tool_calls": "tool_calls",
    "function_call": "tool_calls",
    "content_filter": "content_filter",
}
# OpenAI has no finish_reason for a matched stop sequence or an error: both read as "stop".
_STOP_OUT = {"stop_sequence": "stop", "error": "stop"}


def stop_reason_in(finish_reason, has_tool_calls: bool) -> StopReason:
    """An OpenAI finish_reason as a canonical stop reason."""
    reason = _STOP_IN.get(finish_reason, "stop") if isinstance(finish_reason, str) else "stop"
    # Some compatible servers say "stop" after tool calls; clients of other dialects need to know.
    if reason == "stop" and has_tool_calls:
        return "tool_calls"
    return reason


def stop_reason_out(reason: StopReason) -> str:
    """A canonical stop reason as an OpenAI finish_reason."""
    return _STOP_OUT.get(reason, reason)


def decode_response(body: dict) -> ChatResponse:
    """Upstream chat.completion JSON → canonical response."""
    choices = body.get("choices") if isinstance(body, dict) else None
    if not isinstance(choices, list):
        error = body.get("error") if isinstance(body, dict) else None
        message = error.get("message") if isinstance(error, dict) else None
        raise UpstreamServerError(
            message or "upstream answer has no 'choices'", status=502, body=orjson.dumps(body)
        )
    choice = choices[0] if choices and isinstance(choices[0], dict) else {}
    message = choice.get("message") or {}
    parts: list = []
    reasoning = message.get("reasoning_content") or message.get("reasoning")
    if isinstance(reasoning, str) and reasoning:
        parts.append(Reasoning(text=reasoning))
    content = message.get("content")
    if isinstance(content, str) and content:
        parts.extend(content_parts(content))
    elif isinstance(message.get("refusal"), str) and message["refusal"]:
        parts.append(Text(message["refusal"]))
    for call in message.get("tool_calls") or []:
        fn = call.get("function") or {}
        call_id = call.get("id") or new_call_id()
        parts.append(ToolCall(id=call_id, name=fn.get("name") or "", arguments=fn.get("arguments") or "{}"))
    legacy = message.get("function_call")
    if isinstance(legacy, dict):
        parts.append(
            ToolCall(
                id=new_call_id(), name=legacy.get("name") or "", arguments=legacy.get("arguments") or "{}"
            )
        )
    has_calls = any(isinstance(p, ToolCall) for p in parts)
    return ChatResponse(
        id=body.get("id") or "",
        model=body.get("model") or "",
        parts=parts,
        stop_reason=stop_reason_in(choice.get("finish_reason"), has_calls),
        usage=usage_from_openai(body.get("usage")),
    )


def encode_response(resp: ChatResponse) -> dict:
    """Canonical response → a complete chat.completion object."""
    text = "".join(p.text for p in resp.parts if isinstance(p, Text))
    reasoning = "".join(p.text for p in resp.parts if isinstance(p, Reasoning))
    calls = [
        {"id": p.id, "type": "function", "function": {"name": p.name, "arguments": p.arguments}}
        for p in resp.parts
        if isinstance(p, ToolCall)
    ]
    # OpenAI sends null content beside tool calls, and a string otherwise.
    message: dict = {"role": "assistant", "content": text if text or not calls else None, "refusal": None}
    if calls:
        message["tool_calls"] = calls
    if reasoning:
        message["reasoning_content"] = reasoning
    return {
        "id": resp.id or new_completion_id(),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": resp.model,
        "choices": [
            {
                "index": 0,
                "message": message,
                "logprobs": None,
                "finish_reason": stop_reason_out(resp.stop_reason),
            }
        ],
        "usage": usage_to_openai(resp.usage),
    }


def new_completion_id() -> str:
    """A fresh ``chatcmpl-`` id."""
    return "chatcmpl-" + secrets.token_hex(12)
