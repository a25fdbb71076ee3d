"""/api/monitoring/health and /api/usage/logs."""

from __future__ import annotations

import time

from sqlalchemy import text
from starlette.requests import Request
from starlette.routing import Route

from omniroute.routing.resilience import profile_name
from omniroute.server.api.common import ApiError, admin, json_response


@admin
async def health(request: Request):
    s = request.app.state.services
    try:
        async with s.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        db = "ok"
    except Exception as exc:  # the health answer reports the failure instead of failing itself
        db = f"error: {exc.__class__.__name__}"
    providers = {}
    for pid in s.pool.providers():
        providers[pid] = {**await s.resilience.breaker_state(pid), "accounts": len(s.pool.accounts(pid)),
                          "profile": profile_name(s.pool.accounts(pid)[0].provider)}
    return json_response({
        "status": "ok" if db == "ok" else "degraded",
        "uptimeS": round(time.time() - s.started_at, 1),
        "version": s.version,
        "db": db,
        "providers": providers,
        "usage": {"pending": s.recorder.pending, "written": s.recorder.written, "dropped": s.recorder.dropped},
    })


def _int_param(request: Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(400, f"query parameter '{name}' must be an integer") from None
    if not low <= value <= high:
        raise ApiError(400, f"query parameter '{name}' must be between {low} and {high}")
    return value


@admin
async def usage_logs(request: Request):
    s = request.app.state.services
    limit = _int_param(request, "limit", 100, 1, 1000)
    offset = _int_param(request, "offset", 0, 0, 10**9)
    q = request.query_params
    logs, total = await s.usage.list(limit=limit, offset=offset, api_key_id=q.get("apiKeyId"),
                                     provider=q.get("provider"))
    return json_response({"logs": logs, "total": total})


routes = [
    Route("/api/monitoring/health", health, methods=["GET"]),
    Route("/api/usage/logs", usage_logs, methods=["GET"]),
]
