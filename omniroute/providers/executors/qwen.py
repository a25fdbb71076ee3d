"""Qwen Code subscriptions: OpenAI Chat at the account's ``resource_url`` with its OAuth token.

The token answer names the API host (``resource_url``, e.g. ``portal.qwen.ai``); the base URL is
``https://<host>/v1``, and ``https://portal.qwen.ai/v1`` when it is absent. Qwen Code sends
``X-DashScope-AuthType: qwen-oauth`` with its user agent and cache-control headers.
"""

from __future__ import annotations

from omniroute.providers.executors.base import BaseExecutor, UpstreamCall

DEFAULT_BASE = "https://portal.qwen.ai/v1"
USER_AGENT = "QwenCode/0.0.14 (linux; x64)"


def resource_base(resource_url: str | None) -> str:
    """The API base URL for a token answer's ``resource_url``."""
    raw = (resource_url or "").strip().rstrip("/")
    if not raw:
        return DEFAULT_BASE
    if "://" not in raw:
        raw = "https://" + raw
    return raw if raw.endswith("/v1") else raw + "/v1"


class QwenExecutor(BaseExecutor):
    name = "qwen"
    dialect = "openai"
    default_base = DEFAULT_BASE

    def base(self, call: UpstreamCall) -> str:
        resource = call.account.get("resource_url")
        return resource_base(resource) if resource else super().base(call)

    def prepare(self, call: UpstreamCall) -> UpstreamCall:
        call.headers = self.headers(call, {
            "Authorization": f"Bearer {call.token or ''}",
            "User-Agent": USER_AGENT,
            "X-DashScope-AuthType": "qwen-oauth",
            "X-DashScope-CacheControl": "enable",
            "X-DashScope-UserAgent": USER_AGENT,
            "Accept": "text/event-stream" if call.stream else "application/json",
        })
        call.url = self.base(call) + "/chat/completions"
        return call
