"""Fake Ollama chat upstream (``/api/chat`` NDJSON, ``/api/tags``): a real aiohttp server for tests."""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import hashlib
import logging
import signal
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from aiohttp import web

from tests.fakes.openai_upstream import RecordedRequest

DEFAULT_MODELS = ["llama3.2", "qwen2.5-coder"]
_JSON = "application/json"
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


@dataclass
class _Fault:
    status: int
    body: dict[str, Any] | None
    headers: dict[str, str] | None
    raw: bytes | None = None


def _json_response(obj: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(body=orjson.dumps(obj), status=status, content_type=_JSON, headers=headers)


def _bearer(headers: dict[str, str]) -> str | None:
    scheme, _, token = headers.get("authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


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


class FakeOllama:
    """A fake Ollama server with recording, latency and fault injection."""

    def __init__(self, latency_ms: float = 0, port: int = 0, *, record: bool = True, host: str = "127.0.0.1"):
        self.host = host
        self.port = port
        self.latency_ms = latency_ms
        self.chunk_delay_ms: float = 0
        self.send_done = True
        self.record = record
        self.models: list[str] = list(DEFAULT_MODELS)
        self.strict_models = False
        self.valid_keys: set[str] | None = None
        self.requests: list[RecordedRequest] = []
        self.cancelled = 0
        self._faults: collections.deque[_Fault] = collections.deque()
        self._key_faults: dict[str, int] = {}
        self._cuts: collections.deque[int] = collections.deque()
        self._hangs: collections.deque[float] = collections.deque()
        self._runner: web.AppRunner | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    # ---- addresses -------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """Root URL, e.g. http://127.0.0.1:PORT."""
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        """The base URL a gateway connection uses: Ollama has no /v1 prefix, so the root."""
        return self.url

    # ---- test controls ---------------------------------------------------------------------

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
        """Make the next `count` chat requests fail with `status` ({"error": ...} by default;
        `raw` sends those exact bytes instead, e.g. an HTML error page)."""
        for _ in range(count):
            self._faults.append(_Fault(status, body, headers, raw))

    def fail_for_key(self, key: str, status: int) -> None:
        """Make every request with `Authorization: Bearer key` fail with `status` until clear()."""
        self._key_faults[key] = status

    def cut_stream_after(self, n_lines: int) -> None:
        """Make the next streaming answer drop the connection after `n_lines` content lines."""
        self._cuts.append(n_lines)

    def hang_next(self, seconds: float) -> None:
        """Delay the next chat answer by `seconds` (on top of latency_ms)."""
        self._hangs.append(seconds)

    # ---- lifecycle -------------------------------------------------------------------------

    def make_app(self) -> web.Application:
        """Build the aiohttp application serving the fake routes."""
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/api/chat", self._chat)
        app.router.add_get("/api/tags", self._tags)
        app.router.add_get("/api/version", self._version)
        app.router.add_get("/", self._root)
        return app

    async def start_async(self) -> None:
        """Start listening on the running event loop."""
        self._runner = web.AppRunner(
            self.make_app(), access_log=None, handler_cancellation=True, shutdown_timeout=0.5
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port, backlog=1024)
        await site.start()
        self.port = self._runner.addresses[0][1]

    async def stop_async(self) -> None:
        """Stop listening and close open connections."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def start(self) -> FakeOllama:
        """Run the server in a daemon thread with its own loop; return once listening."""
        if self._thread is not None:
            return self
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self.start_async())
            except BaseException as exc:  # reported to the starting thread
                failure.append(exc)
                ready.set()
                loop.close()
                return
            ready.set()
            try:
                loop.run_forever()
            finally:
                loop.run_until_complete(self.stop_async())
                loop.close()

        self._thread = threading.Thread(target=run, name="fake-ollama", daemon=True)
        self._thread.start()
        ready.wait(10)
        if failure:
            self._thread = None
            raise failure[0]
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
        self._loop = None
        self._thread = None

    def __enter__(self) -> FakeOllama:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # ---- handlers --------------------------------------------------------------------------

    def _admit(self, request: web.Request, raw: bytes, body: Any) -> web.Response | None:
        """Record the request and apply the optional key checks; return an error response or None."""
        headers = {k.lower(): v for k, v in request.headers.items()}
        key = _bearer(headers)
        if self.record:
            self.requests.append(RecordedRequest(request.method, request.path, headers, body, raw, key))
        if self.valid_keys is not None and key not in self.valid_keys:
            return _json_response(error_body(401), 401)
        if key is not None and key in self._key_faults:
            status = self._key_faults[key]
            return _json_response(error_body(status), status)
        return None

    async def _root(self, request: web.Request) -> web.StreamResponse:
        return web.Response(text="Ollama is running")

    async def _version(self, request: web.Request) -> web.StreamResponse:
        return _json_response({"version": "0.12.0"})

    async def _tags(self, request: web.Request) -> web.StreamResponse:
        denied = self._admit(request, b"", None)
        return denied or _json_response(tags(self.models))

    def _invalid(self, body: Any) -> web.Response | None:
        if not isinstance(body, dict):
            return _json_response(error_body(400, "invalid character in request body"), 400)
        model = body.get("model")
        if not isinstance(model, str) or not model:
            return _json_response(error_body(400, "model is required"), 400)
        known = {m for name in self.models for m in (name, name.split(":")[0], name + ":latest")}
        if self.strict_models and model not in known:
            return _json_response(error_body(404, f'model "{model}" not found, try pulling it first'), 404)
        if not isinstance(body.get("messages", []), list):
            return _json_response(error_body(400, "messages must be an array"), 400)
        return None

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        try:
            body = orjson.loads(raw) if raw else None
        except orjson.JSONDecodeError:
            body = None
        denied = self._admit(request, raw, body) or self._invalid(body)
        if denied is not None:
            return denied
        # Faults are taken at arrival time so concurrent requests consume them in order.
        fault = self._faults.popleft() if self._faults else None
        hang = self._hangs.popleft() if self._hangs else 0.0
        streaming = body.get("stream") is not False  # Ollama streams unless told not to
        cut = self._cuts.popleft() if streaming and self._cuts else None
        try:
            delay = self.latency_ms / 1000 + hang
            if delay > 0:
                await asyncio.sleep(delay)
            if fault is not None and fault.raw is not None:
                return web.Response(body=fault.raw, status=fault.status, content_type="text/html")
            if fault is not None:
                return _json_response(fault.body or error_body(fault.status), fault.status, fault.headers)
            answer = Answer(body)
            if not streaming:
                return _json_response(answer.whole())
            return await self._stream(request, answer, cut)
        except (asyncio.CancelledError, ConnectionResetError):
            self.cancelled += 1
            raise

    async def _stream(self, request: web.Request, answer: Answer, cut: int | None) -> web.StreamResponse:
        lines, done = answer.lines()
        resp = web.StreamResponse(headers={"Content-Type": _NDJSON})
        await resp.prepare(request)
        delay = self.chunk_delay_ms / 1000
        for i, line in enumerate(lines):
            if cut is not None and i >= cut:
                break
            if delay > 0 and i > 0:
                await asyncio.sleep(delay)
            await resp.write(line)  # one write per line: each reaches the client as it is produced
        if cut is not None:
            # Close the socket mid-body: the chunked response never terminates, like a dying server.
            if request.transport is not None:
                request.transport.close()
            return resp
        if self.send_done:
            if delay > 0:
                await asyncio.sleep(delay)
            await resp.write(done)
        await resp.write_eof()
        return resp


async def _serve_forever(fake: FakeOllama) -> None:
    await fake.start_async()
    print(f"fake-ollama listening on {fake.url}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await fake.stop_async()


def main(argv: list[str] | None = None) -> None:
    """Run the fake Ollama server in the foreground until SIGTERM/SIGINT."""
    parser = argparse.ArgumentParser(description="Fake Ollama chat upstream")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=11434)
    parser.add_argument("--latency-ms", type=float, default=0)
    parser.add_argument("--chunk-delay-ms", type=float, default=0)
    parser.add_argument("--strict-models", action="store_true", help="404 for models not in the list")
    parser.add_argument("--no-record", action="store_true", help="do not keep requests (benchmarks)")
    args = parser.parse_args(argv)
    logging.getLogger("aiohttp.access").disabled = True
    fake = FakeOllama(args.latency_ms, args.port, record=not args.no_record, host=args.host)
    fake.chunk_delay_ms = args.chunk_delay_ms
    fake.strict_models = args.strict_models
    try:
        import uvloop
    except ImportError:
        asyncio.run(_serve_forever(fake))
    else:
        uvloop.run(_serve_forever(fake))


if __name__ == "__main__":
    main()
