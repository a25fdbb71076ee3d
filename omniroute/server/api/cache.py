"""/api/cache: the response cache's figures, and clearing it (every tier, or one model)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.routing import Route

from omniroute.server.api.common import admin, audit, json_response


@admin
async def cache(request: Request):
    s = request.app.state.services
    if request.method == "GET":
        stats = await s.response_cache.stats()
        semantic = s.cache.semantic
        stats["semantic"] = {"enabled": semantic is not None, "entries": len(semantic) if semantic else 0}
        stats["mode"] = s.response_cache.config.mode
        return json_response({"semanticCache": stats,
                              "idempotency": {"activeKeys": s.idempotency.active,
                                              "windowMs": s.idempotency.window_ms}})
    model = request.query_params.get("model") or None
    cleared = await s.response_cache.clear(model)
    if s.cache.semantic is not None and model is None:  # (an entry of a cleared model only finds a miss)
        s.cache.semantic.clear()
    s.peers.cache_cleared(model)  # other instances drop their in-memory copies too
    await audit(request, "cache.clear", model)
    return json_response({"cleared": True, "model": model, "memoryEntries": cleared})


routes = [Route("/api/cache", cache, methods=["GET", "DELETE"])]
