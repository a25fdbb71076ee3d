"""Which requests the response cache may answer, and the key it files them under.

The key is a hash of the canonical request (so the same question from the OpenAI and the
Anthropic endpoint meets the same entry) plus everything that changes the answer: the API key
(no answer crosses tenants), the resolved model, the system prompt, messages, tools, tool choice,
response format, every generation parameter — and any field of the client's body that the
canonical form does not model, so an unmodelled parameter can never make two different
requests collide.
"""

from __future__ import annotations

import hashlib

import orjson

from omniroute.schema import ChatRequest

OFF, DETERMINISTIC, ALL = "off", "deterministic", "all"

# Body fields each dialect's canonical form already covers, or that do not change the answer.
_MODELLED = {
    "openai": frozenset({"model", "messages", "stream", "stream_options", "temperature", "top_p", "max_tokens",
                         "max_completion_tokens", "stop", "seed", "tools", "tool_choice", "parallel_tool_calls",
                         "response_format", "reasoning_effort", "frequency_penalty", "presence_penalty", "user",
                         "metadata", "store", "n", "functions", "function_call"}),
    "anthropic": frozenset({"model", "messages", "system", "max_tokens", "temperature", "top_p", "top_k",
                            "stop_sequences", "stream", "tools", "tool_choice", "thinking", "metadata",
                            "output_config", "service_tier"}),
    "gemini": frozenset({"contents", "systemInstruction", "system_instruction", "generationConfig",
                         "generation_config", "tools", "toolConfig", "tool_config"}),
    "ollama": frozenset({"model", "messages", "stream", "options", "format", "tools", "think", "keep_alive"}),
    "responses": frozenset({"model", "input", "instructions", "tools", "tool_choice", "temperature", "top_p",
                            "max_output_tokens", "reasoning", "text", "stream", "store", "metadata", "user",
                            "parallel_tool_calls"}),
    "completions": frozenset({"model", "prompt", "stream", "stream_options", "temperature", "top_p", "max_tokens",
                              "stop", "seed", "frequency_penalty", "presence_penalty", "user"}),
}


def deterministic(client: str, body: dict, request: ChatRequest | None) -> bool:
    """Whether the client asked for temperature 0 explicitly."""
    if request is not None:
        value = request.temperature
    elif client == "openai":
        value = body.get("temperature")
    else:
        return False
    return value is not None and value.__class__ in (int, float) and value == 0


def several_answers(client: str, body: dict) -> bool:
    """Requests for several choices or token log-probabilities: the canonical answer keeps neither."""
    if client in ("openai", "completions"):
        n = body.get("n")
        return (n is not None and n != 1) or bool(body.get("logprobs")) or body.get("top_logprobs") is not None
    return False


def request_key(api_key_id: str | None, resolved: str, request: ChatRequest, client: str, body: dict) -> str:
    modelled = _MODELLED.get(client, frozenset())
    extras = {k: v for k, v in body.items() if k not in modelled}
    payload = orjson.dumps(
        [api_key_id, resolved, request.system, request.messages, request.tools, request.tool_choice,
         request.max_tokens, request.temperature, request.top_p, request.top_k, request.stop, request.seed,
         request.response_format, request.reasoning, request.frequency_penalty, request.presence_penalty,
         extras],
        option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS)
    return hashlib.sha256(payload).hexdigest()


def rest_hash(request: ChatRequest, resolved: str) -> str:
    """Everything but the last user turn's text: the semantic layer's scope within a key and model."""
    last = next((m for m in reversed(request.messages) if m.role == "user"), None)
    messages = [m for m in request.messages if m is not last]
    payload = orjson.dumps([resolved, request.system, messages, request.tools, request.tool_choice,
                            request.max_tokens, request.response_format, request.reasoning],
                           option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS)
    return hashlib.sha256(payload).hexdigest()[:32]


def last_user_text(request: ChatRequest) -> str | None:
    last = next((m for m in reversed(request.messages) if m.role == "user"), None)
    return last.text() if last is not None else None
