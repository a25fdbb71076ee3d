"""Small raw-ASGI helpers for the hot path (no framework objects per request)."""

from __future__ import annotations

import asyncio

import orjson

from omniroute.errors import InvalidRequest, PayloadTooLarge

JSON_HEADERS = [(b"content-type", b"application/json")]


def header(scope: dict, name: bytes) -> str | None:
    """The first value of a request header (``name`` lower-case), decoded."""
    for key, value in scope["headers"]:
        if key == name:
            return value.decode("latin-1")
    return None


def client_address(scope: dict) -> str | None:
    """The peer's address as the server saw it."""
    client = scope.get("client")
    return client[0] if client else None


def headers_of(scope: dict, names: frozenset[bytes]) -> dict[bytes, str]:
    """Several request headers in one pass."""
    return {k: v.decode("latin-1") for k, v in scope["headers"] if k in names}


async def read_body(scope: dict, receive, limit: int) -> bytes:
    """The whole request body, refused with 413 as soon as it passes ``limit`` bytes."""
    length = header(scope, b"content-length")
    if length is not None and length.isdigit() and int(length) > limit:
        raise PayloadTooLarge(f"request body of {int(length)} bytes exceeds the limit of {limit} bytes")
    message = await receive()
    body = message.get("body", b"")
    size = len(body)
    if size > limit:
        raise PayloadTooLarge(f"request body exceeds the limit of {limit} bytes")
    if not message.get("more_body"):
        return body
    parts = [body]
    while message.get("more_body"):
        message = await receive()
        if message["type"] == "http.disconnect":
            raise asyncio.CancelledError()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"request body exceeds the limit of {limit} bytes")
        parts.append(chunk)
    return b"".join(parts)


def parse_json(raw: bytes):
    """One parse of the body; malformed JSON is a 400 that says where."""
    if not raw.strip():
        raise InvalidRequest("request body is empty; expected a JSON object")
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidRequest(f"request body is not valid JSON: {exc}", code="invalid_json") from None


async def send_bytes(send, status: int, body: bytes, headers: list[tuple[bytes, bytes]]) -> None:
    # An explicit length spares the chunked framing and its extra write.
    headers = [*headers, (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class DisconnectWatch:
    """Cancels the serving task when the client goes away, so upstream work stops too.

    ``stop()`` only marks the watch finished: the pending ``receive()`` returns by
    itself once the response is complete, which is cheaper than cancelling it.
    """

    __slots__ = ("_task", "_current", "disconnected", "stopped")

    def __init__(self, receive):
        self.disconnected = False
        self.stopped = False
        self._current = asyncio.current_task()
        self._task = asyncio.ensure_future(self._watch(receive))

    async def _watch(self, receive) -> None:
        while not self.stopped:
            message = await receive()
            if message["type"] == "http.disconnect":
                if not self.stopped:
                    self.disconnected = True
                    self._current.cancel()
                return

    def stop(self) -> None:
        self.stopped = True
