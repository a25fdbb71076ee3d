"""OpenAI Chat Completions request JSON → canonical ChatRequest."""

from __future__ import annotations

import orjson

from omniroute.dialects.openai_chat.request import validate_chat_request
from omniroute.errors import InvalidRequest
from omniroute.schema import (
    ChatRequest,
    Image,
    Message,
    Part,
    Reasoning,
    ReasoningConfig,
    Text,
    ToolCall,
    ToolChoice,
    ToolDef,
    ToolResult,
)
from omniroute.schema.request import EFFORT_BUDGETS

# OpenAI's effort levels beyond the canonical four fold into the nearest canonical one.
_EFFORT_ALIASES = {"xhigh": "high", "max": "high"}


def decode_request(body: dict) -> ChatRequest:
    """Client JSON → canonical request; raises InvalidRequest naming the field."""
    validate_chat_request(body)
    system, messages = _MessageDecoder().decode(body["messages"])
    tools = _tools(body)
    req = ChatRequest(model=body["model"], messages=messages, system=system, tools=tools)
    req.tool_choice = _tool_choice(body, req)
    max_tokens = body.get("max_completion_tokens")
    req.max_tokens = max_tokens if max_tokens is not None else body.get("max_tokens")
    req.temperature = body.get("temperature")
    req.top_p = body.get("top_p")
    req.seed = body.get("seed")
    req.stream = bool(body.get("stream"))
    req.stop = _stop(body.get("stop"))
    req.top_k = _optional(body, "top_k", int)  # not OpenAI's, but vLLM/OpenRouter clients send it
    req.user = _optional(body, "user", str)
    req.response_format = _optional(body, "response_format", dict)
    req.metadata = _optional(body, "metadata", dict) or {}
    req.reasoning = _reasoning(body.get("reasoning_effort"))
    return req


class _MessageDecoder:
    """Walks the message list; keeps the ids given to legacy ``function_call`` turns."""

    def __init__(self) -> None:
        self.system: list[Text] = []
        self.messages: list[Message] = []
        self._legacy_calls: dict[str, list[str]] = {}  # function name -> ids awaiting a result

    def decode(self, raw: list) -> tuple[list[Text], list[Message]]:
        for i, message in enumerate(raw):
            role = message["role"]
            if role in ("system", "developer"):
                self.system.extend(_text_parts(i, message.get("content"), "a system message"))
            elif role == "user":
                self.messages.append(Message("user", _user_parts(i, message["content"])))
            elif role == "assistant":
                self.messages.append(Message("assistant", self._assistant_parts(i, message)))
            else:
                self._add_result(self._tool_result(i, message))
        return self.system, self.messages

    def _assistant_parts(self, i: int, message: dict) -> list[Part]:
        parts: list[Part] = []
        # DeepSeek names it reasoning_content, OpenRouter reasoning; thinking precedes the answer.
        reasoning = message.get("reasoning_content") or message.get("reasoning")
        if isinstance(reasoning, str) and reasoning:
            parts.append(Reasoning(text=reasoning))
        content = message.get("content")
        if content is not None:
            parts.extend(_text_parts(i, content, "an assistant message", allow_refusal=True))
        elif isinstance(message.get("refusal"), str):
            parts.append(Text(message["refusal"]))
        calls = message.get("tool_calls")
        if calls is not None:
            if not isinstance(calls, list):
                raise InvalidRequest(f"'messages[{i}].tool_calls' must be an array")
            parts.extend(_tool_call(f"messages[{i}].tool_calls[{j}]", c) for j, c in enumerate(calls))
        legacy = message.get("function_call")
        if legacy is not None:
            call = _tool_call(f"messages[{i}].function_call", {"function": legacy})
            call.id = f"call_legacy_{i}"
            self._legacy_calls.setdefault(call.name, []).append(call.id)
            parts.append(call)
        return parts

    def _tool_result(self, i: int, message: dict) -> ToolResult:
        content: list[Text | Image] = list(_text_parts(i, message.get("content"), "a tool message"))
        if message["role"] == "tool":
            call_id = message.get("tool_call_id")
            if not isinstance(call_id, str):
                raise InvalidRequest(
                    f"missing required field 'messages[{i}].tool_call_id'", code="missing_required_parameter"
                )
            return ToolResult(call_id=call_id, content=content, name=_opt_str(message.get("name")))
        name = message.get("name")
        if not isinstance(name, str):
            raise InvalidRequest(
                f"missing required field 'messages[{i}].name'", code="missing_required_parameter"
            )
        # Legacy function results pair with the oldest unanswered call of that name.
        waiting = self._legacy_calls.get(name)
        return ToolResult(call_id=waiting.pop(0) if waiting else "", content=content, name=name)

    def _add_result(self, result: ToolResult) -> None:
        # Consecutive tool messages answer one assistant turn: keep them in one canonical turn.
        if self.messages and self.messages[-1].role == "tool":
            self.messages[-1].parts.append(result)
        else:
            self.messages.append(Message("tool", [result]))


def _text_parts(i: int, content, where: str, allow_refusal: bool = False) -> list[Text]:
    if content is None:
        return []
    if isinstance(content, str):
        return [Text(content)]
    out = []
    for j, part in enumerate(content):
        kind = _part_type(i, j, part)
        if kind == "text" or (allow_refusal and kind == "refusal"):
            out.append(Text(_part_str(i, j, part, kind)))
        else:
            raise InvalidRequest(
                f"'messages[{i}].content[{j}]': part type {kind!r} is not supported in {where}"
            )
    return out


def _user_parts(i: int, content) -> list[Part]:
    if isinstance(content, str):
        return [Text(content)]
    parts: list[Part] = []
    for j, part in enumerate(content):
        kind = _part_type(i, j, part)
        if kind == "text":
            parts.append(Text(_part_str(i, j, part, "text")))
        elif kind == "image_url":
            parts.append(_image(i, j, part.get("image_url")))
        else:
            raise InvalidRequest(f"'messages[{i}].content[{j}]': part type {kind!r} is not supported")
    return parts


def _part_type(i: int, j: int, part) -> str:
    if not isinstance(part, dict) or not isinstance(part.get("type"), str):
        raise InvalidRequest(f"'messages[{i}].content[{j}]' must be an object with a string 'type'")
    return part["type"]


def _part_str(i: int, j: int, part: dict, key: str) -> str:
    value = part.get(key)
    if not isinstance(value, str):
        raise InvalidRequest(f"'messages[{i}].content[{j}].{key}' must be a string")
    return value


def _image(i: int, j: int, spec) -> Image:
    # Some clients send the URL bare instead of {"url": ...}.
    url = spec.get("url") if isinstance(spec, dict) else spec
    if not isinstance(url, str) or not url:
        raise InvalidRequest(f"'messages[{i}].content[{j}].image_url.url' must be a non-empty string")
    detail = spec.get("detail") if isinstance(spec, dict) else None
    detail = detail if isinstance(detail, str) else None
    if url.startswith("data:"):
        header, sep, data = url[5:].partition(",")
        if sep and header.endswith(";base64"):
            return Image(data=data, media_type=header[: -len(";base64")] or None, detail=detail)
    return Image(url=url, detail=detail)


def _tool_call(where: str, call) -> ToolCall:
    if not isinstance(call, dict) or not isinstance(call.get("function"), dict):
        raise InvalidRequest(f"'{where}.function' must be an object")
    if call.get("type", "function") != "function":
        raise InvalidRequest(f"'{where}.type' {call.get('type')!r} is not supported")
    fn = call["function"]
    if not isinstance(fn.get("name"), str):
        raise InvalidRequest(f"'{where}.function.name' must be a string")
    args = fn.get("arguments", "{}")
    if not isinstance(args, str):
        args = orjson.dumps(args).decode()  # lenient: some clients send the object itself
    return ToolCall(id=_opt_str(call.get("id")) or "", name=fn["name"], arguments=args)


def _tools(body: dict) -> list[ToolDef]:
    out = []
    for j, tool in enumerate(body.get("tools") or []):
        if not isinstance(tool, dict) or tool.get("type", "function") != "function":
            kind = tool.get("type") if isinstance(tool, dict) else None
            raise InvalidRequest(f"'tools[{j}].type' {kind!r} is not supported")
        out.append(_tool_def(f"tools[{j}].function", tool.get("function")))
    functions = body.get("functions")  # the deprecated pre-tools form
    if isinstance(functions, list):
        out.extend(_tool_def(f"functions[{j}]", fn) for j, fn in enumerate(functions))
    return out


def _tool_def(where: str, fn) -> ToolDef:
    if not isinstance(fn, dict) or not isinstance(fn.get("name"), str):
        raise InvalidRequest(f"'{where}.name' must be a string")
    tool = ToolDef(name=fn["name"], description=_opt_str(fn.get("description")))
    if isinstance(fn.get("parameters"), dict):
        tool.parameters = fn["parameters"]
    if isinstance(fn.get("strict"), bool):
        tool.strict = fn["strict"]
    return tool


def _tool_choice(body: dict, req: ChatRequest) -> ToolChoice | None:
    raw = body.get("tool_choice", body.get("function_call"))
    choice = None
    if isinstance(raw, str):
        if raw not in ("auto", "none", "required"):
            raise InvalidRequest(
                f"'tool_choice' must be 'auto', 'none', 'required' or an object, got {raw!r}"
            )
        choice = ToolChoice(mode=raw)
    elif isinstance(raw, dict):
        choice = _named_choice(raw, req)
    elif raw is not None:
        raise InvalidRequest("'tool_choice' must be a string or an object")
    parallel = body.get("parallel_tool_calls")
    if isinstance(parallel, bool):
        choice = choice or ToolChoice(mode="auto")
        choice.parallel = parallel
    return choice


def _named_choice(raw: dict, req: ChatRequest) -> ToolChoice:
    if raw.get("type") == "allowed_tools":
        allowed = raw.get("allowed_tools")
        entries = allowed.get("tools") if isinstance(allowed, dict) else None
        if not isinstance(entries, list):
            raise InvalidRequest("'tool_choice.allowed_tools.tools' must be an array")
        names = {fn["name"] for t in entries
                 if isinstance(t, dict) and isinstance(fn := t.get("function"), dict) and isinstance(fn.get("name"), str)}
        # No canonical slot for an allow-list: narrowing the tool list keeps its meaning.
        req.tools = [t for t in req.tools if t.name in names]
        return ToolChoice(mode="required" if allowed.get("mode") == "required" else "auto")
    fn = raw.get("function") if "function" in raw else raw  # legacy function_call is {"name": ...}
    if (
        raw.get("type", "function") != "function"
        or not isinstance(fn, dict)
        or not isinstance(fn.get("name"), str)
    ):
        raise InvalidRequest(
            "'tool_choice' must name a function: {'type': 'function', 'function': {'name': ...}}"
        )
    return ToolChoice(mode="tool", name=fn["name"])


def _stop(stop) -> list[str]:
    if stop is None:
        return []
    stops = [stop] if isinstance(stop, str) else stop
    if not all(isinstance(s, str) for s in stops):
        raise InvalidRequest("'stop' must contain only strings")
    return list(stops)


def _reasoning(effort) -> ReasoningConfig | None:
    if effort is None:
        return None
    if effort == "none":
        return ReasoningConfig(enabled=False)
    if not isinstance(effort, str):
        raise InvalidRequest(f"'reasoning_effort' must be a string, got {effort!r}")
    effort = _EFFORT_ALIASES.get(effort, effort)
    if effort not in EFFORT_BUDGETS:
        raise InvalidRequest(f"'reasoning_effort' must be one of {sorted(EFFORT_BUDGETS)}, got {effort!r}")
    return ReasoningConfig(effort=effort, budget_tokens=EFFORT_BUDGETS[effort])


def _optional(body: dict, name: str, kind: type):
    value = body.get(name)
    if value is not None and (not isinstance(value, kind) or isinstance(value, bool)):
        wanted = {int: "an integer", str: "a string", dict: "an object"}[kind]
        raise InvalidRequest(f"'{name}' must be {wanted}")
    return value


def _opt_str(value) -> str | None:
    return value if isinstance(value, str) else None
