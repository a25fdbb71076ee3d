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


# ---------------------------------------------------------------- client-run tools carried as functions
#
# A ``custom`` tool's free text travels elsewhere as the string argument ``input``; a ``local_shell``
# call's action as the arguments ``command``, ``workdir``, ``timeout_ms``, ``env`` (and ``user``).

CUSTOM = "custom"
LOCAL_SHELL = "local_shell"
CALL_TYPES = {CUSTOM: "custom_tool_call", LOCAL_SHELL: "local_shell_call"}


def _json_object(arguments: str) -> dict | None:
    try:
        value = orjson.loads(arguments)
    except (orjson.JSONDecodeError, TypeError):
        return None
    return value if isinstance(value, dict) else None


def custom_arguments(text: str) -> str:
    """A custom call's free text as function arguments."""
    return orjson.dumps({"input": text}).decode()


def custom_input(arguments: str) -> str:
    """The free text of a custom call made as a function: ``input``, else the raw arguments (none if empty)."""
    value = _json_object(arguments)
    if value is not None and isinstance(value.get("input"), str):
        return value["input"]
    return "" if value == {} or not arguments.strip() else arguments


def shell_arguments(action) -> str:
    """A ``local_shell_call`` action as function arguments."""
    action = action if isinstance(action, dict) else {}
    out: dict = {"command": action.get("command") if isinstance(action.get("command"), list) else []}
    for key, name in (("working_directory", "workdir"), ("timeout_ms", "timeout_ms"), ("env", "env"),
                      ("user", "user")):
        if action.get(key):
            out[name] = action[key]
    return orjson.dumps(out).decode()


def shell_action(arguments: str) -> dict:
    """The ``exec`` action of a local shell call made as a function (a lone string runs through bash)."""
    args = _json_object(arguments) or {}
    command = args.get("command")
    if isinstance(command, str):
        command = ["bash", "-lc", command]
    elif isinstance(command, list):
        command = [c if isinstance(c, str) else orjson.dumps(c).decode() for c in command]
    else:
        command = []
    env = args.get("env")
    action: dict = {"type": "exec", "command": command,
                    "env": {str(k): v if isinstance(v, str) else orjson.dumps(v).decode() for k, v in env.items()}
                    if isinstance(env, dict) else {}}
    timeout = args.get("timeout_ms")
    if isinstance(timeout, int | float) and not isinstance(timeout, bool) and timeout > 0:
        action["timeout_ms"] = int(timeout)
    workdir = args.get("workdir") or args.get("working_directory")
    if isinstance(workdir, str) and workdir:
        action["working_directory"] = workdir
    if isinstance(args.get("user"), str) and args["user"]:
        action["user"] = args["user"]
    return action


def custom_call_item(item_id: str, call_id: str, name: str, text: str, status: str = "completed") -> dict:
    return {"id": item_id, "type": "custom_tool_call", "call_id": call_id, "name": name, "input": text,
            "status": status}


def shell_call_item(item_id: str, call_id: str, action: dict, status: str = "completed") -> dict:
    return {"id": item_id, "type": "local_shell_call", "call_id": call_id, "status": status, "action": action}


def call_kind(call: ToolCall, tool_kinds: dict[str, str] | None) -> str:
    """How the client expects ``call`` back: the kind its request gave the tool, else the call's own."""
    if tool_kinds and call.name in tool_kinds:
        return tool_kinds[call.name]
    return call.kind


def call_item(call: ToolCall, kind: str) -> dict:
    """A finished call as the output item of its kind."""
    call_id = call.id or new_id("call")
    arguments = call.arguments or "{}"
    if kind == CUSTOM:
        return custom_call_item(new_id("ctc"), call_id, call.name, custom_input(arguments))
    if kind == LOCAL_SHELL:
        return shell_call_item(new_id("lsh"), call_id, shell_action(arguments))
    return function_call_item(new_id("fc"), call_id, call.name, arguments)


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
    if kind == "custom_tool_call":
        call_id = item.get("call_id") or item.get("id") or ""
        text = item.get("input") if isinstance(item.get("input"), str) else ""
        return [ToolCall(id=str(call_id), name=str(item.get("name") or ""), arguments=custom_arguments(text),
                         kind=CUSTOM)]
    if kind == "local_shell_call":
        call_id = item.get("call_id") or item.get("id") or ""
        return [ToolCall(id=str(call_id), name=LOCAL_SHELL, arguments=shell_arguments(item.get("action")),
                         kind=LOCAL_SHELL)]
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


def parts_to_items(parts: list[Part], tool_kinds: dict[str, str] | None = None) -> list[dict]:
    """Assistant parts as output items: texts in a row share one message; reasoning never enters one.

    ``tool_kinds`` (tool name → ToolDef kind, from the client's request) turns calls of its custom and
    local shell tools back into ``custom_tool_call`` and ``local_shell_call`` items.
    """
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
            items.append(call_item(part, call_kind(part, tool_kinds)))
    return items


def encode_response(response: ChatResponse, tool_kinds: dict[str, str] | None = None) -> dict:
    """A canonical response → a Responses ``Response`` object (``tool_kinds`` as for ``parts_to_items``)."""
    status, details = status_for(response.stop_reason)
    output = parts_to_items(response.parts, tool_kinds)
    if status == "incomplete" and output and output[-1]["type"] == "message":
        output[-1]["status"] = "incomplete"  # the message that was cut short
    return response_object(id=response_id(response.id), model=response.model, created_at=int(time.time()),
                           status=status, output=output,
                           usage=usage_body(response.usage), incomplete_details=details)
