"""Validation of the thinking-budget and system-prompt settings (pydantic, loaded only when one is set
or changed, so a gateway that uses neither does not load pydantic at start-up)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from omniroute.dialects.shaping import MAX_BUDGET, MAX_PROMPT_CHARS


class ThinkingBudget(BaseModel):
    """How much a request that asks for reasoning may think.

    - ``passthrough`` (default): the request as the client wrote it.
    - ``off``: every request to reason is removed (no ``reasoning_effort``, ``thinking`` or
      ``thinkingConfig`` goes upstream); a client's explicit "do not reason" stays as it is.
    - ``custom``: exactly ``budgetTokens`` (required); an effort-level upstream gets the smallest
      level covering it, Anthropic never less than its 1024 minimum, Gemini never more than 32768.
    - ``adaptive``: a budget sized to the request (``adaptive_budget``); ``budgetTokens``, when
      given, is its ceiling.

    ``custom`` and ``adaptive`` touch only requests that ask for reasoning (the only sign the
    canonical request has that its model reasons); they never turn reasoning on by themselves.
    """

    model_config = ConfigDict(extra="forbid", strict=True)
    mode: Literal["passthrough", "off", "custom", "adaptive"] = "passthrough"
    budgetTokens: int | None = Field(default=None, ge=1, le=MAX_BUDGET)

    @model_validator(mode="after")
    def _budget_for_custom(self):
        if self.mode == "custom" and self.budgetTokens is None:
            raise ValueError("'budgetTokens' is required when 'mode' is 'custom'")
        return self


class SystemPrompt(BaseModel):
    """A text put before (``prefix``) or after (``suffix``) every chat request's system instruction."""

    model_config = ConfigDict(extra="forbid", strict=True)
    enabled: bool = False
    prompt: str = Field(default="", max_length=MAX_PROMPT_CHARS)
    position: Literal["prefix", "suffix"] = "prefix"

    @model_validator(mode="after")
    def _prompt_when_enabled(self):
        if self.enabled and not self.prompt.strip():
            raise ValueError("'prompt' must not be empty while 'enabled' is true")
        return self
