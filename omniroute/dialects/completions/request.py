"""Legacy Completions request JSON ⇄ canonical ChatRequest.

The prompt becomes one user message. Features that only a Completions upstream can honour
(``suffix``, ``echo``, ``logprobs``, ``best_of`` > 1, ``logit_bias``) are kept as
``unportable`` entries; the gateway refuses to translate a request that holds any.
"""

from __future__ import annotations

from omniroute.dialects.fields import missing, optional, type_name, wrong
from omniroute.errors import InvalidRequest
from omniroute.schema import ChatRequest, Image, Message, Text, ToolCall, ToolResult

# The API's own default when ``max_tokens`` is absent.
DEFAULT_MAX_TOKENS = 16
# What a translated request asks of a Completions upstream when its client set no limit: the
# other dialects mean "as long as the model likes", which 16 tokens would cut short.
UPSTREAM_MAX_TOKENS = 4096
# The API accepts at most this many stop sequences.
MAX_STOPS = 4
# Role labels of a conversation flattened into one prompt.
LABELS = {"user": "User", "assistant": "Assistant", "tool": "Tool"}

_NUMBERS = ("temperature", "top_p", "frequency_penalty", "presence_penalty")


def decode_request(body) -> ChatRequest:
    """Client JSON → canonical request; raises InvalidRequest naming the field."""
    if not isinstance(body, dict):
        raise InvalidRequest(f"request body must be a JSON object, got {type_name(body)}")
    model = body.get("model")
    if model is None:
        raise missing("model")
    if not isinstance(model, str) or not model.strip():
        raise wrong("model", "a non-empty string", model)
    prompt = _prompt(body.get("prompt"))
    n = _count(body, "n", minimum=1)
    if n is not None and n > 1:
        raise InvalidRequest("'n' must be 1: only one completion per request is supported")
    max_tokens = _count(body, "max_tokens", minimum=0)
    req = ChatRequest(
        model=model,
        messages=[Message("user", [Text(prompt)])],
        max_tokens=DEFAULT_MAX_TOKENS if max_tokens is None else max_tokens,
        stop=_stop(body.get("stop")),
        seed=optional(body, "seed", "", int),
        stream=optional(body, "stream", "", bool, default=False),
        user=optional(body, "user", "", str),
    )
    for name in _NUMBERS:
        setattr(req, name, _number(body, name))
    wants_usage(body)  # validated here; read again by whoever sets up the stream encoder
    req.unportable = _unportable(body)
    return req


def wants_usage(body: dict) -> bool:
    """Whether the client asked for the final usage chunk (``stream_options.include_usage``)."""
    options = optional(body, "stream_options", "", dict)
    if options is None:
        return False
    return optional(options, "include_usage", "stream_options", bool, default=False)


def _prompt(prompt) -> str:
    if prompt is None:
        raise missing("prompt")
    if isinstance(prompt, str):
        return prompt
    if not isinstance(prompt, list):
        raise wrong("prompt", "a string or an array of one string", prompt)
    if len(prompt) == 1 and isinstance(prompt[0], str):
        return prompt[0]
    if not prompt:
        raise InvalidRequest("'prompt' must not be an empty array")
    if all(isinstance(p, int) and not isinstance(p, bool) for p in prompt) or any(
        isinstance(p, list) for p in prompt
    ):
        raise InvalidRequest("'prompt' as token ids is not supported: only one text prompt is supported")
    if all(isinstance(p, str) for p in prompt):
        raise InvalidRequest(
            f"'prompt' holds {len(prompt)} prompts: only one text prompt is supported per request"
        )
    raise InvalidRequest("'prompt' must be a string or an array of one string: only one text prompt is supported")


def _count(body: dict, name: str, minimum: int) -> int | None:
    value = optional(body, name, "", int)
    if value is not None and value < minimum:
        raise InvalidRequest(f"'{name}' must be at least {minimum}, got {value}")
    return value


def _number(body: dict, name: str) -> float | None:
    value = body.get(name)
    if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
        raise wrong(name, "a number", value)
    return value


def _stop(stop) -> list[str]:
    if stop is None:
        return []
    if isinstance(stop, str):
        return [stop]
    if not isinstance(stop, list):
        raise wrong("stop", "a string or an array of strings", stop)
    for i, item in enumerate(stop):
        if not isinstance(item, str):
            raise wrong(f"stop[{i}]", "a string", item)
    return list(stop)


def _unportable(body: dict) -> list[str]:
    out = []
    if optional(body, "suffix", "", str):
        out.append("'suffix' (text inserted after the completion)")
    if optional(body, "echo", "", bool):
        out.append("'echo' (the prompt repeated in the answer)")
    if _count(body, "logprobs", minimum=0) is not None:
        out.append("'logprobs' (token log-probabilities)")
    best_of = _count(body, "best_of", minimum=1)
    if best_of is not None and best_of > 1:
        out.append("'best_of' above 1 (several completions ranked server-side)")
    if optional(body, "logit_bias", "", dict):
        out.append("'logit_bias' (biases keyed by one tokenizer's token ids)")
    return out


def encode_request(req: ChatRequest) -> dict:
    """Canonical request → legacy Completions JSON, the conversation flattened into one prompt.

    Tool definitions and images have no form here: a request holding either is refused.
    """
    if req.tools:
        raise InvalidRequest("a Completions upstream cannot carry tool definitions ('tools')",
                             code="unsupported_feature")
    prompt, transcript = _flatten(req)
    body: dict = {
        "model": req.model,
        "prompt": prompt,
        "max_tokens": UPSTREAM_MAX_TOKENS if req.max_tokens is None else req.max_tokens,
    }
    stop = list(req.stop)
    # A flattened conversation would otherwise run on into the next "User:" turn.
    if transcript and len(stop) < MAX_STOPS and "\nUser:" not in stop:
        stop.append("\nUser:")
    if stop:
        body["stop"] = stop
    for name in ("temperature", "top_p", "frequency_penalty", "presence_penalty", "seed", "user"):
        value = getattr(req, name)
        if value is not None:
            body[name] = value
    if req.stream:
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
    # top_k, response_format, reasoning and metadata have no Completions field.
    return body


def _flatten(req: ChatRequest) -> tuple[str, bool]:
    """The prompt, and whether it is a labelled transcript (rather than one bare user text)."""
    for message in req.messages:
        for part in message.parts:
            contents = part.content if isinstance(part, ToolResult) else [part]
            if any(isinstance(p, Image) for p in contents):
                raise InvalidRequest("a Completions upstream cannot carry images", code="unsupported_feature")
    messages = req.messages
    if not req.system and len(messages) == 1 and messages[0].role == "user" and all(
        isinstance(p, Text) for p in messages[0].parts
    ):
        return messages[0].text(), False
    blocks = []
    system = "\n\n".join(t.text for t in req.system)
    if system:
        blocks.append(system)
    for message in messages:
        text = _turn_text(message)
        if text:
            blocks.append(f"{LABELS[message.role]}: {text}")
    if not messages or messages[-1].role != "assistant":
        blocks.append("Assistant:")  # the answer follows
    return "\n\n".join(blocks), True


def _turn_text(message: Message) -> str:
    # Texts run together as the client wrote them; each tool call and result takes its own line.
    lines: list[str] = []
    text_open = False
    for part in message.parts:
        if isinstance(part, Text):
            if text_open:
                lines[-1] += part.text
            else:
                lines.append(part.text)
            text_open = True
            continue
        if isinstance(part, ToolCall):
            lines.append(f"[call {part.name} {part.arguments}]")
        elif isinstance(part, ToolResult):
            label = f"result of {part.name}" if part.name else "result"
            text = "".join(p.text for p in part.content if isinstance(p, Text))
            lines.append(f"[{label}{' (error)' if part.is_error else ''}: {text}]")
        else:
            continue  # reasoning stays out of the prompt
        text_open = False
    return "\n".join(lines)
