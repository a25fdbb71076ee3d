"""Canonical requests → OpenAI Responses bodies for an upstream that speaks Responses."""

from __future__ import annotations

from omniroute.dialects.openai_chat.request_encode import NO_RESULT, SYNTHESIZED_USER
from omniroute.dialects.responses.response import new_id
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


class _Input:
    """Emits items so every function call is answered right after its turn, and only real calls are."""

    def __init__(self) -> None:
        self.out: list[dict] = []
        self._pending: list[str] = []  # call ids of the last assistant turn still unanswered

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
        for call_id in self._pending:
            self.out.append({"type": "function_call_output", "call_id": call_id, "output": NO_RESULT})
        self._pending = []

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
                self._pending.append(call_id)
                self.out.append({"type": "function_call", "call_id": call_id, "name": part.name,
                                 "arguments": part.arguments or "{}"})
        close_text()

    def _user_or_tool(self, message: Message) -> None:
        # Results first: a user turn that also carries text answers the calls before it speaks.
        for part in message.parts:
            if isinstance(part, ToolResult) and part.call_id in self._pending:
                self._pending.remove(part.call_id)
                self.out.append({"type": "function_call_output", "call_id": part.call_id, "output": _output(part)})
        content = _content([p for p in message.parts if isinstance(p, Text | Image)])
        if content:
            self._flush()
            self.out.append({"type": "message", "role": "user", "content": content})


def _tool(tool: ToolDef) -> dict:
    out: dict = {"type": "function", "name": tool.name}
    if tool.description:
        out["description"] = tool.description
    out["parameters"] = tool.parameters or {"type": "object", "properties": {}}
    # Responses makes functions strict unless told otherwise, which most foreign schemas cannot satisfy.
    out["strict"] = bool(tool.strict)
    return out


def _tool_choice(choice: ToolChoice) -> str | dict:
    if choice.mode == "tool":
        return {"type": "function", "name": choice.name or ""}
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
            body["tool_choice"] = _tool_choice(req.tool_choice)
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
