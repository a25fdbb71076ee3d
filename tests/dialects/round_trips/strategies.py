"""Hypothesis strategies for canonical requests and answers, shaped per dialect."""

from __future__ import annotations

import base64
import json

import orjson
from hypothesis import strategies as st

from omniroute.schema import (
    ChatRequest,
    ChatResponse,
    Image,
    Message,
    Reasoning,
    ReasoningConfig,
    Text,
    ToolCall,
    ToolChoice,
    ToolDef,
    ToolResult,
    Usage,
)
from omniroute.schema.request import EFFORT_BUDGETS

# ================================================================ generating canonical values

WORD = st.text(alphabet="abcdefghij", min_size=1, max_size=6)
TEXT = st.lists(WORD, min_size=1, max_size=3).map(" ".join)
NAMES = st.text(alphabet="abcdefg", min_size=1, max_size=5)
TOKEN = st.text(alphabet="ABCXYZ0123xyz", min_size=4, max_size=10)

_MAGIC = {"image/png": b"\x89PNG\r\n\x1a\n", "image/jpeg": b"\xff\xd8\xff\xe0", "image/gif": b"GIF89a",
          "image/webp": b"RIFF\x00\x00\x00\x00WEBP"}


@st.composite
def images(draw) -> Image:
    detail = draw(st.none() | st.sampled_from(["low", "high", "auto"]))
    if draw(st.booleans()):
        media_type = draw(st.sampled_from(sorted(_MAGIC)))
        data = base64.b64encode(_MAGIC[media_type] + draw(st.binary(min_size=1, max_size=9))).decode()
        return Image(data=data, media_type=media_type, detail=detail)
    ext = draw(st.sampled_from([".png", ".jpg", ".gif", ""]))
    return Image(url=f"https://img.example/{draw(WORD)}{ext}", detail=detail)


json_scalars = st.none() | st.booleans() | st.integers(-1000, 10**6) | TEXT
json_objects = st.dictionaries(NAMES, json_scalars | st.lists(json_scalars, max_size=2), max_size=3)


@st.composite
def argument_texts(draw) -> str:
    value = draw(json_objects)
    return json.dumps(value) if draw(st.booleans()) else orjson.dumps(value).decode()


@st.composite
def schemas(draw) -> dict:
    props = draw(st.dictionaries(NAMES, st.sampled_from(["string", "integer", "boolean", "number"]), max_size=3))
    schema: dict = {"type": "object",
                    "properties": {name: {"type": kind} for name, kind in props.items()}}
    if props and draw(st.booleans()):
        schema["properties"][next(iter(props))]["description"] = draw(TEXT)
    if props and draw(st.booleans()):
        schema["required"] = sorted(props)[:1]
    if draw(st.booleans()):
        schema["additionalProperties"] = False
    return schema


tool_defs = st.builds(ToolDef, name=NAMES, description=st.none() | TEXT, parameters=schemas(),
                      strict=st.none() | st.booleans())


@st.composite
def reasonings(draw, dialect: str) -> Reasoning:
    kind = draw(st.sampled_from(["plain", "signed", "redacted"]))
    if kind == "plain":
        return Reasoning(text=draw(TEXT))
    text = draw(st.just("") | TEXT)
    payload = draw(TOKEN)
    if kind == "signed":
        return Reasoning(text=text, signature="sig" + payload, origin=dialect)
    return Reasoning(text=text, redacted="enc" + payload, origin=dialect)


@st.composite
def conversations(draw, dialect: str, tools: list[ToolDef]) -> list[Message]:
    """1–6 turns: user → assistant → (tool results when it called) → assistant or user → …"""
    size = draw(st.integers(1, 6))
    messages: list[Message] = []
    role, calls = "user", []
    while len(messages) < size:
        if role == "user":
            parts = draw(st.lists(st.one_of(TEXT.map(Text), images()), min_size=1, max_size=3))
            messages.append(Message("user", parts))
            role = "assistant"
        elif role == "assistant":
            parts = []
            if draw(st.booleans()):
                parts.append(draw(reasonings(dialect)))
            parts.extend(Text(t) for t in draw(st.lists(TEXT, max_size=2)))
            calls = []
            if tools and len(messages) + 1 < size:  # every call gets its results in the next turn
                for _ in range(draw(st.integers(0, 3))):
                    number = sum(isinstance(p, ToolCall) for m in messages for p in m.parts) + len(calls)
                    calls.append(ToolCall(id=f"call{number}_{draw(TOKEN)}", name=draw(st.sampled_from(tools)).name,
                                          arguments=draw(argument_texts())))
            parts.extend(calls)
            if not parts:
                parts.append(Text(draw(TEXT)))
            messages.append(Message("assistant", parts))
            role = "tool" if calls else "user"
        else:
            results = []
            for call in draw(st.permutations(calls)):
                content = draw(st.lists(TEXT | json_objects.map(lambda v: orjson.dumps(v).decode()),
                                        min_size=1, max_size=2))
                results.append(ToolResult(call_id=call.id, content=[Text(t) for t in content],
                                          is_error=draw(st.booleans()),
                                          name=draw(st.sampled_from([None, call.name]))))
            messages.append(Message("tool", results))
            role = draw(st.sampled_from(["assistant", "user"]))
    return messages


@st.composite
def response_formats(draw) -> dict | None:
    kind = draw(st.sampled_from([None, "json_object", "json_schema"]))
    if kind != "json_schema":
        return None if kind is None else {"type": kind}
    spec: dict = {"name": draw(NAMES), "schema": draw(schemas())}
    if draw(st.booleans()):
        spec["strict"] = draw(st.booleans())
    return {"type": "json_schema", "json_schema": spec}


reasoning_configs = st.one_of(
    st.none(),
    st.builds(ReasoningConfig, effort=st.sampled_from(sorted(EFFORT_BUDGETS))),
    st.builds(ReasoningConfig, budget_tokens=st.integers(1, 50_000)),
    st.just(ReasoningConfig(enabled=False)),
    st.just(ReasoningConfig()),
)


@st.composite
def requests(draw, dialect: str) -> ChatRequest:
    tools = draw(st.lists(tool_defs, max_size=3, unique_by=lambda t: t.name))
    choice = None
    if tools and draw(st.booleans()):
        mode = draw(st.sampled_from(["auto", "none", "required", "tool"]))
        choice = ToolChoice(mode=mode, name=draw(st.sampled_from(tools)).name if mode == "tool" else None,
                            parallel=draw(st.none() | st.booleans()))
    return ChatRequest(
        model="m-" + draw(WORD),
        system=[Text(t) for t in draw(st.lists(TEXT, max_size=2))],
        messages=draw(conversations(dialect, tools)),
        tools=tools,
        tool_choice=choice,
        max_tokens=draw(st.none() | st.integers(1, 8192)),
        temperature=draw(st.none() | st.sampled_from([0.0, 0.2, 0.7, 1.0, 1.5])),
        top_p=draw(st.none() | st.sampled_from([0.1, 0.5, 0.9, 0.95, 1.0])),
        top_k=draw(st.none() | st.integers(1, 100)),
        stop=draw(st.lists(TEXT, max_size=3)),
        seed=draw(st.none() | st.integers(0, 2**31)),
        stream=draw(st.booleans()),
        response_format=draw(response_formats()),
        reasoning=draw(reasoning_configs),
        user=draw(st.none() | WORD),
        metadata=draw(st.dictionaries(WORD, WORD, max_size=2)),
    )


@st.composite
def responses(draw, dialect: str) -> ChatResponse:
    parts: list = []
    if draw(st.booleans()):
        parts.append(draw(reasonings(dialect)))
    parts.extend(Text(t) for t in draw(st.lists(TEXT, max_size=2)))
    calls = [ToolCall(id=f"call{i}_{draw(TOKEN)}", name=draw(NAMES), arguments=draw(argument_texts()))
             for i in range(draw(st.integers(0, 3)))]
    parts.extend(calls)
    stop = "tool_calls" if calls else draw(st.sampled_from(["stop", "length", "stop_sequence", "content_filter"]))
    output = draw(st.integers(0, 5000))
    usage = Usage(input=draw(st.integers(0, 5000)), output=output, cache_read=draw(st.integers(0, 5000)),
                  cache_write=draw(st.integers(0, 5000)), reasoning=draw(st.integers(0, output)))
    return ChatResponse(id=draw(st.text(alphabet="abc0123", min_size=1, max_size=10)), model="m-" + draw(WORD),
                        parts=parts, stop_reason=stop,
                        stop_sequence=draw(TEXT) if stop == "stop_sequence" else None, usage=usage)


def wire(body: dict) -> dict:
    """A body as the other side reads it: through JSON, as on the wire."""
    return orjson.loads(orjson.dumps(body))
