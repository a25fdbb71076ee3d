"""Fake Google Gemini (Generative Language API, v1beta) upstream: a real aiohttp server for tests."""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import logging
import secrets
import signal
import threading
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web

from tests.fakes.openai_upstream import RecordedRequest, _Fault

DEFAULT_MODELS = ["gemini-2.5-pro", "gemini-2.5-flash", "gemini-2.5-flash-lite", "gemini-2.0-flash"]
_JSON = "application/json"
_ACTIONS = {"generateContent": False, "streamGenerateContent": True}

_ERRORS: dict[int, tuple[str, str]] = {
    400: ("INVALID_ARGUMENT", "Request contains an invalid argument."),
    401: ("UNAUTHENTICATED", "API key not valid. Please pass a valid API key."),
    403: ("PERMISSION_DENIED", "Method doesn't allow unregistered callers."),
    404: ("NOT_FOUND", "Requested entity was not found."),
    429: ("RESOURCE_EXHAUSTED", "Resource has been exhausted (e.g. check quota)."),
    500: ("INTERNAL", "An internal error has occurred."),
    503: ("UNAVAILABLE", "The model is overloaded. Please try again later."),
}


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


def _json_response(obj: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(body=orjson.dumps(obj), status=status, content_type=_JSON, headers=headers)


def _api_key(headers: dict[str, str], query: dict[str, str]) -> str | None:
    """The key from `x-goog-api-key`, else `?key=`, else `Authorization: Bearer` (OAuth callers)."""
    key = headers.get("x-goog-api-key", "").strip() or query.get("key", "").strip()
    if key:
        return key
    scheme, _, token = headers.get("authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def parts_text(content: Any) -> str:
    """The text parts (thoughts excluded) of a Content object, joined by spaces."""
    parts = content.get("parts") if isinstance(content, dict) else None
    return " ".join(
        p["text"] for p in parts or []
        if isinstance(p, dict) and isinstance(p.get("text"), str) and not p.get("thought")
    )


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


class FakeGemini:
    """A fake Gemini upstream with recording, latency and fault injection."""

    def __init__(self, latency_ms: float = 0, port: int = 0, *, record: bool = True, host: str = "127.0.0.1"):
        self.host = host
        self.port = port
        self.latency_ms = latency_ms
        self.chunk_delay_ms: float = 0
        self.send_done = True  # False: the last streamed chunk carries no finishReason
        self.record = record
        self.models: list[str] = list(DEFAULT_MODELS)
        self.known_models_only = False  # True: generateContent on a model not in `models` is a 404
        self.valid_keys: set[str] | None = None
        self.requests: list[RecordedGeminiRequest] = []
        self.cancelled = 0
        self._faults: collections.deque[_Fault] = collections.deque()
        self._key_faults: dict[str, int] = {}
        self._cuts: collections.deque[int] = collections.deque()
        self._hangs: collections.deque[float] = collections.deque()
        self._runner: web.AppRunner | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """Root URL, e.g. http://127.0.0.1:PORT (what google-genai takes as base_url)."""
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        """Root + /v1beta."""
        return self.url + "/v1beta"

    def clear(self) -> None:
        """Forget recorded requests and every pending fault."""
        self.requests.clear()
        self._faults.clear()
        self._key_faults.clear()
        self._cuts.clear()
        self._hangs.clear()
        self.cancelled = 0

    def fail_next(
        self, status: int, body: dict | None = None, count: int = 1, headers: dict | None = None,
        raw: bytes | None = None,
    ) -> None:
        """Make the next `count` generate requests fail with `status` (Google-shaped body by default;
        `raw` sends those exact bytes instead, e.g. an HTML error page)."""
        for _ in range(count):
            self._faults.append(_Fault(status, body, headers, raw))

    def fail_for_key(self, key: str, status: int) -> None:
        """Make every request authenticated with `key` fail with `status` until clear()."""
        self._key_faults[key] = status

    def cut_stream_after(self, n_chunks: int) -> None:
        """Make the next streaming answer drop the connection after `n_chunks` chunks (never the
        finishReason chunk)."""
        self._cuts.append(n_chunks)

    def hang_next(self, seconds: float) -> None:
        """Delay the next generate answer by `seconds` (on top of latency_ms)."""
        self._hangs.append(seconds)

    def make_app(self) -> web.Application:
        """Build the aiohttp application serving the fake routes."""
        app = web.Application(client_max_size=64 * 1024 * 1024)
        # Google serves the same resources under /v1 and /v1alpha too (google-genai picks per client).
        for version in ("v1beta", "v1", "v1alpha"):
            app.router.add_get(f"/{version}/models", self._models)
            app.router.add_get(f"/{version}/models/{{name:.+}}", self._model)
            app.router.add_post(f"/{version}/models/{{target:.+}}", self._generate)
        return app

    async def start_async(self) -> None:
        """Start listening on the running event loop."""
        # handler_cancellation: a client disconnect cancels the handler so `cancelled` counts it.
        self._runner = web.AppRunner(
            self.make_app(), access_log=None, handler_cancellation=True, shutdown_timeout=0.5
        )
        await self._runner.setup()
        await web.TCPSite(self._runner, self.host, self.port, backlog=1024).start()
        self.port = self._runner.addresses[0][1]

    async def stop_async(self) -> None:
        """Stop listening and close open connections."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def start(self) -> FakeGemini:
        """Run the server in a daemon thread with its own loop; return once listening."""
        if self._thread is not None:
            return self
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="fake-gemini", daemon=True)
        self._thread.start()
        try:
            asyncio.run_coroutine_threadsafe(self.start_async(), self._loop).result(timeout=10)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop the server thread (idempotent)."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(self.stop_async(), loop).result(timeout=5)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=5)
        loop.close()
        self._loop = None
        self._thread = None

    def __enter__(self) -> FakeGemini:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _admit(self, request: web.Request, raw: bytes, body: Any, model: str | None = None,
               action: str | None = None) -> web.Response | None:
        """Record the request and apply auth; return an error response or None."""
        headers = {k.lower(): v for k, v in request.headers.items()}
        query = dict(request.query)
        key = _api_key(headers, query)
        if self.record:
            self.requests.append(RecordedGeminiRequest(
                request.method, request.path, headers, body, raw, key, model, action, query))
        if self.valid_keys is not None and key not in self.valid_keys:
            return _json_response(error_body(401), 401)
        if key is not None and key in self._key_faults:
            status = self._key_faults[key]
            return _json_response(error_body(status), status)
        return None

    async def _models(self, request: web.Request) -> web.StreamResponse:
        return self._admit(request, b"", None) or _json_response(models_list(self.models))

    async def _model(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        denied = self._admit(request, b"", None, name)
        if denied is not None:
            return denied
        if name not in self.models:
            return _json_response(error_body(404, f"models/{name} is not found for API version v1beta"), 404)
        return _json_response(model_info(name))

    async def _generate(self, request: web.Request) -> web.StreamResponse:
        model, _, action = request.match_info["target"].rpartition(":")
        raw = await request.read()
        try:
            body = orjson.loads(raw) if raw else None
        except orjson.JSONDecodeError:
            body = None
        denied = self._admit(request, raw, body, model or None, action)
        if denied is not None:
            return denied
        if not model or action not in _ACTIONS:
            return _json_response(error_body(404, f"Method not found: {action or '(none)'}"), 404)
        if self.known_models_only and model not in self.models:
            return _json_response(error_body(404, f"models/{model} is not found for API version v1beta"), 404)
        problem = _validate(body)
        if problem is not None:
            return _json_response(error_body(400, problem), 400)
        # Faults are taken at arrival time so concurrent requests consume them in order.
        fault = self._faults.popleft() if self._faults else None
        hang = self._hangs.popleft() if self._hangs else 0.0
        streaming = _ACTIONS[action]
        cut = self._cuts.popleft() if streaming and self._cuts else None
        try:
            delay = self.latency_ms / 1000 + hang
            if delay > 0:
                await asyncio.sleep(delay)
            if fault is not None and fault.raw is not None:
                return web.Response(body=fault.raw, status=fault.status, content_type="text/html",
                                    headers=fault.headers)
            if fault is not None:
                return _json_response(fault.body or error_body(fault.status), fault.status, fault.headers)
            answer = Answer(body, model)
            if not streaming:
                return _json_response(answer.response())
            return await self._stream(request, answer, cut, request.query.get("alt") == "sse")
        except (asyncio.CancelledError, ConnectionResetError):
            self.cancelled += 1
            raise

    async def _stream(self, request: web.Request, answer: Answer, cut: int | None, sse: bool) -> web.StreamResponse:
        pieces = answer.stream_parts()
        last = len(pieces) - 1
        finish = self.send_done and cut is None
        chunks = [answer.chunk(p, final=finish and i == last) for i, p in enumerate(pieces)]
        if cut is not None:
            chunks = chunks[:cut]
        if sse:
            events = [b"data: " + orjson.dumps(c) + b"\n\n" for c in chunks]
            kind = "text/event-stream"
        else:  # without alt=sse Gemini streams one JSON array, element by element
            events = [(b"[" if i == 0 else b",\r\n") + orjson.dumps(c) for i, c in enumerate(chunks)]
            kind = _JSON
        resp = web.StreamResponse(headers={"Content-Type": kind, "Cache-Control": "no-cache"})
        await resp.prepare(request)
        delay = self.chunk_delay_ms / 1000
        for i, event in enumerate(events):
            if delay > 0 and i > 0:
                await asyncio.sleep(delay)
            await resp.write(event)  # one write per event: each reaches the client as its own chunk
        if cut is not None:
            # Close the socket mid-body: the chunked response never terminates, like a dying upstream.
            if request.transport is not None:
                request.transport.close()
            return resp
        if not sse:
            await resp.write(b"]" if events else b"[]")
        await resp.write_eof()
        return resp


async def _serve_forever(fake: FakeGemini) -> None:
    await fake.start_async()
    print(f"fake-gemini listening on {fake.url}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await fake.stop_async()


def main(argv: list[str] | None = None) -> None:
    """Run the fake upstream in the foreground until SIGTERM/SIGINT."""
    parser = argparse.ArgumentParser(description="Fake Google Gemini (v1beta) upstream")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=18082)
    parser.add_argument("--latency-ms", type=float, default=0)
    parser.add_argument("--chunk-delay-ms", type=float, default=0)
    parser.add_argument("--no-record", action="store_true", help="do not keep requests (benchmarks)")
    args = parser.parse_args(argv)
    logging.getLogger("aiohttp.access").disabled = True
    fake = FakeGemini(args.latency_ms, args.port, record=not args.no_record, host=args.host)
    fake.chunk_delay_ms = args.chunk_delay_ms
    try:
        import uvloop
    except ImportError:
        asyncio.run(_serve_forever(fake))
    else:
        uvloop.run(_serve_forever(fake))


if __name__ == "__main__":
    main()
