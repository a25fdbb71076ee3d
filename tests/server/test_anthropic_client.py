"""The official anthropic SDK (Claude Code's dialect) over an OpenAI-dialect upstream."""

from __future__ import annotations

import anthropic
import httpx
import pytest

TOOL = {"name": "lookup", "description": "Look something up",
        "input_schema": {"type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"]}}


@pytest.fixture
def claude(gateway, connection, api_key):
    connection()
    return anthropic.Anthropic(base_url=gateway.url, api_key=api_key()["key"], max_retries=0)


def test_text_non_streaming(claude, upstream):
    msg = claude.messages.create(model="openai/gpt-4o-mini", max_tokens=64, system="Be brief.",
                                 messages=[{"role": "user", "content": "hello there"}])
    assert msg.content[0].type == "text" and msg.content[0].text == "echo: hello there"
    assert msg.stop_reason == "end_turn" and msg.role == "assistant"
    assert msg.usage.input_tokens > 0 and msg.usage.output_tokens == 3
    sent = upstream.requests[-1].body
    assert sent["model"] == "gpt-4o-mini" and sent["max_tokens"] == 64
    assert sent["messages"][0] == {"role": "system", "content": "Be brief."}
    assert sent["messages"][-1]["role"] == "user"


def test_text_streaming(claude, upstream):
    with claude.messages.stream(model="openai/gpt-4o-mini", max_tokens=64,
                                messages=[{"role": "user", "content": "one two three"}]) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == "echo: one two three"
    assert final.stop_reason == "end_turn" and final.usage.output_tokens > 0
    assert upstream.requests[-1].body["stream"] is True


def test_tool_call_round_trip(claude, upstream):
    first = claude.messages.create(model="openai/gpt-4o-mini", max_tokens=64, tools=[TOOL],
                                   messages=[{"role": "user", "content": "find cats"}])
    assert first.stop_reason == "tool_use"
    call = next(block for block in first.content if block.type == "tool_use")
    assert call.name == "lookup" and call.input == {"query": "find cats"}
    sent_tools = upstream.requests[-1].body["tools"]
    assert sent_tools[0]["function"]["name"] == "lookup"
    assert sent_tools[0]["function"]["parameters"] == TOOL["input_schema"]
    second = claude.messages.create(
        model="openai/gpt-4o-mini", max_tokens=64, tools=[TOOL],
        messages=[{"role": "user", "content": "find cats"},
                  {"role": "assistant", "content": [block.model_dump() for block in first.content]},
                  {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call.id,
                                                "content": "3 cats found"}]}])
    assert second.stop_reason == "end_turn"
    sent = upstream.requests[-1].body["messages"]
    assistant = next(m for m in sent if m["role"] == "assistant")
    assert assistant["tool_calls"][0]["id"] == call.id
    tool_msg = next(m for m in sent if m["role"] == "tool")
    assert tool_msg["tool_call_id"] == call.id and "3 cats found" in str(tool_msg["content"])


def test_streaming_tool_call_arguments_arrive_whole(claude):
    with claude.messages.stream(model="openai/gpt-4o-mini", max_tokens=64, tools=[TOOL],
                                messages=[{"role": "user", "content": "stream a tool call please"}]) as stream:
        final = stream.get_final_message()
    call = next(block for block in final.content if block.type == "tool_use")
    assert call.input == {"query": "stream a tool call please"}
    assert final.stop_reason == "tool_use"


def test_errors_come_in_anthropic_shape(gateway, claude, upstream):
    resp = httpx.post(gateway.url + "/v1/messages", json={"model": "openai/gpt-4o-mini",
                                                          "messages": [{"role": "user", "content": "hi"}]})
    assert resp.status_code == 400
    body = resp.json()
    assert body["type"] == "error" and body["error"]["type"] == "invalid_request_error"
    assert "max_tokens" in body["error"]["message"]
    with pytest.raises(anthropic.NotFoundError) as info:
        claude.messages.create(model="nope/model", max_tokens=8, messages=[{"role": "user", "content": "hi"}])
    assert info.value.body["error"]["type"] == "not_found_error"
    assert upstream.requests == []


def test_upstream_stream_cut_ends_with_anthropic_error_event(gateway, claude, upstream):
    upstream.cut_stream_after(2)
    resp = httpx.post(gateway.url + "/v1/messages", json={
        "model": "openai/gpt-4o-mini", "max_tokens": 32, "stream": True,
        "messages": [{"role": "user", "content": "one two three four five six"}]})
    assert "event: error" in resp.text and "message_stop" not in resp.text
