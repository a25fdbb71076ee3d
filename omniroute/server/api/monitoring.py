"""/api/monitoring/health (/api/usage/logs moved to server/api/usage.py)."""

from __future__ import annotations

import time

from sqlalchemy import text
from starlette.requests import Request
from starlette.routing import Route

from omniroute.routing.resilience import profile_name
from omniroute.server.api.common import admin, json_response


@admin
async def health(request: Request):
    s = request.app.state.services
    try:
        async with s.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        db = "ok"
    except Exception as exc:  # the health answer reports the failure instead of failing itself
        db = f"error: {exc.__class__.__name__}"
    shared = {"backend": "redis" if s.state.shared else "memory", "status": "ok"}
    if s.state.shared:
        shared.update(instanceId=s.peers.instance_id, reloadsFromPeers=s.peers.reloads)
        try:
            await s.state.ping()
        except ConnectionError as exc:
            shared["status"] = f"error: {exc}"
    providers = {}
    if shared["status"] == "ok":  # breaker states live in the shared state
        for pid in s.pool.providers():
            providers[pid] = {**await s.resilience.breaker_state(pid), "accounts": len(s.pool.accounts(pid)),
                              "profile": profile_name(s.pool.accounts(pid)[0].provider)}
    return json_response({
        "status": "ok" if db == "ok" and shared["status"] == "ok" else "degraded",
        "sharedState": shared,
        "uptimeS": round(time.time() - s.started_at, 1),
        "version": s.version,
        "db": db,
        "providers": providers,
        "usage": {"pending": s.recorder.pending, "written": s.recorder.written, "dropped": s.recorder.dropped},
    })


routes = [
    Route("/api/monitoring/health", health, methods=["GET"]),
]
