"""What each wire dialect cannot carry, and the normalising steps that remove exactly that.

The two tables name, per dialect, the steps applied before comparing a round trip; each step says
why the dialect loses what it removes."""

from __future__ import annotations

import copy
import mimetypes
from collections.abc import Callable

import orjson

from omniroute.schema import (
    ChatRequest,
    ChatResponse,
    Image,
    Message,
    Reasoning,
    ReasoningConfig,
    Text,
    ToolCall,
    Usage,
)
from omniroute.schema.request import EFFORT_BUDGETS, budget_to_effort

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

