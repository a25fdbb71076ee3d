"""/api/compliance/audit-log: the audit trail, read-only.

Entries are written by ``common.audit`` (handlers), the audit middleware of the management app
(every other write, failures and refusals included) and ``AuditRepo.add_later`` (budget refusals).
The only route takes GET: any other method answers 405, so no API call changes or deletes an entry.
"""

from __future__ import annotations

import math

from starlette.requests import Request
from starlette.routing import Route

from omniroute.server.api.common import ApiError, admin, json_response

MAX_LIMIT = 1000


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


def _time_param(request: Request, name: str) -> float | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return None
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < 0:
        raise ApiError(400, f"query parameter '{name}' must be a time in seconds since the epoch (e.g. 1700000000)")
    return value


def _text_param(request: Request, name: str) -> str | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return None
    if len(raw) > 200:
        raise ApiError(400, f"query parameter '{name}' must be at most 200 characters")
    return raw


@admin
async def audit_log(request: Request):
    s = request.app.state.services
    limit = _int_param(request, "limit", 100, 1, MAX_LIMIT)
    offset = _int_param(request, "offset", 0, 0, 10**9)
    since, until = _time_param(request, "since"), _time_param(request, "until")
    if since is not None and until is not None and since > until:
        raise ApiError(400, "query parameter 'since' must not be later than 'until'")
    filters = {"action": _text_param(request, "action"), "actor": _text_param(request, "actor"),
               "since": since, "until": until}
    entries, total = await s.audit.list(limit, offset, filters)
    return json_response({"entries": entries, "total": total})


routes = [
    Route("/api/compliance/audit-log", audit_log, methods=["GET"]),
]
