"""What every executor shares: the upstream call it edits, the interface, and stream helpers."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import orjson

from omniroute.transport.sse import SSESplitter, event_data


@dataclass(slots=True)
class UpstreamCall:
    """One upstream call as the pipeline would make it, before and after an executor adapts it.

    ``body`` is in the provider's dialect (the catalog's ``dialect``) when it reaches ``prepare``;
    ``stream`` is whether the client's answer is a stream; ``token`` is the account's secret (an
    OAuth access token or an API key); ``account`` is the connection's provider data (account id,
    project id, resource URL, …); ``base_url`` is the connection's base URL (empty: the
    executor's default). ``prepare`` sets ``url`` and ``headers``, rewrites ``body``, and sets
    ``collect`` when the upstream will stream an answer the client wants whole.
    """

    url: str
    headers: dict[str, str]
    body: bytes
    stream: bool
    model: str
    token: str | None = None
    account: dict = field(default_factory=dict)
    base_url: str = ""
    collect: bool = False


class StreamTransform(Protocol):
    """Upstream stream bytes → the bytes the dialect's stream decoder expects, incrementally."""

    def feed(self, chunk: bytes) -> bytes: ...

    def finish(self) -> bytes:
        """What is still due when the upstream's byte stream ends."""
        ...


class Executor(Protocol):
    """Adapts one subscription upstream call: request out, answer back."""

    name: str
    dialect: str

    def prepare(self, call: UpstreamCall) -> UpstreamCall: ...

    def unwrap_json(self, data: dict) -> dict:
        """An answer body → the dialect's plain answer."""
        ...

    def unwrap_stream(self, model: str = "") -> StreamTransform | None:
        """A fresh transform for one streamed answer (of ``model``), or None when the bytes pass
        untouched."""
        ...

    def answer_json(self, raw: bytes, call: UpstreamCall) -> dict:
        """The raw bytes of a whole (non-streaming) answer → the dialect's plain answer."""
        ...


def without(headers: dict[str, str], *names: str) -> dict[str, str]:
    """A copy of ``headers`` without the named ones (any case)."""
    drop = {n.lower() for n in names}
    return {k: v for k, v in headers.items() if k.lower() not in drop}


def json_object(raw: bytes) -> dict:
    """``raw`` parsed as a JSON object (ValueError otherwise, as the pipeline expects)."""
    data = orjson.loads(raw)
    if not isinstance(data, dict):
        raise ValueError("not an object")
    return data


class BaseExecutor:
    """Defaults: the answer comes back in the dialect's own shape."""

    name = ""
    dialect = "openai"
    default_base = ""
    # Auth headers the account's defaults may carry that an executor replaces with its own.
    replaced_auth = ("authorization", "x-api-key", "api-key", "x-goog-api-key")

    def base(self, call: UpstreamCall) -> str:
        return (call.base_url or self.default_base).rstrip("/")

    def headers(self, call: UpstreamCall, extra: dict[str, str]) -> dict[str, str]:
        """The account's headers without its auth, plus ``extra`` (which win)."""
        out = without(call.headers, *self.replaced_auth, *extra)
        out.setdefault("Content-Type", "application/json")
        out.update(extra)
        return out

    def prepare(self, call: UpstreamCall) -> UpstreamCall:
        raise NotImplementedError

    def unwrap_json(self, data: dict) -> dict:
        return data

    def unwrap_stream(self, model: str = "") -> StreamTransform | None:
        return None

    def answer_json(self, raw: bytes, call: UpstreamCall) -> dict:
        return self.unwrap_json(json_object(raw))


class SSEMap:
    """An SSE stream with each event's JSON data rewritten by ``fn`` (events may split anywhere).

    Events whose data is not a JSON object, or that ``fn`` returns unchanged, pass through as they
    came; ``fn`` returning None drops the event.
    """

    def __init__(self, fn: Callable[[dict], dict | None]):
        self._split = SSESplitter()
        self._fn = fn

    def feed(self, chunk: bytes) -> bytes:
        return self._emit(self._split.feed(chunk))

    def finish(self) -> bytes:
        return self._emit(self._split.flush())

    def _emit(self, events: list[bytes]) -> bytes:
        out = []
        for event in events:
            data = event_data(event)
            try:
                obj = orjson.loads(data) if data else None
            except orjson.JSONDecodeError:
                obj = None
            if not isinstance(obj, dict):
                out.append(event + b"\n\n")
                continue
            mapped = self._fn(obj)
            if mapped is obj:
                out.append(event + b"\n\n")
            elif mapped is not None:
                out.append(b"data: " + orjson.dumps(mapped) + b"\n\n")
        return b"".join(out)


class TransformedRelay:
    """A stream relay whose upstream bytes pass through an executor's transform first.

    Offers the relay surface the pipeline uses (``feed``, ``finish``, ``fail``, ``done``,
    ``failed``, ``usage``, ``output_estimate``, ``encoder``).
    """

    def __init__(self, relay, transform: StreamTransform):
        self._relay = relay
        self._transform = transform

    def __getattr__(self, name: str):
        return getattr(self._relay, name)

    def feed(self, chunk: bytes) -> bytes:
        data = self._transform.feed(chunk)
        return self._relay.feed(data) if data else b""

    def finish(self) -> bytes:
        data = self._transform.finish()
        out = self._relay.feed(data) if data else b""
        return out + self._relay.finish()

    def fail(self, message: str, code: str) -> bytes:
        return self._relay.fail(message, code)


def with_transform(relay, transform: StreamTransform | None):
    """``relay`` fed through ``transform`` (the relay itself when there is none)."""
    return relay if transform is None else TransformedRelay(relay, transform)
