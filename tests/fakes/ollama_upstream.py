"""Fake Ollama chat upstream (``/api/chat`` NDJSON, ``/api/tags``): a real aiohttp server for tests."""

from __future__ import annotations

import argparse
import hashlib
import time
from datetime import UTC, datetime
from typing import Any

import orjson
from aiohttp import web

from tests.fakes.base import ErrorEvent, FakeUpstream, json_response

DEFAULT_MODELS = ["llama3.2", "qwen2.5-coder"]
_NDJSON = "application/x-ndjson"

_ERRORS: dict[int, str] = {
    400: "invalid request",
    401: "unauthorized",
    403: "forbidden",
    404: "model not found",
    429: "too many requests",
    500: "internal server error",
    503: "server busy, please try again. maximum pending requests exceeded",
}


def error_body(status: int, message: str | None = None) -> dict[str, Any]:
    """An Ollama-shaped error body: {"error": "..."}."""
    return {"error": message or _ERRORS.get(status, "upstream error")}


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def _text(content: Any) -> str:
    return content if isinstance(content, str) else ""


def _words(text: str) -> list[str]:
    """Word pieces that concatenate back to `text` (each but the last keeps its trailing space)."""
    parts = text.split(" ")
    return [w + " " if i < len(parts) - 1 else w for i, w in enumerate(parts)]


class Answer:
    """What the fake answers one chat request with: optional thinking, then text or one tool call."""

    def __init__(self, body: dict[str, Any]):
        messages = [m for m in body.get("messages") or [] if isinstance(m, dict)]
        self.model: str = body.get("model") or "llama3.2"
        last = messages[-1] if messages else {}
        user_text = _text(next((m for m in reversed(messages) if m.get("role") == "user"), {}).get("content"))
        self.prompt_eval_count = max(sum(len(_text(m.get("content")).split()) for m in messages), 1)
        self.thinking = f"Thinking about: {user_text}" if body.get("think") not in (None, False) else ""
        tools = [t for t in body.get("tools") or [] if isinstance(t, dict)]
        self.tool_calls: list[dict[str, Any]] = []
        self.text = ""
        if tools and last.get("role") == "user":
            function = tools[0].get("function") if isinstance(tools[0].get("function"), dict) else {}
            name = function.get("name") or "tool"
            self.tool_calls.append({"function": {"name": name, "arguments": {"query": user_text}}})
            generated = orjson.dumps(self.tool_calls[0]["function"]["arguments"]).decode()
        else:
            if last.get("role") == "tool":
                self.text = f"echo: result {_text(last.get('content'))}"
            else:
                self.text = f"echo: {user_text}"
            generated = self.text
        self.eval_count = max(len(generated.split()), 1)
        self.started = time.perf_counter_ns()

    def _line(self, message: dict[str, Any], done: bool) -> dict[str, Any]:
        return {"model": self.model, "created_at": _now(), "message": {"role": "assistant", **message},
                "done": done}

    def final(self, message: dict[str, Any]) -> dict[str, Any]:
        """The done:true object, carrying `message` and the counts."""
        total = max(time.perf_counter_ns() - self.started, 1)
        return {**self._line(message, True), "done_reason": "stop", "total_duration": total,
                "load_duration": 1000, "prompt_eval_count": self.prompt_eval_count,
                "prompt_eval_duration": total // 3, "eval_count": self.eval_count, "eval_duration": total // 2}

    def whole(self) -> dict[str, Any]:
        """The non-streamed answer."""
        message: dict[str, Any] = {"content": self.text}
        if self.thinking:
            message["thinking"] = self.thinking
        if self.tool_calls:
            message["tool_calls"] = self.tool_calls
        return self.final(message)

    def lines(self) -> tuple[list[bytes], bytes]:
        """([content lines], done line), each line one JSON object ending in a newline."""
        objs = [self._line({"content": "", "thinking": w}, False) for w in _words(self.thinking)] \
            if self.thinking else []
        if self.tool_calls:
            objs.append(self._line({"content": "", "tool_calls": self.tool_calls}, False))
        else:
            objs += [self._line({"content": w}, False) for w in _words(self.text)]
        done = orjson.dumps(self.final({"content": ""})) + b"\n"
        return [orjson.dumps(o) + b"\n" for o in objs], done


def tags(models: list[str]) -> dict[str, Any]:
    """An Ollama /api/tags answer."""
    out = []
    for name in models:
        family = name.split(":")[0].rstrip("0123456789.-") or name
        out.append({
            "name": name if ":" in name else name + ":latest", "model": name if ":" in name else name + ":latest",
            "modified_at": "2025-01-01T00:00:00Z", "size": 2019393189,
            "digest": hashlib.sha256(name.encode()).hexdigest(),
            "details": {"parent_model": "", "format": "gguf", "family": family, "families": [family],
                        "parameter_size": "3.2B", "quantization_level": "Q4_K_M"},
        })
    return {"models": out}


class FakeOllama(FakeUpstream):
    """A fake Ollama server with recording, latency and fault injection.

    Keys (optional for Ollama) come from `Authorization: Bearer`; cut_stream_after(n) drops the
    connection after `n` content lines; strict_models=True makes unknown models a 404."""

    name = "fake-ollama"
    description = "Fake Ollama chat upstream"
    default_port = 11434
    api_prefix = ""  # Ollama has no /v1 prefix: a gateway connection uses the root
    default_models = tuple(DEFAULT_MODELS)

    def __init__(self, latency_ms: float = 0, port: int = 0, *, record: bool = True, host: str = "127.0.0.1"):
        super().__init__(latency_ms, port, record=record, host=host)
        self.strict_models = False

    async def _embed(self, request: web.Request) -> web.StreamResponse:
        """``/api/embed``: one vector per input, derived from its text (``dimensions`` honoured)."""
        raw = await request.read()
        body = orjson.loads(raw) if raw else None
        denied, _ = self.admit(request, raw, body)
        if denied is not None:
            return denied
        if not isinstance(body, dict) or not body.get("model") or "input" not in body:
            return web.json_response({"error": "model and input are required"}, status=400)
        inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
        size = body.get("dimensions") if isinstance(body.get("dimensions"), int) else 8
        vectors = [[((sum(map(ord, str(text))) * (i + 1)) % 97) / 97 for i in range(size)] for text in inputs]
        words = sum(len(str(text).split()) for text in inputs)
        return web.json_response({"model": body["model"], "embeddings": vectors, "prompt_eval_count": words})

    def add_routes(self, router: web.UrlDispatcher) -> None:
        router.add_post("/api/chat", self.handle_generate)
        router.add_post("/api/embed", self._embed)
        router.add_get("/api/tags", self.handle_models)
        router.add_get("/api/version", self._version)
        router.add_get("/", self._root)

    def error_body(self, status: int, message: str | None = None) -> dict[str, Any]:
        return error_body(status, message)

    def models_page(self) -> dict[str, Any]:
        return tags(self.models)

    async def _root(self, request: web.Request) -> web.StreamResponse:
        return web.Response(text="Ollama is running")

    async def _version(self, request: web.Request) -> web.StreamResponse:
        return json_response({"version": "0.12.0"})

    def reject(self, headers: dict[str, str], body: Any, ctx: dict[str, Any]) -> web.Response | None:
        if not isinstance(body, dict):
            return self.error(400, "invalid character in request body")
        model = body.get("model")
        if not isinstance(model, str) or not model:
            return self.error(400, "model is required")
        known = {m for name in self.models for m in (name, name.split(":")[0], name + ":latest")}
        if self.strict_models and model not in known:
            return self.error(404, f'model "{model}" not found, try pulling it first')
        if not isinstance(body.get("messages", []), list):
            return self.error(400, "messages must be an array")
        return None

    def is_streaming(self, request: web.Request, body: dict[str, Any], ctx: dict[str, Any]) -> bool:
        return body.get("stream") is not False  # Ollama streams unless told not to

    def stream_error(
        self, request: web.Request, body: dict[str, Any], ctx: dict[str, Any], event: ErrorEvent
    ) -> tuple[str, list[bytes]]:
        # Ollama reports a failure after its 200 as one {"error": "..."} line (the ollama client
        # raises ResponseError on it); `kind` has no place in its wire format.
        return _NDJSON, [orjson.dumps({"error": event.message}) + b"\n"]

    async def answer(
        self, request: web.Request, body: dict[str, Any], streaming: bool, cut: int | None,
        ctx: dict[str, Any],
    ) -> web.StreamResponse:
        answer = Answer(body)
        if not streaming:
            return json_response(answer.whole())
        lines, done = answer.lines()
        if cut is not None:
            return await self.write_stream(request, _NDJSON, lines[:cut], cut=True, no_cache=False)
        chunks = lines + [done] if self.send_done else lines
        return await self.write_stream(request, _NDJSON, chunks, cut=False, no_cache=False)

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--strict-models", action="store_true", help="404 for models not in the list")

    def configure(self, args: argparse.Namespace) -> None:
        self.strict_models = args.strict_models


def main(argv: list[str] | None = None) -> None:
    """Run the fake Ollama server in the foreground until SIGTERM/SIGINT."""
    FakeOllama.main(argv)


if __name__ == "__main__":
    main()
