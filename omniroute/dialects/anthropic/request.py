"""Anthropic Messages requests ⇄ canonical requests, with every problem named by its field."""

from __future__ import annotations

from omniroute.dialects.anthropic.response import dump_arguments, parse_arguments
from omniroute.dialects.fields import body_model_messages
from omniroute.dialects.fields import missing as _missing
from omniroute.dialects.fields import optional as _opt
from omniroute.dialects.fields import required as _req
from omniroute.dialects.fields import wrong as _wrong
from omniroute.errors import InvalidRequest
from omniroute.schema import ChatRequest
from omniroute.schema.content import Image, Message, Part, Reasoning, Text, ToolCall, ToolResult
from omniroute.schema.request import EFFORT_BUDGETS, ReasoningConfig, ToolChoice, ToolDef, budget_to_effort

DEFAULT_MAX_TOKENS = 4096
MIN_THINKING_BUDGET = 1024  # Anthropic refuses smaller budgets


def _opt_number(body: dict, key: str, integer: bool = False):
    value = body.get(key)
    if value is None:
        return None
    kinds = int if integer else int | float
    if isinstance(value, bool) or not isinstance(value, kinds):
        raise _wrong(key, "an integer" if integer else "a number", value)
    return value


# ---------------------------------------------------------------- decoding (client → canonical)


def _image(block: dict, field: str) -> Image:
    source = block.get("source")
    if not isinstance(source, dict):
        raise _missing(f"{field}.source") if source is None else _wrong(f"{field}.source", "an object", source)
    kind = source.get("type")
    if kind == "base64":
        media_type = _req(source, "media_type", f"{field}.source")
        return Image(data=_req(source, "data", f"{field}.source"), media_type=media_type)
    if kind == "url":
        return Image(url=_req(source, "url", f"{field}.source"))
    raise InvalidRequest(f"'{field}.source.type' must be 'base64' or 'url', got {kind!r}")


def _result_content(content, field: str) -> list[Text | Image]:
    if content is None:
        return []
    if isinstance(content, str):
        return [Text(content)]
    if not isinstance(content, list):
        raise _wrong(field, "a string or an array", content)
    out: list[Text | Image] = []
    for j, block in enumerate(content):
        where = f"{field}[{j}]"
        if not isinstance(block, dict):
            raise _wrong(where, "an object", block)
        kind = block.get("type")
        if kind == "text":
            out.append(Text(_req(block, "text", where)))
        elif kind == "image":
            out.append(_image(block, where))
        else:
            raise InvalidRequest(f"'{where}.type' must be 'text' or 'image' inside a tool_result, got {kind!r}")
    return out


def _block(block, role: str, field: str) -> Part:
    if not isinstance(block, dict):
        raise _wrong(field, "an object", block)
    kind = block.get("type")
    if kind == "text":
        return Text(_req(block, "text", field))
    if kind == "image":
        return _image(block, field)
    if kind == "tool_use":
        if role != "assistant":
            raise InvalidRequest(f"'{field}.type' 'tool_use' is only allowed in assistant messages")
        return ToolCall(id=_req(block, "id", field), name=_req(block, "name", field),
                        arguments=dump_arguments(_opt(block, "input", field, dict, {})))
    if kind == "tool_result":
        if role != "user":
            raise InvalidRequest(f"'{field}.type' 'tool_result' is only allowed in user messages")
        return ToolResult(call_id=_req(block, "tool_use_id", field),
                          content=_result_content(block.get("content"), f"{field}.content"),
                          is_error=_opt(block, "is_error", field, bool, False))
    if kind == "thinking":
        return Reasoning(text=_req(block, "thinking", field), signature=_opt(block, "signature", field) or None)
    if kind == "redacted_thinking":
        return Reasoning(redacted=_req(block, "data", field))
    if kind is None:
        raise _missing(f"{field}.type")
    raise InvalidRequest(f"'{field}.type' {kind!r} is not supported (expected text, image, tool_use, "
                         "tool_result, thinking or redacted_thinking)")


def _message(i: int, message) -> Message:
    field = f"messages[{i}]"
    if not isinstance(message, dict):
        raise _wrong(field, "an object", message)
    role = message.get("role")
    if role is None:
        raise _missing(f"{field}.role")
    if role not in ("user", "assistant"):
        raise InvalidRequest(f"'{field}.role' must be 'user' or 'assistant', got {role!r}")
    content = message.get("content")
    if content is None:
        raise _missing(f"{field}.content")
    if isinstance(content, str):
        return Message(role=role, parts=[Text(content)])
    if not isinstance(content, list):
        raise _wrong(f"{field}.content", "a string or an array", content)
    return Message(role=role, parts=[_block(b, role, f"{field}.content[{j}]") for j, b in enumerate(content)])


def _system(system) -> list[Text]:
    if system is None:
        return []
    if isinstance(system, str):
        return [Text(system)] if system else []
    if not isinstance(system, list):
        raise _wrong("system", "a string or an array", system)
    out = []
    for j, block in enumerate(system):
        if not isinstance(block, dict) or block.get("type") != "text":
            raise InvalidRequest(f"'system[{j}]' must be a text block")
        out.append(Text(_req(block, "text", f"system[{j}]")))
    return out


def _tools(tools) -> list[ToolDef]:
    if tools is None:
        return []
    if not isinstance(tools, list):
        raise _wrong("tools", "an array", tools)
    out = []
    for j, tool in enumerate(tools):
        field = f"tools[{j}]"
        if not isinstance(tool, dict):
            raise _wrong(field, "an object", tool)
        if tool.get("type") not in (None, "custom"):
            # Server tools (web search, code execution…) run inside Anthropic and cannot be routed elsewhere.
            raise InvalidRequest(f"'{field}.type' {tool.get('type')!r} is not supported (only custom tools)")
        out.append(ToolDef(name=_req(tool, "name", field), description=_opt(tool, "description", field),
                           parameters=_req(tool, "input_schema", field, dict)))
    return out


_CHOICE_MODES = {"auto": "auto", "any": "required", "none": "none", "tool": "tool"}


def _tool_choice(choice) -> ToolChoice | None:
    if choice is None:
        return None
    if not isinstance(choice, dict):
        raise _wrong("tool_choice", "an object", choice)
    kind = choice.get("type")
    if not isinstance(kind, str) or kind not in _CHOICE_MODES:
        raise InvalidRequest(f"'tool_choice.type' must be one of auto, any, none, tool, got {kind!r}")
    name = _req(choice, "name", "tool_choice") if kind == "tool" else None
    disable = _opt(choice, "disable_parallel_tool_use", "tool_choice", bool)
    return ToolChoice(mode=_CHOICE_MODES[kind], name=name, parallel=None if disable is None else not disable)


def _thinking(thinking) -> ReasoningConfig | None:
    if thinking is None:
        return None
    if not isinstance(thinking, dict):
        raise _wrong("thinking", "an object", thinking)
    kind = thinking.get("type")
    if kind == "enabled":
        budget = _req(thinking, "budget_tokens", "thinking", int)
        if budget < 1:
            raise InvalidRequest("'thinking.budget_tokens' must be at least 1")
        return ReasoningConfig(budget_tokens=budget, effort=budget_to_effort(budget))
    if kind == "disabled":
        return ReasoningConfig(enabled=False)
    if kind == "adaptive":
        # The model picks its own budget; canonical form has no "adaptive", so no budget is set.
        return ReasoningConfig()
    raise InvalidRequest(f"'thinking.type' must be 'enabled', 'disabled' or 'adaptive', got {kind!r}")


def decode_request(body: dict) -> ChatRequest:
    """An Anthropic Messages request → canonical request; raises InvalidRequest naming the field."""
    model, messages = body_model_messages(body)
    max_tokens = _req(body, "max_tokens", "", int)
    if max_tokens < 1:
        raise InvalidRequest("'max_tokens' must be at least 1")
    stop = body.get("stop_sequences")
    if stop is not None and (not isinstance(stop, list) or not all(isinstance(s, str) for s in stop)):
        raise _wrong("stop_sequences", "an array of strings", stop)
    metadata = _opt(body, "metadata", "", dict, {})
    return ChatRequest(
        model=model,
        messages=[_message(i, m) for i, m in enumerate(messages)],
        system=_system(body.get("system")),
        tools=_tools(body.get("tools")),
        tool_choice=_tool_choice(body.get("tool_choice")),
        max_tokens=max_tokens,
        temperature=_opt_number(body, "temperature"),
        top_p=_opt_number(body, "top_p"),
        top_k=_opt_number(body, "top_k", integer=True),
        stop=list(stop or []),
        stream=_opt(body, "stream", "", bool, False),
        reasoning=_thinking(body.get("thinking")),
        user=_opt(metadata, "user_id", "metadata"),
        response_format=_output_format(body.get("output_config")),
    )


def _output_format(config) -> dict | None:
    """Structured output (``output_config.format``) → the canonical OpenAI-shaped response_format."""
    if config is None:
        return None
    if not isinstance(config, dict):
        raise _wrong("output_config", "an object", config)
    fmt = config.get("format")
    if fmt is None:
        return None
    if not isinstance(fmt, dict) or fmt.get("type") != "json_schema" or not isinstance(fmt.get("schema"), dict):
        raise InvalidRequest("'output_config.format' must be {\"type\": \"json_schema\", \"schema\": {...}}")
    return {"type": "json_schema", "json_schema": {"name": "response", "schema": fmt["schema"]}}


# ---------------------------------------------------------------- encoding (canonical → upstream)


def _image_block(image: Image) -> dict | None:
    if image.data:
        source = {"type": "base64", "media_type": image.media_type or "image/png", "data": image.data}
    elif image.url and image.url.startswith("data:") and ";base64," in image.url:
        # OpenAI clients inline images as data URLs; Anthropic wants them as base64 sources.
        head, data = image.url[5:].split(";base64,", 1)
        source = {"type": "base64", "media_type": head or "image/png", "data": data}
    elif image.url:
        source = {"type": "url", "url": image.url}
    else:
        return None
    return {"type": "image", "source": source}


def _result_block(result: ToolResult) -> dict:
    block: dict = {"type": "tool_result", "tool_use_id": result.call_id}
    content = [b for b in (_plain_block(p) for p in result.content) if b is not None]
    if content:
        block["content"] = content
    if result.is_error:
        block["is_error"] = True
    return block


def _plain_block(part) -> dict | None:
    if isinstance(part, Text):
        # Anthropic refuses empty text blocks.
        return {"type": "text", "text": part.text} if part.text else None
    if isinstance(part, Image):
        return _image_block(part)
    return None


def _encode_part(part: Part, role: str) -> dict | None:
    if isinstance(part, Text | Image):
        return _plain_block(part)
    if isinstance(part, ToolResult):
        return _result_block(part)
    if role != "assistant":
        return None
    if isinstance(part, Reasoning):
        if part.redacted:
            return {"type": "redacted_thinking", "data": part.redacted}
        # Unsigned thinking (another vendor's reasoning) would be refused by Anthropic, so it stays home.
        if not part.signature:
            return None
        return {"type": "thinking", "thinking": part.text, "signature": part.signature}
    if isinstance(part, ToolCall):
        return {"type": "tool_use", "id": part.id, "name": part.name, "input": parse_arguments(part.arguments)}
    return None


def _turns(messages: list[Message]) -> list[dict]:
    """Alternating user/assistant turns; each tool_use answered first thing in the next user turn."""
    raw: list[tuple[str, list[dict]]] = []
    for message in messages:
        role = "assistant" if message.role == "assistant" else "user"
        blocks = [b for b in (_encode_part(p, role) for p in message.parts) if b is not None]
        if raw and raw[-1][0] == role:
            raw[-1][1].extend(blocks)
        else:
            raw.append((role, blocks))
    results: dict[str, dict] = {}
    for _role, blocks in raw:
        for block in blocks:
            if block["type"] == "tool_result":
                results.setdefault(block["tool_use_id"], block)
    out: list[dict] = []

    def push(role: str, blocks: list[dict]) -> None:
        if not blocks:
            return
        if out and out[-1]["role"] == role:
            out[-1]["content"].extend(blocks)
        else:
            out.append({"role": role, "content": blocks})

    i = 0
    while i < len(raw):
        role, blocks = raw[i]
        others = [b for b in blocks if b["type"] != "tool_result"]  # results are placed, or dropped as orphans
        if role == "user":
            push("user", others)
            i += 1
            continue
        push("assistant", others)
        ids = [b["id"] for b in others if b["type"] == "tool_use"]
        i += 1
        if not ids:
            continue
        answered = [results.pop(cid, None) or {"type": "tool_result", "tool_use_id": cid,
                                                "content": "No result was provided for this tool call."}
                    for cid in ids]
        following = []
        if i < len(raw) and raw[i][0] == "user":
            following = [b for b in raw[i][1] if b["type"] != "tool_result"]
            i += 1
        push("user", answered + following)
    if not any(t["role"] == "user" for t in out):
        out.insert(0, {"role": "user", "content": [{"type": "text", "text": "Continue."}]})
    return out


def _tool_loop_signed(turns: list[dict]) -> bool:
    """False when the last assistant turn calls tools without starting with a thinking block."""
    last = next((t for t in reversed(turns) if t["role"] == "assistant"), None)
    if last is None or not any(b["type"] == "tool_use" for b in last["content"]):
        return True
    return last["content"][0]["type"] in ("thinking", "redacted_thinking")


def _thinking_budget(reasoning: ReasoningConfig) -> int:
    budget = reasoning.budget_tokens or EFFORT_BUDGETS.get(reasoning.effort or "medium", EFFORT_BUDGETS["medium"])
    return max(budget, MIN_THINKING_BUDGET)


def encode_request(request: ChatRequest) -> dict:
    """A canonical request → an Anthropic Messages body."""
    body: dict = {"model": request.model, "max_tokens": request.max_tokens or DEFAULT_MAX_TOKENS}
    system = "\n\n".join(t.text for t in request.system if t.text)
    if system:
        body["system"] = system
    body["messages"] = _turns(request.messages)
    thinking_on = request.reasoning is not None and request.reasoning.enabled
    if thinking_on and not _tool_loop_signed(body["messages"]):
        # Anthropic refuses to continue a tool loop with thinking on unless the last assistant turn
        # starts with its signed thinking block, which a client of another dialect may not have kept:
        # this turn runs without thinking rather than failing.
        thinking_on = False
    if request.temperature is not None and not thinking_on:
        body["temperature"] = request.temperature  # Anthropic refuses temperature while thinking
    if request.top_p is not None and (not thinking_on or request.top_p >= 0.95):
        body["top_p"] = request.top_p  # with thinking only 0.95..1 is accepted
    if request.top_k is not None and not thinking_on:
        body["top_k"] = request.top_k
    if request.stop:
        body["stop_sequences"] = list(request.stop)
    if request.stream:
        body["stream"] = True
    if request.reasoning is not None:
        if thinking_on:
            budget = _thinking_budget(request.reasoning)
            body["thinking"] = {"type": "enabled", "budget_tokens": budget}
            if body["max_tokens"] <= budget:
                body["max_tokens"] = budget + (request.max_tokens or DEFAULT_MAX_TOKENS)
        else:
            body["thinking"] = {"type": "disabled"}
    if request.tools:
        body["tools"] = [_tool_body(t) for t in request.tools]
    choice = _choice_body(request.tool_choice)
    if choice is not None:
        body["tool_choice"] = choice
    if request.user:
        body["metadata"] = {"user_id": request.user}
    schema = _json_schema(request.response_format)
    if schema is not None:
        body["output_config"] = {"format": {"type": "json_schema", "schema": schema}}
    # Anthropic has no plain JSON mode (json_object without a schema) and no seed: both are left out.
    return body


def _json_schema(response_format: dict | None) -> dict | None:
    if not response_format or response_format.get("type") != "json_schema":
        return None
    spec = response_format.get("json_schema")
    schema = spec.get("schema") if isinstance(spec, dict) else None
    return schema if isinstance(schema, dict) else None


def _tool_body(tool: ToolDef) -> dict:
    out: dict = {"name": tool.name}
    if tool.description:
        out["description"] = tool.description
    out["input_schema"] = tool.parameters or {"type": "object", "properties": {}}
    return out


def _choice_body(choice: ToolChoice | None) -> dict | None:
    if choice is None:
        return None
    kind = {"auto": "auto", "required": "any", "none": "none", "tool": "tool"}[choice.mode]
    out: dict = {"type": kind}
    if kind == "tool":
        out["name"] = choice.name or ""
    if choice.parallel is False and kind != "none":
        out["disable_parallel_tool_use"] = True
    return out
