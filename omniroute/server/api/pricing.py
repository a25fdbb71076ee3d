"""/api/pricing: the price table (USD per 1M tokens, per image, per audio minute) and its overrides."""

from __future__ import annotations

import orjson
from starlette.requests import Request
from starlette.routing import Route

from omniroute.server.api.common import ApiError, admin, audit, json_response

SETTING = "pricing"


def _answer(s) -> dict:
    return {"pricing": s.pricing.to_json(), "overrides": s.pricing.overrides()}


@admin
async def pricing(request: Request):
    """GET the whole table; PUT ``{"pricing": {model: price | null}}`` merges overrides (null removes one)."""
    s = request.app.state.services
    if request.method == "GET":
        return json_response(_answer(s))
    raw = await request.body()
    if len(raw) > s.settings.max_body_bytes:
        raise ApiError(413, "request body is too large")
    try:
        body = orjson.loads(raw) if raw.strip() else None
    except orjson.JSONDecodeError as exc:
        raise ApiError(400, f"request body is not valid JSON: {exc}") from None
    if not isinstance(body, dict) or set(body) != {"pricing"} or not isinstance(body["pricing"], dict):
        raise ApiError(400, 'request body must be {"pricing": {model: {"input", "output", ...} | null}}')
    merged = s.pricing.overrides()
    for key, price in body["pricing"].items():
        if price is None:
            if key not in merged:
                raise ApiError(404, f"'pricing.{key}': no override to remove")
            merged.pop(key)
        else:
            merged[key.strip() if isinstance(key, str) else key] = price
    try:
        s.pricing.set_overrides(merged)  # all or nothing: a bad entry leaves the table as it was
    except ValueError as exc:
        raise ApiError(400, f"'pricing': {exc}") from None
    await s.settings_repo.set(SETTING, s.pricing.overrides())
    await audit(request, "pricing.update", ",".join(sorted(map(str, body["pricing"])))[:500])
    return json_response(_answer(s))


routes = [
    Route("/api/pricing", pricing, methods=["GET", "PUT"]),
]
