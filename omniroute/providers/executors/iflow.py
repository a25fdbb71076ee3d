"""iFlow: OpenAI Chat at apis.iflow.cn with the API key issued at sign-in.

iFlow CLI identifies itself as ``User-Agent: iFlow-Cli`` and signs each call: ``session-id``,
``x-iflow-timestamp`` (milliseconds) and ``x-iflow-signature``, the hex HMAC-SHA256 of
``"<user agent>:<session id>:<timestamp>"`` keyed with the API key.
"""

from __future__ import annotations

import hashlib
import hmac
import time
import uuid

from omniroute.providers.executors.base import BaseExecutor, UpstreamCall

USER_AGENT = "iFlow-Cli"


def signature(user_agent: str, session_id: str, timestamp_ms: int, api_key: str) -> str:
    message = f"{user_agent}:{session_id}:{timestamp_ms}".encode()
    return hmac.new(api_key.encode(), message, hashlib.sha256).hexdigest()


class IFlowExecutor(BaseExecutor):
    name = "iflow"
    dialect = "openai"
    default_base = "https://apis.iflow.cn/v1"

    def prepare(self, call: UpstreamCall) -> UpstreamCall:
        key = call.account.get("api_key") or call.token or ""
        session_id = call.account.get("session_id") or f"session-{uuid.uuid4()}"
        now = int(time.time() * 1000)
        call.headers = self.headers(call, {
            "Authorization": f"Bearer {key}",
            "User-Agent": USER_AGENT,
            "session-id": session_id,
            "x-iflow-timestamp": str(now),
            "x-iflow-signature": signature(USER_AGENT, session_id, now, key),
            "Accept": "text/event-stream" if call.stream else "application/json",
        })
        call.url = self.base(call) + "/chat/completions"
        return call
