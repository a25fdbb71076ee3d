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

Last, a fuzz property: whatever JSON reaches ``decode_request`` of a dialect without such a test
elsewhere, the only exception it raises is ``InvalidRequest``.
"""

from __future__ import annotations

import base64
import copy
import json
import mimetypes
from collections.abc import Callable

import orjson
import pytest

pytest.importorskip("hypothesis")

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from omniroute.dialects import provenance  # noqa: E402
from omniroute.dialects.registry import codec  # noqa: E402
from omniroute.errors import InvalidRequest  # noqa: E402
from omniroute.schema import (  # noqa: E402
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
from omniroute.schema.request import EFFORT_BUDGETS, budget_to_effort  # noqa: E402

DIALECTS = ("openai", "anthropic", "gemini", "ollama", "responses")

# ================================================================ what each dialect cannot carry
#
# dialect -> {step: reason}. Steps run in the order of REQUEST_STEPS / RESPONSE_STEPS below.

REQUEST_LOSSES: dict[str, dict[str, str]] = {
    "openai": {
        "no_reasoning": "Chat Completions requests have no field for assistant reasoning, signed or not",
        "assistant_text_joined": "an assistant message holds one content string",
        "result_name_dropped": "a tool message carries only tool_call_id, not the tool's name",
        "result_error_dropped": "a tool message has no error flag",
        "system_joined": "the system texts travel as one system message",
        "no_top_k": "top_k is not an OpenAI parameter (OpenAI answers 400 to it)",
        "no_metadata": "metadata stays behind: OpenAI-compatible servers answer 400 to arguments they lack",
        "reasoning_as_effort": "reasoning_effort is a level; a disabled config is left out ('none' is refused "
                               "by most models)",
    },
    "anthropic": {
        "reasoning_signed_or_redacted": "Anthropic refuses unsigned thinking; redacted_thinking has no text",
        "arguments_as_object": "tool_use input is an object: the argument text is re-serialised",
        "tool_turns_as_user": "tool results are blocks of a user turn",
        "results_in_call_order": "each tool_use is answered first thing in the next user turn, in call order",
        "result_name_dropped": "a tool_result carries only tool_use_id",
        "no_image_detail": "image blocks have no detail level",
        "same_role_merged": "turns alternate: adjacent turns of one role become one",
        "system_joined": "system is sent as one string",
        "no_seed": "Anthropic has no seed",
        "no_metadata": "metadata holds only user_id",
        "tool_strict_dropped": "tools have no strict flag",
        "response_format_schema_only": "output_config takes a bare schema: no json_object mode, no name or "
                                       "strict",
        "parallel_only_when_disabled": "only disable_parallel_tool_use exists (parallel is the default)",
        "thinking_limits": "max_tokens is required and exceeds the budget (at least 1024); temperature, "
                           "top_k and top_p < 0.95 are refused while thinking; an unsigned tool loop runs "
                           "without thinking",
    },
    "gemini": {
        "reasoning_signed_only": "unsigned thoughts are not sent back and Gemini has no encrypted reasoning",
        "arguments_as_object": "functionCall.args is an object: the argument text is re-serialised",
        "call_ids_generated": "calls go upstream without ids: new ones are made, results pair by name "
                              "and order",
        "result_as_object": "functionResponse.response is an object: text is wrapped as {result|error: "
                            "text}, so the error flag lives in the text",
        "result_name_from_call": "functionResponse names the function called",
        "tool_turns_as_user": "function responses are parts of a user turn",
        "results_in_call_order": "each model turn's calls are answered first thing in the next user turn",
        "no_image_detail": "parts have no detail level",
        "url_image_media_type": "fileData needs a mimeType (guessed from the URL)",
        "same_role_merged": "turns alternate: adjacent turns of one role become one",
        "model_and_stream_in_url": "the model and streaming are in the URL, not the body",
        "no_user": "Gemini has no end-user field",
        "no_metadata": "Gemini has no metadata",
        "tool_strict_dropped": "function declarations have no strict flag",
        "no_parallel": "functionCallingConfig has no parallel switch",
        "schema_subset": "Gemini's OpenAPI schemas refuse additionalProperties and $schema; no "
                         "properties means no schema",
        "response_format_named_response": "responseSchema has no name or strict flag",
        "thinking_budget_capped": "thinkingBudget is a number up to 32768; the level follows from it",
    },
    "ollama": {
        "no_reasoning": "assistant thinking is not sent back into the history",
        "assistant_text_joined": "a message holds one content string",
        "user_images_then_text": "a user message is one content string plus an images list",
        "no_url_images": "Ollama takes inline base64 only; a remote URL is not fetched",
        "no_image_detail": "images have no detail level",
        "arguments_as_object": "tool call arguments are an object: the argument text is re-serialised",
        "call_ids_generated": "Ollama tool calls have no ids: new ones are made",
        "same_tool_results_in_call_order": "calls have no ids and pair by tool name: results of one tool "
                                           "follow the order of its calls",
        "result_name_from_call": "the tool message carries the tool's name",
        "result_error_dropped": "a tool message has no error flag",
        "result_text_joined": "a tool message holds one content string",
        "system_joined": "the system texts travel as one system message",
        "no_user": "Ollama has no end-user field",
        "no_metadata": "Ollama has no metadata",
        "tool_strict_dropped": "tools have no strict flag",
        "no_tool_choice": "Ollama has no tool_choice; 'none' is honoured by withholding the tools",
        "response_format_named_response": "format is 'json' or a bare schema",
        "think_level": "think is a boolean or low/medium/high",
        "nothing_left_continued": "with nothing left to send, a user turn is synthesized (an empty list only "
                                  "loads the model)",
    },
    "responses": {
        "reasoning_redacted_only": "only encrypted reasoning can be handed back (its summary as text); "
                                   "signatures have no field",
        "assistant_text_joined_in_runs": "texts in a row form one assistant message item",
        "result_name_from_call": "a function_call_output names its call, whose name the decoder keeps",
        "result_error_dropped": "function_call_output has no error flag",
        "image_detail_auto": "input_image always states a detail level",
        "system_joined": "instructions is one string",
        "no_stop_seed_top_k": "Responses has no stop sequences, seed or top_k",
        "tool_strict_explicit": "functions are strict unless told otherwise, so strict is always sent",
        "max_tokens_floor": "max_output_tokens below 16 is refused",
        "reasoning_as_effort": "reasoning.effort is a level; a disabled config is left out ('none' is "
                               "refused by most models)",
    },
}

RESPONSE_LOSSES: dict[str, dict[str, str]] = {
    "openai": {
        "reasoning_text_first": "reasoning_content is one plain string: no signature or encrypted form",
        "text_joined": "message.content is one string",
        "stop_sequence_as_stop": "finish_reason has no stop_sequence and no matched sequence",
    },
    "anthropic": {
        "id_prefixed": "message ids are msg_…",
        "reasoning_blocks": "redacted_thinking has no text (readable text travels as an unsigned block "
                            "before it) and a block is either signed or redacted",
        "arguments_as_object": "tool_use input is an object: the argument text is re-serialised",
        "no_reasoning_tokens": "usage has no reasoning count",
    },
    "gemini": {
        "no_redacted": "Gemini has no encrypted reasoning",
        "arguments_as_object": "functionCall.args is an object: the argument text is re-serialised",
        "stop_sequence_as_stop": "finishReason STOP covers stop sequences; the sequence is not named",
        "cache_write_in_input": "usageMetadata has no cache-write count: those tokens count as input",
    },
    "ollama": {
        "id_generated": "Ollama answers have no id",
        "reasoning_text_first": "thinking is one plain string: no signature or encrypted form",
        "text_joined": "message.content is one string",
        "arguments_as_object": "tool call arguments are an object: the argument text is re-serialised",
        "call_ids_generated": "Ollama tool calls have no ids: new ones are made",
        "ollama_stop": "done_reason is stop or length, and tool calls make it tool_calls",
        "ollama_usage": "only prompt_eval_count (every prompt token) and eval_count exist",
    },
    "responses": {
        "id_prefixed": "response ids are resp_…",
        "reasoning_redacted_or_text": "reasoning items carry summary text and encrypted_content: no signature",
        "stop_sequence_as_stop": "status completed covers stop sequences; the sequence is not named",
    },
}

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


# ================================================================ normalising steps: requests


def _parts(req: ChatRequest, *roles: str):
    return [m for m in req.messages if not roles or m.role in roles]


def _compact(arguments: str) -> str:
    try:
        value = orjson.loads(arguments)
    except orjson.JSONDecodeError:
        return "{}"
    return orjson.dumps(value if isinstance(value, dict) else {}).decode()


def _calls_by_id(req: ChatRequest) -> dict[str, ToolCall]:
    return {p.id: p for m in req.messages for p in m.parts if isinstance(p, ToolCall)}


def _join_texts(parts: list, in_runs: bool = False) -> list:
    """Text parts concatenated: all into the place of the first, or each run of adjacent ones."""
    out: list = []
    for part in parts:
        if isinstance(part, Text):
            joined = next((p for p in (out[-1:] if in_runs else out) if isinstance(p, Text)), None)
            if joined is not None:
                joined.text += part.text
                continue
        out.append(part)
    return out


def no_reasoning(req, d):
    for m in req.messages:
        m.parts = [p for p in m.parts if not isinstance(p, Reasoning)]


def reasoning_signed_or_redacted(req, d):
    for m in _parts(req, "assistant"):
        out = []
        for p in m.parts:
            if isinstance(p, Reasoning):
                if p.redacted:
                    p = Reasoning(redacted=p.redacted, origin=p.origin)
                elif not p.signature:
                    continue
            out.append(p)
        m.parts = out


def reasoning_signed_only(req, d):
    for m in _parts(req, "assistant"):
        m.parts = [Reasoning(text=p.text, signature=p.signature, origin=p.origin) if isinstance(p, Reasoning) else p
                   for p in m.parts if not isinstance(p, Reasoning) or p.signature]


def reasoning_redacted_only(req, d):
    for m in _parts(req, "assistant"):
        m.parts = [Reasoning(text=p.text, redacted=p.redacted, origin=p.origin) if isinstance(p, Reasoning) else p
                   for p in m.parts if not isinstance(p, Reasoning) or p.redacted]


def assistant_text_joined(req, d):
    for m in _parts(req, "assistant"):
        m.parts = _join_texts(m.parts)


def assistant_text_joined_in_runs(req, d):
    for m in _parts(req, "assistant"):
        m.parts = _join_texts(m.parts, in_runs=True)


def user_images_then_text(req, d):
    for m in _parts(req, "user"):
        text = "".join(p.text for p in m.parts if isinstance(p, Text))
        m.parts = [p for p in m.parts if isinstance(p, Image)] + ([Text(text)] if text else [])


def no_url_images(req, d):
    for m in req.messages:
        m.parts = [p for p in m.parts if not isinstance(p, Image) or p.data]


def no_image_detail(req, d):
    for m in req.messages:
        for p in m.parts:
            if isinstance(p, Image):
                p.detail = None


def image_detail_auto(req, d):
    for m in req.messages:
        for p in m.parts:
            if isinstance(p, Image) and p.detail is None:
                p.detail = "auto"


def url_image_media_type(req, d):
    for m in req.messages:
        for p in m.parts:
            if isinstance(p, Image) and p.url:
                p.media_type = mimetypes.guess_type(p.url)[0] or "image/jpeg"


def arguments_as_object(req, d):
    for call in _calls_by_id(req).values():
        call.arguments = _compact(call.arguments)


def results_in_call_order(req, d):
    order = {call_id: i for i, call_id in enumerate(_calls_by_id(req))}
    for m in _parts(req, "tool"):
        m.parts.sort(key=lambda p: order[p.call_id])


def same_tool_results_in_call_order(req, d):
    calls = _calls_by_id(req)
    order = {call_id: i for i, call_id in enumerate(calls)}
    for m in _parts(req, "tool"):
        queues = {}
        for name in {calls[p.call_id].name for p in m.parts}:
            same = [p for p in m.parts if calls[p.call_id].name == name]
            queues[name] = iter(sorted(same, key=lambda p: order[p.call_id]))
        m.parts = [next(queues[calls[p.call_id].name]) for p in m.parts]


def result_name_dropped(req, d):
    for m in _parts(req, "tool"):
        for p in m.parts:
            p.name = None


def result_name_from_call(req, d):
    calls = _calls_by_id(req)
    for m in _parts(req, "tool"):
        for p in m.parts:
            p.name = calls[p.call_id].name


def result_error_dropped(req, d):
    for m in _parts(req, "tool"):
        for p in m.parts:
            p.is_error = False


def result_text_joined(req, d):
    for m in _parts(req, "tool"):
        for p in m.parts:
            text = "".join(t.text for t in p.content)
            p.content = [Text(text)] if text else []


def result_as_object(req, d):
    for m in _parts(req, "tool"):
        for p in m.parts:
            text = "".join(t.text for t in p.content)
            try:
                value = orjson.loads(text)
            except orjson.JSONDecodeError:
                value = None
            if not isinstance(value, dict):
                value = {"error" if p.is_error else "result": text}
            p.content, p.is_error = [Text(orjson.dumps(value).decode())], False


def tool_turns_as_user(req, d):
    for m in _parts(req, "tool"):
        m.role = "user"


def no_empty_turns(req, d):
    req.messages = [m for m in req.messages if m.parts]


def _merge(req, roles) -> None:
    out: list[Message] = []
    for m in req.messages:
        if out and out[-1].role == m.role and m.role in roles:
            out[-1].parts.extend(m.parts)
        else:
            out.append(m)
    req.messages = out


def same_role_merged(req, d):
    _merge(req, ("user", "assistant", "tool"))


def merges_of_the_dialect(req, d):
    """Every decoder folds consecutive tool messages into one turn; Responses also folds assistant items."""
    _merge(req, ("tool", "assistant") if d == "responses" else ("tool",))


def nothing_left_continued(req, d):
    if not req.messages and not req.system:
        req.messages = [Message("user", [Text("Continue.")])]


def system_joined(req, d):
    text = "\n\n".join(t.text for t in req.system if t.text)
    req.system = [Text(text)] if text else []


def model_and_stream_in_url(req, d):
    req.model, req.stream = "", False


def no_top_k(req, d):
    req.top_k = None


def no_seed(req, d):
    req.seed = None


def no_stop_seed_top_k(req, d):
    req.stop, req.seed, req.top_k = [], None, None


def no_user(req, d):
    req.user = None


def no_metadata(req, d):
    req.metadata = {}


def tool_strict_dropped(req, d):
    for tool in req.tools:
        tool.strict = None


def tool_strict_explicit(req, d):
    for tool in req.tools:
        tool.strict = bool(tool.strict)


def no_parallel(req, d):
    if req.tool_choice is not None:
        req.tool_choice.parallel = None


def parallel_only_when_disabled(req, d):
    choice = req.tool_choice
    if choice is not None:
        choice.parallel = False if choice.parallel is False and choice.mode != "none" else None


def no_tool_choice(req, d):
    if req.tool_choice is not None and req.tool_choice.mode == "none":
        req.tools = []
    req.tool_choice = None


def _strip(schema):
    if isinstance(schema, dict):
        return {k: _strip(v) for k, v in schema.items() if k not in ("additionalProperties", "$schema")}
    return schema


def schema_subset(req, d):
    for tool in req.tools:
        tool.parameters = _strip(tool.parameters) if tool.parameters.get("properties") else \
            {"type": "object", "properties": {}}
    if req.response_format and req.response_format["type"] == "json_schema":
        req.response_format["json_schema"]["schema"] = _strip(req.response_format["json_schema"]["schema"])


def response_format_named_response(req, d):
    if req.response_format and req.response_format["type"] == "json_schema":
        schema = req.response_format["json_schema"]["schema"]
        req.response_format = {"type": "json_schema", "json_schema": {"name": "response", "schema": schema}}


def response_format_schema_only(req, d):
    if req.response_format and req.response_format["type"] == "json_object":
        req.response_format = None
    response_format_named_response(req, d)


def max_tokens_floor(req, d):
    if req.max_tokens is not None:
        req.max_tokens = max(req.max_tokens, 16)


def _effort(config: ReasoningConfig) -> str | None:
    return config.effort or (budget_to_effort(config.budget_tokens) if config.budget_tokens else None)


def reasoning_as_effort(req, d):
    config = req.reasoning
    if config is None or not config.enabled:
        req.reasoning = None
        return
    effort = _effort(config)
    if effort is not None:
        req.reasoning = ReasoningConfig(effort=effort, budget_tokens=EFFORT_BUDGETS[effort])
    else:  # Responses asks for reasoning without a level; Chat Completions has nothing to say it
        req.reasoning = ReasoningConfig() if d == "responses" else None


def think_level(req, d):
    config = req.reasoning
    if config is not None and config.enabled:
        effort = _effort(config)
        req.reasoning = ReasoningConfig(effort=None if effort is None else effort if effort != "minimal" else "low")


def thinking_budget_capped(req, d):
    config = req.reasoning
    if config is not None and config.enabled:
        budget = config.budget_tokens or (EFFORT_BUDGETS[config.effort] if config.effort else None)
        budget = min(budget, 32768) if budget else None
        req.reasoning = ReasoningConfig(budget_tokens=budget, effort=budget_to_effort(budget) if budget else None)


def thinking_limits(req, d):
    config, asked = req.reasoning, req.max_tokens
    req.max_tokens = asked or 4096
    if config is None or not config.enabled:
        return
    last = next((m for m in reversed(req.messages) if m.role == "assistant"), None)
    if last is not None and any(isinstance(p, ToolCall) for p in last.parts) \
            and not isinstance(last.parts[0], Reasoning):
        req.reasoning = ReasoningConfig(enabled=False)
        return
    budget = max(config.budget_tokens or EFFORT_BUDGETS[config.effort or "medium"], 1024)
    req.reasoning = ReasoningConfig(budget_tokens=budget, effort=budget_to_effort(budget))
    if req.max_tokens <= budget:
        req.max_tokens = budget + (asked or 4096)
    req.temperature = req.top_k = None
    if req.top_p is not None and req.top_p < 0.95:
        req.top_p = None


def call_ids_generated(req, d):
    """Applied to both sides by the comparison (see ``_relabel``)."""


REQUEST_STEPS: dict[str, Callable[[ChatRequest, str], None]] = {f.__name__: f for f in (
    # parts
    no_reasoning, reasoning_signed_or_redacted, reasoning_signed_only, reasoning_redacted_only,
    assistant_text_joined, assistant_text_joined_in_runs, user_images_then_text, no_url_images,
    no_image_detail, image_detail_auto, url_image_media_type, arguments_as_object, call_ids_generated,
    # tool results
    same_tool_results_in_call_order, result_name_dropped, result_name_from_call, result_error_dropped,
    result_text_joined, result_as_object, results_in_call_order,
    # turns
    tool_turns_as_user, no_empty_turns, same_role_merged, merges_of_the_dialect,
    # everything else
    system_joined, nothing_left_continued, model_and_stream_in_url, no_top_k, no_seed, no_stop_seed_top_k, no_user, no_metadata,
    tool_strict_dropped, tool_strict_explicit, no_parallel, parallel_only_when_disabled, no_tool_choice,
    schema_subset, response_format_named_response, response_format_schema_only, max_tokens_floor,
    reasoning_as_effort, think_level, thinking_budget_capped, thinking_limits,
)}
_ALWAYS = ("no_empty_turns", "merges_of_the_dialect")  # structural, the same everywhere


def normalised_request(dialect: str, req: ChatRequest) -> ChatRequest:
    req = copy.deepcopy(req)
    for name, step in REQUEST_STEPS.items():
        if name in REQUEST_LOSSES[dialect] or name in _ALWAYS:
            step(req, dialect)
    return req


# ================================================================ normalising steps: answers


def _plain_reasoning_first(resp: ChatResponse) -> None:
    reasoning = "".join(p.text for p in resp.parts if isinstance(p, Reasoning))
    rest = [p for p in resp.parts if not isinstance(p, Reasoning)]
    resp.parts = ([Reasoning(text=reasoning)] if reasoning else []) + rest


def reasoning_text_first(resp, d):
    _plain_reasoning_first(resp)


def text_joined(resp, d):
    resp.parts = _join_texts(resp.parts)


def id_prefixed(resp, d):
    prefix = {"anthropic": "msg_", "responses": "resp_"}[d]
    resp.id = resp.id if resp.id.startswith(prefix) else prefix + resp.id


def id_generated(resp, d):
    resp.id = ""


def reasoning_blocks(resp, d):
    out = []
    for p in resp.parts:
        if isinstance(p, Reasoning) and p.redacted:
            if p.text:
                out.append(Reasoning(text=p.text))
            p = Reasoning(redacted=p.redacted, origin=p.origin)
        out.append(p)
    resp.parts = out


def no_redacted(resp, d):
    resp.parts = [Reasoning(text=p.text, signature=p.signature, origin=p.origin if p.signature else None)
                  if isinstance(p, Reasoning) else p
                  for p in resp.parts if not isinstance(p, Reasoning) or p.text or p.signature]


def reasoning_redacted_or_text(resp, d):
    resp.parts = [Reasoning(text=p.text, redacted=p.redacted, origin=p.origin if p.redacted else None)
                  if isinstance(p, Reasoning) else p
                  for p in resp.parts if not isinstance(p, Reasoning) or p.text or p.redacted]


def response_arguments_as_object(resp, d):
    for p in resp.parts:
        if isinstance(p, ToolCall):
            p.arguments = _compact(p.arguments)


def stop_sequence_as_stop(resp, d):
    if resp.stop_reason == "stop_sequence":
        resp.stop_reason = "stop"
    resp.stop_sequence = None


def ollama_stop(resp, d):
    if resp.stop_reason in ("stop_sequence", "content_filter"):
        resp.stop_reason = "stop"
    resp.stop_sequence = None


def no_reasoning_tokens(resp, d):
    resp.usage.reasoning = 0


def cache_write_in_input(resp, d):
    resp.usage.input += resp.usage.cache_write
    resp.usage.cache_write = 0


def ollama_usage(resp, d):
    u = resp.usage
    resp.usage = Usage(input=u.input + u.cache_read + u.cache_write, output=u.output)


RESPONSE_STEPS: dict[str, Callable[[ChatResponse, str], None]] = {
    "id_prefixed": id_prefixed, "id_generated": id_generated,
    "reasoning_text_first": reasoning_text_first, "reasoning_blocks": reasoning_blocks,
    "no_redacted": no_redacted, "reasoning_redacted_or_text": reasoning_redacted_or_text,
    "text_joined": text_joined, "arguments_as_object": response_arguments_as_object,
    "call_ids_generated": lambda resp, d: None,  # applied to both sides by the comparison
    "stop_sequence_as_stop": stop_sequence_as_stop, "ollama_stop": ollama_stop,
    "no_reasoning_tokens": no_reasoning_tokens, "cache_write_in_input": cache_write_in_input,
    "ollama_usage": ollama_usage,
}


def normalised_response(dialect: str, resp: ChatResponse) -> ChatResponse:
    resp = copy.deepcopy(resp)
    for name, step in RESPONSE_STEPS.items():
        if name in RESPONSE_LOSSES[dialect]:
            step(resp, dialect)
    return resp


# ================================================================ the properties


def _wire(body: dict) -> dict:
    return orjson.loads(orjson.dumps(body))


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
    back = c.decode_request(_wire(c.encode_request(copy.deepcopy(req))))
    provenance.from_client(back, dialect)  # as the gateway does with every client body
    expected = normalised_request(dialect, req)
    if "call_ids_generated" in REQUEST_LOSSES[dialect]:
        _relabel(back.messages)
        _relabel(expected.messages)
    return back, expected


def response_round_trip(dialect: str, resp: ChatResponse) -> tuple[ChatResponse, ChatResponse]:
    c = codec(dialect)
    back = c.decode_response(_wire(c.encode_response(copy.deepcopy(resp))))
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
    body = _wire(codec(dialect).encode_request(data.draw(requests(dialect))))
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
    body = _wire(codec(dialect).encode_request(copy.deepcopy(RICH)))
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
