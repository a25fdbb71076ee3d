"""The client-facing byte stream of one upstream streaming answer."""

from __future__ import annotations

import time

import aiohttp

from omniroute.dialects.relay import TRUNCATED
from omniroute.usage import estimate


class UpstreamStream:
    """Async iterator over the bytes to send for one upstream stream; ``aclose`` always runs.

    It ends a stream that breaks off with the client dialect's error event (never a silent
    cut), and closing it early drops the upstream connection so generation stops.
    """

    def __init__(self, ex, resp: aiohttp.ClientResponse, relay, on_close):
        self._ex = ex
        self._resp = resp
        self._relay = relay
        self._on_close = on_close
        self._chunks = resp.content.iter_any().__aiter__()
        self._ended = False
        self._closed = False

    def __aiter__(self):
        return self

    async def __anext__(self) -> bytes:
        ex, relay = self._ex, self._relay
        while not self._ended:
            try:
                chunk = await self._chunks.__anext__()
            except StopAsyncIteration:
                self._ended = True
                out = relay.finish()
                if not relay.done:
                    ex.status, ex.error = 502, TRUNCATED
                if out:
                    return out
                break
            except (TimeoutError, aiohttp.ClientError) as exc:
                self._ended = True
                ex.status = 502
                ex.error = f"upstream stream broke off before its final event ({exc.__class__.__name__})"
                return relay.fail(ex.error, "upstream_stream_failed")
            out = relay.feed(chunk)
            if out:
                if ex.ttft_ms is None:
                    ex.ttft_ms = int((time.perf_counter() - ex.started) * 1000)
                return out
        await self.aclose()
        raise StopAsyncIteration

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        ex = self._ex
        release, ex.release = ex.release, None
        if release is not None:
            await release()  # the account's in-flight slot (concurrency limits)
        ex.usage = self._relay.usage
        if self._relay.done and estimate.missing(ex.usage):
            from omniroute.pipeline import input_estimate

            ex.usage = estimate.estimated(input_estimate(ex), self._relay.output_estimate())
        if self._relay.done:
            self._resp.release()
        else:
            if ex.status == 200:
                ex.status, ex.error = 499, "client disconnected"
            self._resp.close()  # drop the connection so the upstream stops generating
        self._on_close(ex)
