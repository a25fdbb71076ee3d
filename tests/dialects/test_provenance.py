"""Opaque reasoning payloads go back to the vendor that issued them, and to no other."""

from __future__ import annotations

import base64

import orjson

from omniroute.dialects import provenance, translate
from omniroute.schema import ChatRequest, Message, Reasoning, Text, ToolCall

SIG = "EqQBCkYIARgCIkD0c2lnbmVkLWJ5LWFudGhyb3BpYw=="
ANTHROPIC_ANSWER = {
    "id": "msg_1", "type": "message", "role": "assistant", "model": "claude", "stop_reason": "tool_use",
    "usage": {"input_tokens": 10, "output_tokens": 5},
    "content": [
        {"type": "thinking", "thinking": "Look it up first.", "signature": SIG},
        {"type": "redacted_thinking", "data": "ENCRYPTED-BY-ANTHROPIC"},
        {"type": "tool_use", "id": "toolu_1", "name": "lookup", "input": {"q": "97"}},
    ],
}


def _anthropic_history(body: dict) -> list[dict]:
    return next(m for m in body["messages"] if m["role"] == "assistant")["content"]


def test_wrap_round_trip_and_native_values():
    assert provenance.unwrap(provenance.wrap("gemini", "s", "abc.def")) == ("gemini", "s", "abc.def")
    assert provenance.unwrap("plain-signature") is None
    assert provenance.unwrap("omr1.nobody.s.x") is None  # unknown issuers are not ours


def test_anthropic_signatures_survive_a_responses_client():
    answer = translate.decode_answer("anthropic", ANTHROPIC_ANSWER)
    client_view = translate.encode_answer(answer, "anthropic", "responses")
    reasoning = [item for item in client_view["output"] if item["type"] == "reasoning"]
    assert [r["encrypted_content"] for r in reasoning] == [
        provenance.wrap("anthropic", "s", SIG), provenance.wrap("anthropic", "r", "ENCRYPTED-BY-ANTHROPIC")]
    assert reasoning[0]["summary"][0]["text"] == "Look it up first."
    call = next(item for item in client_view["output"] if item["type"] == "function_call")
    # Codex sends the items back on its next turn, as they came.
    history = [{"role": "user", "content": "is 97 prime?"}, *[{k: v for k, v in r.items() if k != "id"}
                                                                for r in reasoning],
               {"type": "function_call", "call_id": call["call_id"], "name": call["name"],
                "arguments": call["arguments"]},
               {"type": "function_call_output", "call_id": call["call_id"], "output": "prime"}]
    request = translate.decode_client("responses", {"model": "m", "input": history,
                                                    "reasoning": {"effort": "low"}})
    request.model = "claude"
    blocks = _anthropic_history(translate.encode_upstream(request, "anthropic"))
    assert blocks[0] == {"type": "thinking", "thinking": "Look it up first.", "signature": SIG}
    assert blocks[1] == {"type": "redacted_thinking", "data": "ENCRYPTED-BY-ANTHROPIC"}
    assert blocks[2]["type"] == "tool_use" and blocks[2]["id"] == "toolu_1"


def test_anthropic_signatures_survive_a_gemini_client_as_base64():
    answer = translate.decode_answer("anthropic", ANTHROPIC_ANSWER)
    parts = translate.encode_answer(answer, "anthropic", "gemini")["candidates"][0]["content"]["parts"]
    signatures = [p["thoughtSignature"] for p in parts if "thoughtSignature" in p]
    assert base64.b64decode(signatures[0]).decode() == provenance.wrap("anthropic", "s", SIG)
    history = {"contents": [{"role": "user", "parts": [{"text": "is 97 prime?"}]},
                            {"role": "model", "parts": parts},
                            {"role": "user", "parts": [{"functionResponse": {"name": "lookup",
                                                                             "response": {"r": "prime"}}}]}]}
    request = translate.decode_client("gemini", history)
    request.model = "claude"
    blocks = _anthropic_history(translate.encode_upstream(request, "anthropic"))
    assert {"type": "thinking", "thinking": "Look it up first.", "signature": SIG} in blocks


def test_gemini_signatures_survive_an_anthropic_client():
    gemini_answer = {"candidates": [{"content": {"role": "model", "parts": [
        {"text": "plan", "thought": True},
        {"functionCall": {"name": "lookup", "args": {"q": "97"}}, "thoughtSignature": "R0VNSU5JLVNJRw=="}]},
        "finishReason": "STOP"}], "responseId": "r1", "modelVersion": "gemini-3-pro"}
    answer = translate.decode_answer("gemini", gemini_answer)
    content = translate.encode_answer(answer, "gemini", "anthropic")["content"]
    signed = [b for b in content if b.get("signature")]
    assert [b["signature"] for b in signed] == [provenance.wrap("gemini", "s", "R0VNSU5JLVNJRw==")]
    call = next(b for b in content if b["type"] == "tool_use")
    body = {"model": "m", "max_tokens": 100, "messages": [
        {"role": "user", "content": "is 97 prime?"}, {"role": "assistant", "content": content},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call["id"], "content": "prime"}]}]}
    request = translate.decode_client("anthropic", body)
    request.model = "gemini-3-pro"
    contents = translate.encode_upstream(request, "gemini")["contents"]
    model_parts = next(c for c in contents if c["role"] == "model")["parts"]
    call_part = next(p for p in model_parts if "functionCall" in p)
    assert call_part["thoughtSignature"] == "R0VNSU5JLVNJRw=="  # back on the part Gemini signed


def test_foreign_payloads_never_reach_an_upstream():
    request = ChatRequest(model="gemini-2.5-pro", messages=[
        Message("user", [Text("q")]),
        Message("assistant", [Reasoning(text="t", signature=SIG, origin="anthropic"),
                              Reasoning(redacted="blob", origin="responses"), Text("a")]),
        Message("user", [Text("again")])])
    body = orjson.dumps(translate.encode_upstream(request, "gemini"))
    assert SIG.encode() not in body and b"blob" not in body
    request.messages[1].parts[:2] = [Reasoning(text="t", signature="R0VN", origin="gemini")]
    body = orjson.dumps(translate.encode_upstream(request, "anthropic"))
    assert b"R0VN" not in body and b'"thinking"' not in body  # unsigned thinking is left out for Anthropic


def test_gemini_3_replayed_calls_without_a_signature_get_the_documented_stand_in():
    messages = [Message("user", [Text("q")]),
                Message("assistant", [ToolCall("call_1", "lookup", '{"q":"1"}'), ToolCall("call_2", "lookup", "{}")]),
                Message("tool", [])]
    body = translate.encode_upstream(ChatRequest(model="gemini-3-pro-preview", messages=messages[:2]), "gemini")
    calls = [p for c in body["contents"] if c["role"] == "model" for p in c["parts"]]
    assert calls[0]["thoughtSignature"] == "skip_thought_signature_validator"
    assert "thoughtSignature" not in calls[1]  # only the first call of a turn carries one
    body = translate.encode_upstream(ChatRequest(model="gemini-2.5-pro", messages=messages[:2]), "gemini")
    assert all("thoughtSignature" not in p for c in body["contents"] for p in c["parts"])


def test_streams_wrap_payloads_for_a_client_of_another_dialect():
    events = [
        ("message_start", {"type": "message_start", "message": {
            "id": "msg_1", "type": "message", "role": "assistant", "model": "claude", "content": [],
            "stop_reason": None, "usage": {"input_tokens": 3, "output_tokens": 0}}}),
        ("content_block_start", {"type": "content_block_start", "index": 0,
                                 "content_block": {"type": "thinking", "thinking": "", "signature": ""}}),
        ("content_block_delta", {"type": "content_block_delta", "index": 0,
                                 "delta": {"type": "thinking_delta", "thinking": "hm"}}),
        ("content_block_delta", {"type": "content_block_delta", "index": 0,
                                 "delta": {"type": "signature_delta", "signature": SIG}}),
        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
        ("message_delta", {"type": "message_delta", "delta": {"stop_reason": "end_turn"},
                           "usage": {"output_tokens": 2}}),
        ("message_stop", {"type": "message_stop"}),
    ]
    raw = b"".join(f"event: {name}\ndata: ".encode() + orjson.dumps(data) + b"\n\n" for name, data in events)
    relay = translate.stream_relay("anthropic", "responses", "m")
    out = relay.feed(raw) + relay.finish()
    assert provenance.wrap("anthropic", "s", SIG).encode() in out
    same = translate.stream_relay("anthropic", "anthropic", "m")
    out = same.feed(raw) + same.finish()
    assert SIG.encode() in out and b"omr1." not in out
