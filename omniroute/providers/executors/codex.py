"""Codex (ChatGPT sign-in): the Responses API of ChatGPT's Codex backend.

The backend at ``https://chatgpt.com/backend-api/codex/responses`` takes the OAuth token as a
bearer with the ChatGPT account id (``chatgpt-account-id``), ``OpenAI-Beta: responses=experimental``,
``originator: codex_cli_rs`` and a ``session_id``. It keeps nothing (``store: false``) and only
streams (``stream: true``), and it wants ``instructions``. It refuses ``max_output_tokens``
("Unsupported parameter"), and, as with OpenAI's reasoning models, sampling settings are left out.
Reasoning is asked back encrypted (``include: ["reasoning.encrypted_content"]``), the only way a
stateless caller can hand it back on the next turn.

A client that asked for a whole answer is served by streaming upstream and collecting the stream
into one Response object (``collect_stream``).
"""

from __future__ import annotations

import uuid

import orjson

from omniroute.errors import UpstreamConnectionError, UpstreamRateLimited, UpstreamServerError
from omniroute.providers.executors.base import BaseExecutor, UpstreamCall, json_object
from omniroute.transport.sse import SSESplitter, event_data

DEFAULT_INSTRUCTIONS = "You are a helpful assistant."
DROPPED = ("max_output_tokens", "temperature", "top_p")
_TERMINAL = ("response.completed", "response.incomplete", "response.done")


def collect_stream(raw: bytes) -> dict:
    """A whole Responses SSE stream → the Response object it describes.

    The terminal event's ``response`` is the answer; output items finished during the stream
    (``response.output_item.done``) fill its ``output`` when the terminal event leaves it empty.
    A stream that fails or ends without a terminal event raises an UpstreamError.
    """
    split = SSESplitter()
    events = split.feed(raw) + split.flush()
    items: dict[int, dict] = {}
    latest: dict | None = None
    final: dict | None = None
    for event in events:
        data = event_data(event)
        if not data or data.strip() == b"[DONE]":
            continue
        try:
            obj = orjson.loads(data)
        except orjson.JSONDecodeError:
            continue
        if not isinstance(obj, dict):
            continue
        kind = obj.get("type")
        response = obj.get("response")
        if isinstance(response, dict):
            latest = response
        if kind == "response.output_item.done" and isinstance(obj.get("item"), dict):
            index = obj.get("output_index")
            items[index if isinstance(index, int) else len(items)] = obj["item"]
        elif kind in _TERMINAL and isinstance(response, dict):
            final = response
        elif kind == "response.failed" or kind == "error":
            raise _failure(obj)
    if final is None:
        if latest is not None and latest.get("status") in ("completed", "incomplete"):
            final = latest
        else:
            raise UpstreamConnectionError("upstream stream ended before its final event")
    final = dict(final)
    if not final.get("output") and items:
        final["output"] = [items[i] for i in sorted(items)]
    final.setdefault("object", "response")
    return final


def _failure(obj: dict):
    error = obj.get("error")
    if not isinstance(error, dict):
        response = obj.get("response") if isinstance(obj.get("response"), dict) else {}
        error = response.get("error") if isinstance(response.get("error"), dict) else {}
    message = str(error.get("message") or obj.get("message") or "upstream answer failed")
    code = str(error.get("code") or obj.get("code") or "")
    if "rate_limit" in code or "usage_limit" in code or "quota" in code:
        return UpstreamRateLimited(message, status=429, code=code)
    return UpstreamServerError(message, status=502, code=code or None)


class CodexExecutor(BaseExecutor):
    name = "codex"
    dialect = "responses"
    default_base = "https://chatgpt.com/backend-api/codex"

    def prepare(self, call: UpstreamCall) -> UpstreamCall:
        body = orjson.loads(call.body)
        for key in DROPPED:
            body.pop(key, None)
        body["store"] = False
        body["stream"] = True
        if not isinstance(body.get("instructions"), str) or not body["instructions"].strip():
            body["instructions"] = DEFAULT_INSTRUCTIONS
        if body.get("reasoning") is not None:
            include = [i for i in body.get("include") or [] if isinstance(i, str)]
            if "reasoning.encrypted_content" not in include:
                include.append("reasoning.encrypted_content")
            body["include"] = include
        session = body.get("prompt_cache_key") or call.account.get("session_id") or str(uuid.uuid4())
        extra = {
            "Authorization": f"Bearer {call.token or ''}",
            "OpenAI-Beta": "responses=experimental",
            "originator": "codex_cli_rs",
            "session_id": str(session),
            "Accept": "text/event-stream",
        }
        if call.account.get("account_id"):
            extra["chatgpt-account-id"] = str(call.account["account_id"])
        call.headers = self.headers(call, extra)
        call.url = self.base(call) + "/responses"
        call.body = orjson.dumps(body)
        call.collect = not call.stream
        return call

    def answer_json(self, raw: bytes, call: UpstreamCall) -> dict:
        if call.collect:
            return collect_stream(raw)
        return json_object(raw)
