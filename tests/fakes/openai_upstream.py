"""Fake OpenAI Chat Completions upstream: a real aiohttp server for tests and benchmarks."""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import logging
import signal
import threading
from dataclasses import dataclass
from typing import Any

import orjson
from aiohttp import web

from tests.fakes.openai_answers import Plan, error_body, models_list

DEFAULT_MODELS = ["gpt-4o-mini", "gpt-4o", "fake-model"]
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


def _bearer(headers: dict[str, str]) -> str | None:
    auth = headers.get("authorization", "")
    scheme, _, token = auth.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def _json_response(obj: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(body=orjson.dumps(obj), status=status, content_type=_JSON, headers=headers)


class FakeOpenAI:
    """A fake OpenAI upstream with recording, latency and fault injection."""

    def __init__(self, latency_ms: float = 0, port: int = 0, *, record: bool = True, host: str = "127.0.0.1"):
        self.host = host
        self.port = port
        self.latency_ms = latency_ms
        self.chunk_delay_ms: float = 0
        self.send_done = True
        self.record = record
        self.models: list[str] = list(DEFAULT_MODELS)
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
        """OpenAI-style base URL (root + /v1)."""
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
        """Make the next `count` chat requests fail with `status` (OpenAI-shaped body by default;
        `raw` sends those exact bytes instead, e.g. an HTML error page)."""
        for _ in range(count):
            self._faults.append(_Fault(status, body, headers, raw))

    def fail_for_key(self, key: str, status: int) -> None:
        """Make every request authenticated with `key` fail with `status` until clear()."""
        self._key_faults[key] = status

    def cut_stream_after(self, n_chunks: int) -> None:
        """Make the next streaming answer drop the connection after `n_chunks` content chunks."""
        self._cuts.append(n_chunks)

    def hang_next(self, seconds: float) -> None:
        """Delay the next chat answer by `seconds` (on top of latency_ms)."""
        self._hangs.append(seconds)

    # ---- lifecycle -------------------------------------------------------------------------

    def make_app(self) -> web.Application:
        """Build the aiohttp application serving the fake routes."""
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_get("/v1/models", self._models)
        return app

    async def start_async(self) -> None:
        """Start listening on the running event loop."""
        # handler_cancellation: a client disconnect must cancel the handler so `cancelled` counts it.
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

    def start(self) -> FakeOpenAI:
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

        self._thread = threading.Thread(target=run, name="fake-openai", daemon=True)
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

    def __enter__(self) -> FakeOpenAI:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # ---- handlers --------------------------------------------------------------------------

    async def _admit(self, request: web.Request, raw: bytes, body: Any) -> web.Response | None:
        """Record the request and apply auth; return an error response or None."""
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

    async def _models(self, request: web.Request) -> web.StreamResponse:
        denied = await self._admit(request, b"", None)
        return denied or _json_response(models_list(self.models))

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        try:
            body = orjson.loads(raw) if raw else None
        except orjson.JSONDecodeError:
            body = None
        denied = await self._admit(request, raw, body)
        if denied is not None:
            return denied
        if not isinstance(body, dict):
            return _json_response(error_body(400), 400)
        # Faults are taken at arrival time so concurrent requests consume them in order.
        fault = self._faults.popleft() if self._faults else None
        hang = self._hangs.popleft() if self._hangs else 0.0
        streaming = bool(body.get("stream"))
        cut = self._cuts.popleft() if streaming and self._cuts else None
        try:
            delay = self.latency_ms / 1000 + hang
            if delay > 0:
                await asyncio.sleep(delay)
            if fault is not None and fault.raw is not None:
                return web.Response(body=fault.raw, status=fault.status, content_type="text/html")
            if fault is not None:
                return _json_response(fault.body or error_body(fault.status), fault.status, fault.headers)
            plan = Plan(body)
            if not streaming:
                return _json_response(plan.completion())
            return await self._stream(request, plan, body, cut)
        except (asyncio.CancelledError, ConnectionResetError):
            self.cancelled += 1
            raise

    async def _stream(
        self, request: web.Request, plan: Plan, body: dict[str, Any], cut: int | None
    ) -> web.StreamResponse:
        opts = body.get("stream_options")
        include_usage = isinstance(opts, dict) and bool(opts.get("include_usage"))
        events, tail = plan.stream_events(include_usage)
        if not self.send_done:  # some OpenAI-compatible servers end after the finish chunk
            tail = [event for event in tail if event != b"data: [DONE]\n\n"]
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        await resp.prepare(request)
        delay = self.chunk_delay_ms / 1000
        for i, event in enumerate(events):
            if cut is not None and i > cut:
                break
            if delay > 0 and i > 0:
                await asyncio.sleep(delay)
            # One write per event: aiohttp sends each write as its own chunk, so clients see progress.
            await resp.write(event)
        if cut is not None:
            # Close the socket mid-body: the chunked response never terminates, like a dying upstream.
            if request.transport is not None:
                request.transport.close()
            return resp
        for event in tail:
            if delay > 0:
                await asyncio.sleep(delay)
            await resp.write(event)
        await resp.write_eof()
        return resp


async def _serve_forever(fake: FakeOpenAI) -> None:
    await fake.start_async()
    print(f"fake-openai listening on {fake.url}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await fake.stop_async()


def main(argv: list[str] | None = None) -> None:
    """Run the fake upstream in the foreground until SIGTERM/SIGINT."""
    parser = argparse.ArgumentParser(description="Fake OpenAI Chat Completions upstream")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=18080)
    parser.add_argument("--latency-ms", type=float, default=0)
    parser.add_argument("--chunk-delay-ms", type=float, default=0)
    parser.add_argument("--no-record", action="store_true", help="do not keep requests (benchmarks)")
    args = parser.parse_args(argv)
    logging.getLogger("aiohttp.access").disabled = True
    fake = FakeOpenAI(args.latency_ms, args.port, record=not args.no_record, host=args.host)
    fake.chunk_delay_ms = args.chunk_delay_ms
    try:
        import uvloop
    except ImportError:
        asyncio.run(_serve_forever(fake))
    else:
        uvloop.run(_serve_forever(fake))


if __name__ == "__main__":
    main()
