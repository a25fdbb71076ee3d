"""/api/settings/thinking-budget and /api/settings/system-prompt (applied by dialects/shaping.py).

PUT merges the fields it names into the current setting, checks the whole, stores it and makes
it live at once; GET answers the stored setting with every field.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.requests import Request
from starlette.routing import Route

from omniroute.dialects.shaping import MAX_BUDGET, MAX_PROMPT_CHARS, SYSTEM_KEY, THINKING_KEY
from omniroute.dialects.shaping_models import SystemPrompt, ThinkingBudget
from omniroute.server.api.common import ApiError, admin, audit, json_response, read_model, validation_message


class _ThinkingFields(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    mode: Literal["passthrough", "off", "custom", "adaptive"] | None = None
    budgetTokens: int | None = Field(default=None, ge=1, le=MAX_BUDGET)


class _SystemFields(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    enabled: bool | None = None
    prompt: str | None = Field(default=None, max_length=MAX_PROMPT_CHARS)
    position: Literal["prefix", "suffix"] | None = None


async def _merged(request: Request, fields: type[BaseModel], current, whole: type[BaseModel]):
    """The current setting with the body's fields over it, checked as a whole (400 naming the field)."""
    patch = await read_model(request, fields)
    try:
        return whole.model_validate({**current.model_dump(), **patch.model_dump(exclude_unset=True)})
    except ValidationError as exc:
        raise ApiError(400, validation_message(exc)) from None


@admin
async def thinking_budget(request: Request):
    """``{"mode": "passthrough"|"off"|"custom"|"adaptive", "budgetTokens"}`` for reasoning requests."""
    s = request.app.state.services
    shaping = s.shaping
    if request.method == "PUT":
        value = await _merged(request, _ThinkingFields, shaping.thinking, ThinkingBudget)
        await s.settings_repo.set(THINKING_KEY, value.model_dump())
        shaping.configure(thinking=value)
        budget = f" {value.budgetTokens}" if value.budgetTokens is not None else ""
        await audit(request, "settings.thinking-budget", f"{value.mode}{budget}")
    return json_response(shaping.thinking.model_dump())


@admin
async def system_prompt(request: Request):
    """``{"enabled", "prompt", "position": "prefix"|"suffix"}``, injected into every chat request."""
    s = request.app.state.services
    shaping = s.shaping
    if request.method == "PUT":
        value = await _merged(request, _SystemFields, shaping.system, SystemPrompt)
        await s.settings_repo.set(SYSTEM_KEY, value.model_dump())
        shaping.configure(system=value)
        state = f"enabled, {value.position}" if value.enabled else "disabled"
        await audit(request, "settings.system-prompt", f"{state}, {len(value.prompt)} characters")
    return json_response(shaping.system.model_dump())


routes = [
    Route("/api/settings/thinking-budget", thinking_budget, methods=["GET", "PUT"]),
    Route("/api/settings/system-prompt", system_prompt, methods=["GET", "PUT"]),
]
