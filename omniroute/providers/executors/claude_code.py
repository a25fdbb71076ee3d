"""Claude Code subscriptions: Anthropic Messages with the account's OAuth token.

An OAuth token is accepted only as ``Authorization: Bearer`` together with the ``oauth-2025-04-20``
beta, and only for requests shaped like Claude Code's: the first system block must be Claude
Code's identity line (the rest of the system prompt follows it).
"""

from __future__ import annotations

import orjson

from omniroute.providers.executors.base import BaseExecutor, UpstreamCall

IDENTITY = "You are Claude Code, Anthropic's official CLI for Claude."
BETAS = ("claude-code-20250219", "oauth-2025-04-20", "interleaved-thinking-2025-05-14",
         "fine-grained-tool-streaming-2025-05-14")
USER_AGENT = "claude-cli/1.0.83 (external, cli)"


def merge_betas(existing: str | None) -> str:
    """Claude Code's betas, then any others already asked for, without repeats."""
    names = list(BETAS)
    for beta in (existing or "").split(","):
        beta = beta.strip()
        if beta and beta not in names:
            names.append(beta)
    return ",".join(names)


def with_identity(system) -> list[dict]:
    """A Messages ``system`` value with Claude Code's identity as its first block."""
    if isinstance(system, str):
        blocks = [{"type": "text", "text": system}] if system.strip() else []
    elif isinstance(system, list):
        blocks = list(system)
    else:
        blocks = []
    first = blocks[0] if blocks else None
    if isinstance(first, dict) and first.get("type") == "text" and first.get("text", "").strip() == IDENTITY:
        return blocks
    return [{"type": "text", "text": IDENTITY}, *blocks]


class ClaudeCodeExecutor(BaseExecutor):
    name = "claude-code"
    dialect = "anthropic"
    default_base = "https://api.anthropic.com/v1"

    def prepare(self, call: UpstreamCall) -> UpstreamCall:
        body = orjson.loads(call.body)
        body["system"] = with_identity(body.get("system"))
        existing = next((v for k, v in call.headers.items() if k.lower() == "anthropic-beta"), None)
        call.headers = self.headers(call, {
            "Authorization": f"Bearer {call.token or ''}",
            "anthropic-version": "2023-06-01",
            "anthropic-beta": merge_betas(existing),
            "anthropic-dangerous-direct-browser-access": "true",
            "x-app": "cli",
            "User-Agent": USER_AGENT,
            "Accept": "text/event-stream" if call.stream else "application/json",
        })
        call.url = self.base(call) + "/messages?beta=true"
        call.body = orjson.dumps(body)
        return call
