"""Canonical ChatRequest → request JSON for an OpenAI-compatible upstream."""

from __future__ import annotations

import secrets

from omniroute.schema import ChatRequest, Image, Message, Reasoning, Text, ToolCall, ToolResult
from omniroute.schema.request import budget_to_effort

# Sent when a tool call has no result: OpenAI rejects an assistant tool call left unanswered.
NO_RESULT = "(no result)"
# Sent when the request holds only system text: upstreams want at least one user turn.
SYNTHESIZED_USER = "Continue."


def new_call_id() -> str:
    """A fresh OpenAI-style tool-call id."""
    return "call_" + secrets.token_hex(12)


def encode_request(req: ChatRequest) -> dict:
    """Canonical request → OpenAI Chat Completions JSON (``req.model`` is the upstream's name)."""
    messages: list[dict] = []
    if req.system:
        messages.append({"role": "system", "content": "\n\n".join(t.text for t in req.system)})
    conversation = _Conversation().encode(req.messages)
    if not conversation:
        conversation = [{"role": "user", "content": SYNTHESIZED_USER}]
    messages.extend(conversation)
    body: dict = {"model": req.model, "messages": messages}
    if req.tools:
        body["tools"] = [_tool_def(t) for t in req.tools]
        # OpenAI refuses tool_choice and parallel_tool_calls when no tools are given.
        if req.tool_choice is not None:
            body["tool_choice"] = _tool_choice(req.tool_choice)
            if req.tool_choice.parallel is not None:
                body["parallel_tool_calls"] = req.tool_choice.parallel
    if req.max_tokens is not None:
        body["max_tokens"] = req.max_tokens  # the client's value exactly, never raised
    if req.stop:
        body["stop"] = list(req.stop)
    for name in ("temperature", "top_p", "seed", "user", "response_format"):
        value = getattr(req, name)
        if value is not None:
            body[name] = value
    reasoning = req.reasoning
    if reasoning is not None and reasoning.enabled and (reasoning.effort or reasoning.budget_tokens):
        # A thinking budget (Anthropic, Gemini clients) asks for the level that covers it.
        body["reasoning_effort"] = reasoning.effort or budget_to_effort(reasoning.budget_tokens)
    if req.stream:
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
    # top_k and metadata stay behind: OpenAI answers 400 to arguments it does not know.
    return body


class _Conversation:
    """Emits messages so every tool call is answered right after its turn, and only real calls are."""

    def __init__(self) -> None:
        self.out: list[dict] = []
        self._pending: dict[str, str] = {}  # call id -> tool name, for the last assistant turn
        self._unnamed: list[tuple[str, str]] = []  # (generated id, name) of calls that came without ids

    def encode(self, messages: list[Message]) -> list[dict]:
        for message in messages:
            if message.role == "assistant":
                self._flush()
                self._assistant(message)
            else:
                self._user_or_tool(message)
        self._flush()
        return self.out

    def _assistant(self, message: Message) -> None:
        texts = [p.text for p in message.parts if isinstance(p, Text)]
        calls = []
        self._unnamed = []
        for part in message.parts:
            if isinstance(part, ToolCall):
                call_id = part.id or new_call_id()
                if not part.id:
                    self._unnamed.append((call_id, part.name))
                self._pending[call_id] = part.name
                calls.append(
                    {
                        "id": call_id,
                        "type": "function",
                        "function": {"name": part.name, "arguments": part.arguments or "{}"},
                    }
                )
        # Reasoning and images are dropped: OpenAI upstreams accept neither in an assistant turn.
        if not texts and not calls:
            return
        out: dict = {"role": "assistant", "content": "".join(texts) if texts else None}
        if calls:
            out["tool_calls"] = calls
        self.out.append(out)

    def _user_or_tool(self, message: Message) -> None:
        rest: list = []
        for part in message.parts:
            if isinstance(part, ToolResult):
                rest.extend(self._result(part))
            elif not isinstance(part, Reasoning | ToolCall):
                rest.append(part)
        if rest:
            # A user turn closes the tool exchange: unanswered calls get their placeholder first.
            self._flush()
            self.out.append({"role": "user", "content": _user_content(rest)})

    def _result(self, result: ToolResult) -> list[Image]:
        """Emit a tool message when the result answers a pending call; return its images."""
        call_id = self._match(result)
        if call_id is None:
            return []  # answers no call of the last assistant turn: OpenAI would refuse it
        del self._pending[call_id]
        texts = [p for p in result.content if isinstance(p, Text)]
        # One text travels as a plain string; several keep their parts (OpenAI accepts both).
        content: str | list[dict] = texts[0].text if len(texts) == 1 else [_text(t) for t in texts]
        if not texts:
            content = ""
        self.out.append({"role": "tool", "tool_call_id": call_id, "content": content})
        # Tool messages carry only text, so images travel in the user turn that follows.
        return [p for p in result.content if isinstance(p, Image)]

    def _match(self, result: ToolResult) -> str | None:
        if result.call_id in self._pending:
            return result.call_id
        if result.call_id:
            return None
        # A result without an id answers a call that had none, by name when it has one.
        for i, (call_id, name) in enumerate(self._unnamed):
            if call_id in self._pending and (result.name is None or result.name == name):
                del self._unnamed[i]
                return call_id
        return None

    def _flush(self) -> None:
        for call_id in self._pending:
            self.out.append({"role": "tool", "tool_call_id": call_id, "content": NO_RESULT})
        self._pending = {}
        self._unnamed = []


def _user_content(parts: list) -> str | list[dict]:
    if all(isinstance(p, Text) for p in parts):
        return "".join(p.text for p in parts) if len(parts) == 1 else [_text(p) for p in parts]
    return [_text(p) if isinstance(p, Text) else _image(p) for p in parts]


def _text(part: Text) -> dict:
    return {"type": "text", "text": part.text}


def _image(image: Image) -> dict:
    if image.data is not None:
        url = f"data:{image.media_type or 'image/png'};base64,{image.data}"
    else:
        url = image.url or ""
    spec = {"url": url}
    if image.detail is not None:
        spec["detail"] = image.detail
    return {"type": "image_url", "image_url": spec}


def _tool_def(tool) -> dict:
    fn: dict = {"name": tool.name}
    if tool.description is not None:
        fn["description"] = tool.description
    fn["parameters"] = tool.parameters
    if tool.strict is not None:
        fn["strict"] = tool.strict
    return {"type": "function", "function": fn}


def _tool_choice(choice) -> str | dict:
    if choice.mode == "tool":
        return {"type": "function", "function": {"name": choice.name}}
    return choice.mode
