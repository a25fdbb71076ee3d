"""OpenAI Responses requests → canonical requests, with every problem named by its field.

Features only a Responses upstream can honour (stored conversations, built-in tools, server-side
items) are neither dropped nor refused here: each is named in ``ChatRequest.unportable``.
"""

from __future__ import annotations

from omniroute.dialects.fields import missing as _missing
from omniroute.dialects.fields import optional as _opt
from omniroute.dialects.fields import required as _req
from omniroute.dialects.fields import type_name
from omniroute.dialects.fields import wrong as _wrong
from omniroute.dialects.responses.request_encode import custom_tool, encode_request, shell_tool
from omniroute.dialects.responses.response import (
    CUSTOM,
    LOCAL_SHELL,
    custom_arguments,
    shell_arguments,
)
from omniroute.errors import InvalidRequest
from omniroute.schema import ChatRequest
from omniroute.schema.content import Image, Message, Part, Reasoning, Text, ToolCall, ToolResult
from omniroute.schema.request import EFFORT_BUDGETS, ReasoningConfig, ToolChoice, ToolDef

__all__ = ["decode_request", "encode_request"]

_ROLES = ("user", "assistant", "system", "developer")
_EFFORT_ALIASES = {"xhigh": "high", "max": "high"}
# ``include`` values that ask for the output of tools run by the upstream itself.
_SERVER_INCLUDES = {
    "file_search_call.results", "web_search_call.results", "web_search_call.action.sources",
    "computer_call_output.output.image_url", "code_interpreter_call.outputs",
}


def _number(body: dict, key: str, integer: bool = False):
    value = body.get(key)
    if value is None:
        return None
    kinds = int if integer else int | float
    if isinstance(value, bool) or not isinstance(value, kinds):
        raise _wrong(key, "an integer" if integer else "a number", value)
    return value


def _image(part: dict, where: str) -> Image:
    url = _req(part, "image_url", where)
    detail = _opt(part, "detail", where)
    if url.startswith("data:"):
        header, sep, data = url[5:].partition(",")
        if sep and header.endswith(";base64"):
            return Image(data=data, media_type=header[: -len(";base64")] or None, detail=detail)
    return Image(url=url, detail=detail)


class _Decoder:
    """Walks ``input``: assistant-side items in a row form one assistant turn."""

    def __init__(self, system: list[Text], unportable: list[str]) -> None:
        self.system = system
        self.unportable = unportable
        self.messages: list[Message] = []
        self._names: dict[str, str] = {}  # call id → function name, for the results

    def decode(self, items: list) -> list[Message]:
        for i, item in enumerate(items):
            where = f"input[{i}]"
            if not isinstance(item, dict):
                raise _wrong(where, "an object", item)
            kind = item.get("type")
            if kind is None or kind == "message":
                self._message(item, where)
            elif kind == "function_call":
                self._call(item, where)
            elif kind in ("function_call_output", "custom_tool_call_output"):
                self._result(item, where)
            elif kind == "custom_tool_call":
                self._custom_call(item, where)
            elif kind == "local_shell_call":
                self._shell_call(item, where)
            elif kind == "local_shell_call_output":
                self._result(item, where, shell=True)
            elif kind == "reasoning":
                self._reasoning(item, where)
            elif isinstance(kind, str):
                self.unportable.append(f"{where} of type '{kind}'")
            else:
                raise _wrong(f"{where}.type", "a string", kind)
        return self.messages

    def _turn(self, role: str) -> list[Part]:
        if not self.messages or self.messages[-1].role != role:
            self.messages.append(Message(role))
        return self.messages[-1].parts

    def _message(self, item: dict, where: str) -> None:
        role = item.get("role")
        if role is None:
            raise _missing(f"{where}.role")
        if role not in _ROLES:
            raise InvalidRequest(f"'{where}.role' must be one of {', '.join(_ROLES)}, got {role!r}")
        content = item.get("content")
        if content is None:
            raise _missing(f"{where}.content")
        if isinstance(content, str):
            parts: list[Part] = [Text(content)]
        elif isinstance(content, list):
            parts = [p for j, c in enumerate(content) if (p := self._part(c, f"{where}.content[{j}]")) is not None]
        else:
            raise _wrong(f"{where}.content", "a string or an array", content)
        if role in ("system", "developer"):
            for j, part in enumerate(parts):
                if isinstance(part, Text):
                    self.system.append(part)
                else:
                    self.unportable.append(f"{where}.content[{j}]: an image in a {role} message")
        elif role == "user":
            self.messages.append(Message("user", parts))
        else:
            self._turn("assistant").extend(parts)

    def _part(self, part, where: str) -> Text | Image | None:
        if not isinstance(part, dict):
            raise _wrong(where, "an object", part)
        kind = part.get("type")
        if kind in ("input_text", "output_text"):
            return Text(_req(part, "text", where))
        if kind == "refusal":
            return Text(_req(part, "refusal", where))
        if kind == "input_image":
            if part.get("image_url") is None and part.get("file_id") is not None:
                self.unportable.append(f"{where}: an image given by file_id")
                return None
            return _image(part, where)
        if kind is None:
            raise _missing(f"{where}.type")
        if not isinstance(kind, str):
            raise _wrong(f"{where}.type", "a string", kind)
        self.unportable.append(f"{where} of type '{kind}'")
        return None

    def _call(self, item: dict, where: str) -> None:
        call_id = _req(item, "call_id", where)
        name = _req(item, "name", where)
        arguments = _req(item, "arguments", where)
        self._names[call_id] = name
        self._turn("assistant").append(ToolCall(id=call_id, name=name, arguments=arguments))

    def _custom_call(self, item: dict, where: str) -> None:
        call_id = _req(item, "call_id", where)
        name = _req(item, "name", where)
        text = item.get("input")
        if not isinstance(text, str):
            raise _missing(f"{where}.input") if text is None else _wrong(f"{where}.input", "a string", text)
        self._names[call_id] = name
        self._turn("assistant").append(ToolCall(id=call_id, name=name, arguments=custom_arguments(text),
                                                kind=CUSTOM))

    def _shell_call(self, item: dict, where: str) -> None:
        # Codex sends the model's id as ``call_id``; ``id`` alone is the older form.
        call_id = _opt(item, "call_id", where) or _req(item, "id", where)
        action = _req(item, "action", where, dict)
        command = _req(action, "command", f"{where}.action", list)
        if not all(isinstance(c, str) for c in command):
            raise _wrong(f"{where}.action.command", "an array of strings", command)
        self._names[call_id] = LOCAL_SHELL
        self._turn("assistant").append(ToolCall(id=call_id, name=LOCAL_SHELL, arguments=shell_arguments(action),
                                                kind=LOCAL_SHELL))

    def _result(self, item: dict, where: str, shell: bool = False) -> None:
        # A ``local_shell_call_output`` names its call by ``id``.
        call_id = (_opt(item, "call_id", where) or _req(item, "id", where)) if shell else _req(item, "call_id", where)
        output = item.get("output")
        if output is None:
            raise _missing(f"{where}.output")
        if isinstance(output, str):
            content: list[Text | Image] = [Text(output)]
        elif isinstance(output, list):
            content = [p for j, c in enumerate(output) if (p := self._part(c, f"{where}.output[{j}]")) is not None]
        else:
            raise _wrong(f"{where}.output", "a string or an array", output)
        self._turn("tool").append(ToolResult(call_id=call_id, content=content, name=self._names.get(call_id)))

    def _reasoning(self, item: dict, where: str) -> None:
        texts = []
        for key, kind in (("summary", "summary_text"), ("content", "reasoning_text")):
            entries = item.get(key)
            if entries is None:
                texts.append([])
                continue
            if not isinstance(entries, list):
                raise _wrong(f"{where}.{key}", "an array", entries)
            found = []
            for j, entry in enumerate(entries):
                at = f"{where}.{key}[{j}]"
                if not isinstance(entry, dict):
                    raise _wrong(at, "an object", entry)
                if entry.get("type", kind) != kind:
                    raise InvalidRequest(f"'{at}.type' must be '{kind}', got {entry.get('type')!r}")
                found.append(_req(entry, "text", at))
            texts.append(found)
        summary, content = texts
        text = "\n\n".join(summary) or "".join(content)
        encrypted = _opt(item, "encrypted_content", where)
        if text or encrypted:
            self._turn("assistant").append(Reasoning(text=text, redacted=encrypted or None))


def _input(body: dict, system: list[Text], unportable: list[str]) -> list[Message]:
    raw = body.get("input")
    if raw is None:
        if any(body.get(k) is not None for k in ("previous_response_id", "conversation", "prompt")):
            return []  # the conversation lives upstream, already named as unportable
        raise _missing("input")
    if isinstance(raw, str):
        return [Message("user", [Text(raw)])]
    if not isinstance(raw, list):
        raise _wrong("input", "a string or an array", raw)
    return _Decoder(system, unportable).decode(raw)


def _custom_tool(tool: dict, where: str) -> ToolDef:
    """A custom tool as a function taking its free text as ``input``; the grammar, if any, is told the model."""
    name = _req(tool, "name", where)
    description = _opt(tool, "description", where)
    fmt = _opt(tool, "format", where, dict)
    if fmt is not None:
        kind = fmt.get("type")
        if kind == "grammar":
            _req(fmt, "syntax", f"{where}.format")
            _req(fmt, "definition", f"{where}.format")
        elif kind is None:
            raise _missing(f"{where}.format.type")
        elif kind != "text":
            raise InvalidRequest(f"'{where}.format.type' must be 'text' or 'grammar', got {kind!r}")
    return custom_tool(name, description, fmt)


def _tools(raw, unportable: list[str]) -> list[ToolDef]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise _wrong("tools", "an array", raw)
    out = []
    for j, tool in enumerate(raw):
        where = f"tools[{j}]"
        if not isinstance(tool, dict):
            raise _wrong(where, "an object", tool)
        kind = tool.get("type")
        if kind == "function":
            params = _opt(tool, "parameters", where, dict)
            out.append(ToolDef(name=_req(tool, "name", where), description=_opt(tool, "description", where),
                               parameters=params if params is not None else {"type": "object", "properties": {}},
                               strict=_opt(tool, "strict", where, bool)))
        elif kind == "custom":
            out.append(_custom_tool(tool, where))
        elif kind == "local_shell":
            out.append(shell_tool())
        elif isinstance(kind, str):
            unportable.append(f"{where} of type '{kind}' (a tool run by the upstream)")
        elif kind is None:
            raise _missing(f"{where}.type")
        else:
            raise _wrong(f"{where}.type", "a string", kind)
    return out


def _tool_choice(body: dict, req: ChatRequest) -> ToolChoice | None:
    raw = body.get("tool_choice")
    choice = None
    if isinstance(raw, str):
        if raw not in ("auto", "none", "required"):
            raise InvalidRequest(f"'tool_choice' must be 'auto', 'none', 'required' or an object, got {raw!r}")
        choice = ToolChoice(mode=raw)
    elif isinstance(raw, dict):
        kind = raw.get("type")
        if kind in ("function", "custom"):
            choice = ToolChoice(mode="tool", name=_req(raw, "name", "tool_choice"))
        elif kind == "allowed_tools":
            mode = raw.get("mode", "auto")
            if mode not in ("auto", "required"):
                raise InvalidRequest(f"'tool_choice.mode' must be 'auto' or 'required', got {mode!r}")
            allowed = _req(raw, "tools", "tool_choice", list)
            names = {t["name"] for t in allowed
                     if isinstance(t, dict) and t.get("type") in ("function", "custom")
                     and isinstance(t.get("name"), str)}
            if any(isinstance(t, dict) and t.get("type") == "local_shell" for t in allowed):
                names.add(LOCAL_SHELL)
            # No canonical slot for an allow-list: narrowing the tool list keeps its meaning.
            req.tools = [t for t in req.tools if t.name in names]
            choice = ToolChoice(mode=mode)
        elif isinstance(kind, str):
            req.unportable.append(f"tool_choice of type '{kind}' (forcing a tool run by the upstream)")
        else:
            raise _missing("tool_choice.type") if kind is None else _wrong("tool_choice.type", "a string", kind)
    elif raw is not None:
        raise _wrong("tool_choice", "a string or an object", raw)
    parallel = _opt(body, "parallel_tool_calls", "", bool)
    if parallel is not None:
        choice = choice or ToolChoice(mode="auto")
        choice.parallel = parallel
    return choice


def _response_format(body: dict) -> dict | None:
    text = _opt(body, "text", "", dict)
    if text is None:
        return None
    fmt = _opt(text, "format", "text", dict)
    if fmt is None:
        return None
    kind = fmt.get("type")
    if kind == "text":
        return None
    if kind == "json_object":
        return {"type": "json_object"}
    if kind == "json_schema":
        spec: dict = {"name": _req(fmt, "name", "text.format"), "schema": _req(fmt, "schema", "text.format", dict)}
        description = _opt(fmt, "description", "text.format")
        if description is not None:
            spec["description"] = description
        strict = _opt(fmt, "strict", "text.format", bool)
        if strict is not None:
            spec["strict"] = strict
        return {"type": "json_schema", "json_schema": spec}
    if kind is None:
        raise _missing("text.format.type")
    raise InvalidRequest(f"'text.format.type' must be 'text', 'json_object' or 'json_schema', got {kind!r}")


def _reasoning(body: dict) -> ReasoningConfig | None:
    raw = _opt(body, "reasoning", "", dict)
    if raw is None:
        return None
    effort = _opt(raw, "effort", "reasoning")
    summary = _opt(raw, "summary", "reasoning") or _opt(raw, "generate_summary", "reasoning")
    if effort is None:
        return ReasoningConfig() if summary is not None else None
    if effort == "none":
        return ReasoningConfig(enabled=False)
    effort = _EFFORT_ALIASES.get(effort, effort)
    if effort not in EFFORT_BUDGETS:
        raise InvalidRequest(f"'reasoning.effort' must be one of none, {', '.join(EFFORT_BUDGETS)}, xhigh, "
                             f"got {raw['effort']!r}")
    return ReasoningConfig(effort=effort, budget_tokens=EFFORT_BUDGETS[effort])


def _server_state(body: dict, unportable: list[str]) -> None:
    """Name what needs the upstream's own storage or machinery."""
    previous = _opt(body, "previous_response_id", "")
    if previous:
        unportable.append("previous_response_id (a conversation stored by the upstream)")
    if body.get("conversation") is not None:
        unportable.append("conversation (a conversation stored by the upstream)")
    if _opt(body, "background", "", bool):
        unportable.append("background (a response run and stored by the upstream)")
    if body.get("prompt") is not None:
        unportable.append("prompt (a prompt template stored by the upstream)")
    if body.get("context_management"):
        unportable.append("context_management (compaction done by the upstream)")
    include = _opt(body, "include", "", list, [])
    for j, value in enumerate(include):
        if not isinstance(value, str):
            raise _wrong(f"include[{j}]", "a string", value)
        if value in _SERVER_INCLUDES:
            unportable.append(f"include '{value}' (output of a tool run by the upstream)")


def decode_request(body: dict) -> ChatRequest:
    """A Responses ``POST /v1/responses`` body → canonical request; raises InvalidRequest naming the field."""
    if not isinstance(body, dict):
        raise InvalidRequest(f"request body must be a JSON object, got {type_name(body)}")
    model = body.get("model")
    if model is None:
        raise _missing("model")
    if not isinstance(model, str) or not model.strip():
        raise _wrong("model", "a non-empty string", model)
    unportable: list[str] = []
    _server_state(body, unportable)
    instructions = _opt(body, "instructions", "")
    system = [Text(instructions)] if instructions else []
    messages = _input(body, system, unportable)
    max_tokens = _number(body, "max_output_tokens", integer=True)
    if max_tokens is not None and max_tokens < 1:
        raise InvalidRequest("'max_output_tokens' must be at least 1")
    req = ChatRequest(
        model=model,
        messages=messages,
        system=system,
        tools=_tools(body.get("tools"), unportable),
        max_tokens=max_tokens,
        temperature=_number(body, "temperature"),
        top_p=_number(body, "top_p"),
        stream=_opt(body, "stream", "", bool, False),
        response_format=_response_format(body),
        reasoning=_reasoning(body),
        user=_opt(body, "user", ""),
        metadata=_opt(body, "metadata", "", dict, {}),
        unportable=unportable,
    )
    req.tool_choice = _tool_choice(body, req)
    return req
