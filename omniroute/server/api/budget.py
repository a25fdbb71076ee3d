"""/api/usage/budget: spend limits per API key (daily, weekly or monthly, in USD)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.routing import Route

from omniroute.server.api.common import ApiError, admin, audit, json_response, read_model
from omniroute.usage.budgets import PERIODS, Budget


class BudgetBody(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    keyId: str = Field(min_length=1, max_length=100)
    limit: float = Field(ge=0, le=1e9)  # USD
    period: Literal["daily", "weekly", "monthly"] = "monthly"
    warnAt: float = Field(default=0.8, gt=0, le=1)  # share of the limit that raises a warning


async def _named(s, budgets: list[dict]) -> list[dict]:
    names = {row["id"]: row["name"] for row in await s.keys.list()}
    return [{**b, "keyName": names.get(b["keyId"])} for b in budgets]


@admin
async def budgets(request: Request):
    s = request.app.state.services
    if request.method == "GET":
        key_id = request.query_params.get("keyId") or None
        return json_response({"budgets": await _named(s, await s.budgets.status(key_id))})
    if request.method == "DELETE":
        key_id = request.query_params.get("keyId")
        period = request.query_params.get("period") or None
        if not key_id:
            raise ApiError(400, "query parameter 'keyId' is required")
        if period is not None and period not in PERIODS:
            raise ApiError(400, f"query parameter 'period' must be one of {', '.join(PERIODS)}")
        if not await s.budgets.remove(key_id, period):
            raise ApiError(404, f"API key '{key_id}' has no {period + ' ' if period else ''}budget")
        await audit(request, "budget.delete", f"{key_id} {period or 'all'}")
        return json_response({"removed": True})
    body = await read_model(request, BudgetBody)
    if await s.keys.get(body.keyId) is None:
        raise ApiError(404, f"no API key with id '{body.keyId}' (GET /api/keys lists them)")
    await s.budgets.put(Budget(body.keyId, body.limit, body.period, body.warnAt))
    await audit(request, "budget.set", f"{body.keyId} {body.period} ${body.limit:g}")
    current = [b for b in await s.budgets.status(body.keyId) if b["period"] == body.period]
    return json_response((await _named(s, current))[0], 201)


routes = [
    Route("/api/usage/budget", budgets, methods=["GET", "POST", "DELETE"]),
]
