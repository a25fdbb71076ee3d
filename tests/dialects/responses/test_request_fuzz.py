"""Fuzz: on any JSON at all, decode_request answers a canonical request or InvalidRequest, nothing else."""

from __future__ import annotations

import pytest

pytest.importorskip("hypothesis")

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from omniroute.dialects.responses import CODEC  # noqa: E402
from omniroute.errors import InvalidRequest  # noqa: E402
from omniroute.schema import ChatRequest  # noqa: E402
from tests.dialects.responses.support import load  # noqa: E402

_WORDS = ["model", "input", "type", "role", "content", "text", "message", "function_call", "function_call_output",
          "reasoning", "call_id", "name", "arguments", "output", "summary", "summary_text", "encrypted_content",
          "input_text", "input_image", "output_text", "refusal", "image_url", "detail", "file_id", "user",
          "assistant", "system", "developer", "tools", "function", "parameters", "strict", "tool_choice",
          "allowed_tools", "mode", "auto", "required", "none", "text", "format", "json_schema", "json_object",
          "schema", "effort", "high", "xhigh", "include", "previous_response_id", "instructions",
          "max_output_tokens", "temperature", "metadata", "stream", "data:image/png;base64,AAAA"]

scalars = st.none() | st.booleans() | st.integers(-5, 10**6) | st.floats(allow_nan=True) | st.sampled_from(_WORDS) \
    | st.text(max_size=8)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from(_WORDS) | st.text(max_size=4),
                                                                inner, max_size=5),
    max_leaves=30,
)


def _check(body) -> None:
    try:
        result = CODEC.decode_request(body)
    except InvalidRequest as err:
        assert err.status == 400 and err.message
    else:
        assert isinstance(result, ChatRequest)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=json_values)
def test_any_json(body):
    _check(body)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(input_=json_values, extra=st.dictionaries(st.sampled_from(_WORDS), json_values, max_size=4))
def test_near_valid_bodies(input_, extra):
    _check({"model": "gpt-x", "input": input_, **extra})


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=st.sampled_from(["request_text.json", "request_tools.json", "request_images.json",
                             "request_reasoning.json"]),
       data=st.data())
def test_fixtures_with_one_value_replaced(name, data):
    body = load(name)
    node, path = body, []
    while isinstance(node, dict | list) and node and data.draw(st.booleans()):
        key = data.draw(st.sampled_from(sorted(node) if isinstance(node, dict) else list(range(len(node)))))
        path.append(key)
        node = node[key]
    if not path:
        return
    parent = body
    for key in path[:-1]:
        parent = parent[key]
    parent[path[-1]] = data.draw(json_values)
    _check(body)


def test_unhashable_values_where_names_are_expected():
    _check({"model": "m", "input": "x", "tools": [{"type": "function", "name": "f"}],
            "tool_choice": {"type": "allowed_tools", "tools": [{"type": "function", "name": ["f"]}]}})
    _check({"model": "m", "input": "x", "include": [{"a": 1}], "reasoning": {"effort": ["high"]}})
    _check({"model": "m", "input": [{"role": ["user"], "content": "x"}, {"type": {"t": 1}}]})
