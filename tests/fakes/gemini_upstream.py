"""Fake Google Gemini (Generative Language API, v1beta) upstream: a real aiohttp server for tests."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web

from tests.fakes.base import ErrorEvent, FakeUpstream, RecordedRequest, bearer, json_response

DEFAULT_MODELS = ["gemini-2.5-pro", "gemini-2.5-flash", "gemini-2.5-flash-lite", "gemini-2.0-flash"]
_JSON = "application/json"
_ACTIONS = {"generateContent": False, "streamGenerateContent": True, "countTokens": False}

_ERRORS: dict[int, tuple[str, str]] = {
    400: ("INVALID_ARGUMENT", "Request contains an invalid argument."),
    401: ("UNAUTHENTICATED", "API key not valid. Please pass a valid API key."),
    403: ("PERMISSION_DENIED", "Method doesn't allow unregistered callers."),
    404: ("NOT_FOUND", "Requested entity was not found."),
    429: ("RESOURCE_EXHAUSTED", "Resource has been exhausted (e.g. check quota)."),
    500: ("INTERNAL", "An internal error has occurred."),
    503: ("UNAVAILABLE", "The model is overloaded. Please try again later."),
}


_CODES = {kind: status for status, (kind, _) in _ERRORS.items()}


def stream_error_body(message: str, kind: str) -> dict[str, Any]:
    """The error object Gemini streams in place of a chunk: 503 UNAVAILABLE unless `kind` names
    another Google status (e.g. RESOURCE_EXHAUSTED: 429)."""
    status = kind if kind in _CODES else "UNAVAILABLE"
    return {"error": {"code": _CODES[status], "message": message, "status": status}}


def error_body(status: int, message: str | None = None) -> dict[str, Any]:
    """Return a Google-shaped error body {"error": {"code", "message", "status"}}."""
    default = ("INTERNAL" if status >= 500 else "FAILED_PRECONDITION", "Upstream error")
    kind, text = _ERRORS.get(status, default)
    return {"error": {"code": status, "message": message or text, "status": kind}}


@dataclass
class RecordedGeminiRequest(RecordedRequest):
    """A RecordedRequest plus the model and action from the URL and the query parameters."""

    model: str | None = None
    action: str | None = None
    query: dict[str, str] = field(default_factory=dict)


def _api_key(headers: dict[str, str], query: dict[str, str]) -> str | None:
    """The key from `x-goog-api-key`, else `?key=`, else `Authorization: Bearer` (OAuth callers)."""
    key = headers.get("x-goog-api-key", "").strip() or query.get("key", "").strip()
    return key or bearer(headers)


def parts_text(content: Any) -> str:
    """The text parts (thoughts excluded) of a Content object, joined by spaces."""
    parts = content.get("parts") if isinstance(content, dict) else None
    return " ".join(
        p["text"] for p in parts or []
        if isinstance(p, dict) and isinstance(p.get("text"), str) and not p.get("thought")
    )


def count_words(request: dict[str, Any]) -> int:
    """The fake's token count: words of every text part, system instruction included, plus 3."""
    contents = [*request.get("contents", []), request.get("systemInstruction")]
    return sum(len(parts_text(c).split()) for c in contents) + 3


def _validate(body: Any) -> str | None:
    """Return the message of a 400 for an invalid GenerateContentRequest, or None."""
    if not isinstance(body, dict):
        return "Invalid JSON payload received."
    contents = body.get("contents")
    if not isinstance(contents, list) or not contents:
        return "* GenerateContentRequest.contents: contents is not specified"
    if not all(isinstance(c, dict) and isinstance(c.get("parts"), list) for c in contents):
        return "* GenerateContentRequest.contents: parts is required"
    return None


def _first_function(body: dict[str, Any]) -> str | None:
    """The function the fake calls: the first declared (or first allowed under mode ANY), or None."""
    names = [d.get("name") for t in body.get("tools") or [] if isinstance(t, dict)
             for d in t.get("functionDeclarations") or [] if isinstance(d, dict) and d.get("name")]
    tool_config = body.get("toolConfig") if isinstance(body.get("toolConfig"), dict) else {}
    calling = tool_config.get("functionCallingConfig") or {}
    if not names or str(calling.get("mode", "")).upper() == "NONE":
        return None
    allowed = [n for n in calling.get("allowedFunctionNames") or [] if n in names]
    return allowed[0] if allowed else names[0]


def _word_chunks(text: str) -> list[str]:
    """Split text into pieces that concatenate back to it (a trailing space on all but the last)."""
    words = text.split(" ")
    return [w + " " if i < len(words) - 1 else w for i, w in enumerate(words)]


class Answer:
    """What the fake answers to one generateContent request: optional thought, then text or one call."""

    def __init__(self, body: dict[str, Any], model: str):
        contents = [c for c in body["contents"] if isinstance(c, dict)]
        self.model = model
        self.id = secrets.token_urlsafe(16)
        last_user = next((c for c in reversed(contents) if c.get("role", "user") == "user"), {})
        parts = [p for p in last_user.get("parts") or [] if isinstance(p, dict)]
        responses = [p["functionResponse"] for p in parts if isinstance(p.get("functionResponse"), dict)]
        user_text = parts_text(last_user)
        system = body.get("systemInstruction")
        self.cached = 100 if "CACHE" in parts_text(system) else 0
        words = sum(len(parts_text(c).split()) for c in contents if c.get("role", "user") in ("user", "model"))
        self.prompt_tokens = max(words, 1) + self.cached
        config = body.get("generationConfig") if isinstance(body.get("generationConfig"), dict) else {}
        thinking = config.get("thinkingConfig") if isinstance(config.get("thinkingConfig"), dict) else {}
        # Google parses proto JSON, so snake_case is accepted too (some google-genai versions send it).
        wants_thoughts = thinking.get("includeThoughts") or thinking.get("include_thoughts")
        self.thought = f"Thinking about: {user_text}" if wants_thoughts else None
        function = None if responses else _first_function(body)
        self.call: dict[str, Any] | None = None
        self.text = ""
        if function is not None:
            self.call = {"name": function, "args": {"query": user_text}}
            answer_words = orjson.dumps(self.call["args"]).decode()
        else:
            response = responses[0].get("response") if responses else None
            self.text = f"echo: result {orjson.dumps(response).decode()}" if responses else f"echo: {user_text}"
            answer_words = self.text
        self.output_tokens = max(len(answer_words.split()), 1)
        self.thought_tokens = len(self.thought.split()) if self.thought else 0

    def usage(self) -> dict[str, int]:
        """The usageMetadata object (promptTokenCount includes cached tokens, as Gemini reports it)."""
        usage = {"promptTokenCount": self.prompt_tokens, "candidatesTokenCount": self.output_tokens,
                 "totalTokenCount": self.prompt_tokens + self.output_tokens + self.thought_tokens}
        if self.thought_tokens:
            usage["thoughtsTokenCount"] = self.thought_tokens
        if self.cached:
            usage["cachedContentTokenCount"] = self.cached
        return usage

    def chunk(self, parts: list[dict[str, Any]], *, final: bool) -> dict[str, Any]:
        """One GenerateContentResponse; `final` adds finishReason and usageMetadata."""
        candidate: dict[str, Any] = {"content": {"parts": parts, "role": "model"}, "index": 0}
        out: dict[str, Any] = {"candidates": [candidate]}
        if final:
            candidate["finishReason"] = "STOP"
            out["usageMetadata"] = self.usage()
        out["modelVersion"] = self.model
        out["responseId"] = self.id
        return out

    def parts(self) -> list[dict[str, Any]]:
        """Every part of the complete answer."""
        out: list[dict[str, Any]] = [{"text": self.thought, "thought": True}] if self.thought else []
        out.append({"functionCall": self.call} if self.call else {"text": self.text})
        return out

    def response(self) -> dict[str, Any]:
        """The full non-streaming GenerateContentResponse."""
        return self.chunk(self.parts(), final=True)

    def stream_parts(self) -> list[list[dict[str, Any]]]:
        """The parts of each streamed chunk: one word of text per chunk, a function call whole."""
        out = [[{"text": w, "thought": True}] for w in _word_chunks(self.thought)] if self.thought else []
        if self.call:
            out.append([{"functionCall": self.call}])
        else:
            out += [[{"text": w}] for w in _word_chunks(self.text)]
        return out


def models_list(models: list[str]) -> dict[str, Any]:
    """Return a v1beta ListModels page."""
    return {"models": [model_info(m) for m in models]}


def model_info(model: str) -> dict[str, Any]:
    """Return one v1beta Model resource."""
    return {"name": f"models/{model}", "version": "001", "displayName": model.replace("-", " ").title(),
            "inputTokenLimit": 1048576, "outputTokenLimit": 65536, "thinking": True,
            "supportedGenerationMethods": ["generateContent", "countTokens", "streamGenerateContent"]}


class FakeGemini(FakeUpstream):
    """A fake Gemini upstream with recording, latency and fault injection.

    `url` is what google-genai takes as base_url; send_done=False leaves the finishReason off the last
    streamed chunk; cut_stream_after(n) drops the connection after `n` chunks (never the finishReason
    chunk); known_models_only=True makes generateContent on a model not in `models` a 404."""

    name = "fake-gemini"
    description = "Fake Google Gemini (v1beta) upstream"
    default_port = 18082
    api_prefix = "/v1beta"
    default_models = tuple(DEFAULT_MODELS)
    requests: list[RecordedGeminiRequest]

    def __init__(self, latency_ms: float = 0, port: int = 0, *, record: bool = True, host: str = "127.0.0.1"):
        super().__init__(latency_ms, port, record=record, host=host)
        self.known_models_only = False
        self.counted: int | None = None  # the last countTokens answer

    def add_routes(self, router: web.UrlDispatcher) -> None:
        # Google serves the same resources under /v1 and /v1alpha too (google-genai picks per client).
        for version in ("v1beta", "v1", "v1alpha"):
            router.add_get(f"/{version}/models", self.handle_models)
            router.add_get(f"/{version}/models/{{name:.+}}", self._model)
            router.add_post(f"/{version}/models/{{target:.+}}", self.handle_generate)

    def api_key(self, request: web.Request, headers: dict[str, str]) -> str | None:
        return _api_key(headers, dict(request.query))

    def error_body(self, status: int, message: str | None = None) -> dict[str, Any]:
        return error_body(status, message)

    def recorded(
        self, request: web.Request, headers: dict[str, str], raw: bytes, body: Any, key: str | None,
        ctx: dict[str, Any],
    ) -> RecordedGeminiRequest:
        return RecordedGeminiRequest(request.method, request.path, headers, body, raw, key,
                                     ctx.get("model"), ctx.get("action"), dict(request.query))

    def models_page(self) -> dict[str, Any]:
        return models_list(self.models)

    async def _model(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        denied, _ = self.admit(request, b"", None, {"model": name})
        if denied is not None:
            return denied
        if name not in self.models:
            return self.error(404, f"models/{name} is not found for API version v1beta")
        return json_response(model_info(name))

    def request_context(self, request: web.Request) -> dict[str, Any]:
        model, _, action = request.match_info["target"].rpartition(":")
        return {"model": model or None, "action": action}

    def reject(self, headers: dict[str, str], body: Any, ctx: dict[str, Any]) -> web.Response | None:
        model, action = ctx["model"], ctx["action"]
        if not model or action not in _ACTIONS:
            return self.error(404, f"Method not found: {action or '(none)'}")
        if self.known_models_only and model not in self.models:
            return self.error(404, f"models/{model} is not found for API version v1beta")
        if action == "countTokens" and isinstance(body, dict) and isinstance(body.get("generateContentRequest"), dict):
            body = body["generateContentRequest"]
        problem = _validate(body)
        return None if problem is None else self.error(400, problem)

    def is_streaming(self, request: web.Request, body: dict[str, Any], ctx: dict[str, Any]) -> bool:
        return _ACTIONS[ctx["action"]]

    def stream_error(
        self, request: web.Request, body: dict[str, Any], ctx: dict[str, Any], event: ErrorEvent
    ) -> tuple[str, list[bytes]]:
        # The error object stands in for the first chunk (google-genai raises APIError on it).
        error = orjson.dumps(stream_error_body(event.message, event.kind))
        if request.query.get("alt") == "sse":
            return "text/event-stream", [b"data: " + error + b"\n\n"]
        return _JSON, [b"[" + error + b"]"]

    async def answer(
        self, request: web.Request, body: dict[str, Any], streaming: bool, cut: int | None,
        ctx: dict[str, Any],
    ) -> web.StreamResponse:
        if ctx["action"] == "countTokens":
            request = body.get("generateContentRequest") or body
            self.counted = count_words(request)
            return json_response({"totalTokens": self.counted})
        answer = Answer(body, ctx["model"])
        if not streaming:
            return json_response(answer.response())
        pieces = answer.stream_parts()
        last = len(pieces) - 1
        finish = self.send_done and cut is None
        chunks = [answer.chunk(p, final=finish and i == last) for i, p in enumerate(pieces)]
        if cut is not None:
            chunks = chunks[:cut]
        if request.query.get("alt") == "sse":
            events = [b"data: " + orjson.dumps(c) + b"\n\n" for c in chunks]
            return await self.write_stream(request, "text/event-stream", events, cut=cut is not None)
        # Without alt=sse Gemini streams one JSON array, element by element.
        events = [(b"[" if i == 0 else b",\r\n") + orjson.dumps(c) for i, c in enumerate(chunks)]
        return await self.write_stream(request, _JSON, events, cut=cut is not None,
                                       end=b"]" if events else b"[]")


def main(argv: list[str] | None = None) -> None:
    """Run the fake upstream in the foreground until SIGTERM/SIGINT."""
    FakeGemini.main(argv)


if __name__ == "__main__":
    main()
