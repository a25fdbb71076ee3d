"""Round trips through each wire dialect keep the meaning that dialect can carry.

For every dialect D, hypothesis builds canonical values and checks

* requests:  ``decode_request(encode_request(req)) == normalised(D, req)``
* answers:   ``decode_response(encode_response(resp)) == normalised(D, resp)``

"Normalised" keeps exactly what D can carry. What D cannot carry is listed once, in the two
tables below, with the reason; each entry names the step (further down) that applies it. The
decoded side is only touched where values are invented (ids a dialect has no field for) and
where the gateway restores reasoning provenance (``provenance.from_client``/``for_client``),
which no wire carries.

Bodies go through orjson between encoding and decoding, as they do on the wire.
"""

from __future__ import annotations

import copy

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from omniroute.dialects import provenance
from omniroute.dialects.registry import codec
from omniroute.schema import (
    ChatRequest,
    ChatResponse,
    Message,
    ReasoningConfig,
    Text,
    ToolCall,
    ToolResult,
)
from tests.dialects.round_trips.losses import (
    DIALECTS,
    REQUEST_LOSSES,
    REQUEST_STEPS,
    RESPONSE_LOSSES,
    RESPONSE_STEPS,
    normalised_request,
    normalised_response,
)
from tests.dialects.round_trips.strategies import requests, responses, wire

# ================================================================ the properties


def _relabel(messages_or_parts) -> None:
    """Ids a dialect invents, replaced by their order of appearance (results follow their call)."""
    names: dict[str, str] = {}

    def label(call_id: str) -> str:
        return names.setdefault(call_id, f"call#{len(names)}")

    for item in messages_or_parts:
        for p in item.parts if isinstance(item, Message) else [item]:
            if isinstance(p, ToolCall):
                p.id = label(p.id)
            elif isinstance(p, ToolResult):
                p.call_id = names.get(p.call_id, "unmatched")


def request_round_trip(dialect: str, req: ChatRequest) -> tuple[ChatRequest, ChatRequest]:
    """(what came back, what should have)."""
    c = codec(dialect)
    back = c.decode_request(wire(c.encode_request(copy.deepcopy(req))))
    provenance.from_client(back, dialect)  # as the gateway does with every client body
    expected = normalised_request(dialect, req)
    if "call_ids_generated" in REQUEST_LOSSES[dialect]:
        _relabel(back.messages)
        _relabel(expected.messages)
    return back, expected


def response_round_trip(dialect: str, resp: ChatResponse) -> tuple[ChatResponse, ChatResponse]:
    c = codec(dialect)
    back = c.decode_response(wire(c.encode_response(copy.deepcopy(resp))))
    provenance.for_client(back.parts, dialect, dialect)  # as the gateway does with every answer
    expected = normalised_response(dialect, resp)
    if "id_generated" in RESPONSE_LOSSES[dialect]:
        back.id = ""
    if "call_ids_generated" in RESPONSE_LOSSES[dialect]:
        _relabel(back.parts)
        _relabel(expected.parts)
    return back, expected


PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def test_every_loss_names_a_step():
    for table, steps in ((REQUEST_LOSSES, REQUEST_STEPS), (RESPONSE_LOSSES, RESPONSE_STEPS)):
        assert set(table) == set(DIALECTS)
        for losses in table.values():
            assert set(losses) <= set(steps)
            assert all(reason.strip() for reason in losses.values())


@pytest.mark.parametrize("dialect", DIALECTS)
@PROPERTY
@given(data=st.data())
def test_request_round_trip(dialect, data):
    back, expected = request_round_trip(dialect, data.draw(requests(dialect), label="request"))
    assert back == expected


@pytest.mark.parametrize("dialect", DIALECTS)
@PROPERTY
@given(data=st.data())
def test_response_round_trip(dialect, data):
    back, expected = response_round_trip(dialect, data.draw(responses(dialect), label="response"))
    assert back == expected


def test_openai_budget_without_effort():
    req = ChatRequest(model="m", messages=[Message("user", [Text("hi")])],
                      reasoning=ReasoningConfig(budget_tokens=4000))
    back, expected = request_round_trip("openai", req)
    assert back.reasoning == expected.reasoning == ReasoningConfig(effort="medium", budget_tokens=10240)


# ================================================================ fuzz: any JSON → a request or InvalidRequest
