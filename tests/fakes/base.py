"""Shared machinery of the fake upstreams: a real aiohttp server run in a background thread, with
request recording, latency, key checks and fault injection. Each dialect subclasses FakeUpstream and
overrides the hooks in the "dialect hooks" section."""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import logging
import random
import signal
import socket
import struct
import threading
from dataclasses import dataclass
from typing import Any, Self

import orjson
from aiohttp import web

_JSON = "application/json"


@dataclass
class RecordedRequest:
    """One request as the fake received it (header keys lowercased)."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any
    raw: bytes
    api_key: str | None


@dataclass
class _Fault:
    status: int
    body: dict[str, Any] | None
    headers: dict[str, str] | None
    raw: bytes | None = None
    content_type: str = "text/html"


CHAOS_KINDS: tuple[str, ...] = ("500", "503", "429", "retry-after", "hang", "cut", "reset", "error-event")
# Per-request state: seconds write_stream waits between the headers and the first chunk, and whether
# the fake itself closed the connection (so it is not counted as a client disconnect).
if hasattr(web, "RequestKey"):  # aiohttp >= 3.12 prefers typed keys
    _STALL: Any = web.RequestKey("fake_stall", float)
    _DROPPED: Any = web.RequestKey("fake_dropped", bool)
else:
    _STALL, _DROPPED = "fake_stall", "fake_dropped"


@dataclass
class ErrorEvent:
    """An in-band stream error queued by error_event_next (or picked by chaos)."""

    message: str = "Overloaded"
    kind: str = "overloaded_error"


class _Chaos:
    """Seeded random faults: each draw fails with probability `rate`, the kind picked from `kinds`."""

    def __init__(self, seed: int, rate: float, kinds: tuple[str, ...], hang_s: float):
        unknown = sorted(set(kinds) - set(CHAOS_KINDS))
        if unknown or not kinds:
            raise ValueError(f"chaos kinds must be a non-empty subset of {CHAOS_KINDS}, got {kinds!r}")
        self.rng = random.Random(seed)
        self.rate = rate
        self.kinds = tuple(kinds)
        self.hang_s = hang_s

    def draw(self) -> str | None:
        """The fault kind for one request, or None (the caller holds the fake's lock)."""
        if self.rng.random() >= self.rate:
            return None
        return self.rng.choice(self.kinds)


def closed_port(host: str = "127.0.0.1") -> int:
    """A loopback port that refuses connections: bound to learn a free port, then closed unlistened."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def parse_fail_model(spec: str) -> tuple[str, int, str | None]:
    """Parse `MODEL=STATUS[:MESSAGE]` (the --fail-model option) into (model, status, message)."""
    model, sep, rest = spec.partition("=")
    status, _, message = rest.partition(":")
    if not sep or not model or not status.strip().isdigit():
        raise argparse.ArgumentTypeError(f"expected MODEL=STATUS[:MESSAGE], got {spec!r}")
    return model, int(status), message or None


def json_response(obj: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    """A JSON response serialised with orjson."""
    return web.Response(body=orjson.dumps(obj), status=status, content_type=_JSON, headers=headers)


def bearer(headers: dict[str, str]) -> str | None:
    """The token of an `Authorization: Bearer ...` header (lowercased header keys), or None."""
    scheme, _, token = headers.get("authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


class FakeUpstream:
    """A fake upstream with recording, latency and fault injection; subclasses speak one dialect."""

    name = "fake-upstream"  # thread name and the standalone server's banner
    description = "Fake upstream"  # the standalone server's --help
    default_port = 18080  # the standalone server's default --port
    api_prefix = "/v1"  # base_url = url + api_prefix
    default_models: tuple[str, ...] = ("fake-model",)  # what `models` starts as

    def __init__(self, latency_ms: float = 0, port: int = 0, *, record: bool = True, host: str = "127.0.0.1"):
        self.host = host
        self.port = port
        self.latency_ms = latency_ms
        self.chunk_delay_ms: float = 0
        self.send_done = True  # False: leave out the dialect's closing stream marker
        self.record = record
        self.models: list[str] = list(self.default_models)
        self.valid_keys: set[str] | None = None
        self.requests: list[Any] = []
        self.cancelled = 0
        self._faults: collections.deque[_Fault] = collections.deque()
        self._key_faults: dict[str, int] = {}
        self._cuts: collections.deque[int] = collections.deque()
        self._hangs: collections.deque[float] = collections.deque()
        self._stalls: collections.deque[float] = collections.deque()
        self._error_events: collections.deque[ErrorEvent] = collections.deque()
        self._model_faults: dict[str, _Fault] = {}
        self._chaos: _Chaos | None = None
        self.chaos_counts: dict[str, int] = {}
        # Controls are called from the test's thread while the fake's loop serves in its own.
        self._lock = threading.Lock()
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
        """The dialect's base URL: the root plus its API prefix."""
        return self.url + self.api_prefix

    # ---- test controls ---------------------------------------------------------------------

    def clear(self) -> None:
        """Forget recorded requests and every pending fault."""
        self.requests.clear()
        self._faults.clear()
        self._key_faults.clear()
        self._cuts.clear()
        self._hangs.clear()
        self._stalls.clear()
        self._error_events.clear()
        with self._lock:
            self._model_faults.clear()
            self._chaos = None
            self.chaos_counts = {}
        self.cancelled = 0

    def fail_next(
        self, status: int, body: dict | None = None, count: int = 1, headers: dict | None = None,
        raw: bytes | None = None, content_type: str = "text/html",
    ) -> None:
        """Make the next `count` generation requests fail with `status` (the dialect's error body by
        default; `raw` sends those exact bytes instead, e.g. an HTML error page or, with a JSON or SSE
        `content_type`, a garbled 200)."""
        for _ in range(count):
            self._faults.append(_Fault(status, body, headers, raw, content_type))

    def fail_for_key(self, key: str, status: int) -> None:
        """Make every request authenticated with `key` fail with `status` until clear()."""
        self._key_faults[key] = status

    def cut_stream_after(self, n_chunks: int) -> None:
        """Make the next streaming answer drop the connection after `n_chunks` content chunks."""
        self._cuts.append(n_chunks)

    def hang_next(self, seconds: float) -> None:
        """Delay the next generation answer by `seconds` (on top of latency_ms)."""
        self._hangs.append(seconds)

    def stall_first_chunk(self, seconds: float, count: int = 1) -> None:
        """Make the next `count` streaming answers send their 200 status and headers at once, then wait
        `seconds` before the first body chunk (a slow first byte; hang_next delays the headers instead)."""
        for _ in range(count):
            self._stalls.append(seconds)

    def error_event_next(self, message: str = "Overloaded", kind: str = "overloaded_error", count: int = 1) -> None:
        """Make the next `count` streaming answers a 200 stream that carries the dialect's in-band error
        event (see stream_error) early and then ends. Dialects without one answer an HTTP 500."""
        for _ in range(count):
            self._error_events.append(ErrorEvent(message, kind))

    def fail_for_model(
        self, model: str, status: int, body: dict | None = None, headers: dict | None = None
    ) -> None:
        """Make every generation request for `model` (as the dialect names it: the body's `model`, or
        the URL's for Gemini) fail with `status` until clear(). Such requests leave the one-shot
        controls (fail_next, hang_next, ...) queued for the next request they would reach."""
        with self._lock:
            self._model_faults[model] = _Fault(status, body, headers)

    def chaos(
        self, seed: int, rate: float, kinds: tuple[str, ...] = CHAOS_KINDS, hang_s: float = 0.2
    ) -> None:
        """Until clear(), fail each generation request with probability `rate`, the fault kind drawn
        by a random.Random(seed): "500"/"503"/"429" answer that status; "retry-after" a 429 with
        `Retry-After: 1`; "hang" delays `hang_s` and then answers normally; "cut" drops a stream after
        one chunk (a non-streaming request: closes the connection without an answer); "reset" resets
        the TCP connection without an HTTP answer; "error-event" as error_event_next (a 500 when not
        streaming). A request that takes a fail_next fault is left alone. self.chaos_counts counts
        the faults dealt, per kind."""
        with self._lock:
            self._chaos = _Chaos(seed, rate, tuple(kinds), hang_s)
            self.chaos_counts = {}

    # ---- lifecycle -------------------------------------------------------------------------

    def make_app(self) -> web.Application:
        """Build the aiohttp application serving the fake routes."""
        app = web.Application(client_max_size=64 * 1024 * 1024)
        self.add_routes(app.router)
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

    def start(self) -> Self:
        """Run the server in a daemon thread with its own loop; return once listening."""
        if self._thread is not None:
            return self
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name=self.name, daemon=True)
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
        if not thread.is_alive():
            loop.close()
        self._loop = None
        self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # ---- dialect hooks ---------------------------------------------------------------------

    def add_routes(self, router: web.UrlDispatcher) -> None:
        """Register the dialect's routes (generation requests go to self.handle_generate)."""
        raise NotImplementedError

    def api_key(self, request: web.Request, headers: dict[str, str]) -> str | None:
        """The API key a request carries (default: `Authorization: Bearer`)."""
        return bearer(headers)

    def error_body(self, status: int, message: str | None = None) -> dict[str, Any]:
        """The dialect's error body for an HTTP status."""
        raise NotImplementedError

    def recorded(
        self, request: web.Request, headers: dict[str, str], raw: bytes, body: Any, key: str | None,
        ctx: dict[str, Any],
    ) -> RecordedRequest:
        """The record kept of one request (a subclass may add dialect fields)."""
        record = RecordedRequest(request.method, request.path, headers, body, raw, key)
        record.query_string = request.query_string  # e.g. Azure's api-version
        return record

    def models_page(self) -> Any:
        """The body of the model-list route served by self.handle_models."""
        raise NotImplementedError

    def request_context(self, request: web.Request) -> dict[str, Any]:
        """Dialect details taken from the URL of a generation request (e.g. the model)."""
        return {}

    def reject(self, headers: dict[str, str], body: Any, ctx: dict[str, Any]) -> web.Response | None:
        """An error response for an invalid generation request, or None (runs after auth)."""
        return None

    def is_streaming(self, request: web.Request, body: dict[str, Any], ctx: dict[str, Any]) -> bool:
        """Whether a (valid) generation request asks for a streamed answer."""
        return bool(body.get("stream"))

    async def answer(
        self, request: web.Request, body: dict[str, Any], streaming: bool, cut: int | None,
        ctx: dict[str, Any],
    ) -> web.StreamResponse:
        """Answer a valid generation request (`cut`: see cut_stream_after, streams only)."""
        raise NotImplementedError

    def request_model(self, body: Any, ctx: dict[str, Any]) -> str | None:
        """The model a generation request names (the URL's, from request_context, else the body's)."""
        model = ctx.get("model")
        if model is None and isinstance(body, dict):
            model = body.get("model")
        return model if isinstance(model, str) else None

    def stream_error(
        self, request: web.Request, body: dict[str, Any], ctx: dict[str, Any], event: ErrorEvent
    ) -> tuple[str, list[bytes]] | None:
        """(content type, chunks) of a 200 stream whose early event is the dialect's in-band error,
        or None when the dialect has none (the request then gets an HTTP 500)."""
        return None

    # ---- handlers --------------------------------------------------------------------------

    def error(self, status: int, message: str | None = None) -> web.Response:
        """A JSON response carrying the dialect's error body."""
        return json_response(self.error_body(status, message), status)

    def admit(
        self, request: web.Request, raw: bytes, body: Any, ctx: dict[str, Any] | None = None
    ) -> tuple[web.Response | None, dict[str, str]]:
        """Record the request and apply the key checks; return (error response or None, headers)."""
        headers = {k.lower(): v for k, v in request.headers.items()}
        key = self.api_key(request, headers)
        if self.record:
            self.requests.append(self.recorded(request, headers, raw, body, key, ctx or {}))
        if self.valid_keys is not None and key not in self.valid_keys:
            return self.error(401), headers
        if key is not None and key in self._key_faults:
            return self.error(self._key_faults[key]), headers
        return None, headers

    async def handle_models(self, request: web.Request) -> web.StreamResponse:
        """The model-list route: key checks, then self.models_page()."""
        denied, _ = self.admit(request, b"", None)
        return denied or json_response(self.models_page())

    async def handle_generate(self, request: web.Request) -> web.StreamResponse:
        """A generation route: record, check, then answer with latency and any queued fault."""
        ctx = self.request_context(request)
        raw = await request.read()
        try:
            body = orjson.loads(raw) if raw else None
        except orjson.JSONDecodeError:
            body = None
        denied, headers = self.admit(request, raw, body, ctx)
        denied = denied or self.reject(headers, body, ctx)
        if denied is not None:
            return denied
        streaming = self.is_streaming(request, body, ctx)
        model_fault = self._model_fault(body, ctx)
        fault: _Fault | None = None
        hang, cut, stall, error_event, drop = 0.0, None, 0.0, None, None
        if model_fault is None:
            # Faults are taken at arrival time so concurrent requests consume them in order.
            fault = self._faults.popleft() if self._faults else None
            hang = self._hangs.popleft() if self._hangs else 0.0
            cut = self._cuts.popleft() if streaming and self._cuts else None
            stall = self._stalls.popleft() if streaming and self._stalls else 0.0
            error_event = self._error_events.popleft() if streaming and self._error_events else None
            kind, chaos_hang = self._chaos_draw() if fault is None else (None, 0.0)
            if kind in ("500", "503", "429"):
                fault = _Fault(int(kind), None, None)
            elif kind == "retry-after":
                fault = _Fault(429, None, {"Retry-After": "1"})
            elif kind == "hang":
                hang += chaos_hang
            elif kind == "cut" and streaming:
                cut = 1
            elif kind in ("cut", "reset"):
                drop = kind
            elif kind == "error-event" and streaming:
                error_event = ErrorEvent()
            elif kind == "error-event":
                fault = _Fault(500, None, None)
        try:
            delay = self.latency_ms / 1000 + hang
            if delay > 0:
                await asyncio.sleep(delay)
            if model_fault is not None:
                fault = model_fault
            if drop is not None:
                return await self._drop(request, reset=drop == "reset")
            if fault is not None and fault.raw is not None:
                return web.Response(body=fault.raw, status=fault.status, content_type=fault.content_type,
                                    headers=fault.headers)
            if fault is not None:
                return json_response(fault.body or self.error_body(fault.status), fault.status, fault.headers)
            if stall > 0:
                request[_STALL] = stall
            if error_event is not None:
                stream = self.stream_error(request, body, ctx, error_event)
                if stream is None:
                    return self.error(500, error_event.message)
                content_type, chunks = stream
                return await self.write_stream(request, content_type, chunks, cut=False)
            return await self.answer(request, body, streaming, cut, ctx)
        except (asyncio.CancelledError, ConnectionResetError):
            if not request.get(_DROPPED):
                self.cancelled += 1
            raise

    def _model_fault(self, body: Any, ctx: dict[str, Any]) -> _Fault | None:
        """The fail_for_model fault for this request's model, if any."""
        if not self._model_faults:
            return None
        model = self.request_model(body, ctx)
        if model is None:
            return None
        with self._lock:
            return self._model_faults.get(model) or self._model_faults.get(model.removeprefix("models/"))

    def _chaos_draw(self) -> tuple[str | None, float]:
        """(chaos fault kind for one request or None when it is spared, the chaos hang in seconds)."""
        with self._lock:
            if self._chaos is None:
                return None, 0.0
            kind = self._chaos.draw()
            if kind is not None:
                self.chaos_counts[kind] = self.chaos_counts.get(kind, 0) + 1
            return kind, self._chaos.hang_s

    async def _drop(self, request: web.Request, *, reset: bool) -> web.StreamResponse:
        """Close the connection without an HTTP answer: a TCP reset (RST) with `reset`, else an orderly
        close (FIN). aiohttp then cancels this handler, which ends here."""
        request[_DROPPED] = True
        transport = request.transport
        if transport is not None:
            if reset:
                sock = transport.get_extra_info("socket")
                with contextlib.suppress(AttributeError, OSError):
                    # Linger on with a zero timeout: close() sends RST instead of FIN.
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                transport.abort()
            else:
                transport.close()
        await asyncio.sleep(5)  # cancelled as soon as aiohttp sees the connection is gone
        return web.Response(status=500)

    async def write_stream(
        self, request: web.Request, content_type: str, chunks: list[bytes], *, cut: bool,
        end: bytes = b"", no_cache: bool = True,
    ) -> web.StreamResponse:
        """Stream `chunks` one write each, `chunk_delay_ms` apart. With `cut`, drop the connection
        after them; otherwise write `end` (if any) and finish the body."""
        headers = {"Content-Type": content_type}
        if no_cache:
            headers["Cache-Control"] = "no-cache"
        resp = web.StreamResponse(headers=headers)
        await resp.prepare(request)  # a StreamResponse sends its status line and headers right away
        stall = request.get(_STALL, 0.0)
        if stall > 0:
            await asyncio.sleep(stall)  # stall_first_chunk: headers are out, the body is late
        delay = self.chunk_delay_ms / 1000
        for i, chunk in enumerate(chunks):
            if delay > 0 and i > 0:
                await asyncio.sleep(delay)
            # One write per chunk: aiohttp sends each write as its own chunk, so clients see progress.
            await resp.write(chunk)
        if cut:
            # Close the socket mid-body: the chunked response never terminates, like a dying upstream.
            if request.transport is not None:
                request.transport.close()
            return resp
        if end:
            await resp.write(end)
        await resp.write_eof()
        return resp

    # ---- standalone server -----------------------------------------------------------------

    def apply_fail_models(self, specs: list[tuple[str, int, str | None]]) -> None:
        """Apply parsed --fail-model options: fail_for_model with the dialect's error body."""
        for model, status, message in specs:
            self.fail_for_model(model, status, self.error_body(status, message))

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        """Add dialect-specific command-line options."""

    def configure(self, args: argparse.Namespace) -> None:
        """Apply dialect-specific command-line options."""

    async def serve_forever(self) -> None:
        """Serve on the running loop until SIGTERM/SIGINT."""
        await self.start_async()
        print(f"{self.name} listening on {self.url}", flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        await self.stop_async()

    @classmethod
    def from_args(cls, argv: list[str] | None = None) -> Self:
        """The fake the standalone server's command line describes, configured but not started."""
        parser = argparse.ArgumentParser(description=cls.description)
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=cls.default_port)
        parser.add_argument("--latency-ms", type=float, default=0)
        parser.add_argument("--chunk-delay-ms", type=float, default=0)
        parser.add_argument(
            "--fail-model", action="append", default=[], type=parse_fail_model, metavar="MODEL=STATUS[:MESSAGE]",
            help="every request for MODEL fails with STATUS (and MESSAGE in the dialect's error body); repeatable",
        )
        cls.add_arguments(parser)
        parser.add_argument("--no-record", action="store_true", help="do not keep requests (benchmarks)")
        args = parser.parse_args(argv)
        fake = cls(args.latency_ms, args.port, record=not args.no_record, host=args.host)
        fake.chunk_delay_ms = args.chunk_delay_ms
        fake.apply_fail_models(args.fail_model)
        fake.configure(args)
        return fake

    @classmethod
    def main(cls, argv: list[str] | None = None) -> None:
        """Run the fake in the foreground until SIGTERM/SIGINT."""
        fake = cls.from_args(argv)
        logging.getLogger("aiohttp.access").disabled = True
        try:
            import uvloop
        except ImportError:
            asyncio.run(fake.serve_forever())
        else:
            uvloop.run(fake.serve_forever())
