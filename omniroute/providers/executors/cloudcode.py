"""Cloud Code Assist (the upstream of Gemini CLI and Antigravity sign-ins).

Calls go to ``<base>:generateContent`` or ``<base>:streamGenerateContent?alt=sse`` with the OAuth
token as a bearer, and carry a Gemini GenerateContentRequest inside an envelope
``{"model", "project", "request": …}``. Answers come back wrapped as ``{"response":
<GenerateContentResponse>, "traceId": …}``: the whole JSON answer and every SSE event alike.
"""

from __future__ import annotations

import orjson

from omniroute.providers.executors.base import BaseExecutor, SSEMap, StreamTransform, UpstreamCall

DEFAULT_BASE = "https://cloudcode-pa.googleapis.com/v1internal"


def unwrap(data: dict) -> dict:
    """The GenerateContentResponse inside a wrapped answer (anything else is returned as it is)."""
    inner = data.get("response")
    return inner if isinstance(inner, dict) else data


def wrap(response: dict, trace_id: str | None = None) -> dict:
    out: dict = {"response": response}
    if trace_id:
        out["traceId"] = trace_id
    return out


class UnwrapStream(SSEMap):
    """A Cloud Code SSE stream → the plain Gemini SSE stream, for any split of the bytes."""

    def __init__(self) -> None:
        super().__init__(unwrap)


def model_name(model: str) -> str:
    return model.removeprefix("models/")


class CloudCodeExecutor(BaseExecutor):
    """What Gemini CLI and Antigravity share; each adds its own envelope fields and headers."""

    dialect = "gemini"
    default_base = DEFAULT_BASE

    def envelope(self, call: UpstreamCall, request: dict) -> dict:
        raise NotImplementedError

    def identity(self, call: UpstreamCall) -> dict[str, str]:
        return {}

    def prepare(self, call: UpstreamCall) -> UpstreamCall:
        request = orjson.loads(call.body)
        call.body = orjson.dumps(self.envelope(call, request))
        method = ":streamGenerateContent?alt=sse" if call.stream else ":generateContent"
        call.url = self.base(call) + method
        call.headers = self.headers(call, {
            "Authorization": f"Bearer {call.token or ''}",
            "Accept": "text/event-stream" if call.stream else "application/json",
            **self.identity(call),
        })
        return call

    def unwrap_json(self, data: dict) -> dict:
        return unwrap(data)

    def unwrap_stream(self, model: str = "") -> StreamTransform | None:
        return UnwrapStream()
