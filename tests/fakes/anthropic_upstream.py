"""Fake Anthropic Messages upstream: a real aiohttp server for tests and benchmarks."""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import logging
import secrets
import signal
import threading
from dataclasses import dataclass
from typing import Any

import orjson
from aiohttp import web

from tests.fakes.openai_answers import split_fragments
from tests.fakes.openai_upstream import RecordedRequest

DEFAULT_MODELS = ["claude-sonnet-4-5", "claude-opus-4-1", "claude-3-5-haiku-latest"]
_JSON = "application/json"

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


@dataclass
class _Fault:
    status: int
    body: dict[str, Any] | None
    headers: dict[str, str] | None
    raw: bytes | None = None


def _json_response(obj: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(body=orjson.dumps(obj), status=status, content_type=_JSON, headers=headers)


def _api_key(headers: dict[str, str]) -> str | None:
    """The key from `x-api-key`, else from `Authorization: Bearer`."""
    key = headers.get("x-api-key", "").strip()
    if key:
        return key
    scheme, _, token = headers.get("authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


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
            self.blocks.append({"type": "tool_use", "id": tool_id, "name": name, "input": {"query": user_text}})
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


class FakeAnthropic:
    """A fake Anthropic upstream with recording, latency and fault injection."""

    def __init__(self, latency_ms: float = 0, port: int = 0, *, record: bool = True, host: str = "127.0.0.1"):
        self.host = host
        self.port = port
        self.latency_ms = latency_ms
        self.chunk_delay_ms: float = 0
        self.send_done = True  # False: omit the final message_stop event
        self.record = record
        self.models: list[str] = list(DEFAULT_MODELS)
        self.valid_keys: set[str] | None = None
        self.requests: list[RecordedAnthropicRequest] = []
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
        """Root URL, e.g. http://127.0.0.1:PORT (what the anthropic SDK takes as base_url)."""
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        """Root + /v1."""
        return self.url + "/v1"

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
        """Make the next `count` message requests fail with `status` (Anthropic-shaped body by
        default; `raw` sends those exact bytes instead, e.g. an HTML error page)."""
        for _ in range(count):
            self._faults.append(_Fault(status, body, headers, raw))

    def fail_for_key(self, key: str, status: int) -> None:
        """Make every request authenticated with `key` fail with `status` until clear()."""
        self._key_faults[key] = status

    def cut_stream_after(self, n_deltas: int) -> None:
        """Make the next streaming answer drop the connection after `n_deltas` content deltas."""
        self._cuts.append(n_deltas)

    def hang_next(self, seconds: float) -> None:
        """Delay the next message answer by `seconds` (on top of latency_ms)."""
        self._hangs.append(seconds)

    # ---- lifecycle -------------------------------------------------------------------------

    def make_app(self) -> web.Application:
        """Build the aiohttp application serving the fake routes."""
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/v1/messages", self._messages)
        app.router.add_get("/v1/models", self._models)
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

    def start(self) -> FakeAnthropic:
        """Run the server in a daemon thread with its own loop; return once listening."""
        if self._thread is not None:
            return self
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="fake-anthropic", daemon=True)
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

    def __enter__(self) -> FakeAnthropic:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # ---- handlers --------------------------------------------------------------------------

    def _admit(self, request: web.Request, raw: bytes, body: Any) -> tuple[web.Response | None, dict]:
        """Record the request and apply auth; return (error response or None, lowercased headers)."""
        headers = {k.lower(): v for k, v in request.headers.items()}
        key = _api_key(headers)
        if self.record:
            self.requests.append(RecordedAnthropicRequest(
                request.method, request.path, headers, body, raw, key, headers.get("anthropic-version"),
            ))
        if self.valid_keys is not None and key not in self.valid_keys:
            return _json_response(error_body(401), 401), headers
        if key is not None and key in self._key_faults:
            status = self._key_faults[key]
            return _json_response(error_body(status), status), headers
        return None, headers

    async def _models(self, request: web.Request) -> web.StreamResponse:
        denied, _ = self._admit(request, b"", None)
        return denied or _json_response(models_list(self.models))

    async def _messages(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        try:
            body = orjson.loads(raw) if raw else None
        except orjson.JSONDecodeError:
            body = None
        denied, headers = self._admit(request, raw, body)
        if denied is not None:
            return denied
        if not headers.get("anthropic-version"):
            return _json_response(error_body(400, "anthropic-version: header is required"), 400)
        problem = _validate(body)
        if problem is not None:
            return _json_response(error_body(400, problem), 400)
        # Faults are taken at arrival time so concurrent requests consume them in order.
        fault = self._faults.popleft() if self._faults else None
        hang = self._hangs.popleft() if self._hangs else 0.0
        streaming = body.get("stream") is True
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
            answer = Answer(body)
            if not streaming:
                return _json_response(answer.message())
            return await self._stream(request, answer, cut)
        except (asyncio.CancelledError, ConnectionResetError):
            self.cancelled += 1
            raise

    async def _stream(self, request: web.Request, answer: Answer, cut: int | None) -> web.StreamResponse:
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
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        await resp.prepare(request)
        delay = self.chunk_delay_ms / 1000
        for i, event in enumerate(chunks):
            if delay > 0 and i > 0:
                await asyncio.sleep(delay)
            await resp.write(event)  # one write per event: each reaches the client as its own chunk
        if cut is not None:
            # Close the socket mid-body: the chunked response never terminates, like a dying upstream.
            if request.transport is not None:
                request.transport.close()
            return resp
        await resp.write_eof()
        return resp


async def _serve_forever(fake: FakeAnthropic) -> None:
    await fake.start_async()
    print(f"fake-anthropic listening on {fake.url}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await fake.stop_async()


def main(argv: list[str] | None = None) -> None:
    """Run the fake upstream in the foreground until SIGTERM/SIGINT."""
    parser = argparse.ArgumentParser(description="Fake Anthropic Messages upstream")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=18081)
    parser.add_argument("--latency-ms", type=float, default=0)
    parser.add_argument("--chunk-delay-ms", type=float, default=0)
    parser.add_argument("--no-record", action="store_true", help="do not keep requests (benchmarks)")
    args = parser.parse_args(argv)
    logging.getLogger("aiohttp.access").disabled = True
    fake = FakeAnthropic(args.latency_ms, args.port, record=not args.no_record, host=args.host)
    fake.chunk_delay_ms = args.chunk_delay_ms
    try:
        import uvloop
    except ImportError:
        asyncio.run(_serve_forever(fake))
    else:
        uvloop.run(_serve_forever(fake))


if __name__ == "__main__":
    main()
