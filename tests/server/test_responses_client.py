"""The Responses dialect at the gateway: Codex-style requests, errors, pass-through and the Chat path."""

from __future__ import annotations

import httpx
import openai
import orjson
import pytest

from tests.fakes.responses_upstream import FakeResponses


@pytest.fixture
def oai(gateway, connection, upstream):
    connection()
    return openai.OpenAI(base_url=gateway.url + "/v1", api_key="sk-local", max_retries=0)


@pytest.fixture(scope="module")
def fake_responses():
    fake = FakeResponses().start()
    yield fake
    fake.stop()


@pytest.fixture
def responses_up(connection, fake_responses):
    fake_responses.clear()
    connection(provider="openai-responses", apiKey="r-key", baseUrl=fake_responses.base_url)
    return fake_responses


def test_string_input_is_a_user_turn(oai, upstream):
    """A plain string ``input`` must reach the upstream as the user's message, not an empty conversation."""
    answer = oai.responses.create(model="openai/gpt-4o-mini", input="hello there", instructions="Be brief.")
    assert answer.output_text == "echo: hello there" and answer.status == "completed"
    assert upstream.requests[-1].body["messages"] == [{"role": "system", "content": "Be brief."},
                                                      {"role": "user", "content": "hello there"}]
    assert answer.usage.input_tokens > 0 and answer.usage.output_tokens == 3


def test_hosted_tools_are_named_in_a_400_when_the_upstream_cannot_run_them(oai, upstream):
    with pytest.raises(openai.BadRequestError) as info:
        oai.responses.create(model="openai/gpt-4o-mini", input="news?", tools=[{"type": "web_search"}])
    assert "web_search" in info.value.message and info.value.code == "unsupported_feature"
    with pytest.raises(openai.BadRequestError) as info:
        oai.responses.create(model="openai/gpt-4o-mini", input="go on", previous_response_id="resp_123")
    assert "previous_response_id" in info.value.message
    assert upstream.requests == []


def test_same_dialect_passes_hosted_tools_through(gateway, responses_up):
    client = openai.OpenAI(base_url=gateway.url + "/v1", api_key="sk-local", max_retries=0)
    body = {"model": "openai-responses/gpt-5", "input": "news?", "tools": [{"type": "web_search"}],
            "previous_response_id": "resp_123"}
    answer = client.responses.create(**body)
    assert answer.output_text == "echo: news?"
    sent = responses_up.requests[-1]
    assert sent.body["tools"] == [{"type": "web_search"}] and sent.body["previous_response_id"] == "resp_123"
    assert sent.body["model"] == "gpt-5" and sent.api_key == "r-key"


def test_chat_path_with_a_responses_body(gateway, oai, upstream):
    resp = httpx.post(gateway.url + "/v1/chat/completions", json={"model": "openai/gpt-4o-mini", "input": "hi"})
    assert resp.status_code == 200 and resp.json()["object"] == "response"
    assert resp.json()["output"][0]["content"][0]["text"] == "echo: hi"


def test_bad_input_is_an_openai_error_naming_the_field(gateway, oai, upstream):
    resp = httpx.post(gateway.url + "/v1/responses", json={"model": "openai/gpt-4o-mini",
                                                           "input": [{"type": "function_call_output"}]})
    assert resp.status_code == 400
    assert "call_id" in resp.json()["error"]["message"]
    resp = httpx.post(gateway.url + "/v1/responses", json={"input": "hi"})
    assert resp.status_code == 400 and "model" in resp.json()["error"]["message"]


def test_cut_upstream_stream_ends_with_an_error_event(gateway, oai, upstream):
    upstream.cut_stream_after(2)
    resp = httpx.post(gateway.url + "/v1/responses", json={"model": "openai/gpt-4o-mini", "stream": True,
                                                           "input": "one two three four five six"})
    events = [orjson.loads(line[6:]) for line in resp.text.splitlines() if line.startswith("data: ")]
    assert events[0]["type"] == "response.created"
    assert events[-1]["type"] == "error" and not any(e["type"] == "response.completed" for e in events)


def test_reasoning_over_an_anthropic_upstream(gateway, connection, anthropic_upstream):
    connection(provider="anthropic", apiKey="a-key", baseUrl=anthropic_upstream.base_url)
    client = openai.OpenAI(base_url=gateway.url + "/v1", api_key="sk-local", max_retries=0)
    answer = client.responses.create(model="anthropic/claude-sonnet-4-5", input="why",
                                     reasoning={"effort": "low"}, max_output_tokens=4000)
    kinds = [item.type for item in answer.output]
    assert kinds == ["reasoning", "message"]
    assert answer.output[0].summary[0].text == "Thinking about: why"
    thinking = anthropic_upstream.requests[-1].body["thinking"]
    assert thinking == {"type": "enabled", "budget_tokens": 1024}


TOOLS = [{"type": "function", "name": "lookup", "description": "Look it up",
          "parameters": {"type": "object", "properties": {"query": {"type": "string"}}}}]


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
def test_thinking_tool_loop_over_anthropic_keeps_the_signature(gateway, connection, anthropic_upstream, stream):
    """Anthropic refuses a thinking tool loop whose thinking block lost its signature; Codex must not lose it."""
    connection(provider="anthropic", apiKey="a-key", baseUrl=anthropic_upstream.base_url)
    client = openai.OpenAI(base_url=gateway.url + "/v1", api_key="sk-local", max_retries=0)
    args = {"model": "anthropic/claude-sonnet-4-5", "tools": TOOLS, "reasoning": {"effort": "low"},
            "max_output_tokens": 4000}
    if stream:
        with client.responses.stream(input="find cats", **args) as events:
            first = events.get_final_response()
    else:
        first = client.responses.create(input="find cats", **args)
    reasoning = [item for item in first.output if item.type == "reasoning"]
    call = next(item for item in first.output if item.type == "function_call")
    assert reasoning and reasoning[0].encrypted_content.startswith("omr1.anthropic.s.")
    history = [{"role": "user", "content": "find cats"},
               *[item.model_dump(exclude_none=True, exclude={"id", "status"}) for item in reasoning],
               {"type": "function_call", "call_id": call.call_id, "name": call.name, "arguments": call.arguments},
               {"type": "function_call_output", "call_id": call.call_id, "output": "3 cats"}]
    second = client.responses.create(input=history, **args)
    assert "3 cats" in second.output_text
    sent = anthropic_upstream.requests[-1].body["messages"]
    thinking = next(b for m in sent if m["role"] == "assistant" for b in m["content"] if b["type"] == "thinking")
    assert thinking["signature"] == reasoning[0].encrypted_content.removeprefix("omr1.anthropic.s.")
    assert thinking["signature"].startswith("sig-")  # the fake's own signature, back unchanged


def test_codex_apply_patch_over_anthropic(gateway, connection, anthropic_upstream):
    """A free-form ``custom`` tool travels as a function and comes back to Codex as a custom_tool_call."""
    connection(provider="anthropic", apiKey="a-key", baseUrl=anthropic_upstream.base_url)
    client = openai.OpenAI(base_url=gateway.url + "/v1", api_key="sk-local", max_retries=0)
    tools = [{"type": "custom", "name": "apply_patch", "description": "Edit files with a patch"}]
    for stream in (False, True):
        if stream:
            with client.responses.stream(model="anthropic/claude-sonnet-4-5", input="fix it", tools=tools) as events:
                answer = events.get_final_response()
        else:
            answer = client.responses.create(model="anthropic/claude-sonnet-4-5", input="fix it", tools=tools)
        call = next(item for item in answer.output if item.type == "custom_tool_call")
        assert call.name == "apply_patch" and call.input == "fix it"
        sent_tool = anthropic_upstream.requests[-1].body["tools"][0]
        assert sent_tool["name"] == "apply_patch" and "input" in sent_tool["input_schema"]["properties"]
