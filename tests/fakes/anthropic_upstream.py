"""Fake Anthropic Messages upstream: a real aiohttp server for tests and benchmarks."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

import orjson
from aiohttp import web

from tests.fakes.base import ErrorEvent, FakeUpstream, RecordedRequest, bearer, json_response
from tests.fakes.openai_answers import split_fragments

DEFAULT_MODELS = ["claude-sonnet-4-5", "claude-opus-4-1", "claude-3-5-haiku-latest"]

_ERRORS: dict[int, tuple[str, str]] = {
    400: ("invalid_request_error", "Invalid request"),
    401: ("authentication_error", "invalid x-api-key"),
    403: ("permission_error", "Your API key does not have permission to use the specified resource."),
    404: ("not_found_error", "The requested resource could not be found."),
    413: ("request_too_large", "Request exceeds the maximum allowed number of bytes."),
    429: ("rate_limit_error", "Number of request tokens has exceeded your per-minute rate limit"),
    500: ("api_error", "Internal server error"),
    529: ("overloaded_error", "Overloaded"),
}


def error_body(status: int, message: str | None = None) -> dict[str, Any]:
    """Return an Anthropic-shaped error body for an HTTP status."""
    default = ("api_error" if status >= 500 else "invalid_request_error", "Upstream error")
    kind, text = _ERRORS.get(status, default)
    return {"type": "error", "error": {"type": kind, "message": message or text}}


@dataclass
class RecordedAnthropicRequest(RecordedRequest):
    """A RecordedRequest that also keeps the `anthropic-version` header."""

    anthropic_version: str | None = None


def _api_key(headers: dict[str, str]) -> str | None:
    """The key from `x-api-key`, else from `Authorization: Bearer`."""
    key = headers.get("x-api-key", "").strip()
    return key or bearer(headers)


_COUNT_FIELDS = {"model", "messages", "system", "tools", "tool_choice", "thinking", "mcp_servers"}


def block_text(content: Any) -> str:
    """Flatten a content value (string or list of blocks) to the text of its text blocks."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(
            b["text"] for b in content
            if isinstance(b, dict) and b.get("type") == "text" and isinstance(b.get("text"), str)
        )
    return ""


def _validate(body: Any) -> str | None:
    """Return the message of a 400 for an invalid Messages body, or None."""
    if not isinstance(body, dict):
        return "There was an error parsing the body of your request as JSON."
    for field, kind, what in (("model", str, "string"), ("max_tokens", int, "integer"), ("messages", list, "list")):
        if field not in body:
            return f"{field}: Field required"
        if not isinstance(body[field], kind) or isinstance(body[field], bool):
            return f"{field}: Input should be a valid {what}"
    thinking = body.get("thinking")
    if isinstance(thinking, dict) and thinking.get("type") == "enabled":
        last = next((m for m in reversed(body["messages"]) if isinstance(m, dict) and m.get("role") == "assistant"),
                    None)
        content = last.get("content") if last else None
        blocks = [b for b in content if isinstance(b, dict)] if isinstance(content, list) else []
        if any(b.get("type") == "tool_use" for b in blocks) and blocks[0].get("type") not in (
                "thinking", "redacted_thinking"):
            # The real API's rule for tool loops with thinking on.
            return ("messages: Expected `thinking` or `redacted_thinking`, but found `tool_use`. When `thinking` "
                    "is enabled, a final `assistant` message must start with a thinking block")
    return None


def _sse(kind: str, **fields: Any) -> bytes:
    """Encode one SSE event whose data is {"type": kind, **fields}."""
    return b"event: " + kind.encode() + b"\ndata: " + orjson.dumps({"type": kind, **fields}) + b"\n\n"


def _words(text: str) -> list[str]:
    """Split text into word deltas that concatenate back to it (leading space on all but the first)."""
    return [w if i == 0 else " " + w for i, w in enumerate(text.split(" "))]


class Answer:
    """What the fake answers to one Messages request: optional thinking, then text or one tool_use."""

    def __init__(self, body: dict[str, Any]):
        messages = [m for m in body.get("messages") or [] if isinstance(m, dict)]
        self.model: str = body.get("model") or "claude-fake"
        self.id = "msg_fake" + secrets.token_hex(12)
        content = next((m for m in reversed(messages) if m.get("role") == "user"), {}).get("content")
        blocks = content if isinstance(content, list) else []
        results = [b for b in blocks if isinstance(b, dict) and b.get("type") == "tool_result"]
        user_text = block_text(content)
        self.input_tokens = max(sum(len(block_text(m.get("content")).split()) for m in messages), 1)
        cached = "CACHE" in block_text(body.get("system"))
        self.cache_read, self.cache_creation = (100, 50) if cached else (0, 0)
        self.blocks: list[dict[str, Any]] = []
        thinking = body.get("thinking")
        if isinstance(thinking, dict) and thinking.get("type") == "enabled":
            sig = "sig-" + secrets.token_hex(16)
            self.blocks.append({"type": "thinking", "thinking": f"Thinking about: {user_text}", "signature": sig})
        tools = [t for t in body.get("tools") or [] if isinstance(t, dict)]
        choice = body.get("tool_choice") if isinstance(body.get("tool_choice"), dict) else {}
        if tools and choice.get("type") != "none" and not results:
            tool = tools[0]
            if choice.get("type") == "tool":  # a forced tool is honoured when it is declared
                tool = next((t for t in tools if t.get("name") == choice.get("name")), tool)
            tool_id, name = "toolu_fake" + secrets.token_hex(10), tool.get("name") or "tool"
            # The user's text goes in the tool's first declared property ("query" when it declares none).
            properties = (tool.get("input_schema") or {}).get("properties") or {}
            key = next(iter(properties), "query") if isinstance(properties, dict) else "query"
            self.blocks.append({"type": "tool_use", "id": tool_id, "name": name, "input": {key: user_text}})
            self.stop_reason = "tool_use"
        else:
            text = f"echo: result {block_text(results[0].get('content'))}" if results else f"echo: {user_text}"
            self.blocks.append({"type": "text", "text": text})
            self.stop_reason = "end_turn"
        # Output tokens: words of every generated block (thinking, text, tool input JSON).
        self.output_tokens = max(sum(len(self._words_of(b).split()) for b in self.blocks), 1)

    @staticmethod
    def _words_of(block: dict[str, Any]) -> str:
        if block["type"] == "tool_use":
            return orjson.dumps(block["input"]).decode()
        return block.get("text") or block.get("thinking") or ""

    def usage(self, output_tokens: int) -> dict[str, int]:
        """Return the usage object with the given output token count."""
        return {
            "input_tokens": self.input_tokens, "output_tokens": output_tokens,
            "cache_creation_input_tokens": self.cache_creation, "cache_read_input_tokens": self.cache_read,
        }

    def message(self) -> dict[str, Any]:
        """Return the full non-streaming Message object."""
        return self._envelope(self.blocks, self.stop_reason, self.output_tokens)

    def _envelope(self, content: list[dict[str, Any]], stop: str | None, out: int) -> dict[str, Any]:
        return {
            "id": self.id, "type": "message", "role": "assistant", "model": self.model, "content": content,
            "stop_reason": stop, "stop_sequence": None, "usage": self.usage(out),
        }

    def stream_events(self) -> tuple[list[tuple[bool, bytes]], list[bytes]]:
        """Return ([(is_content_delta, event)] up to the last content_block_stop, [closing events])."""
        out = [(False, _sse("message_start", message=self._envelope([], None, 1))), (False, _sse("ping"))]
        for index, block in enumerate(self.blocks):
            if block["type"] == "thinking":
                start = {"type": "thinking", "thinking": "", "signature": ""}
                deltas = [{"type": "thinking_delta", "thinking": w} for w in _words(block["thinking"])]
                deltas.append({"type": "signature_delta", "signature": block["signature"]})
            elif block["type"] == "tool_use":
                start = {**block, "input": {}}
                raw = orjson.dumps(block["input"]).decode()
                deltas = [{"type": "input_json_delta", "partial_json": f} for f in split_fragments(raw, 3)]
            else:
                start = {"type": "text", "text": ""}
                deltas = [{"type": "text_delta", "text": w} for w in _words(block["text"])]
            out.append((False, _sse("content_block_start", index=index, content_block=start)))
            out += [(True, _sse("content_block_delta", index=index, delta=d)) for d in deltas]
            out.append((False, _sse("content_block_stop", index=index)))
        tail = [
            _sse("message_delta", delta={"stop_reason": self.stop_reason, "stop_sequence": None},
                 usage={"output_tokens": self.output_tokens}),
            _sse("message_stop"),
        ]
        return out, tail


def models_list(models: list[str]) -> dict[str, Any]:
    """Return an Anthropic /v1/models page."""
    data = [
        {"type": "model", "id": m, "display_name": m.replace("-", " ").title(),
         "created_at": "2025-01-01T00:00:00Z", "lifecycle": "active"}
        for m in models
    ]
    first, last = (data[0]["id"], data[-1]["id"]) if data else (None, None)
    return {"data": data, "has_more": False, "first_id": first, "last_id": last}


class FakeAnthropic(FakeUpstream):
    """A fake Anthropic upstream with recording, latency and fault injection.

    `url` is what the anthropic SDK takes as base_url; send_done=False omits the final message_stop;
    cut_stream_after(n) drops the connection after `n` content deltas."""

    name = "fake-anthropic"
    description = "Fake Anthropic Messages upstream"
    default_port = 18081
    default_models = tuple(DEFAULT_MODELS)
    requests: list[RecordedAnthropicRequest]
    counted: int | None = None  # the last count_tokens answer

    def add_routes(self, router: web.UrlDispatcher) -> None:
        router.add_post("/v1/messages", self.handle_generate)
        router.add_post("/v1/messages/count_tokens", self._count_tokens)
        router.add_get("/v1/models", self.handle_models)

    async def _count_tokens(self, request: web.Request) -> web.StreamResponse:
        """The token counter: words of the system prompt and every message, plus 5."""
        raw = await request.read()
        body = orjson.loads(raw) if raw else None
        denied, _ = self.admit(request, raw, body)
        if denied is not None:
            return denied
        if not isinstance(body, dict) or not isinstance(body.get("messages"), list) or not body.get("model"):
            return self.error(400, "model and messages: Field required")
        extra = sorted(set(body) - _COUNT_FIELDS)
        if extra:  # the real endpoint refuses fields of /v1/messages that do not affect the count
            return self.error(400, f"{extra[0]}: Extra inputs are not permitted")
        texts = [block_text(body.get("system")), *(block_text(m.get("content")) for m in body["messages"])]
        self.counted = sum(len(t.split()) for t in texts) + 5
        return json_response({"input_tokens": self.counted})

    def api_key(self, request: web.Request, headers: dict[str, str]) -> str | None:
        return _api_key(headers)

    def error_body(self, status: int, message: str | None = None) -> dict[str, Any]:
        return error_body(status, message)

    def recorded(
        self, request: web.Request, headers: dict[str, str], raw: bytes, body: Any, key: str | None,
        ctx: dict[str, Any],
    ) -> RecordedAnthropicRequest:
        return RecordedAnthropicRequest(
            request.method, request.path, headers, body, raw, key, headers.get("anthropic-version"),
        )

    def models_page(self) -> dict[str, Any]:
        return models_list(self.models)

    def reject(self, headers: dict[str, str], body: Any, ctx: dict[str, Any]) -> web.Response | None:
        if not headers.get("anthropic-version"):
            return self.error(400, "anthropic-version: header is required")
        problem = _validate(body)
        return None if problem is None else self.error(400, problem)

    def is_streaming(self, request: web.Request, body: dict[str, Any], ctx: dict[str, Any]) -> bool:
        return body.get("stream") is True

    def stream_error(
        self, request: web.Request, body: dict[str, Any], ctx: dict[str, Any], event: ErrorEvent
    ) -> tuple[str, list[bytes]]:
        # message_start, then `event: error` (e.g. overloaded_error mid-stream), then the body ends.
        start = _sse("message_start", message=Answer(body)._envelope([], None, 1))
        error = _sse("error", error={"type": event.kind, "message": event.message})
        return "text/event-stream", [start, error]

    async def answer(
        self, request: web.Request, body: dict[str, Any], streaming: bool, cut: int | None,
        ctx: dict[str, Any],
    ) -> web.StreamResponse:
        answer = Answer(body)
        if not streaming:
            return json_response(answer.message())
        events, tail = answer.stream_events()
        if cut is None:
            chunks = [event for _, event in events] + (tail if self.send_done else tail[:-1])
        else:  # up to the cut-th content delta (before the first one for 0); never the closing events
            chunks, seen = [], 0
            for is_delta, event in events:
                if seen >= cut and (is_delta or cut > 0):
                    break
                chunks.append(event)
                seen += is_delta
        return await self.write_stream(request, "text/event-stream", chunks, cut=cut is not None)


def main(argv: list[str] | None = None) -> None:
    """Run the fake upstream in the foreground until SIGTERM/SIGINT."""
    FakeAnthropic.main(argv)


if __name__ == "__main__":
    main()
