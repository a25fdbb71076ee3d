"""Detailed logging: the headers and bodies of a request and its answer, redacted, kept per usage row.

Only while the ``usage.detailedLogging`` setting is on. The answer is captured from what the route
sends (a stream as the bytes the client received), up to ``detailMaxBytes`` per body.
"""

from __future__ import annotations

import time

import orjson

from omniroute.store.repos import DetailRow


def _text(body: bytes) -> str | bytes:
    """``body`` as text when it is UTF-8 (a character cut at the capture limit is dropped), else bytes."""
    try:
        return body.decode()
    except UnicodeDecodeError as exc:
        if exc.start >= len(body) - 3 and exc.reason == "unexpected end of data":
            return body[:exc.start].decode()
        return body


class Capture:
    """Wraps a route's ``send`` to keep the answer's status, headers and first bytes."""

    __slots__ = ("_send", "_limit", "headers", "body", "size", "ex", "scope")

    def __init__(self, scope, send, limit: int):
        self.scope = scope
        self._send = send
        self._limit = limit
        self.headers: list = []
        self.body = bytearray()
        self.size = 0
        self.ex = None  # the Exchange, once the route has read the request

    async def send(self, message) -> None:
        if message["type"] == "http.response.start":
            self.headers = message.get("headers") or []
        else:
            chunk = message.get("body", b"")
            self.size += len(chunk)
            room = self._limit - len(self.body)
            if room > 0 and chunk:
                self.body += chunk[:room]
        await self._send(message)

    def row(self) -> DetailRow | None:
        """The redacted detail row of the finished exchange (None when it never got a usage row)."""
        from omniroute.usage.redact import redact_body, redact_headers

        ex = self.ex
        if ex is None or ex.row_id is None:
            return None
        scope = self.scope
        path = scope.get("path", "")
        query = scope.get("query_string", b"")
        if query:
            path += "?" + redact_body(query.decode("latin-1"), 4096)[0]
        request_body, cut_in = (redact_body(ex.body, self._limit) if ex.body else (None, False))
        body = bytes(self.body)
        answer = _text(body)  # text as sent, or bytes for a binary answer (redact_body names its size)
        if body and self.size <= self._limit:
            try:
                answer = orjson.loads(body)
            except orjson.JSONDecodeError:
                pass
        response_body, cut_out = redact_body(answer, self._limit) if body else (None, False)
        return DetailRow(
            id=ex.row_id, timestamp=time.time(), method=scope.get("method", ""), path=path,
            requestHeaders=orjson.dumps(redact_headers(scope.get("headers") or [])).decode(),
            requestBody=request_body,
            responseHeaders=orjson.dumps(redact_headers(self.headers)).decode() if self.headers else None,
            responseBody=response_body, truncated=cut_in or cut_out or self.size > self._limit)
