"""Fuzz: whatever JSON reaches ``decode_request`` of a dialect, the only exception it raises is
``InvalidRequest`` (the Responses dialect has its own in tests/dialects/responses/)."""

from __future__ import annotations

import base64
import copy

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from omniroute.dialects.registry import codec
from omniroute.errors import InvalidRequest
from omniroute.schema import (
    ChatRequest,
    Image,
    Message,
    Reasoning,
    ReasoningConfig,
    Text,
    ToolCall,
    ToolChoice,
    ToolDef,
    ToolResult,
)
from tests.dialects.round_trips.strategies import _MAGIC, requests, wire

#
# Responses has its own (tests/dialects/responses/test_request_fuzz.py).

_WORDS = ["model", "messages", "role", "content", "system", "developer", "user", "assistant", "tool", "function",
          "type", "text", "image", "image_url", "url", "detail", "source", "base64", "media_type", "data",
          "tool_calls", "tool_call_id", "id", "name", "arguments", "function_call", "functions", "tools",
          "tool_choice", "allowed_tools", "parallel_tool_calls", "parameters", "strict", "description",
          "tool_use", "tool_result", "tool_use_id", "input", "input_schema", "is_error", "thinking",
          "redacted_thinking", "signature", "budget_tokens", "enabled", "disabled", "adaptive", "max_tokens",
          "stop", "stop_sequences", "temperature", "top_p", "top_k", "seed", "stream", "stream_options",
          "response_format", "reasoning_effort", "metadata", "output_config", "format", "schema", "json",
          "json_schema", "auto", "any", "none", "required", "contents", "parts", "model", "inlineData",
          "fileData", "mimeType", "fileUri", "functionCall", "functionResponse", "response", "args",
          "thought", "thoughtSignature", "systemInstruction", "functionDeclarations", "parametersJsonSchema",
          "toolConfig", "functionCallingConfig", "mode", "ANY", "AUTO", "NONE", "allowedFunctionNames",
          "generationConfig", "thinkingConfig", "thinkingBudget", "thinkingLevel", "responseMimeType",
          "responseSchema", "responseJsonSchema", "stopSequences", "maxOutputTokens", "topK", "images",
          "options", "num_predict", "think", "tool_name", "high", "low", "xhigh", "application/json",
          "data:image/png;base64,AAAA"]

_scalars = st.none() | st.booleans() | st.integers(-5, 10**6) | st.floats(allow_nan=False, allow_infinity=False) \
    | st.sampled_from(_WORDS) | st.text(max_size=6)
json_values = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from(_WORDS) | st.text(max_size=4),
                                                                inner, max_size=5),
    max_leaves=25,
)
FUZZED = ("openai", "anthropic", "gemini", "ollama")
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _decodes_or_refuses(dialect: str, body) -> None:
    try:
        result = codec(dialect).decode_request(body)
    except InvalidRequest as err:
        assert err.status == 400 and err.message
    else:
        assert isinstance(result, ChatRequest)


@pytest.mark.parametrize("dialect", FUZZED)
@FUZZ
@given(body=json_values, extra=st.dictionaries(st.sampled_from(_WORDS), json_values, max_size=4),
       inner=json_values)
def test_any_json_decodes_or_is_refused(dialect, body, extra, inner):
    _decodes_or_refuses(dialect, body)
    head = {"contents": inner} if dialect == "gemini" else {"model": "m", "messages": inner, "max_tokens": 8}
    _decodes_or_refuses(dialect, {**head, **extra})


def _paths(node, path=()):
    """Every place in a JSON value, the value itself first."""
    yield path
    children = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, child in children:
        yield from _paths(child, (*path, key))


@pytest.mark.parametrize("dialect", FUZZED)
@settings(FUZZ, max_examples=80)
@given(data=st.data())
def test_a_valid_body_with_one_value_replaced(dialect, data):
    body = wire(codec(dialect).encode_request(data.draw(requests(dialect))))
    path = data.draw(st.sampled_from(list(_paths(body))))
    if not path:
        _decodes_or_refuses(dialect, data.draw(json_values))
        return
    parent = body
    for key in path[:-1]:
        parent = parent[key]
    if isinstance(parent, dict) and data.draw(st.booleans()):
        del parent[path[-1]]
    else:
        parent[path[-1]] = data.draw(json_values)
    _decodes_or_refuses(dialect, body)


RICH = ChatRequest(
    model="m-rich",
    system=[Text("be brief")],
    messages=[
        Message("user", [Text("look"), Image(data=base64.b64encode(_MAGIC["image/png"] + b"x").decode(),
                                            media_type="image/png", detail="low"),
                         Image(url="https://img.example/a.png")]),
        Message("assistant", [Reasoning(text="hm", signature="sigABC"), Text("calling"),
                              ToolCall(id="c1", name="f", arguments='{"a": 1}'),
                              ToolCall(id="c2", name="g", arguments='{"b": "x"}')]),
        Message("tool", [ToolResult(call_id="c2", content=[Text('{"ok": true}')], name="g"),
                         ToolResult(call_id="c1", content=[Text("done")], is_error=True)]),
        Message("assistant", [Reasoning(redacted="encXYZ"), Text("and")]),
        Message("user", [Text("thanks")]),
    ],
    tools=[ToolDef(name="f", description="eff", parameters={"type": "object", "properties": {"a": {"type": "integer"}},
                                                            "required": ["a"], "additionalProperties": False}),
           ToolDef(name="g", parameters={"type": "object", "properties": {"b": {"type": "string"}}}, strict=True)],
    tool_choice=ToolChoice(mode="tool", name="f", parallel=False),
    max_tokens=100, temperature=0.5, top_p=0.9, top_k=5, stop=["end"], seed=7, stream=True,
    response_format={"type": "json_schema", "json_schema": {"name": "r", "schema": {"type": "object"}}},
    reasoning=ReasoningConfig(effort="low"), user="u", metadata={"k": "v"},
)
# One of every JSON kind, each wrong somewhere.
WRONG_KINDS = (None, True, 0, -1, 1.5, "", "x", [], ["x"], [{}], {}, {"type": "x"})


@pytest.mark.parametrize("dialect", FUZZED)
def test_every_value_of_a_rich_body_replaced_by_each_kind(dialect):
    body = wire(codec(dialect).encode_request(copy.deepcopy(RICH)))
    for path in list(_paths(body))[1:]:
        variants = [*WRONG_KINDS, "delete"] if isinstance(path[-1], str) else WRONG_KINDS
        for value in variants:
            mutated = copy.deepcopy(body)
            parent = mutated
            for key in path[:-1]:
                parent = parent[key]
            if value == "delete":
                del parent[path[-1]]
            else:
                parent[path[-1]] = copy.deepcopy(value)
            _decodes_or_refuses(dialect, mutated)


_HI = [{"role": "user", "content": "hi"}]


@pytest.mark.parametrize("body", [
    {"model": "m", "messages": _HI, "tool_choice": {"type": "allowed_tools", "allowed_tools": [1]}},
    {"model": "m", "messages": _HI, "tool_choice": {"type": "allowed_tools"}},
    {"model": "m", "messages": _HI, "tool_choice": {"type": "allowed_tools",
                                                    "allowed_tools": {"tools": [{"function": "f"}]}}},
    {"model": "m", "messages": _HI, "tools": [{"type": "function", "function": {"name": "f"}}],
     "tool_choice": {"type": "allowed_tools", "allowed_tools": {"tools": [{"function": {"name": ["f"]}}]}}},
])
def test_openai_malformed_allowed_tools(body):
    _decodes_or_refuses("openai", body)
