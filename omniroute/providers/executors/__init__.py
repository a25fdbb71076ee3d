"""Executors: how a call to a subscription upstream differs from a plain API call of its dialect.

The catalog names a provider's executor (``ProviderSpec.executor``); ``executor_for`` finds it.
Every executor offers ``prepare`` (URL, headers, body going out), ``answer_json`` / ``unwrap_json``
(a whole answer coming back) and ``unwrap_stream`` (a bytes transform in front of the dialect's
stream decoder).
"""

from __future__ import annotations

from omniroute.providers.executors.antigravity import AntigravityExecutor
from omniroute.providers.executors.base import (
    Executor,
    StreamTransform,
    TransformedRelay,
    UpstreamCall,
    with_transform,
)
from omniroute.providers.executors.claude_code import ClaudeCodeExecutor
from omniroute.providers.executors.codex import CodexExecutor
from omniroute.providers.executors.gemini_cli import GeminiCLIExecutor
from omniroute.providers.executors.github_copilot import GitHubCopilotExecutor
from omniroute.providers.executors.iflow import IFlowExecutor
from omniroute.providers.executors.kiro import KiroExecutor
from omniroute.providers.executors.qwen import QwenExecutor

EXECUTORS: dict[str, Executor] = {e.name: e for e in (
    ClaudeCodeExecutor(), CodexExecutor(), GitHubCopilotExecutor(), GeminiCLIExecutor(),
    AntigravityExecutor(), QwenExecutor(), IFlowExecutor(), KiroExecutor(),
)}


def executor_for(provider_spec) -> Executor | None:
    """The executor a provider's catalog entry names (``executor``), or None for a plain API."""
    name = getattr(provider_spec, "executor", None)
    if not name:
        return None
    try:
        return EXECUTORS[name]
    except KeyError:
        raise KeyError(f"provider {getattr(provider_spec, 'id', '?')!r} names an unknown executor {name!r}") from None


__all__ = ["EXECUTORS", "Executor", "StreamTransform", "TransformedRelay", "UpstreamCall", "executor_for",
           "with_transform"]
