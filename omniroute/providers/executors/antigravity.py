"""Antigravity sign-ins: the Cloud Code envelope as the Antigravity IDE sends it.

The envelope is ``{"project", "model", "userAgent": "antigravity", "requestType": "agent",
"requestId", "request"}``, with the IDE's ``User-Agent``, ``X-Goog-Api-Client`` and
``Client-Metadata`` headers. Besides the production host, Antigravity also uses the
``daily-cloudcode-pa.sandbox.googleapis.com`` host; a connection's base URL picks it.
"""

from __future__ import annotations

import uuid

from omniroute.providers.executors.base import UpstreamCall
from omniroute.providers.executors.cloudcode import CloudCodeExecutor, model_name

USER_AGENT = "antigravity/1.11.5 windows/amd64"
CLIENT_METADATA = '{"ideType":"IDE_UNSPECIFIED","platform":"PLATFORM_UNSPECIFIED","pluginType":"GEMINI"}'


class AntigravityExecutor(CloudCodeExecutor):
    name = "antigravity"

    def envelope(self, call: UpstreamCall, request: dict) -> dict:
        if call.account.get("session_id"):
            request.setdefault("sessionId", call.account["session_id"])
        out = {"model": model_name(call.model), "userAgent": "antigravity", "requestType": "agent",
               "requestId": f"agent-{uuid.uuid4()}", "request": request}
        project = call.account.get("project_id")
        if project:
            out["project"] = project
        return out

    def identity(self, call: UpstreamCall) -> dict[str, str]:
        return {"User-Agent": USER_AGENT, "X-Goog-Api-Client": "google-cloud-sdk vscode_cloudshelleditor/0.1",
                "Client-Metadata": CLIENT_METADATA}
