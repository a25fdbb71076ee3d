"""GitHub Copilot: OpenAI Chat at api.githubcopilot.com with the Copilot token.

The token is the short-lived one from Copilot's token exchange (kept by the OAuth side), whose
answer may also name the account's API host (``endpoints.api``, kept as ``api_endpoint``).
Copilot wants the editor's identity headers, ``X-Initiator`` (``user`` when the last message is
the user's, ``agent`` for follow-ups such as tool results) and ``Copilot-Vision-Request: true``
when the request carries images.
"""

from __future__ import annotations

import uuid

import orjson

from omniroute.providers.executors.base import BaseExecutor, UpstreamCall

EDITOR_VERSION = "vscode/1.99.3"
PLUGIN_VERSION = "copilot-chat/0.26.7"
USER_AGENT = "GitHubCopilotChat/0.26.7"


def has_images(body: dict) -> bool:
    """Whether any message of an OpenAI Chat body carries an image part."""
    for message in body.get("messages") or []:
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, list) and any(
                isinstance(p, dict) and p.get("type") in ("image_url", "input_image", "image") for p in content):
            return True
    return False


def initiator(body: dict) -> str:
    messages = body.get("messages") or []
    last = messages[-1] if messages and isinstance(messages[-1], dict) else {}
    return "user" if last.get("role") == "user" else "agent"


class GitHubCopilotExecutor(BaseExecutor):
    name = "github-copilot"
    dialect = "openai"
    default_base = "https://api.githubcopilot.com"

    def base(self, call: UpstreamCall) -> str:
        # A base URL set on the connection (a proxy, a test server) wins over the host the token names.
        return (call.base_url or call.account.get("api_endpoint") or self.default_base).rstrip("/")

    def prepare(self, call: UpstreamCall) -> UpstreamCall:
        body = orjson.loads(call.body)
        token = call.account.get("copilot_token") or call.token or ""
        extra = {
            "Authorization": f"Bearer {token}",
            "Editor-Version": EDITOR_VERSION,
            "Editor-Plugin-Version": PLUGIN_VERSION,
            "Copilot-Integration-Id": "vscode-chat",
            "User-Agent": USER_AGENT,
            "Openai-Intent": "conversation-edits",
            "X-Initiator": initiator(body),
            "X-Request-Id": str(uuid.uuid4()),
            "Accept": "text/event-stream" if call.stream else "application/json",
        }
        if has_images(body):
            extra["Copilot-Vision-Request"] = "true"
        call.headers = self.headers(call, extra)
        call.url = self.base(call) + "/chat/completions"
        return call
