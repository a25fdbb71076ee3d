"""Deterministic OpenAI Chat Completions payloads for the fake upstream."""

from __future__ import annotations

import base64
import hashlib
import itertools
import secrets
import struct
import time
import zlib
from typing import Any

import orjson

_ids = itertools.count(1)

_DEFAULT_ERRORS: dict[int, tuple[str, str, str | None]] = {
    400: ("We could not parse the JSON body of your request.", "invalid_request_error", None),
    401: ("Incorrect API key provided", "invalid_request_error", "invalid_api_key"),
    403: ("You are not allowed to access this resource", "invalid_request_error", None),
    404: ("The model does not exist", "invalid_request_error", "model_not_found"),
    429: ("Rate limit reached for requests", "requests", "rate_limit_exceeded"),
    500: ("The server had an error while processing your request", "server_error", None),
    502: ("Bad gateway", "server_error", None),
    503: ("The engine is currently overloaded, please try again later", "server_error", None),
}


def error_body(status: int) -> dict[str, Any]:
    """Return an OpenAI-shaped error body for an HTTP status."""
    default = ("Upstream error", "server_error" if status >= 500 else "invalid_request_error", None)
    message, kind, code = _DEFAULT_ERRORS.get(status, default)
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}


def content_text(content: Any) -> str:
    """Flatten a message content (string or list of parts) to plain text."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [p.get("text", "") for p in content if isinstance(p, dict) and isinstance(p.get("text"), str)]
        return " ".join(parts)
    return ""


def count_prompt_words(messages: list[Any]) -> int:
    """Count whitespace-separated words across all message contents (at least 1)."""
    total = 0
    for msg in messages:
        if isinstance(msg, dict):
            total += len(content_text(msg.get("content")).split())
    return max(total, 1)


def last_user_text(messages: list[Any]) -> str:
    """Return the text of the last message with role 'user' ('' if none)."""
    for msg in reversed(messages):
        if isinstance(msg, dict) and msg.get("role") == "user":
            return content_text(msg.get("content"))
    return ""


class Plan:
    """What the fake will answer to one chat request: text or a single tool call."""

    __slots__ = ("model", "text", "tool_name", "tool_args", "tool_id", "prompt_tokens", "completion_tokens")

    def __init__(self, body: dict[str, Any]):
        messages = body.get("messages")
        messages = messages if isinstance(messages, list) else []
        self.model = body.get("model") or "fake-model"
        user_text = last_user_text(messages)
        self.prompt_tokens = count_prompt_words(messages)
        self.tool_name: str | None = None
        self.tool_args = ""
        self.tool_id = ""
        self.text = ""
        tools = body.get("tools")
        last_role = messages[-1].get("role") if messages and isinstance(messages[-1], dict) else None
        if tools and isinstance(tools, list) and body.get("tool_choice") != "none" and last_role == "user":
            first = tools[0] if isinstance(tools[0], dict) else {}
            self.tool_name = (first.get("function") or {}).get("name") or first.get("name") or "tool"
            self.tool_args = orjson.dumps({"query": user_text}).decode()
            self.tool_id = "call_" + secrets.token_hex(12)
            # Tool calls have no visible text; count the argument words as completion tokens.
            self.completion_tokens = max(len(self.tool_args.split()), 1)
        elif last_role == "tool":  # a tool result: echo it, so a round trip can be checked end to end
            self.text = f"echo: result {content_text(messages[-1].get('content'))}"
            self.completion_tokens = len(self.text.split())
        else:
            self.text = f"echo: {user_text}"
            self.completion_tokens = len(self.text.split())

    @property
    def usage(self) -> dict[str, int]:
        """Return the usage object."""
        p, c = self.prompt_tokens, self.completion_tokens
        return {"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c}

    def completion(self) -> dict[str, Any]:
        """Return the full non-streaming chat.completion object."""
        if self.tool_name is not None:
            message: dict[str, Any] = {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": self.tool_id,
                        "type": "function",
                        "function": {"name": self.tool_name, "arguments": self.tool_args},
                    }
                ],
            }
            finish = "tool_calls"
        else:
            message = {"role": "assistant", "content": self.text}
            finish = "stop"
        return {
            "id": f"chatcmpl-fake{next(_ids):010d}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": self.model,
            "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish}],
            "usage": self.usage,
        }

    def content_deltas(self) -> list[dict[str, Any]]:
        """Return the deltas after the role chunk: one per word, or tool-call fragments."""
        if self.tool_name is None:
            words = self.text.split(" ")
            # Leading space on every word but the first, so the deltas concatenate to the text.
            return [{"content": w if i == 0 else " " + w} for i, w in enumerate(words)]
        head = {
            "tool_calls": [
                {
                    "index": 0,
                    "id": self.tool_id,
                    "type": "function",
                    "function": {"name": self.tool_name, "arguments": ""},
                }
            ]
        }
        return [head] + [
            {"tool_calls": [{"index": 0, "function": {"arguments": frag}}]}
            for frag in split_fragments(self.tool_args, 3)
        ]

    def stream_events(self, include_usage: bool) -> tuple[list[bytes], list[bytes]]:
        """Return (role+content events, closing events) as encoded SSE lines."""
        cid = f"chatcmpl-fake{next(_ids):010d}"
        created = int(time.time())

        def chunk(delta: dict[str, Any] | None, finish: str | None = None, usage: bool = False) -> bytes:
            choices = (
                []
                if delta is None
                else [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]
            )
            obj: dict[str, Any] = {
                "id": cid,
                "object": "chat.completion.chunk",
                "created": created,
                "model": self.model,
                "choices": choices,
            }
            if usage:
                obj["usage"] = self.usage
            return b"data: " + orjson.dumps(obj) + b"\n\n"

        body = [chunk({"role": "assistant", "content": ""})]
        body += [chunk(d) for d in self.content_deltas()]
        tail = [chunk({}, "tool_calls" if self.tool_name is not None else "stop")]
        if include_usage:
            tail.append(chunk(None, usage=True))
        tail.append(b"data: [DONE]\n\n")
        return body, tail


def split_fragments(text: str, parts: int) -> list[str]:
    """Split text into `parts` contiguous non-empty fragments (fewer only if text is shorter)."""
    parts = max(1, min(parts, len(text)))
    size, extra = divmod(len(text), parts)
    out, pos = [], 0
    for i in range(parts):
        step = size + (1 if i < extra else 0)
        out.append(text[pos : pos + step])
        pos += step
    return out


def models_list(models: list[str]) -> dict[str, Any]:
    """Return an OpenAI /v1/models list object."""
    return {
        "object": "list",
        "data": [{"id": m, "object": "model", "created": 1700000000, "owned_by": "fake"} for m in models],
    }


# ---- embeddings and images -------------------------------------------------------------------

EMBEDDING_DIMS = 16  # the fake's vector length when `dimensions` is not given


def embedding_vector(item: Any, dims: int = EMBEDDING_DIMS) -> list[float]:
    """A deterministic vector for one input (text or token ids); every value is a multiple of 1/256,
    so it survives float32 (base64) exactly."""
    seed = item if isinstance(item, str) else ",".join(str(t) for t in item)
    out: list[float] = []
    counter = 0
    while len(out) < dims:
        digest = hashlib.sha256(f"{counter}:{seed}".encode()).digest()
        out += [(b - 128) / 256 for b in digest]
        counter += 1
    return out[:dims]


def embedding_inputs(raw: Any) -> list[Any] | None:
    """The inputs of an OpenAI embeddings body as a list, or None when the field is invalid."""
    if isinstance(raw, str) and raw:
        return [raw]
    if isinstance(raw, list) and raw:
        if all(isinstance(t, int) for t in raw):
            return [raw]
        if all((isinstance(i, str) and i) or (isinstance(i, list) and i) for i in raw):
            return raw
    return None


def embeddings_answer(body: dict[str, Any], inputs: list[Any]) -> dict[str, Any]:
    """An OpenAI embeddings answer: `dimensions` and `encoding_format` honoured, tokens counted as words."""
    dims = body.get("dimensions") or EMBEDDING_DIMS
    data = []
    for i, item in enumerate(inputs):
        vector: Any = embedding_vector(item, dims)
        if body.get("encoding_format") == "base64":
            vector = base64.b64encode(struct.pack(f"<{dims}f", *vector)).decode()
        data.append({"object": "embedding", "index": i, "embedding": vector})
    tokens = sum(len(i.split()) if isinstance(i, str) else len(i) for i in inputs)
    return {"object": "list", "data": data, "model": body.get("model") or "fake-embedding",
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}


def tiny_png() -> bytes:
    """A valid 1x1 PNG."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\x00\xff\x80\x00"))
            + chunk(b"IEND", b""))


def image_error(message: str, param: str | None, code: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": "invalid_request_error", "param": param, "code": code}}


def images_answer(body: dict[str, Any], file_url: str) -> tuple[int, dict[str, Any]]:
    """(status, body) of an OpenAI image generation. GPT image models refuse `response_format` and always
    answer base64 with token usage; DALL-E 3 makes one image per request; `base64` is taken as Together's
    spelling of `b64_json`."""
    model = body.get("model") or "dall-e-2"
    prompt = body.get("prompt")
    if not isinstance(prompt, str) or not prompt:
        return 400, image_error("'prompt' is a required property", "prompt")
    n = body.get("n", 1)
    if not isinstance(n, int) or not 1 <= n <= 10:
        return 400, image_error(f"Invalid value for 'n': {n!r}", "n")
    fmt = body.get("response_format")
    gpt_image = model.startswith("gpt-image")
    if gpt_image and fmt is not None:
        return 400, image_error("Unknown parameter: 'response_format'.", "response_format", "unknown_parameter")
    if model == "dall-e-3" and n != 1:
        return 400, image_error("Invalid 'n': dall-e-3 supports only n=1.", "n")
    if fmt not in (None, "url", "b64_json", "base64"):
        return 400, image_error(f"Invalid value for 'response_format': {fmt!r}", "response_format")
    b64 = gpt_image or fmt in ("b64_json", "base64")
    png = base64.b64encode(tiny_png()).decode()
    data = []
    for i in range(n):
        item: dict[str, Any] = {"b64_json": png} if b64 else {"url": f"{file_url}/img-{i}.png"}
        if model == "dall-e-3":
            item["revised_prompt"] = f"revised: {prompt}"
        data.append(item)
    out: dict[str, Any] = {"created": int(time.time()), "data": data}
    if gpt_image:
        words = len(prompt.split())
        out["usage"] = {"input_tokens": words, "output_tokens": 272 * n, "total_tokens": words + 272 * n,
                        "input_tokens_details": {"text_tokens": words, "image_tokens": 0}}
    return 200, out
