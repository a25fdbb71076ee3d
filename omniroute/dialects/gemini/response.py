"""Gemini ``GenerateContentResponse`` answers ⇄ canonical responses, plus the pieces the stream reuses."""

from __future__ import annotations

import hashlib
import uuid

import orjson

from omniroute.schema import ChatResponse, Part, Reasoning, StopReason, Text, ToolCall, Usage

_FILTERED = ("SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "IMAGE_SAFETY",
             "IMAGE_PROHIBITED_CONTENT", "IMAGE_RECITATION", "MODEL_ARMOR")

STOP_FROM_GEMINI: dict[str, StopReason] = {"STOP": "stop", "MAX_TOKENS": "length"}
STOP_FROM_GEMINI.update(dict.fromkeys(_FILTERED, "content_filter"))

STOP_TO_GEMINI: dict[str, str] = {
    "stop": "STOP",
    "stop_sequence": "STOP",
    "tool_calls": "STOP",
    "length": "MAX_TOKENS",
    "content_filter": "SAFETY",
    # Gemini has no error finish reason; OTHER is its catch-all for abnormal ends.
    "error": "OTHER",
}


def stop_from_gemini(reason, has_calls: bool) -> StopReason:
    """The canonical stop reason for a ``finishReason``; STOP with function calls means tool_calls."""
    mapped = STOP_FROM_GEMINI.get(reason, "stop") if isinstance(reason, str) else "stop"
    return "tool_calls" if mapped == "stop" and has_calls else mapped


def new_call_id() -> str:
    """A tool-call id for a Gemini function call that came without one."""
    return f"call_{uuid.uuid4().hex[:24]}"


def call_id_for(response_id: str, index: int) -> str:
    """A stable id for the ``index``-th id-less call of a response, so re-decoding gives the same ids."""
    if not response_id:
        return new_call_id()
    return "call_" + hashlib.sha1(f"{response_id}:{index}".encode()).hexdigest()[:24]


def _int(value) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def usage_from_gemini(raw) -> Usage | None:
    """A ``usageMetadata`` object as canonical usage; None when it holds no counts.

    Gemini's prompt count includes cached tokens, and its candidates count excludes thoughts, while
    canonical ``input`` excludes cache reads and ``output`` includes reasoning (as OpenAI and
    Anthropic count it).
    """
    if not isinstance(raw, dict):
        return None
    prompt, cached = _int(raw.get("promptTokenCount")), _int(raw.get("cachedContentTokenCount"))
    candidates, thoughts = _int(raw.get("candidatesTokenCount")), _int(raw.get("thoughtsTokenCount"))
    if prompt is None and candidates is None and thoughts is None and cached is None:
        return None
    return Usage(input=max((prompt or 0) - (cached or 0), 0), output=(candidates or 0) + (thoughts or 0),
                 cache_read=cached or 0, reasoning=thoughts or 0)


def usage_body(usage: Usage) -> dict:
    """Gemini's ``usageMetadata`` for canonical usage (cache writes have no Gemini counterpart)."""
    prompt = usage.input + usage.cache_read + usage.cache_write
    candidates = max(usage.output - usage.reasoning, 0)
    body = {"promptTokenCount": prompt, "candidatesTokenCount": candidates,
            "totalTokenCount": prompt + candidates + usage.reasoning}
    if usage.cache_read:
        body["cachedContentTokenCount"] = usage.cache_read
    if usage.reasoning:
        body["thoughtsTokenCount"] = usage.reasoning
    return body


def args_object(arguments: str) -> dict:
    """A tool call's JSON argument text as the object ``functionCall.args`` needs ({} when not an object)."""
    try:
        value = orjson.loads(arguments) if arguments else {}
    except orjson.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def args_text(value) -> str:
    """``functionCall.args`` as canonical argument text."""
    return orjson.dumps(value if isinstance(value, dict) else {}).decode()


def part_to_parts(part, make_id=new_call_id) -> list[Part]:
    """One answer part as canonical parts (a signature on a non-thought part becomes its own Reasoning)."""
    if not isinstance(part, dict):
        return []
    signature = part.get("thoughtSignature") if isinstance(part.get("thoughtSignature"), str) else None
    text = part.get("text") if isinstance(part.get("text"), str) else None
    if part.get("thought") is True:
        return [Reasoning(text=text or "", signature=signature)]
    out: list[Part] = [Reasoning(signature=signature)] if signature else []
    call = part.get("functionCall")
    if isinstance(call, dict):
        call_id = call.get("id") if isinstance(call.get("id"), str) and call.get("id") else make_id()
        out.append(ToolCall(id=call_id, name=str(call.get("name") or ""), arguments=args_text(call.get("args"))))
    elif text is not None:
        out.append(Text(text))
    return out


def parts_to_gemini(parts: list[Part], *, upstream: bool) -> list[dict]:
    """Assistant parts as Gemini parts; a lone signature rides on the part that follows it.

    For an upstream, unsigned thoughts (another vendor's reasoning) and call ids are left out:
    Gemini has no use for the former and matches calls to responses by order.
    """
    out: list[dict] = []
    pending: str | None = None
    for part in parts:
        if isinstance(part, Reasoning):
            if part.text and (part.signature or not upstream):
                entry = {"text": part.text, "thought": True}
                if part.signature:
                    entry["thoughtSignature"] = part.signature
                out.append(entry)
            elif part.signature:
                pending = part.signature
            continue
        if isinstance(part, Text):
            if not part.text and not pending:
                continue
            entry = {"text": part.text}
        elif isinstance(part, ToolCall):
            call: dict = {"name": part.name, "args": args_object(part.arguments)}
            if not upstream and part.id:
                call["id"] = part.id
            entry = {"functionCall": call}
        else:
            continue
        if pending:
            entry["thoughtSignature"], pending = pending, None
        out.append(entry)
    if pending:
        out.append({"text": "", "thought": True, "thoughtSignature": pending})
    return out


def decode_response(body: dict) -> ChatResponse:
    """A Gemini GenerateContentResponse → canonical response (first candidate)."""
    body = body if isinstance(body, dict) else {}
    candidates = body.get("candidates")
    candidate = candidates[0] if isinstance(candidates, list) and candidates and isinstance(candidates[0], dict) else {}
    content = candidate.get("content") if isinstance(candidate.get("content"), dict) else {}
    raw_parts = content.get("parts") if isinstance(content.get("parts"), list) else []
    response_id = str(body.get("responseId") or "")
    counter = iter(range(len(raw_parts)))
    parts = [p for raw in raw_parts for p in part_to_parts(raw, lambda: call_id_for(response_id, next(counter)))]
    reason = candidate.get("finishReason")
    if reason is None and isinstance(body.get("promptFeedback"), dict) and body["promptFeedback"].get("blockReason"):
        reason = "SAFETY"  # the prompt itself was blocked: no candidate at all
    return ChatResponse(
        id=response_id,
        model=str(body.get("modelVersion") or ""),
        parts=parts,
        stop_reason=stop_from_gemini(reason, any(isinstance(p, ToolCall) for p in parts)),
        usage=usage_from_gemini(body.get("usageMetadata")) or Usage(),
    )


def encode_response(response: ChatResponse) -> dict:
    """A canonical response → a Gemini GenerateContentResponse."""
    candidate = {
        "content": {"role": "model", "parts": parts_to_gemini(response.parts, upstream=False)},
        "finishReason": STOP_TO_GEMINI.get(response.stop_reason, "STOP"),
        "index": 0,
    }
    return {
        "candidates": [candidate],
        "usageMetadata": usage_body(response.usage),
        "modelVersion": response.model,
        "responseId": response.id or uuid.uuid4().hex,
    }
