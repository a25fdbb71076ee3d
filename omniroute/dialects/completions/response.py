"""Whole (non-streamed) ``text_completion`` answers ⇄ canonical ChatResponse."""

from __future__ import annotations

import secrets
import time

import orjson

from omniroute.dialects.openai_chat.response import stop_reason_in
from omniroute.dialects.openai_chat.usage import usage_from_openai, usage_to_openai
from omniroute.errors import UpstreamServerError
from omniroute.schema import ChatResponse, StopReason, Text

# The legacy finish reasons are "stop", "length" and "content_filter"; everything else
# (a stop sequence, tool calls the model made anyway, an error) reads as "stop".
_FINISH_OUT = {"length": "length", "content_filter": "content_filter"}


def finish_reason_out(reason: StopReason) -> str:
    """A canonical stop reason as a legacy finish_reason."""
    return _FINISH_OUT.get(reason, "stop")


def completion_id(upstream_id: str | None = None) -> str:
    """A ``cmpl-`` id; an upstream's id is kept inside it so the two can be matched in logs."""
    if not upstream_id:
        return "cmpl-" + secrets.token_hex(12)
    if upstream_id.startswith("cmpl-"):
        return upstream_id
    return "cmpl-" + upstream_id.removeprefix("chatcmpl-")


def encode_response(resp: ChatResponse) -> dict:
    """Canonical response → a complete ``text_completion`` object.

    Only the answer's text is shown: reasoning has no place here, and tool calls cannot arise
    since the dialect offers no tools.
    """
    text = "".join(p.text for p in resp.parts if isinstance(p, Text))
    return {
        "id": completion_id(resp.id),
        "object": "text_completion",
        "created": int(time.time()),
        "model": resp.model,
        "choices": [
            {"index": 0, "text": text, "finish_reason": finish_reason_out(resp.stop_reason), "logprobs": None}
        ],
        "usage": usage_to_openai(resp.usage),
    }


def decode_response(body: dict) -> ChatResponse:
    """Upstream ``text_completion`` JSON → canonical response (the first choice)."""
    choices = body.get("choices") if isinstance(body, dict) else None
    if not isinstance(choices, list):
        error = body.get("error") if isinstance(body, dict) else None
        message = error.get("message") if isinstance(error, dict) else None
        raise UpstreamServerError(
            message or "upstream answer has no 'choices'", status=502, body=orjson.dumps(body)
        )
    choice = choices[0] if choices and isinstance(choices[0], dict) else {}
    text = choice.get("text")
    return ChatResponse(
        id=body.get("id") or "",
        model=body.get("model") or "",
        parts=[Text(text)] if isinstance(text, str) and text else [],
        stop_reason=stop_reason_in(choice.get("finish_reason"), False),
        usage=usage_from_openai(body.get("usage")),
    )
