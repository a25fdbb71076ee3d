"""Codex's client-run tools (``custom`` free-text tools, ``local_shell``) carried as functions over every upstream."""

from __future__ import annotations

import copy
import re

import orjson
import pytest
from openai.types.responses import Response

from omniroute.dialects.registry import codec
from omniroute.dialects.responses import CODEC
from omniroute.errors import InvalidRequest
from omniroute.schema import (
    ChatResponse,
    Finish,
    MessageStart,
    Text,
    TextDelta,
    ToolCall,
    ToolCallDelta,
    ToolCallStart,
    ToolChoice,
    ToolResult,
    Usage,
    UsageUpdate,
)
from tests.dialects.responses.support import (
    CREATE_PARAMS,
    decode,
    parse,
    sdk_accumulate,
    split_every,
    validate_response,
    validate_stream,
)

GRAMMAR = 'start: begin_patch hunk+ end_patch\nbegin_patch: "*** Begin Patch" LF\nend_patch: "*** End Patch" LF?'
PATCH = '*** Begin Patch\n*** Update File: a.py\n@@\n-print("hi")\n+print("héllo")\n*** End Patch'
APPLY_PATCH = {"type": "custom", "name": "apply_patch", "description": "Use the `apply_patch` tool to edit files.",
               "format": {"type": "grammar", "syntax": "lark", "definition": GRAMMAR}}
NOTES = {"type": "custom", "name": "notes", "description": "Keep a note.", "format": {"type": "text"}}
SHELL_ACTION = {"type": "exec", "command": ["bash", "-lc", "ls -la"], "env": {"LANG": "C"},
                "timeout_ms": 10000, "working_directory": "/repo"}
KINDS = {"apply_patch": "custom", "notes": "custom", "local_shell": "local_shell"}


def codex_body(**extra) -> dict:
    """A Codex turn: its tools, and a history with one call of each client-run tool answered."""
    return copy.deepcopy({
        "model": "gpt-5-codex",
        "instructions": "You are a coding agent.",
        "tools": [
            {"type": "function", "name": "update_plan", "description": "Update the plan.", "strict": False,
             "parameters": {"type": "object", "properties": {"plan": {"type": "string"}}}},
            APPLY_PATCH, NOTES, {"type": "local_shell"},
        ],
        "tool_choice": "auto",
        "parallel_tool_calls": False,
        "input": [
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Fix a.py"}]},
            {"type": "custom_tool_call", "call_id": "call_patch", "name": "apply_patch", "input": PATCH},
            {"type": "custom_tool_call_output", "call_id": "call_patch", "output": "Success. Updated a.py"},
            # Codex's own form: no id, and the result as a function_call_output.
            {"type": "local_shell_call", "call_id": "call_ls", "status": "completed", "action": SHELL_ACTION},
            {"type": "function_call_output", "call_id": "call_ls", "output": "a.py\n"},
            # The API's documented form: the result names the call by ``id``.
            {"type": "local_shell_call", "id": "lsh_1", "call_id": "call_pwd", "status": "completed",
             "action": {"type": "exec", "command": ["pwd"], "env": {}}},
            {"type": "local_shell_call_output", "id": "call_pwd", "output": "/repo\n"},
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Now run it"}]},
        ],
        **extra,
    })


# ---------------------------------------------------------------- decoding a client's request


def test_client_run_tools_decode_as_functions_and_are_portable():
    req = CODEC.decode_request(codex_body())
    assert req.unportable == []
    assert [(t.name, t.kind) for t in req.tools] == [
        ("update_plan", "function"), ("apply_patch", "custom"), ("notes", "custom"), ("local_shell", "local_shell")]
    patch, notes, shell = req.tools[1:]
    assert patch.parameters["required"] == ["input"]
    assert patch.parameters["properties"]["input"]["type"] == "string"
    assert patch.description.startswith(APPLY_PATCH["description"])
    assert "free-form text" in patch.description and "lark grammar" in patch.description
    assert patch.description.endswith(GRAMMAR)
    assert notes.description.startswith("Keep a note.") and "grammar" not in notes.description
    props = shell.parameters["properties"]
    assert props["command"] == {"type": "array", "items": {"type": "string"}, "description": props["command"]["description"]}
    assert {"workdir", "timeout_ms", "env"} <= set(props) and shell.parameters["required"] == ["command"]
    assert shell.description


def test_client_run_history_decodes_to_calls_and_results():
    req = CODEC.decode_request(codex_body())
    roles = [m.role for m in req.messages]
    assert roles == ["user", "assistant", "tool", "assistant", "tool", "assistant", "tool", "user"]
    patch_call = req.messages[1].parts[0]
    assert patch_call == ToolCall("call_patch", "apply_patch", orjson.dumps({"input": PATCH}).decode(), kind="custom")
    assert req.messages[2].parts == [ToolResult("call_patch", [Text("Success. Updated a.py")], name="apply_patch")]
    ls_call = req.messages[3].parts[0]
    assert (ls_call.id, ls_call.name, ls_call.kind) == ("call_ls", "local_shell", "local_shell")
    assert orjson.loads(ls_call.arguments) == {"command": ["bash", "-lc", "ls -la"], "env": {"LANG": "C"},
                                               "timeout_ms": 10000, "workdir": "/repo"}
    assert req.messages[4].parts == [ToolResult("call_ls", [Text("a.py\n")], name="local_shell")]
    assert orjson.loads(req.messages[5].parts[0].arguments) == {"command": ["pwd"]}
    assert req.messages[6].parts == [ToolResult("call_pwd", [Text("/repo\n")], name="local_shell")]


def test_custom_tool_choice_and_allowed_tools():
    req = CODEC.decode_request(codex_body(tool_choice={"type": "custom", "name": "apply_patch"}))
    assert req.tool_choice == ToolChoice(mode="tool", name="apply_patch", parallel=False) and not req.unportable
    assert CODEC.encode_request(req)["tool_choice"] == {"type": "custom", "name": "apply_patch"}
    allowed = {"type": "allowed_tools", "mode": "auto",
               "tools": [{"type": "custom", "name": "apply_patch"}, {"type": "local_shell"}]}
    req = CODEC.decode_request(codex_body(tool_choice=allowed))
    assert [t.name for t in req.tools] == ["apply_patch", "local_shell"]


@pytest.mark.parametrize("change, message", [
    (lambda b: b["tools"][1].update(format={"type": "regexp"}), "'tools[1].format.type' must be 'text' or 'grammar'"),
    (lambda b: b["tools"][1]["format"].pop("definition"), "missing required field 'tools[1].format.definition'"),
    (lambda b: b["tools"][1].pop("name"), "missing required field 'tools[1].name'"),
    (lambda b: b["input"][1].pop("input"), "missing required field 'input[1].input'"),
    (lambda b: b["input"][1].update(input=3), "'input[1].input' must be a string"),
    (lambda b: b["input"][3].pop("action"), "missing required field 'input[3].action'"),
    (lambda b: b["input"][3]["action"].update(command="ls"), "'input[3].action.command' must be an array"),
    (lambda b: b["input"][6].pop("id"), "missing required field 'input[6].id'"),
])
def test_malformed_client_run_items_are_named(change, message):
    body = codex_body()
    change(body)
    with pytest.raises(InvalidRequest, match=re.escape(message)):
        CODEC.decode_request(body)


# ---------------------------------------------------------------- a Responses upstream sees them natively


def _validate_request(body: dict) -> None:
    """The SDK's request types over the body (a local shell call goes without the id those types require)."""
    body = orjson.loads(orjson.dumps(body))
    body.pop("stream", None)
    for item in body["input"]:
        if item.get("type") == "local_shell_call":
            assert "id" not in item
            item["id"] = "lsh_placeholder"
    CREATE_PARAMS.validate_python(body)


def test_responses_upstream_gets_the_native_forms_back():
    sent = codex_body()
    body = CODEC.encode_request(CODEC.decode_request(copy.deepcopy(sent)))
    _validate_request(body)
    assert body["tools"][1:] == [APPLY_PATCH | {"format": APPLY_PATCH["format"]},
                                 {"type": "custom", "name": "notes", "description": "Keep a note."},
                                 {"type": "local_shell"}]
    items = body["input"]
    assert items[1] == {"type": "custom_tool_call", "call_id": "call_patch", "name": "apply_patch", "input": PATCH}
    assert items[2] == {"type": "custom_tool_call_output", "call_id": "call_patch", "output": "Success. Updated a.py"}
    assert items[3] == {"type": "local_shell_call", "call_id": "call_ls", "status": "completed",
                        "action": SHELL_ACTION}
    assert items[4] == {"type": "local_shell_call_output", "id": "call_ls", "output": "a.py\n"}
    assert items[5]["action"] == {"type": "exec", "command": ["pwd"], "env": {}}
    assert items[6] == {"type": "local_shell_call_output", "id": "call_pwd", "output": "/repo\n"}
    # Decoding what was sent again changes nothing.
    assert CODEC.encode_request(CODEC.decode_request(body)) == body


def test_unanswered_client_run_calls_get_results_of_their_own_kind():
    body = codex_body()
    del body["input"][2], body["input"][3]  # the patch's and the first command's results
    out = CODEC.encode_request(CODEC.decode_request(body))["input"]
    # The three calls now form one turn; the two left unanswered get a stand-in result before the user speaks.
    assert [(item["type"], item.get("call_id") or item.get("id")) for item in out[1:-1]] == [
        ("custom_tool_call", "call_patch"), ("local_shell_call", "call_ls"), ("local_shell_call", "call_pwd"),
        ("local_shell_call_output", "call_pwd"), ("custom_tool_call_output", "call_patch"),
        ("local_shell_call_output", "call_ls")]


# ---------------------------------------------------------------- other upstreams see functions


def test_anthropic_upstream_gets_tools_and_history_as_tool_use():
    body = codec("anthropic").encode_request(CODEC.decode_request(codex_body()))
    tools = {t["name"]: t for t in body["tools"]}
    assert tools["apply_patch"]["input_schema"]["required"] == ["input"]
    assert GRAMMAR in tools["apply_patch"]["description"]
    assert tools["local_shell"]["input_schema"]["properties"]["command"]["type"] == "array"
    messages = body["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant", "user", "assistant", "user", "assistant", "user"]
    assert messages[1]["content"] == [{"type": "tool_use", "id": "call_patch", "name": "apply_patch",
                                       "input": {"input": PATCH}}]
    assert messages[2]["content"][0]["type"] == "tool_result"
    assert messages[2]["content"][0]["tool_use_id"] == "call_patch"
    assert messages[3]["content"][0]["name"] == "local_shell"
    assert messages[3]["content"][0]["input"]["command"] == ["bash", "-lc", "ls -la"]
    assert messages[4]["content"][0]["tool_use_id"] == "call_ls"
    last = messages[6]["content"]
    assert last[0]["tool_use_id"] == "call_pwd" and last[-1] == {"type": "text", "text": "Now run it"}


def test_gemini_upstream_gets_function_declarations_and_calls():
    body = codec("gemini").encode_request(CODEC.decode_request(codex_body()))
    declared = {d["name"]: d for d in body["tools"][0]["functionDeclarations"]}
    assert set(declared) == {"update_plan", "apply_patch", "notes", "local_shell"}
    assert declared["apply_patch"]["parameters"]["properties"]["input"]["type"] == "string"
    calls = [p["functionCall"] for c in body["contents"] for p in c["parts"] if "functionCall" in p]
    results = [p["functionResponse"] for c in body["contents"] for p in c["parts"] if "functionResponse" in p]
    assert calls[0] == {"name": "apply_patch", "args": {"input": PATCH}} | {k: v for k, v in calls[0].items()
                                                                              if k not in ("name", "args")}
    assert [c["name"] for c in calls] == ["apply_patch", "local_shell", "local_shell"]
    assert [r["name"] for r in results] == ["apply_patch", "local_shell", "local_shell"]


def test_openai_chat_upstream_gets_function_tools_and_tool_messages():
    body = codec("openai").encode_request(CODEC.decode_request(codex_body()))
    assert [t["function"]["name"] for t in body["tools"]] == ["update_plan", "apply_patch", "notes", "local_shell"]
    assert all(t["type"] == "function" for t in body["tools"])
    messages = body["messages"]
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "tool", "assistant", "tool",
                                             "assistant", "tool", "user"]
    call = messages[2]["tool_calls"][0]
    assert call["id"] == "call_patch" and orjson.loads(call["function"]["arguments"]) == {"input": PATCH}
    assert messages[3] == {"role": "tool", "tool_call_id": "call_patch", "content": "Success. Updated a.py"}
    assert messages[4]["tool_calls"][0]["function"]["name"] == "local_shell"
    assert messages[5]["tool_call_id"] == "call_ls"


# ---------------------------------------------------------------- answers for the client


def _answer(*parts) -> ChatResponse:
    return ChatResponse(id="resp_1", model="m", parts=list(parts), stop_reason="tool_calls", usage=Usage(3, 4))


def test_encode_response_turns_calls_back_into_client_run_items():
    answer = _answer(
        Text("Patching."),
        ToolCall("call_1", "apply_patch", orjson.dumps({"input": PATCH}).decode()),
        ToolCall("call_2", "local_shell", '{"command": ["ls"], "workdir": "/repo", "timeout_ms": 5000}'),
        ToolCall("call_3", "update_plan", '{"plan": "x"}'),
        ToolCall("call_4", "notes", "not json"),
        ToolCall("call_5", "notes", '{"text": "no input key"}'),
        ToolCall("call_6", "local_shell", '{"command": "ls -la | head"}'),
    )
    body = CODEC.encode_response(answer, tool_kinds=KINDS)
    output = validate_response(body).output
    assert [o.type for o in output] == ["message", "custom_tool_call", "local_shell_call", "function_call",
                                        "custom_tool_call", "custom_tool_call", "local_shell_call"]
    assert (output[1].call_id, output[1].name, output[1].input) == ("call_1", "apply_patch", PATCH)
    assert output[2].call_id == "call_2" and output[2].status == "completed"
    assert output[2].action.model_dump(exclude_none=True) == {"type": "exec", "command": ["ls"], "env": {},
                                                              "working_directory": "/repo", "timeout_ms": 5000}
    assert output[3].arguments == '{"plan": "x"}'
    assert output[4].input == "not json" and output[5].input == '{"text": "no input key"}'
    assert output[6].action.command == ["bash", "-lc", "ls -la | head"]
    assert len({o.id for o in output}) == len(output)


def test_without_tool_kinds_calls_keep_their_own_kind():
    answer = _answer(ToolCall("c", "apply_patch", '{"input": "x"}'),
                     ToolCall("d", "apply_patch", '{"input": "y"}', kind="custom"))
    types = [o["type"] for o in CODEC.encode_response(answer)["output"]]
    assert types == ["function_call", "custom_tool_call"]


def _stream_events():
    patch_args = orjson.dumps({"input": PATCH}).decode()
    return [
        MessageStart("up_1", "m"), TextDelta("Let me patch."),
        ToolCallStart(0, "call_1", "apply_patch"),
        *[ToolCallDelta(0, patch_args[i:i + 7]) for i in range(0, len(patch_args), 7)],
        ToolCallStart(1, "call_2", "local_shell"),
        ToolCallDelta(1, '{"command": ["ls",'), ToolCallDelta(1, ' "-la"], "workdir": "/r"}'),
        ToolCallStart(2, "call_3", "update_plan"), ToolCallDelta(2, '{"plan"'), ToolCallDelta(2, ': "p"}'),
        UsageUpdate(Usage(5, 6)), Finish("tool_calls"),
    ]


def test_stream_encoder_writes_client_run_calls_whole_at_their_end():
    encoder = CODEC.stream_encoder("m", tool_kinds=KINDS)
    stream = b"".join(encoder.feed(e) for e in _stream_events())
    validate_stream(stream)
    events = parse(stream)
    types = [e["type"] for e in events]
    patch_index = next(e["output_index"] for e in events
                       if e["type"] == "response.output_item.added" and e["item"]["type"] == "custom_tool_call")
    patch_events = [e for e in events if e.get("output_index") == patch_index]
    assert [e["type"] for e in patch_events] == [
        "response.output_item.added", "response.custom_tool_call_input.delta",
        "response.custom_tool_call_input.done", "response.output_item.done"]
    assert patch_events[0]["item"]["input"] == ""
    assert patch_events[1]["delta"] == PATCH and patch_events[2]["input"] == PATCH
    assert patch_events[3]["item"]["input"] == PATCH and patch_events[3]["item"]["call_id"] == "call_1"
    shell_events = [e for e in events if e.get("output_index") == patch_index + 1]
    assert [e["type"] for e in shell_events] == ["response.output_item.added", "response.output_item.done"]
    assert shell_events[1]["item"]["action"] == {"type": "exec", "command": ["ls", "-la"], "env": {},
                                                 "working_directory": "/r"}
    # The ordinary function call still streams live, fragment by fragment.
    assert [e["delta"] for e in events if e["type"] == "response.function_call_arguments.delta"] == ['{"plan"', ': "p"}']
    assert types[-1] == "response.completed"
    snapshot, completed = sdk_accumulate(stream)
    assert isinstance(completed, Response)
    kinds = [o.type for o in completed.output]
    assert kinds == ["message", "custom_tool_call", "local_shell_call", "function_call"]
    assert completed.output[1].input == PATCH and completed.output[2].action.command == ["ls", "-la"]


def test_stream_encoder_without_tool_kinds_streams_functions():
    encoder = CODEC.stream_encoder("m")
    stream = b"".join(encoder.feed(e) for e in _stream_events())
    validate_stream(stream)
    types = {e["item"]["type"] for e in parse(stream) if e["type"] == "response.output_item.done"}
    assert types == {"message", "function_call"}


def test_stream_encoder_custom_call_with_fragments_before_its_start():
    events = [MessageStart("x", "m"), ToolCallDelta(0, '{"input": "a'), ToolCallDelta(0, 'b"}'),
              ToolCallStart(0, "call_9", "notes"), Finish("tool_calls")]
    encoder = CODEC.stream_encoder("m", tool_kinds=KINDS)
    stream = b"".join(encoder.feed(e) for e in events)
    validate_stream(stream)
    done = [e for e in parse(stream) if e["type"] == "response.custom_tool_call_input.done"]
    assert [e["input"] for e in done] == ["ab"]


# ---------------------------------------------------------------- from a Responses upstream


def test_decode_response_keeps_client_run_calls():
    body = {"id": "resp_u", "model": "gpt-5-codex", "status": "completed", "output": [
        {"type": "custom_tool_call", "id": "ctc_1", "call_id": "call_1", "name": "apply_patch", "input": PATCH,
         "status": "completed"},
        {"type": "local_shell_call", "id": "lsh_1", "call_id": "call_2", "status": "completed",
         "action": SHELL_ACTION},
    ]}
    answer = CODEC.decode_response(body)
    assert answer.stop_reason == "tool_calls"
    patch, shell = answer.parts
    assert patch == ToolCall("call_1", "apply_patch", orjson.dumps({"input": PATCH}).decode(), kind="custom")
    assert (shell.id, shell.name, shell.kind) == ("call_2", "local_shell", "local_shell")
    # Back to the client, with or without the request's kinds, they are the items they were.
    for kinds in (None, KINDS):
        output = validate_response(CODEC.encode_response(answer, tool_kinds=kinds)).output
        assert output[0].input == PATCH and output[0].call_id == "call_1"
        assert output[1].action.model_dump(exclude_none=True) == SHELL_ACTION


def _upstream_stream(skip_deltas: bool = False) -> bytes:
    item = {"type": "custom_tool_call", "id": "ctc_1", "call_id": "call_1", "name": "apply_patch", "input": ""}
    shell = {"type": "local_shell_call", "id": "lsh_1", "call_id": "call_2", "status": "in_progress",
             "action": {"type": "exec", "command": [], "env": {}}}
    events = [
        {"type": "response.created", "response": {"id": "resp_u", "model": "gpt-5-codex"}},
        {"type": "response.output_item.added", "output_index": 0, "item": item},
        *([] if skip_deltas else [
            {"type": "response.custom_tool_call_input.delta", "output_index": 0, "item_id": "ctc_1",
             "delta": PATCH[i:i + 5]} for i in range(0, len(PATCH), 5)]),
        {"type": "response.custom_tool_call_input.done", "output_index": 0, "item_id": "ctc_1", "input": PATCH},
        {"type": "response.output_item.done", "output_index": 0, "item": item | {"input": PATCH}},
        {"type": "response.output_item.added", "output_index": 1, "item": shell},
        {"type": "response.output_item.done", "output_index": 1,
         "item": shell | {"status": "completed", "action": SHELL_ACTION}},
        {"type": "response.completed", "response": {"status": "completed", "output": []}},
    ]
    return b"".join(b"data: " + orjson.dumps(e) + b"\n\n" for e in events)


@pytest.mark.parametrize("skip_deltas", [False, True])
@pytest.mark.parametrize("size", [1, 13, 10_000])
def test_stream_decoder_keeps_client_run_calls(skip_deltas, size):
    events = decode(split_every(_upstream_stream(skip_deltas), size))
    starts = [e for e in events if isinstance(e, ToolCallStart)]
    assert [(s.index, s.id, s.name) for s in starts] == [(0, "call_1", "apply_patch"), (1, "call_2", "local_shell")]
    arguments = ["".join(e.arguments for e in events if isinstance(e, ToolCallDelta) and e.index == i)
                 for i in (0, 1)]
    assert orjson.loads(arguments[0]) == {"input": PATCH}
    assert orjson.loads(arguments[1])["command"] == SHELL_ACTION["command"]
    assert events[-1] == Finish("tool_calls")
    # Re-encoded for a Responses client, they come out as the same items.
    encoder = CODEC.stream_encoder("m", tool_kinds=KINDS)
    stream = b"".join(encoder.feed(e) for e in events)
    _, completed = sdk_accumulate(stream)
    assert completed.output[0].type == "custom_tool_call" and completed.output[0].input == PATCH
    assert completed.output[1].action.model_dump(exclude_none=True) == SHELL_ACTION


# ---------------------------------------------------------------- a round trip through Anthropic


def test_anthropic_tool_use_reaches_codex_as_custom_tool_call():
    req = CODEC.decode_request(codex_body())
    kinds = {t.name: t.kind for t in req.tools}
    upstream = {"id": "msg_1", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
                "content": [{"type": "text", "text": "Applying the fix."},
                            {"type": "tool_use", "id": "toolu_1", "name": "apply_patch", "input": {"input": PATCH}},
                            {"type": "tool_use", "id": "toolu_2", "name": "local_shell",
                             "input": {"command": ["pytest", "-q"], "workdir": "/repo"}}],
                "stop_reason": "tool_use", "stop_sequence": None,
                "usage": {"input_tokens": 10, "output_tokens": 20}}
    answer = codec("anthropic").decode_response(upstream)
    output = validate_response(CODEC.encode_response(answer, tool_kinds=kinds)).output
    assert [o.type for o in output] == ["message", "custom_tool_call", "local_shell_call"]
    assert (output[1].call_id, output[1].name, output[1].input) == ("toolu_1", "apply_patch", PATCH)
    assert output[2].call_id == "toolu_2"
    assert output[2].action.command == ["pytest", "-q"] and output[2].action.working_directory == "/repo"


def test_anthropic_stream_reaches_codex_as_custom_tool_call():
    req = CODEC.decode_request(codex_body(stream=True))
    kinds = {t.name: t.kind for t in req.tools}
    partial = orjson.dumps({"input": PATCH}).decode()
    sse = [
        {"type": "message_start", "message": {"id": "msg_1", "type": "message", "role": "assistant",
                                              "model": "claude", "content": [], "stop_reason": None,
                                              "usage": {"input_tokens": 5, "output_tokens": 1}}},
        {"type": "content_block_start", "index": 0,
         "content_block": {"type": "tool_use", "id": "toolu_1", "name": "apply_patch", "input": {}}},
        *[{"type": "content_block_delta", "index": 0,
           "delta": {"type": "input_json_delta", "partial_json": partial[i:i + 9]}} for i in range(0, len(partial), 9)],
        {"type": "content_block_stop", "index": 0},
        {"type": "message_delta", "delta": {"stop_reason": "tool_use", "stop_sequence": None},
         "usage": {"output_tokens": 30}},
        {"type": "message_stop"},
    ]
    raw = b"".join(b"event: " + e["type"].encode() + b"\ndata: " + orjson.dumps(e) + b"\n\n" for e in sse)
    decoder = codec("anthropic").stream_decoder()
    events = decoder.feed(raw) + decoder.finish()
    encoder = CODEC.stream_encoder("gpt-5-codex", tool_kinds=kinds)
    stream = b"".join(encoder.feed(e) for e in events)
    _, completed = sdk_accumulate(stream)
    assert [o.type for o in completed.output] == ["custom_tool_call"]
    assert completed.output[0].input == PATCH and completed.output[0].call_id == "toolu_1"
