"""The client-facing byte stream of one upstream streaming answer."""

from __future__ import annotations

import time

import aiohttp

from omniroute.dialects.relay import TRUNCATED
from omniroute.errors import UpstreamConnectionError, UpstreamError, from_stream_error
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
        self._primed = b""

    async def prime(self) -> None:
        """Read until the first content (or the end) before anything reaches the client, so a stream
        that fails or stays silent now can still fall back; raises UpstreamError and drops the
        connection when it does. The caller bounds the wait (the first-byte timeout)."""
        relay, parts = self._relay, []
        try:
            while True:
                try:
                    chunk = await self._chunks.__anext__()
                except StopAsyncIteration:
                    self._ended = True
                    parts.append(relay.finish())
                    if relay.failed or not relay.done:
                        raise self._early_failure(b"".join(parts)) from None
                    break
                except (TimeoutError, aiohttp.ClientError) as exc:
                    raise UpstreamConnectionError(
                        f"upstream stream broke off before its first content ({exc.__class__.__name__})") from exc
                out = relay.feed(chunk)
                if relay.failed or out.startswith(b'data: {"error"'):  # the latter: OpenAI's in-band error
                    raise self._early_failure(out)
                if out:
                    parts.append(out)
                    if relay.done or _has_content(relay):
                        break
        except BaseException:
            self._closed = True
            self._resp.close()
            raise
        ex = self._ex
        ex.ttft_ms = int((time.perf_counter() - ex.started) * 1000)
        self._primed = b"".join(parts)

    @staticmethod
    def _early_failure(out: bytes) -> UpstreamError:
        """The error an upstream stream reported in-band (or its silent end) before any content."""
        message, kind = TRUNCATED, "upstream_stream_truncated"
        try:
            import orjson

            for line in out.splitlines():
                data = line[5:].strip() if line.startswith(b"data:") else line.strip()
                if data.startswith(b"{") and b"error" in data:
                    obj = orjson.loads(data)
                    err = obj.get("error") if isinstance(obj, dict) else None
                    if isinstance(err, dict):
                        message = str(err.get("message") or message)
                        kind = str(err.get("type") or err.get("status") or err.get("code") or kind)
                    elif isinstance(err, str):
                        message = err
                    break
        except ValueError:
            pass
        return from_stream_error(message, kind)

    def __aiter__(self):
        return self

    async def __anext__(self) -> bytes:
        if self._primed:
            out, self._primed = self._primed, b""
            return out
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


def _has_content(relay) -> bool:
    """Whether the relay has passed on content (text, reasoning, a tool call) rather than only a preamble."""
    chars = getattr(relay, "output_chars", None)
    return chars is None or chars > 0
