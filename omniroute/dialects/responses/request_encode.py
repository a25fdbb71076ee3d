"""Canonical requests → OpenAI Responses bodies for an upstream that speaks Responses."""

from __future__ import annotations

import orjson

from omniroute.dialects.openai_chat.request_encode import NO_RESULT, SYNTHESIZED_USER
from omniroute.dialects.responses.response import (
    CUSTOM,
    LOCAL_SHELL,
    custom_input,
    new_id,
    shell_action,
)
from omniroute.schema import (
    ChatRequest,
    Image,
    Message,
    Reasoning,
    Text,
    ToolCall,
    ToolChoice,
    ToolDef,
    ToolResult,
)
from omniroute.schema.request import budget_to_effort

MIN_OUTPUT_TOKENS = 16  # OpenAI refuses a smaller max_output_tokens

# How a custom tool reads as a function elsewhere; ``custom_tool_body`` reads it back.
_FREE_TEXT = "Its input is free-form text, passed whole as the string argument `input`."
_GRAMMAR_HEAD = " The text must follow this "
_GRAMMAR_TAIL = " grammar:\n"

SHELL_DESCRIPTION = ("Runs a command on the user's machine and returns its output. `command` is the program and "
                     "its arguments, e.g. [\"bash\", \"-lc\", \"ls -la\"].")
SHELL_PARAMETERS = {
    "type": "object",
    "properties": {
        "command": {"type": "array", "items": {"type": "string"}, "description": "The program and its arguments."},
        "workdir": {"type": "string", "description": "The directory to run the command in."},
        "timeout_ms": {"type": "integer", "description": "A time limit for the command, in milliseconds."},
        "env": {"type": "object", "additionalProperties": {"type": "string"},
                "description": "Environment variables to set for the command."},
    },
    "required": ["command"],
}


def custom_tool(name: str, description: str | None, fmt: dict | None) -> ToolDef:
    """A Responses custom tool as a function whose one argument ``input`` is the free text."""
    text = f"{description}\n\n{_FREE_TEXT}" if description else _FREE_TEXT
    doc = "The free-form text input."
    if fmt is not None and fmt.get("type") == "grammar":
        text += _GRAMMAR_HEAD + fmt["syntax"] + _GRAMMAR_TAIL + fmt["definition"]
        doc += f" It must follow the {fmt['syntax']} grammar given in the tool description."
    parameters = {"type": "object", "properties": {"input": {"type": "string", "description": doc}},
                  "required": ["input"]}
    return ToolDef(name=name, description=text, parameters=parameters, kind=CUSTOM)


def shell_tool() -> ToolDef:
    """The Responses ``local_shell`` tool as a function."""
    return ToolDef(name=LOCAL_SHELL, description=SHELL_DESCRIPTION,
                   parameters=orjson.loads(orjson.dumps(SHELL_PARAMETERS)), kind=LOCAL_SHELL)


def custom_tool_body(tool: ToolDef) -> dict:
    """A custom tool as the client sent it: its own description and grammar, read back from ``custom_tool``'s."""
    out: dict = {"type": "custom", "name": tool.name}
    description = tool.description or ""
    head, sep, tail = description.partition(_FREE_TEXT)
    if not sep:
        if description:
            out["description"] = description
        return out
    if head := head.removesuffix("\n\n"):
        out["description"] = head
    if tail.startswith(_GRAMMAR_HEAD):
        syntax, found, definition = tail[len(_GRAMMAR_HEAD):].partition(_GRAMMAR_TAIL)
        if found:
            out["format"] = {"type": "grammar", "syntax": syntax, "definition": definition}
    return out


def _image(image: Image) -> dict | None:
    if image.data:
        url = f"data:{image.media_type or 'image/png'};base64,{image.data}"
    elif image.url:
        url = image.url
    else:
        return None
    return {"type": "input_image", "image_url": url, "detail": image.detail or "auto"}


def _content(parts: list) -> list[dict]:
    out = []
    for part in parts:
        if isinstance(part, Text):
            out.append({"type": "input_text", "text": part.text})
        elif isinstance(part, Image) and (block := _image(part)) is not None:
            out.append(block)
    return out


def _output(result: ToolResult) -> str | list[dict]:
    texts = [p.text for p in result.content if isinstance(p, Text)]
    if len(texts) == len(result.content) and len(texts) <= 1:
        return texts[0] if texts else ""
    return _content(result.content)


def _call_item(call: ToolCall, call_id: str) -> dict:
    arguments = call.arguments or "{}"
    if call.kind == CUSTOM:
        return {"type": "custom_tool_call", "call_id": call_id, "name": call.name, "input": custom_input(arguments)}
    if call.kind == LOCAL_SHELL:
        # Without an id, as Codex sends it: nothing is stored upstream to match.
        return {"type": "local_shell_call", "call_id": call_id, "status": "completed",
                "action": shell_action(arguments)}
    return {"type": "function_call", "call_id": call_id, "name": call.name, "arguments": arguments}


def _result_item(call_id: str, kind: str, output: str | list[dict]) -> dict:
    if kind == CUSTOM:
        return {"type": "custom_tool_call_output", "call_id": call_id, "output": output}
    if kind == LOCAL_SHELL:
        if not isinstance(output, str):
            output = "".join(p.get("text", "") for p in output if p.get("type") == "input_text")
        return {"type": "local_shell_call_output", "id": call_id, "output": output}
    return {"type": "function_call_output", "call_id": call_id, "output": output}


class _Input:
    """Emits items so every function call is answered right after its turn, and only real calls are."""

    def __init__(self) -> None:
        self.out: list[dict] = []
        self._pending: dict[str, str] = {}  # call id → kind, of the last assistant turn still unanswered

    def encode(self, messages: list[Message]) -> list[dict]:
        for message in messages:
            if message.role == "assistant":
                self._flush()
                self._assistant(message)
            else:
                self._user_or_tool(message)
        self._flush()
        return self.out

    def _flush(self) -> None:
        for call_id, kind in self._pending.items():
            self.out.append(_result_item(call_id, kind, NO_RESULT))
        self._pending = {}

    def _assistant(self, message: Message) -> None:
        texts: list[str] = []

        def close_text() -> None:
            # The plain form: an assistant message given output_text parts would also need an id and status.
            if texts:
                self.out.append({"type": "message", "role": "assistant", "content": "".join(texts)})
                texts.clear()

        for part in message.parts:
            if isinstance(part, Text):
                if part.text:
                    texts.append(part.text)
            elif isinstance(part, Reasoning):
                # Only encrypted reasoning can be handed back; plain thinking text has no input form. The
                # item goes without an id: the original is not kept, and nothing is stored upstream to match.
                if part.redacted:
                    close_text()
                    summary = [{"type": "summary_text", "text": part.text}] if part.text else []
                    self.out.append({"type": "reasoning", "summary": summary, "encrypted_content": part.redacted})
            elif isinstance(part, ToolCall):
                close_text()
                call_id = part.id or new_id("call")
                self._pending[call_id] = part.kind
                self.out.append(_call_item(part, call_id))
        close_text()

    def _user_or_tool(self, message: Message) -> None:
        # Results first: a user turn that also carries text answers the calls before it speaks.
        for part in message.parts:
            if isinstance(part, ToolResult) and part.call_id in self._pending:
                kind = self._pending.pop(part.call_id)
                self.out.append(_result_item(part.call_id, kind, _output(part)))
        content = _content([p for p in message.parts if isinstance(p, Text | Image)])
        if content:
            self._flush()
            self.out.append({"type": "message", "role": "user", "content": content})


def _tool(tool: ToolDef) -> dict:
    if tool.kind == CUSTOM:
        return custom_tool_body(tool)
    if tool.kind == LOCAL_SHELL:
        return {"type": "local_shell"}
    out: dict = {"type": "function", "name": tool.name}
    if tool.description:
        out["description"] = tool.description
    out["parameters"] = tool.parameters or {"type": "object", "properties": {}}
    # Responses makes functions strict unless told otherwise, which most foreign schemas cannot satisfy.
    out["strict"] = bool(tool.strict)
    return out


def _tool_choice(choice: ToolChoice, tools: list[ToolDef]) -> str | dict:
    if choice.mode == "tool":
        kind = next((t.kind for t in tools if t.name == choice.name), "function")
        if kind == LOCAL_SHELL:
            return "required"  # no form names the local shell tool
        return {"type": "custom" if kind == CUSTOM else "function", "name": choice.name or ""}
    return choice.mode


def _text_format(fmt: dict) -> dict | None:
    kind = fmt.get("type")
    if kind == "json_object":
        return {"type": "json_object"}
    if kind == "json_schema" and isinstance(fmt.get("json_schema"), dict):
        spec = fmt["json_schema"]
        out = {"type": "json_schema", "name": spec.get("name") or "response", "schema": spec.get("schema") or {}}
        for key in ("description", "strict"):
            if spec.get(key) is not None:
                out[key] = spec[key]
        return out
    if kind == "text":
        return {"type": "text"}
    return None


def encode_request(req: ChatRequest) -> dict:
    """A canonical request → a Responses body (stateless: ``store`` is false)."""
    body: dict = {"model": req.model}
    instructions = "\n\n".join(t.text for t in req.system if t.text)
    if instructions:
        body["instructions"] = instructions
    items = _Input().encode(req.messages)
    body["input"] = items or [{"type": "message", "role": "user",
                               "content": [{"type": "input_text", "text": SYNTHESIZED_USER}]}]
    if req.tools:
        body["tools"] = [_tool(t) for t in req.tools]
        # tool_choice and parallel_tool_calls mean nothing without tools.
        if req.tool_choice is not None:
            body["tool_choice"] = _tool_choice(req.tool_choice, req.tools)
            if req.tool_choice.parallel is not None:
                body["parallel_tool_calls"] = req.tool_choice.parallel
    if req.max_tokens is not None:
        body["max_output_tokens"] = max(req.max_tokens, MIN_OUTPUT_TOKENS)
    for name in ("temperature", "top_p", "user"):
        value = getattr(req, name)
        if value is not None:
            body[name] = value
    if req.metadata:
        body["metadata"] = req.metadata
    if req.response_format and (fmt := _text_format(req.response_format)) is not None:
        body["text"] = {"format": fmt}
    reasoning = req.reasoning
    if reasoning is not None and reasoning.enabled:
        effort = reasoning.effort or (budget_to_effort(reasoning.budget_tokens) if reasoning.budget_tokens else None)
        body["reasoning"] = {"effort": effort, "summary": "auto"} if effort else {"summary": "auto"}
        # Nothing is stored upstream, so the reasoning state comes back encrypted for the next turn.
        body["include"] = ["reasoning.encrypted_content"]
    if req.stream:
        body["stream"] = True
    body["store"] = False
    # stop, seed, top_k and the penalties have no Responses counterpart and stay behind.
    return body
