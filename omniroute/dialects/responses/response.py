"""OpenAI Responses answers (non-streamed) ⇄ canonical responses, plus the pieces the stream reuses."""

from __future__ import annotations

import secrets
import time

import orjson

from omniroute.schema import ChatResponse, Part, Reasoning, StopReason, Text, ToolCall, Usage


def new_id(prefix: str) -> str:
    """A fresh id in the Responses style (``resp_…``, ``msg_…``, ``rs_…``, ``fc_…``, ``call_…``)."""
    return f"{prefix}_{secrets.token_hex(24)}"


def response_id(raw: str | None) -> str:
    """The upstream's id in the ``resp_`` form (kept visible after the prefix), or a fresh one."""
    if not raw:
        return new_id("resp")
    return raw if raw.startswith("resp_") else f"resp_{raw}"


# ---------------------------------------------------------------- usage


def _count(value) -> int:
    return value if type(value) is int and value > 0 else 0


def usage_from_responses(raw) -> Usage | None:
    """Canonical usage from a Responses ``usage`` object (whose input counts include cache reads and writes)."""
    if not isinstance(raw, dict):
        return None
    details = raw.get("input_tokens_details")
    details = details if isinstance(details, dict) else {}
    cached, written = _count(details.get("cached_tokens")), _count(details.get("cache_write_tokens"))
    out_details = raw.get("output_tokens_details")
    return Usage(
        input=max(_count(raw.get("input_tokens")) - cached - written, 0),
        output=_count(raw.get("output_tokens")),
        cache_read=cached,
        cache_write=written,
        reasoning=_count(out_details.get("reasoning_tokens")) if isinstance(out_details, dict) else 0,
    )


def usage_body(usage: Usage) -> dict:
    """The Responses ``usage`` object: ``input_tokens`` is the whole prompt (cache reads and writes included)."""
    prompt = usage.input + usage.cache_read + usage.cache_write
    return {
        "input_tokens": prompt,
        "input_tokens_details": {"cached_tokens": usage.cache_read, "cache_write_tokens": usage.cache_write},
        "output_tokens": usage.output,
        "output_tokens_details": {"reasoning_tokens": usage.reasoning},
        "total_tokens": prompt + usage.output,
    }


# ---------------------------------------------------------------- status and stop reason


def stop_from_responses(status, details, has_tool_calls: bool) -> StopReason:
    """The canonical stop reason for a Response's ``status`` and ``incomplete_details``."""
    if status == "incomplete":
        reason = details.get("reason") if isinstance(details, dict) else None
        return "content_filter" if reason == "content_filter" else "length"
    if status == "failed":
        return "error"
    return "tool_calls" if has_tool_calls else "stop"


def status_for(stop_reason: StopReason) -> tuple[str, dict | None]:
    """``status`` and ``incomplete_details`` for a canonical stop reason."""
    if stop_reason == "length":
        return "incomplete", {"reason": "max_output_tokens"}
    if stop_reason == "content_filter":
        return "incomplete", {"reason": "content_filter"}
    # A stop sequence, or an error already reported apart, reads as a normal end.
    return "completed", None


def response_object(*, id: str, model: str, created_at: int, status: str, output: list[dict],
                    usage: dict | None = None, incomplete_details: dict | None = None) -> dict:
    """A whole Response object, with every field the official SDK's ``Response`` model requires."""
    body = {
        "id": id,
        "object": "response",
        "created_at": created_at,
        "status": status,
        "background": False,
        "error": None,
        "incomplete_details": incomplete_details,
        "instructions": None,
        "max_output_tokens": None,
        "metadata": {},
        "model": model,
        "output": output,
        "parallel_tool_calls": True,
        "previous_response_id": None,
        "reasoning": {"effort": None, "summary": None},
        "store": False,
        "temperature": None,
        "text": {"format": {"type": "text"}},
        "tool_choice": "auto",
        "tools": [],
        "top_p": None,
        "truncation": "disabled",
        "usage": usage,
        "user": None,
    }
    if status == "completed":
        body["completed_at"] = int(time.time())
    return body


# ---------------------------------------------------------------- output items


def output_text(text: str) -> dict:
    return {"type": "output_text", "text": text, "annotations": []}


def message_item(item_id: str, texts: list[str], status: str = "completed") -> dict:
    return {"id": item_id, "type": "message", "role": "assistant", "status": status,
            "content": [output_text(t) for t in texts]}


def reasoning_item(item_id: str, text: str, redacted: str | None = None) -> dict:
    item: dict = {"id": item_id, "type": "reasoning",
                  "summary": [{"type": "summary_text", "text": text}] if text else []}
    if redacted:
        item["encrypted_content"] = redacted
    return item


def function_call_item(item_id: str, call_id: str, name: str, arguments: str, status: str = "completed") -> dict:
    return {"id": item_id, "type": "function_call", "call_id": call_id, "name": name, "arguments": arguments,
            "status": status}


def _texts(entries, key: str, kind: str) -> list[str]:
    if not isinstance(entries, list):
        return []
    return [e[key] for e in entries if isinstance(e, dict) and e.get("type") == kind and isinstance(e.get(key), str)]


def reasoning_text(item: dict) -> str:
    """A reasoning item's readable text: its summaries, else its raw reasoning text."""
    return "\n\n".join(_texts(item.get("summary"), "text", "summary_text")) or "".join(
        _texts(item.get("content"), "text", "reasoning_text"))


def arguments_text(value) -> str:
    """A function call's arguments as JSON text (some servers send the object itself)."""
    if isinstance(value, str):
        return value
    return "{}" if value is None else orjson.dumps(value).decode()


def item_to_parts(item) -> list[Part]:
    """One output item as canonical parts; none for items the canonical model lacks (server tools)."""
    if not isinstance(item, dict):
        return []
    kind = item.get("type")
    if kind == "message":
        parts: list[Part] = []
        for content in item.get("content") or []:
            if not isinstance(content, dict):
                continue
            if content.get("type") == "output_text" and isinstance(content.get("text"), str):
                parts.append(Text(content["text"]))
            elif content.get("type") == "refusal" and isinstance(content.get("refusal"), str):
                parts.append(Text(content["refusal"]))
        return parts
    if kind == "reasoning":
        text = reasoning_text(item)
        redacted = item.get("encrypted_content") if isinstance(item.get("encrypted_content"), str) else None
        return [Reasoning(text=text, redacted=redacted or None)] if text or redacted else []
    if kind == "function_call":
        call_id = item.get("call_id") or item.get("id") or ""
        return [ToolCall(id=str(call_id), name=str(item.get("name") or ""),
                         arguments=arguments_text(item.get("arguments")))]
    return []


def decode_response(body: dict) -> ChatResponse:
    """A Responses ``Response`` object → canonical response."""
    body = body if isinstance(body, dict) else {}
    output = body.get("output") if isinstance(body.get("output"), list) else []
    parts = [p for item in output for p in item_to_parts(item)]
    has_calls = any(isinstance(p, ToolCall) for p in parts)
    return ChatResponse(
        id=str(body.get("id") or ""),
        model=str(body.get("model") or ""),
        parts=parts,
        stop_reason=stop_from_responses(body.get("status"), body.get("incomplete_details"), has_calls),
        usage=usage_from_responses(body.get("usage")) or Usage(),
    )


def parts_to_items(parts: list[Part]) -> list[dict]:
    """Assistant parts as output items: texts in a row share one message; reasoning never enters one."""
    items: list[dict] = []
    message: dict | None = None
    for part in parts:
        if isinstance(part, Text):
            if not part.text:
                continue
            if message is None:
                message = message_item(new_id("msg"), [])
                items.append(message)
            message["content"].append(output_text(part.text))
        elif isinstance(part, Reasoning):
            if part.text or part.redacted:
                message = None
                items.append(reasoning_item(new_id("rs"), part.text, part.redacted))
        elif isinstance(part, ToolCall):
            message = None
            items.append(function_call_item(new_id("fc"), part.id or new_id("call"), part.name,
                                            part.arguments or "{}"))
    return items


def encode_response(response: ChatResponse) -> dict:
    """A canonical response → a Responses ``Response`` object."""
    status, details = status_for(response.stop_reason)
    output = parts_to_items(response.parts)
    if status == "incomplete" and output and output[-1]["type"] == "message":
        output[-1]["status"] = "incomplete"  # the message that was cut short
    return response_object(id=response_id(response.id), model=response.model, created_at=int(time.time()),
                           status=status, output=output,
                           usage=usage_body(response.usage), incomplete_details=details)
