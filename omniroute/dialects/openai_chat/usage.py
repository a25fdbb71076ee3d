"""OpenAI usage objects ⇄ canonical Usage (OpenAI counts cache reads inside prompt_tokens)."""

from __future__ import annotations

from omniroute.schema import Usage


def _int(value) -> int:
    return value if type(value) is int and value > 0 else 0


def usage_from_openai(usage) -> Usage:
    """Canonical usage from an OpenAI ``usage`` object; malformed fields count as 0."""
    if not isinstance(usage, dict):
        return Usage()
    prompt = _int(usage.get("prompt_tokens"))
    details = usage.get("prompt_tokens_details")
    cached = _int(details.get("cached_tokens")) if isinstance(details, dict) else 0
    completion_details = usage.get("completion_tokens_details")
    return Usage(
        input=max(prompt - cached, 0),
        output=_int(usage.get("completion_tokens")),
        cache_read=cached,
        cache_write=_int(usage.get("cache_creation_input_tokens")),
        reasoning=_int(completion_details.get("reasoning_tokens")) if isinstance(completion_details, dict) else 0,
    )


def usage_to_openai(usage: Usage) -> dict:
    """OpenAI's shape: prompt_tokens = input + cache reads; cache writes reported apart, not added."""
    out = {
        "prompt_tokens": usage.input + usage.cache_read,
        "completion_tokens": usage.output,
        "total_tokens": usage.input + usage.cache_read + usage.output,
        "prompt_tokens_details": {"cached_tokens": usage.cache_read},
        "completion_tokens_details": {"reasoning_tokens": usage.reasoning},
    }
    if usage.cache_write:
        out["cache_creation_input_tokens"] = usage.cache_write
    return out
