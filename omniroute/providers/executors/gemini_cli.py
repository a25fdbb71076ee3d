"""Gemini CLI sign-ins (Google account, Code Assist): the Cloud Code envelope as Gemini CLI sends it.

The envelope is ``{"model", "project", "user_prompt_id", "request"}``; ``project`` is the Code
Assist project found at sign-in (``loadCodeAssist``/onboarding), and ``request.session_id`` is
kept when the account has one.
"""

from __future__ import annotations

import uuid

from omniroute.providers.executors.base import UpstreamCall
from omniroute.providers.executors.cloudcode import CloudCodeExecutor, model_name

USER_AGENT = "GeminiCLI/0.1.5 (linux; x64)"


class GeminiCLIExecutor(CloudCodeExecutor):
    name = "gemini-cli"

    def envelope(self, call: UpstreamCall, request: dict) -> dict:
        if call.account.get("session_id"):
            request.setdefault("session_id", call.account["session_id"])
        out = {"model": model_name(call.model), "user_prompt_id": str(uuid.uuid4()), "request": request}
        project = call.account.get("project_id")
        if project:
            out["project"] = project
        return out

    def identity(self, call: UpstreamCall) -> dict[str, str]:
        return {"User-Agent": USER_AGENT}
