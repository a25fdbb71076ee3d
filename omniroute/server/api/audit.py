"""/api/compliance/audit-log: the audit trail, read-only.

Entries are written by ``common.audit`` (handlers), the audit middleware of the management app
(every other write, failures and refusals included) and ``AuditRepo.add_later`` (budget refusals).
The only route takes GET: any other method answers 405, so no API call changes or deletes an entry.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.routing import Route

from omniroute.server.api.common import ApiError, admin, int_param, json_response, time_param

MAX_LIMIT = 1000




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
    limit = int_param(request, "limit", 100, 1, MAX_LIMIT)
    offset = int_param(request, "offset", 0, 0, 10**9)
    since, until = time_param(request, "since"), time_param(request, "until")
    if since is not None and until is not None and since > until:
        raise ApiError(400, "query parameter 'since' must not be later than 'until'")
    filters = {"action": _text_param(request, "action"), "actor": _text_param(request, "actor"),
               "since": since, "until": until}
    entries, total = await s.audit.list(limit, offset, filters)
    return json_response({"entries": entries, "total": total})


routes = [
    Route("/api/compliance/audit-log", audit_log, methods=["GET"]),
]
