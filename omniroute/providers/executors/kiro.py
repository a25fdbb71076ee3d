"""Kiro (AWS CodeWhisperer / Amazon Q Developer streaming API) with the Kiro sign-in's token.

Kiro's upstream is ``POST https://codewhisperer.<region>.amazonaws.com/generateAssistantResponse``
with a bearer token and the IDE's AWS SDK headers. The request is CodeWhisperer's own
``conversationState`` (a current user message plus alternating history, tools as
``toolSpecification``, tool results inside the next user message's context, ``profileArn`` of
the account); the answer is always a stream in the binary AWS event-stream framing
(``application/vnd.amazon.eventstream``): ``assistantResponseEvent`` carries text,
``toolUseEvent`` a tool call's name, id and argument pieces.

The conversion works on OpenAI Chat: the event stream becomes OpenAI Chat SSE chunks for a
streaming client and one ``chat.completion`` for a whole answer. For a provider whose dialect is
``anthropic`` (Kiro serves Claude models) the body and the answers cross the canonical model once
more through the dialect codecs. Kiro reports no token counts, so usage is left to the gateway's
estimate.
"""

from __future__ import annotations

import struct
import time
import uuid
import zlib

import orjson

from omniroute.dialects.registry import codec
from omniroute.errors import InvalidRequest, UpstreamConnectionError
from omniroute.providers.executors.base import BaseExecutor, StreamTransform, UpstreamCall

SDK_VERSION = "1.0.27"
IDE = "KiroIDE-0.7.45"
TOOL_RESULTS_ONLY = "Tool results are attached."


# ---- request ----------------------------------------------------------------------------------

def _text(content) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content
                       if isinstance(p, dict) and p.get("type") in ("text", "input_text") and isinstance(p.get("text"), str))
    return ""


def _tool(tool: dict) -> dict | None:
    fn = tool.get("function") if tool.get("type") == "function" else None
    if not isinstance(fn, dict) or not fn.get("name"):
        return None
    return {"toolSpecification": {"name": fn["name"], "description": fn.get("description") or fn["name"],
                                  "inputSchema": {"json": fn.get("parameters") or {"type": "object", "properties": {}}}}}


def _arguments(raw) -> dict:
    if isinstance(raw, dict):
        return raw
    try:
        value = orjson.loads(raw or "{}")
    except orjson.JSONDecodeError:
        return {"input": raw}
    return value if isinstance(value, dict) else {"input": value}


class _Turns:
    """OpenAI Chat messages → alternating CodeWhisperer user/assistant turns."""

    def __init__(self, model: str):
        self.model = model
        self.turns: list[dict] = []

    def user(self, text: str, results: list[dict] | None = None) -> None:
        last = self.turns[-1] if self.turns else None
        if last is not None and "userInputMessage" in last:
            message = last["userInputMessage"]
            if text:
                message["content"] = (message["content"] + "\n\n" + text) if message["content"] else text
        else:
            message = {"content": text, "modelId": self.model, "origin": "AI_EDITOR"}
            self.turns.append({"userInputMessage": message})
        if results:
            context = message.setdefault("userInputMessageContext", {})
            context.setdefault("toolResults", []).extend(results)

    def assistant(self, text: str, calls: list[dict]) -> None:
        if not self.turns or "assistantResponseMessage" in self.turns[-1]:
            self.user("")
        message: dict = {"content": text}
        if calls:
            message["toolUses"] = [{"toolUseId": c.get("id") or f"tooluse_{uuid.uuid4().hex}",
                                    "name": (c.get("function") or {}).get("name", ""),
                                    "input": _arguments((c.get("function") or {}).get("arguments"))}
                                   for c in calls if isinstance(c, dict)]
        self.turns.append({"assistantResponseMessage": message})


def conversation(body: dict, model: str, profile_arn: str | None = None, conversation_id: str | None = None) -> dict:
    """An OpenAI Chat request → a generateAssistantResponse request."""
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise InvalidRequest("'messages' must be a non-empty array", code="invalid_value")
    system = "\n\n".join(_text(m.get("content")) for m in messages
                         if isinstance(m, dict) and m.get("role") in ("system", "developer"))
    turns = _Turns(model)
    for message in messages:
        if not isinstance(message, dict):
            continue
        role = message.get("role")
        if role == "user":
            turns.user(_text(message.get("content")))
        elif role == "assistant":
            turns.assistant(_text(message.get("content")), message.get("tool_calls") or [])
        elif role == "tool":
            turns.user("", [{"toolUseId": message.get("tool_call_id") or "", "status": "success",
                             "content": [{"text": _text(message.get("content"))}]}])
    if not turns.turns or "userInputMessage" not in turns.turns[-1]:
        turns.user("Continue.")
    current = turns.turns.pop()["userInputMessage"]
    if not current["content"]:
        current["content"] = TOOL_RESULTS_ONLY
    if system:
        first = turns.turns[0]["userInputMessage"] if turns.turns else current
        first["content"] = system + ("\n\n" + first["content"] if first["content"] else "")
    for turn in turns.turns:
        user = turn.get("userInputMessage")
        if user is not None and not user["content"]:
            user["content"] = TOOL_RESULTS_ONLY
    tools = [t for t in (_tool(t) for t in body.get("tools") or [] if isinstance(t, dict)) if t]
    if tools and body.get("tool_choice") != "none":
        current.setdefault("userInputMessageContext", {})["tools"] = tools
    state: dict = {"chatTriggerType": "MANUAL", "conversationId": conversation_id or str(uuid.uuid4()),
                   "currentMessage": {"userInputMessage": current}}
    if turns.turns:
        state["history"] = turns.turns
    out: dict = {"conversationState": state}
    if profile_arn:
        out["profileArn"] = profile_arn
    return out


# ---- AWS event-stream framing -----------------------------------------------------------------

_FIXED = {2: 1, 3: 2, 4: 4, 5: 8, 8: 8, 9: 16}


def _headers(raw: bytes) -> dict[str, object]:
    out: dict[str, object] = {}
    i = 0
    while i < len(raw):
        n = raw[i]
        name = raw[i + 1:i + 1 + n].decode("utf-8", "replace")
        i += 1 + n
        kind = raw[i]
        i += 1
        if kind in (0, 1):
            out[name] = kind == 0
        elif kind in (6, 7):
            (length,) = struct.unpack_from(">H", raw, i)
            value = raw[i + 2:i + 2 + length]
            out[name] = value.decode("utf-8", "replace") if kind == 7 else value
            i += 2 + length
        elif kind in _FIXED:
            out[name] = raw[i:i + _FIXED[kind]]
            i += _FIXED[kind]
        else:
            raise ValueError(f"unknown event-stream header type {kind}")
    return out


class EventStreamSplitter:
    """Incremental AWS event-stream decoder: ``feed(bytes)`` → complete (headers, payload) messages."""

    def __init__(self) -> None:
        self._buf = bytearray()

    @property
    def pending(self) -> int:
        return len(self._buf)

    def feed(self, chunk: bytes) -> list[tuple[dict, bytes]]:
        self._buf += chunk
        out = []
        while len(self._buf) >= 12:
            total, header_len, prelude_crc = struct.unpack_from(">III", self._buf, 0)
            if zlib.crc32(self._buf[:8]) != prelude_crc or total < 16 + header_len:
                raise ValueError("corrupt event-stream prelude")
            if len(self._buf) < total:
                break
            frame = bytes(self._buf[:total])
            del self._buf[:total]
            (message_crc,) = struct.unpack_from(">I", frame, total - 4)
            if zlib.crc32(frame[:-4]) != message_crc:
                raise ValueError("corrupt event-stream message")
            out.append((_headers(frame[12:12 + header_len]), frame[12 + header_len:-4]))
        return out


def frame(headers: dict[str, str], payload: bytes) -> bytes:
    """One event-stream message with string headers (what the upstream sends; used by fakes)."""
    raw = b"".join(bytes([len(k)]) + k.encode() + b"\x07" + struct.pack(">H", len(v.encode())) + v.encode()
                   for k, v in headers.items())
    total = 16 + len(raw) + len(payload)
    prelude = struct.pack(">II", total, len(raw))
    prelude += struct.pack(">I", zlib.crc32(prelude))
    body = prelude + raw + payload
    return body + struct.pack(">I", zlib.crc32(body))


def event(kind: str, payload: dict) -> bytes:
    return frame({":event-type": kind, ":content-type": "application/json", ":message-type": "event"},
                 orjson.dumps(payload))


# ---- answer -----------------------------------------------------------------------------------

class _Answer:
    """Kiro events → OpenAI Chat pieces, shared by the stream and the whole-answer paths."""

    def __init__(self, model: str):
        self.model = model
        self.id = f"chatcmpl-{uuid.uuid4().hex}"
        self.created = int(time.time())
        self.text: list[str] = []
        self.calls: dict[str, dict] = {}  # toolUseId → {"index", "name", "arguments"}
        self.error: dict | None = None
        self.seen = False

    def apply(self, headers: dict, payload: bytes) -> list[dict]:
        """The chunk deltas one event adds (an error is kept in ``self.error``)."""
        self.seen = True
        try:
            data = orjson.loads(payload) if payload else {}
        except orjson.JSONDecodeError:
            data = {}
        if headers.get(":message-type") in ("exception", "error"):
            message = data.get("message") if isinstance(data, dict) else None
            kind = headers.get(":exception-type") or headers.get(":error-code") or "upstream_error"
            self.error = {"message": str(message or kind), "type": "upstream_error", "code": str(kind)}
            return []
        if not isinstance(data, dict):
            return []
        kind = headers.get(":event-type")
        if kind == "assistantResponseEvent" and isinstance(data.get("content"), str) and data["content"]:
            self.text.append(data["content"])
            return [{"content": data["content"]}]
        if kind == "toolUseEvent" and data.get("toolUseId"):
            out = []
            call = self.calls.get(data["toolUseId"])
            if call is None:
                call = self.calls[data["toolUseId"]] = {"index": len(self.calls), "name": data.get("name") or "",
                                                        "arguments": ""}
                out.append({"tool_calls": [{"index": call["index"], "id": data["toolUseId"], "type": "function",
                                            "function": {"name": call["name"], "arguments": ""}}]})
            piece = data.get("input")
            if isinstance(piece, dict):
                piece = orjson.dumps(piece).decode()
            if isinstance(piece, str) and piece:
                call["arguments"] += piece
                out.append({"tool_calls": [{"index": call["index"], "function": {"arguments": piece}}]})
            return out
        return []

    @property
    def finish_reason(self) -> str:
        return "tool_calls" if self.calls else "stop"

    def chunk(self, delta: dict, finish: str | None = None) -> bytes:
        obj = {"id": self.id, "object": "chat.completion.chunk", "created": self.created, "model": self.model,
               "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
        return b"data: " + orjson.dumps(obj) + b"\n\n"

    def completion(self) -> dict:
        message: dict = {"role": "assistant", "content": "".join(self.text) or None}
        if self.calls:
            message["tool_calls"] = [{"id": cid, "type": "function",
                                      "function": {"name": c["name"], "arguments": c["arguments"] or "{}"}}
                                     for cid, c in self.calls.items()]
        return {"id": self.id, "object": "chat.completion", "created": self.created, "model": self.model,
                "choices": [{"index": 0, "message": message, "finish_reason": self.finish_reason}]}


class KiroStream:
    """Kiro's event stream → an OpenAI Chat SSE stream, for any split of the bytes."""

    def __init__(self, model: str = ""):
        self._split = EventStreamSplitter()
        self._answer = _Answer(model)
        self._role_sent = False
        self._over = False

    def feed(self, chunk: bytes) -> bytes:
        if self._over:
            return b""
        try:
            messages = self._split.feed(chunk)
        except ValueError as exc:
            return self._fail({"message": f"unreadable Kiro event stream: {exc}", "type": "upstream_error",
                               "code": "bad_event_stream"})
        out = []
        for headers, payload in messages:
            for delta in self._answer.apply(headers, payload):
                if not self._role_sent:
                    delta = {"role": "assistant", **delta}
                    self._role_sent = True
                out.append(self._answer.chunk(delta))
            if self._answer.error is not None:
                out.append(self._fail(self._answer.error))
                break
        return b"".join(out)

    def finish(self) -> bytes:
        if self._over or not self._answer.seen or self._split.pending:
            return b""  # nothing, or a cut frame: the decoder reports the stream as truncated
        self._over = True
        return self._answer.chunk({}, self._answer.finish_reason) + b"data: [DONE]\n\n"

    def _fail(self, error: dict) -> bytes:
        self._over = True
        return b"data: " + orjson.dumps({"error": error}) + b"\n\n"


def collect(raw: bytes, model: str) -> dict:
    """A whole Kiro event stream → one OpenAI ``chat.completion``."""
    answer = _Answer(model)
    split = EventStreamSplitter()
    try:
        messages = split.feed(raw)
    except ValueError as exc:
        raise UpstreamConnectionError(f"unreadable Kiro event stream: {exc}") from None
    for headers, payload in messages:
        answer.apply(headers, payload)
        if answer.error is not None:
            from omniroute.errors import classify_upstream

            raise classify_upstream(429 if "Throttl" in answer.error["code"] else 502,
                                    orjson.dumps({"error": answer.error}))
    if split.pending or not answer.seen:
        raise UpstreamConnectionError("upstream stream ended before its final event")
    return answer.completion()


class _Recoded:
    """An OpenAI Chat SSE transform whose output is re-encoded in another dialect's stream."""

    def __init__(self, inner: KiroStream, dialect: str, model: str):
        self._inner = inner
        self._decoder = codec("openai").stream_decoder()
        self._encoder = codec(dialect).stream_encoder(model)

    def feed(self, chunk: bytes) -> bytes:
        return self._encode(self._decoder.feed(self._inner.feed(chunk)))

    def finish(self) -> bytes:
        data = self._inner.finish()
        if not data:
            return b""  # a cut stream stays cut: the dialect's own decoder reports it
        return self._encode(self._decoder.feed(data) + self._decoder.finish())

    def _encode(self, events) -> bytes:
        return b"".join(self._encoder.feed(e) for e in events)


class KiroExecutor(BaseExecutor):
    name = "kiro"
    default_base = "https://codewhisperer.us-east-1.amazonaws.com"

    def base(self, call: UpstreamCall) -> str:
        if call.base_url:
            return call.base_url.rstrip("/")
        region = call.account.get("region") or "us-east-1"
        return f"https://codewhisperer.{region}.amazonaws.com"

    def __init__(self, dialect: str = "anthropic"):
        self.dialect = dialect

    def prepare(self, call: UpstreamCall) -> UpstreamCall:
        body = orjson.loads(call.body)
        if self.dialect != "openai":
            body = codec("openai").encode_request(codec(self.dialect).decode_request(body))
        payload = conversation(body, call.model, call.account.get("profile_arn"), call.account.get("conversation_id"))
        agent = f"aws-sdk-js/{SDK_VERSION} {IDE}"
        call.headers = self.headers(call, {
            "Authorization": f"Bearer {call.token or ''}",
            "Accept": "application/json",
            "User-Agent": f"aws-sdk-js/{SDK_VERSION} ua/2.1 os/linux lang/js md/nodejs "
                          f"api/codewhispererstreaming#{SDK_VERSION} m/E {IDE}",
            "x-amz-user-agent": agent,
            "x-amzn-codewhisperer-optout": "true",
            "x-amzn-kiro-agent-mode": "vibe",
            "amz-sdk-invocation-id": str(uuid.uuid4()),
            "amz-sdk-request": "attempt=1; max=3",
        })
        call.url = self.base(call) + "/generateAssistantResponse"
        call.body = orjson.dumps(payload)
        call.collect = not call.stream
        return call

    def unwrap_stream(self, model: str = "") -> StreamTransform:
        if self.dialect == "openai":
            return KiroStream(model)
        return _Recoded(KiroStream(model), self.dialect, model)

    def answer_json(self, raw: bytes, call: UpstreamCall) -> dict:
        completion = collect(raw, call.model)
        if self.dialect == "openai":
            return completion
        return codec(self.dialect).encode_response(codec("openai").decode_response(completion))
