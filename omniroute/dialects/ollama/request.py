"""Ollama ``/api/chat`` requests ⇄ canonical requests, with every problem named by its field."""

from __future__ import annotations

import base64
import binascii

from omniroute.dialects.fields import body_model_messages
from omniroute.dialects.fields import missing as _missing
from omniroute.dialects.fields import optional as _opt
from omniroute.dialects.fields import required as _req
from omniroute.dialects.fields import wrong as _wrong
from omniroute.dialects.ollama.response import dump_arguments, new_call_id, parse_arguments
from omniroute.dialects.openai_chat.request_encode import SYNTHESIZED_USER
from omniroute.errors import InvalidRequest
from omniroute.schema import ChatRequest
from omniroute.schema.content import Image, Message, Part, Reasoning, Text, ToolCall, ToolResult
from omniroute.schema.request import ReasoningConfig, ToolDef, budget_to_effort

_ROLES = ("system", "user", "assistant", "tool")
_THINK_LEVELS = ("low", "medium", "high")


def _number(obj: dict, key: str, field: str, integer: bool = False):
    value = obj.get(key)
    if value is None:
        return None
    kinds = int if integer else int | float
    if isinstance(value, bool) or not isinstance(value, kinds):
        raise _wrong(f"{field}.{key}", "an integer" if integer else "a number", value)
    return value


# ---------------------------------------------------------------- decoding (client → canonical)

_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
)


def guess_media_type(data: str) -> str:
    """The media type of base64 image ``data`` from its magic bytes (image/png when unknown)."""
    try:
        # 16 base64 characters decode to 12 bytes: enough for every signature checked.
        head = base64.b64decode(data[:16] + "=" * (-len(data[:16]) % 4))
    except (binascii.Error, ValueError):
        return "image/png"
    for magic, media_type in _MAGIC:
        if head.startswith(magic):
            return media_type
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    return "image/png"


def _images(message: dict, field: str) -> list[Image]:
    images = _opt(message, "images", field, list, [])
    out = []
    for j, data in enumerate(images):
        if not isinstance(data, str):
            raise _wrong(f"{field}.images[{j}]", "a base64 string", data)
        if data.startswith("data:") and ";base64," in data:
            # Tolerated although Ollama wants bare base64: some clients send data URLs.
            head, data = data[5:].split(";base64,", 1)
            out.append(Image(data=data, media_type=head or guess_media_type(data)))
        else:
            out.append(Image(data=data, media_type=guess_media_type(data)))
    return out


def _arguments(function: dict, field: str) -> str:
    value = function.get("arguments")
    if value is None:
        return "{}"
    if isinstance(value, str):
        # Ollama wants an object, but OpenAI-minded clients send JSON text; accept it when it is an object.
        if parse_arguments(value) or value.strip() == "{}":
            return value
        raise _wrong(f"{field}.arguments", "an object", value)
    if not isinstance(value, dict):
        raise _wrong(f"{field}.arguments", "an object", value)
    return dump_arguments(value)


def _tool_calls(message: dict, field: str) -> list[ToolCall]:
    calls = _opt(message, "tool_calls", field, list, [])
    out = []
    for j, call in enumerate(calls):
        where = f"{field}.tool_calls[{j}]"
        if not isinstance(call, dict):
            raise _wrong(where, "an object", call)
        function = _req(call, "function", where, dict)
        name = _req(function, "name", f"{where}.function")
        # Ollama tool calls carry no id; the canonical model needs one to pair results with calls.
        call_id = call.get("id") if isinstance(call.get("id"), str) and call.get("id") else new_call_id()
        out.append(ToolCall(id=call_id, name=name, arguments=_arguments(function, f"{where}.function")))
    return out


class _Decoder:
    """Walks the messages, pairing each tool message with the call it answers."""

    def __init__(self) -> None:
        self.system: list[Text] = []
        self.messages: list[Message] = []
        self.pending: list[ToolCall] = []  # calls of the latest assistant turn still unanswered

    def message(self, i: int, message) -> None:
        field = f"messages[{i}]"
        if not isinstance(message, dict):
            raise _wrong(field, "an object", message)
        role = message.get("role")
        if role is None:
            raise _missing(f"{field}.role")
        if role not in _ROLES:
            raise InvalidRequest(f"'{field}.role' must be one of system, user, assistant, tool, got {role!r}")
        content = _opt(message, "content", field, str, "")
        if role == "system":
            if content:
                self.system.append(Text(content))
        elif role == "user":
            parts: list[Part] = [*_images(message, field)]
            if content:
                parts.append(Text(content))
            self.messages.append(Message("user", parts))
        elif role == "assistant":
            self.assistant(message, content, field)
        else:
            self.tool(message, content, field)

    def assistant(self, message: dict, content: str, field: str) -> None:
        parts: list[Part] = []
        thinking = _opt(message, "thinking", field, str, "")
        if thinking:
            parts.append(Reasoning(text=thinking))
        if content:
            parts.append(Text(content))
        calls = _tool_calls(message, field)
        parts.extend(calls)
        if calls:
            # Older unanswered calls are abandoned: a new turn means the client moved on.
            self.pending = list(calls)
        self.messages.append(Message("assistant", parts))

    def tool(self, message: dict, content: str, field: str) -> None:
        name = _opt(message, "tool_name", field) or _opt(message, "name", field)
        # Same name first (results may come in any order), else the oldest unanswered call.
        call = next((c for c in self.pending if c.name == name), None) if name else None
        call = call or (self.pending[0] if self.pending else None)
        if call is not None:
            self.pending.remove(call)
        result_parts: list[Text | Image] = [Text(content)] if content else []
        result_parts.extend(_images(message, field))
        result = ToolResult(call_id=call.id if call else new_call_id(), content=result_parts,
                            name=name or (call.name if call else None))
        if self.messages and self.messages[-1].role == "tool":
            self.messages[-1].parts.append(result)
        else:
            self.messages.append(Message("tool", [result]))


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
        if tool.get("type") not in (None, "function"):
            raise InvalidRequest(f"'{field}.type' must be 'function', got {tool.get('type')!r}")
        function = _req(tool, "function", field, dict)
        where = f"{field}.function"
        parameters = _opt(function, "parameters", where, dict) or {"type": "object", "properties": {}}
        out.append(ToolDef(name=_req(function, "name", where), description=_opt(function, "description", where),
                           parameters=parameters))
    return out


def _format(value) -> dict | None:
    if value is None or value == "":
        return None
    if value == "json":
        return {"type": "json_object"}
    if isinstance(value, dict):
        return {"type": "json_schema", "json_schema": {"name": "response", "schema": value}}
    raise InvalidRequest(f"'format' must be 'json' or a JSON schema object, got {value!r}")


def _think(value) -> ReasoningConfig | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return ReasoningConfig(enabled=value)
    if value in _THINK_LEVELS:
        return ReasoningConfig(effort=value)
    raise InvalidRequest(f"'think' must be a boolean or one of low, medium, high, got {value!r}")


def _stop(options: dict) -> list[str]:
    stop = options.get("stop")
    if stop is None:
        return []
    if isinstance(stop, str):
        return [stop]
    if not isinstance(stop, list) or not all(isinstance(s, str) for s in stop):
        raise _wrong("options.stop", "an array of strings", stop)
    return list(stop)


def decode_request(body: dict) -> ChatRequest:
    """An Ollama chat request → canonical request; raises InvalidRequest naming the field."""
    model, messages = body_model_messages(body)
    decoder = _Decoder()
    for i, message in enumerate(messages):
        decoder.message(i, message)
    options = _opt(body, "options", "", dict, {})
    num_predict = _number(options, "num_predict", "options", integer=True)
    # Ollama reads -1 as "no limit" and -2 as "fill the context": neither is a canonical cap.
    max_tokens = num_predict if num_predict is not None and num_predict > 0 else None
    # keep_alive only concerns Ollama's model cache, which the gateway does not manage.
    return ChatRequest(
        model=model,
        messages=decoder.messages,
        system=decoder.system,
        tools=_tools(body.get("tools")),
        max_tokens=max_tokens,
        temperature=_number(options, "temperature", "options"),
        top_p=_number(options, "top_p", "options"),
        top_k=_number(options, "top_k", "options", integer=True),
        stop=_stop(options),
        seed=_number(options, "seed", "options", integer=True),
        stream=_opt(body, "stream", "", bool, True),  # Ollama streams unless told otherwise
        response_format=_format(body.get("format")),
        reasoning=_think(body.get("think")),
    )


# ---------------------------------------------------------------- encoding (canonical → upstream)


def _image_data(image: Image) -> str | None:
    if image.data:
        return image.data
    if image.url and image.url.startswith("data:") and ";base64," in image.url:
        return image.url.split(";base64,", 1)[1]
    # Ollama only takes inline bytes; fetching remote URLs is not the gateway's job.
    return None


def _plain(parts) -> tuple[str, list[str]]:
    text = "".join(p.text for p in parts if isinstance(p, Text))
    images = [d for d in (_image_data(p) for p in parts if isinstance(p, Image)) if d]
    return text, images


def _with_images(message: dict, images: list[str]) -> dict:
    if images:
        message["images"] = images
    return message


def _tool_message(result: ToolResult, names: dict[str, str]) -> dict:
    text, images = _plain(result.content)
    message = {"role": "tool", "content": text}
    name = result.name or names.get(result.call_id)
    if name:
        message["tool_name"] = name
    return _with_images(message, images)


def _same_names_in_call_order(results: list[ToolResult], names: dict[str, str],
                              order: dict[str, int]) -> list[ToolResult]:
    """Results of one tool put in the order of its calls; the others keep their place.

    Ollama calls have no ids: a result pairs with the first unanswered call of its tool's name.
    """
    groups: dict[str | None, list[ToolResult]] = {}
    for result in results:
        groups.setdefault(result.name or names.get(result.call_id), []).append(result)
    queues = {name: iter(sorted(group, key=lambda r: order.get(r.call_id, len(order))))
              for name, group in groups.items()}
    return [next(queues[result.name or names.get(result.call_id)]) for result in results]


def _messages(request: ChatRequest) -> list[dict]:
    out: list[dict] = []
    system = "\n\n".join(t.text for t in request.system if t.text)
    if system:
        out.append({"role": "system", "content": system})
    names: dict[str, str] = {}  # call id → tool name, since Ollama pairs results by name
    order: dict[str, int] = {}  # call id → its place among all calls
    for message in request.messages:
        for part in message.parts:
            if isinstance(part, ToolCall):
                order.setdefault(part.id, len(order))
    for message in request.messages:
        # Tool results travel as tool messages, ahead of whatever else the turn holds.
        results = [p for p in message.parts if isinstance(p, ToolResult)]
        out.extend(_tool_message(r, names) for r in _same_names_in_call_order(results, names, order))
        if message.role == "assistant":
            text, _ = _plain(message.parts)
            turn: dict = {"role": "assistant", "content": text}
            calls = [p for p in message.parts if isinstance(p, ToolCall)]
            if calls:
                names.update((c.id, c.name) for c in calls)
                turn["tool_calls"] = [{"function": {"name": c.name, "arguments": parse_arguments(c.arguments)}}
                                      for c in calls]
            # Reasoning parts stay behind: they are the model's scratch work, not conversation.
            if text or calls:
                out.append(turn)
        elif message.role == "user":
            text, images = _plain(message.parts)
            if text or images:
                out.append(_with_images({"role": "user", "content": text}, images))
    if not out:
        # Ollama reads an empty list as "load the model" and generates nothing.
        out.append({"role": "user", "content": SYNTHESIZED_USER})
    return out


def _tool_body(tool: ToolDef) -> dict:
    function: dict = {"name": tool.name}
    if tool.description:
        function["description"] = tool.description
    function["parameters"] = tool.parameters or {"type": "object", "properties": {}}
    return {"type": "function", "function": function}


def _format_body(response_format: dict | None):
    if not response_format:
        return None
    kind = response_format.get("type")
    if kind == "json_object":
        return "json"
    if kind == "json_schema":
        spec = response_format.get("json_schema")
        schema = spec.get("schema") if isinstance(spec, dict) else None
        return schema if isinstance(schema, dict) else "json"
    return None


def _think_body(reasoning: ReasoningConfig | None):
    if reasoning is None:
        return None
    if not reasoning.enabled:
        return False
    effort = reasoning.effort or (budget_to_effort(reasoning.budget_tokens) if reasoning.budget_tokens else None)
    if effort is None:
        return True
    # Ollama knows no "minimal"; "low" is its nearest level.
    return effort if effort in _THINK_LEVELS else "low"


def encode_request(request: ChatRequest) -> dict:
    """A canonical request → an Ollama ``/api/chat`` body."""
    body: dict = {"model": request.model, "messages": _messages(request), "stream": bool(request.stream)}
    tool_choice_none = request.tool_choice is not None and request.tool_choice.mode == "none"
    if request.tools and not tool_choice_none:
        # Ollama has no tool_choice; withholding the tools is the only way to honour "none".
        body["tools"] = [_tool_body(t) for t in request.tools]
    fmt = _format_body(request.response_format)
    if fmt is not None:
        body["format"] = fmt
    options: dict = {}
    for key, value in (("temperature", request.temperature), ("top_p", request.top_p), ("top_k", request.top_k),
                       ("seed", request.seed), ("num_predict", request.max_tokens)):
        if value is not None:
            options[key] = value
    if request.stop:
        options["stop"] = list(request.stop)
    if options:
        body["options"] = options
    think = _think_body(request.reasoning)
    if think is not None:
        body["think"] = think
    return body
