"""Gemini ``generateContent`` requests ⇄ canonical requests, with every problem named by its field.

The model and the choice of streaming live in the URL, not the body: decoding leaves ``model``
empty and ``stream`` False for the route to fill in, and encoding writes the body only.
"""

from __future__ import annotations

import mimetypes

import orjson

from omniroute.dialects.gemini.response import args_text, new_call_id, parts_to_gemini
from omniroute.errors import InvalidRequest
from omniroute.schema import ChatRequest
from omniroute.schema.content import Image, Message, Part, Reasoning, Text, ToolCall, ToolResult
from omniroute.schema.request import EFFORT_BUDGETS, ReasoningConfig, ToolChoice, ToolDef, budget_to_effort

MAX_THINKING_BUDGET = 32768  # the largest budget any Gemini model accepts
_EMPTY_SCHEMA = {"type": "object", "properties": {}}

_TYPE_NAMES = {dict: "an object", list: "an array", str: "a string", bool: "a boolean", type(None): "null"}


def _wrong(field: str, expected: str, value) -> InvalidRequest:
    return InvalidRequest(f"'{field}' must be {expected}, got {_TYPE_NAMES.get(type(value), 'a number')}")


def _missing(field: str) -> InvalidRequest:
    return InvalidRequest(f"missing required field '{field}'", code="missing_required_parameter")


def _get(obj: dict, key: str, field: str, kind: type, expected: str, required: bool = False):
    value = obj.get(key)
    if value is None:
        if required:
            raise _missing(f"{field}.{key}" if field else key)
        return None
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise _wrong(f"{field}.{key}" if field else key, expected, value)
    return value


def _number(obj: dict, key: str, field: str, integer: bool = False):
    value = obj.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int if integer else int | float):
        raise _wrong(f"{field}.{key}", "an integer" if integer else "a number", value)
    return value


_DROPPED_KEYS = ("$schema", "additionalProperties")
_NAME_MAPS = ("properties", "$defs", "definitions", "patternProperties")
_LITERALS = ("enum", "const", "default", "example", "examples")


def _rewrite_schema(schema, drop: tuple[str, ...] = ()):
    """A schema with ``type`` names in lower case and the ``drop`` keywords removed, at every depth.

    Gemini's OpenAPI-style schemas write types in capitals (``OBJECT``) while canonical form is JSON
    Schema; property names and literal values are left untouched.
    """
    if isinstance(schema, list):
        return [_rewrite_schema(s, drop) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {}
    for key, value in schema.items():
        if key in drop:
            continue
        if key == "type" and isinstance(value, str):
            out[key] = value.lower()
        elif key in _NAME_MAPS and isinstance(value, dict):
            out[key] = {name: _rewrite_schema(s, drop) for name, s in value.items()}
        else:
            out[key] = value if key in _LITERALS else _rewrite_schema(value, drop)
    return out


def strip_schema(schema):
    """A JSON schema without the keywords Gemini refuses, at every depth (property names are kept)."""
    return _rewrite_schema(schema, _DROPPED_KEYS)


# ---------------------------------------------------------------- decoding (client → canonical)


class _Calls:
    """Function calls seen so far, so a functionResponse finds the call it answers."""

    def __init__(self) -> None:
        self.turns: list[list[ToolCall]] = []
        self.answered: set[str] = set()

    def match(self, name: str, call_id: str | None) -> str:
        if call_id and any(c.id == call_id for turn in self.turns for c in turn):
            self.answered.add(call_id)
            return call_id
        # Without an id, parallel calls of one function are answered in call order, latest turn first.
        for turn in reversed(self.turns):
            for call in turn:
                if call.name == name and call.id not in self.answered:
                    self.answered.add(call.id)
                    return call.id
        return call_id or new_call_id()


def _media(part: dict, key: str, field: str) -> Image:
    raw = _get(part, key, field, dict, "an object")
    where = f"{field}.{key}"
    mime = _get(raw, "mimeType", where, str, "a string")
    if key == "inlineData":
        return Image(data=_get(raw, "data", where, str, "a string", required=True), media_type=mime)
    return Image(url=_get(raw, "fileUri", where, str, "a string", required=True), media_type=mime)


def _part(part, calls: _Calls, turn: list[ToolCall], field: str) -> list[Part]:
    if not isinstance(part, dict):
        raise _wrong(field, "an object", part)
    signature = _get(part, "thoughtSignature", field, str, "a string")
    text = _get(part, "text", field, str, "a string")
    if part.get("thought") is True:
        return [Reasoning(text=text or "", signature=signature)]
    # Gemini puts signatures on the text or call part that follows the thinking: kept as a Reasoning
    # just before that part, and put back on it when encoding.
    out: list[Part] = [Reasoning(signature=signature)] if signature else []
    if part.get("functionCall") is not None:
        call = _get(part, "functionCall", field, dict, "an object")
        where = f"{field}.functionCall"
        args = _get(call, "args", where, dict, "an object")
        tool_call = ToolCall(id=_get(call, "id", where, str, "a string") or new_call_id(),
                             name=_get(call, "name", where, str, "a string", required=True),
                             arguments=args_text(args or {}))
        turn.append(tool_call)
        out.append(tool_call)
    elif part.get("functionResponse") is not None:
        reply = _get(part, "functionResponse", field, dict, "an object")
        where = f"{field}.functionResponse"
        name = _get(reply, "name", where, str, "a string", required=True)
        response = _get(reply, "response", where, dict, "an object") or {}
        call_id = calls.match(name, _get(reply, "id", where, str, "a string"))
        out.append(ToolResult(call_id=call_id, name=name, content=[Text(orjson.dumps(response).decode())]))
    elif part.get("inlineData") is not None:
        out.append(_media(part, "inlineData", field))
    elif part.get("fileData") is not None:
        out.append(_media(part, "fileData", field))
    elif text is not None:
        out.append(Text(text))
    # Other part kinds (executable code, code results, video metadata…) have no canonical form.
    return out


def _content(i: int, content, calls: _Calls) -> Message:
    field = f"contents[{i}]"
    if not isinstance(content, dict):
        raise _wrong(field, "an object", content)
    role = _get(content, "role", field, str, "a string") or "user"
    if role not in ("user", "model", "function"):
        raise InvalidRequest(f"'{field}.role' must be 'user' or 'model', got {role!r}")
    parts = _get(content, "parts", field, list, "an array", required=True)
    turn: list[ToolCall] = []
    decoded = [p for j, raw in enumerate(parts) for p in _part(raw, calls, turn, f"{field}.parts[{j}]")]
    if turn:
        calls.turns.append(turn)
    return Message(role="assistant" if role == "model" else "user", parts=decoded)


def _system(system) -> list[Text]:
    if system is None:
        return []
    if isinstance(system, str):
        return [Text(system)] if system else []
    if not isinstance(system, dict):
        raise _wrong("systemInstruction", "an object", system)
    parts = _get(system, "parts", "systemInstruction", list, "an array") or []
    out = []
    for j, part in enumerate(parts):
        if not isinstance(part, dict):
            raise _wrong(f"systemInstruction.parts[{j}]", "an object", part)
        text = _get(part, "text", f"systemInstruction.parts[{j}]", str, "a string")
        if text:
            out.append(Text(text))
    return out


def _tools(tools) -> list[ToolDef]:
    if tools is None:
        return []
    if not isinstance(tools, list):
        raise _wrong("tools", "an array", tools)
    out = []
    for j, tool in enumerate(tools):
        if not isinstance(tool, dict):
            raise _wrong(f"tools[{j}]", "an object", tool)
        # Built-in tools (googleSearch, codeExecution…) run inside Google and are not routed.
        declarations = _get(tool, "functionDeclarations", f"tools[{j}]", list, "an array") or []
        for k, decl in enumerate(declarations):
            field = f"tools[{j}].functionDeclarations[{k}]"
            if not isinstance(decl, dict):
                raise _wrong(field, "an object", decl)
            schema = _get(decl, "parametersJsonSchema", field, dict, "an object")
            if schema is None:
                schema = _rewrite_schema(_get(decl, "parameters", field, dict, "an object"))
            out.append(ToolDef(name=_get(decl, "name", field, str, "a string", required=True),
                               description=_get(decl, "description", field, str, "a string"),
                               parameters=schema or dict(_EMPTY_SCHEMA)))
    return out


def _tool_choice(config) -> ToolChoice | None:
    if config is None:
        return None
    if not isinstance(config, dict):
        raise _wrong("toolConfig", "an object", config)
    calling = _get(config, "functionCallingConfig", "toolConfig", dict, "an object")
    if calling is None:
        return None
    field = "toolConfig.functionCallingConfig"
    mode = (_get(calling, "mode", field, str, "a string") or "AUTO").upper()
    names = _get(calling, "allowedFunctionNames", field, list, "an array") or []
    if mode == "NONE":
        return ToolChoice(mode="none")
    if mode == "ANY":
        if len(names) == 1 and isinstance(names[0], str):
            return ToolChoice(mode="tool", name=names[0])
        return ToolChoice(mode="required")
    if mode in ("AUTO", "VALIDATED", "MODE_UNSPECIFIED"):
        return ToolChoice(mode="auto")
    raise InvalidRequest(f"'{field}.mode' must be one of AUTO, ANY, NONE, got {mode!r}")


def _thinking(config) -> ReasoningConfig | None:
    if config is None:
        return None
    field = "generationConfig.thinkingConfig"
    if not isinstance(config, dict):
        raise _wrong(field, "an object", config)
    budget = _number(config, "thinkingBudget", field, integer=True)
    level = _get(config, "thinkingLevel", field, str, "a string")
    if budget == 0:
        return ReasoningConfig(enabled=False)
    effort = level.lower() if level and level.lower() in EFFORT_BUDGETS else None
    if budget is not None and budget > 0:
        return ReasoningConfig(budget_tokens=budget, effort=effort or budget_to_effort(budget))
    # A budget of -1 means "dynamic": thinking on, size left to the model.
    return ReasoningConfig(effort=effort)


def _response_format(config: dict) -> dict | None:
    field = "generationConfig"
    mime = _get(config, "responseMimeType", field, str, "a string")
    schema = _get(config, "responseJsonSchema", field, dict, "an object")
    if schema is None:
        schema = _rewrite_schema(_get(config, "responseSchema", field, dict, "an object"))
    if mime != "application/json" and schema is None:
        return None
    if schema is None:
        return {"type": "json_object"}
    return {"type": "json_schema", "json_schema": {"name": "response", "schema": schema}}


def decode_request(body: dict) -> ChatRequest:
    """A Gemini generateContent body → canonical request (model and stream are set by the route)."""
    if not isinstance(body, dict):
        raise InvalidRequest(f"request body must be a JSON object, got {_TYPE_NAMES.get(type(body), 'a number')}")
    contents = _get(body, "contents", "", list, "an array", required=True)
    if not contents:
        raise InvalidRequest("'contents' must contain at least one content")
    calls = _Calls()
    messages = [_content(i, c, calls) for i, c in enumerate(contents)]
    config = _get(body, "generationConfig", "", dict, "an object") or {}
    field = "generationConfig"
    stop = _get(config, "stopSequences", field, list, "an array") or []
    if not all(isinstance(s, str) for s in stop):
        raise _wrong(f"{field}.stopSequences", "an array of strings", stop)
    top_k = _number(config, "topK", field)
    max_tokens = _number(config, "maxOutputTokens", field, integer=True)
    if max_tokens is not None and max_tokens < 1:
        raise InvalidRequest(f"'{field}.maxOutputTokens' must be at least 1")
    return ChatRequest(
        model="",
        messages=messages,
        system=_system(body.get("systemInstruction")),
        tools=_tools(body.get("tools")),
        tool_choice=_tool_choice(body.get("toolConfig")),
        max_tokens=max_tokens,
        temperature=_number(config, "temperature", field),
        top_p=_number(config, "topP", field),
        top_k=int(top_k) if top_k is not None else None,
        stop=list(stop),
        seed=_number(config, "seed", field, integer=True),
        response_format=_response_format(config),
        reasoning=_thinking(config.get("thinkingConfig")),
    )


# ---------------------------------------------------------------- encoding (canonical → upstream)


def _image_part(image: Image) -> dict | None:
    if image.data:
        return {"inlineData": {"mimeType": image.media_type or "image/png", "data": image.data}}
    if not image.url:
        return None
    if image.url.startswith("data:") and ";base64," in image.url:
        head, data = image.url[5:].split(";base64,", 1)
        return {"inlineData": {"mimeType": head or image.media_type or "image/png", "data": data}}
    mime = image.media_type or mimetypes.guess_type(image.url.split("?", 1)[0])[0] or "image/jpeg"
    return {"fileData": {"mimeType": mime, "fileUri": image.url}}


def _response_object(result: ToolResult) -> dict:
    text = "".join(p.text for p in result.content if isinstance(p, Text))
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        value = None
    if isinstance(value, dict):
        return value
    return {"error": text} if result.is_error else {"result": text}


def _user_parts(parts: list[Part]) -> list[dict]:
    out = []
    for part in parts:
        if isinstance(part, Text) and part.text:
            out.append({"text": part.text})
        elif isinstance(part, Image) and (encoded := _image_part(part)) is not None:
            out.append(encoded)
    return out


def _contents(messages: list[Message]) -> list[dict]:
    """Alternating user/model turns; each call turn answered first thing in the next user turn."""
    names = {p.id: p.name for m in messages for p in m.parts if isinstance(p, ToolCall)}
    results: dict[str, ToolResult] = {}
    for message in messages:
        for part in message.parts:
            if isinstance(part, ToolResult) and part.call_id in names:
                results.setdefault(part.call_id, part)  # results without a matching call are dropped
    out: list[dict] = []

    def push(role: str, parts: list[dict]) -> None:
        if not parts:
            return
        if out and out[-1]["role"] == role:
            out[-1]["parts"].extend(parts)
        else:
            out.append({"role": role, "parts": parts})

    for message in messages:
        if message.role != "assistant":
            push("user", _user_parts(message.parts))
            continue
        push("model", parts_to_gemini(message.parts, upstream=True))
        replies: list[dict] = []
        for call in (p for p in message.parts if isinstance(p, ToolCall)):
            result = results.pop(call.id, None)
            response = _response_object(result) if result else {"result": "No result was provided for this call."}
            replies.append({"functionResponse": {"name": names[call.id], "response": response}})
            if result:
                replies.extend(_user_parts([p for p in result.content if isinstance(p, Image)]))
        push("user", replies)
    if not any(c["role"] == "user" for c in out):
        out.insert(0, {"role": "user", "parts": [{"text": "Continue."}]})
    return out


def _thinking_config(reasoning: ReasoningConfig) -> dict:
    if not reasoning.enabled:
        return {"thinkingBudget": 0}
    budget = reasoning.budget_tokens or (EFFORT_BUDGETS.get(reasoning.effort) if reasoning.effort else None)
    out: dict = {"includeThoughts": True}
    if budget:
        out["thinkingBudget"] = min(budget, MAX_THINKING_BUDGET)
    return out


def _declaration(tool: ToolDef) -> dict:
    out: dict = {"name": tool.name}
    if tool.description:
        out["description"] = tool.description
    # Gemini refuses an object schema with no properties, so a tool without arguments has no schema.
    if tool.parameters and tool.parameters.get("properties"):
        out["parameters"] = strip_schema(tool.parameters)
    return out


def _tool_config(choice: ToolChoice | None) -> dict | None:
    if choice is None:
        return None
    calling: dict = {"mode": {"auto": "AUTO", "none": "NONE", "required": "ANY", "tool": "ANY"}[choice.mode]}
    if choice.mode == "tool" and choice.name:
        calling["allowedFunctionNames"] = [choice.name]
    return {"functionCallingConfig": calling}


def _generation_config(request: ChatRequest) -> dict:
    config: dict = {}
    for key, value in (("maxOutputTokens", request.max_tokens), ("temperature", request.temperature),
                       ("topP", request.top_p), ("topK", request.top_k), ("seed", request.seed)):
        if value is not None:
            config[key] = value
    if request.stop:
        config["stopSequences"] = list(request.stop)
    fmt = request.response_format or {}
    if fmt.get("type") in ("json_object", "json_schema"):
        config["responseMimeType"] = "application/json"
        spec = fmt.get("json_schema") if isinstance(fmt.get("json_schema"), dict) else {}
        if isinstance(spec.get("schema"), dict):
            config["responseSchema"] = strip_schema(spec["schema"])
    if request.reasoning is not None:
        config["thinkingConfig"] = _thinking_config(request.reasoning)
    return config


def encode_request(request: ChatRequest) -> dict:
    """A canonical request → a Gemini generateContent body (the model goes in the URL)."""
    body: dict = {"contents": _contents(request.messages)}
    if request.model.startswith("gemini-3"):
        _sign_replayed_calls(body["contents"])
    system = [{"text": t.text} for t in request.system if t.text]
    if system:
        body["systemInstruction"] = {"parts": system}
    if request.tools:
        body["tools"] = [{"functionDeclarations": [_declaration(t) for t in request.tools]}]
    tool_config = _tool_config(request.tool_choice)
    if tool_config is not None:
        body["toolConfig"] = tool_config
    config = _generation_config(request)
    if config:
        body["generationConfig"] = config
    return body


# Google's documented stand-in for a signature the history cannot supply (calls made by another
# model, or by Gemini through a client that did not keep the signature): Gemini 3 refuses a
# replayed functionCall without one.
SKIP_SIGNATURE = "skip_thought_signature_validator"


def _sign_replayed_calls(contents: list[dict]) -> None:
    """Give the first functionCall of each model turn a signature when it has none."""
    for content in contents:
        if content.get("role") != "model":
            continue
        for part in content.get("parts", ()):
            if "functionCall" in part:
                part.setdefault("thoughtSignature", SKIP_SIGNATURE)
                break
