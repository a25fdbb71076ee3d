"""/api/usage/*: the usage ledger — rows, history, request details, per-connection usage, and the purge.

Registered last in the management app: it ends with the /api/usage/{connectionId} catch-all, so
/api/usage/budget (server/api/budget.py) and the routes above it here are matched first.
"""

from __future__ import annotations

import datetime as dt
import time

from starlette.requests import Request
from starlette.routing import Route

from omniroute.server.api.common import ApiError, admin, int_param, json_response, time_param

DAY_S, HOUR_S = 86_400, 3_600
MAX_LIMIT = 1000
CONNECTION_LOGS = 50  # rows listed by /api/usage/{connectionId}
CONNECTION_DAYS = 30  # its default window
# Paths under /api/usage/ that are routes of their own (another method, or another module's), never a
# connection id: a wrong method on them is a 405, not "connection not found".
RESERVED = frozenset({"logs", "history", "request-logs", "purge", "budget", "summary"})




def _status_param(request: Request) -> int | str | None:
    raw = (request.query_params.get("status") or "").strip().lower()
    if not raw:
        return None
    if raw in ("ok", "error"):
        return raw
    if raw.isdigit() and 100 <= int(raw) <= 599:
        return int(raw)
    raise ApiError(400, f"query parameter 'status' must be an HTTP status (100-599), 'ok' or 'error', got {raw!r}")


def _text_param(request: Request, name: str) -> str | None:
    value = request.query_params.get(name)
    return value if value else None


def _paging(request: Request) -> tuple[int, int]:
    return int_param(request, "limit", 100, 1, MAX_LIMIT), int_param(request, "offset", 0, 0, 10**9)


def _filters(request: Request) -> dict:
    since, until = time_param(request, "since"), time_param(request, "until")
    if since is not None and until is not None and since > until:
        raise ApiError(400, f"query parameter 'since' ({since:g}) is after 'until' ({until:g})")
    return {"api_key_id": _text_param(request, "apiKeyId"), "provider": _text_param(request, "provider"),
            "model": _text_param(request, "model"), "connection_id": _text_param(request, "connectionId"),
            "status": _status_param(request), "since": since, "until": until}


@admin
async def usage_logs(request: Request):
    """GET ?limit=&offset=&apiKeyId=&provider=&model=&connectionId=&status=&since=&until= → {"logs", "total"}."""
    limit, offset = _paging(request)
    logs, total = await request.app.state.services.usage.search(limit=limit, offset=offset, **_filters(request))
    return json_response({"logs": logs, "total": total})


def _bucket_label(ts: float, period: str) -> str:
    moment = dt.datetime.fromtimestamp(ts, dt.UTC)
    return moment.strftime("%Y-%m-%d") if period == "day" else moment.strftime("%Y-%m-%dT%H:00:00Z")


@admin
async def usage_history(request: Request):
    """GET ?period=day|hour&days=N[&apiKeyId=&provider=] → {"history": [...]} in UTC buckets, oldest first,
    the current day (or hour) last, empty buckets included."""
    period = (request.query_params.get("period") or "day").strip().lower()
    if period not in ("day", "hour"):
        raise ApiError(400, f"query parameter 'period' must be 'day' or 'hour', got {period!r}")
    days = int_param(request, "days", 7, 1, 366)
    width = DAY_S if period == "day" else HOUR_S
    count = days * (DAY_S // width)
    end = (int(time.time()) // width + 1) * width  # the end of the current bucket
    start = end - count * width
    rows = await request.app.state.services.usage.history(
        start=start, end=end, width=width, api_key_id=_text_param(request, "apiKeyId"),
        provider=_text_param(request, "provider"))
    found = {bucket: row for bucket, *row in rows}
    history = []
    for i in range(count):
        requests, prompt, completion, cost = found.get(i, (0, 0, 0, 0.0))
        history.append({"date": _bucket_label(start + i * width, period), "requests": requests,
                        "promptTokens": prompt, "completionTokens": completion, "cost": round(cost, 10)})
    return json_response({"history": history})


async def _with_ledger(s, rows: list[dict]) -> list[dict]:
    ids = [row["id"] for row in rows]
    attempts, details = await s.usage.attempts_of(ids), await s.usage.details_of(ids)
    # "attempts" lists the failed attempt rows; the row's own count of upstream calls stays as "attemptCount".
    return [{**row, "attemptCount": row["attempts"], "attempts": attempts.get(row["id"], []),
             "detail": details.get(row["id"])} for row in rows]


@admin
async def request_logs(request: Request):
    """GET ?limit=&offset=&apiKeyId=&status= (and the other /logs filters) → {"logs": [row + "attempts" +
    "detail"], "total", "detailedLogging"}."""
    s = request.app.state.services
    limit, offset = _paging(request)
    rows, total = await s.usage.search(limit=limit, offset=offset, **_filters(request))
    return json_response({"logs": await _with_ledger(s, rows), "total": total,
                          "detailedLogging": bool(s.usage_config.get("detailedLogging", False))})


@admin
async def request_log(request: Request):
    s = request.app.state.services
    row_id = request.path_params["id"]
    row = await s.usage.get(row_id)
    if row is None:
        raise ApiError(404, f"request log '{row_id}' not found")
    return json_response((await _with_ledger(s, [row]))[0])


@admin
async def summary(request: Request):
    """GET ?since=&until= (epoch seconds; default the last 24 hours) → totals of the range (requests, errors,
    cost, tokens, cache hits and hit rate) and the same per provider, model and API key (top 20 each)."""
    s = request.app.state.services
    since = time_param(request, "since")
    until = time_param(request, "until")
    if since is None:
        since = time.time() - DAY_S
    if until is not None and until < since:
        raise ApiError(400, "query parameter 'until' must not be before 'since'")
    return json_response({"since": since, "until": until, **await s.usage.summary(since=since, until=until)})


@admin
async def purge(request: Request):
    """POST: run the retention purge now → {"deleted": {"usage", "attempts", "requestLogs"}, "retentionDays"}."""
    s = request.app.state.services
    deleted = await s.retention.purge()
    return json_response({"deleted": deleted, "retentionDays": int(s.usage_config.get("retentionDays") or 0)})


async def _known_connection(s, conn_id: str) -> bool:
    if any(account.id == conn_id for pid in s.pool.providers() for account in s.pool.accounts(pid)):
        return True
    return await s.connections.get(conn_id) is not None


@admin
async def connection_usage(request: Request):
    """GET ?days=N (default 30) → totals, per-model totals and the latest 50 rows of one connection."""
    s = request.app.state.services
    conn_id = request.path_params["connectionId"]
    if conn_id in RESERVED:
        raise ApiError(405, f"method {request.method} is not allowed on {request.url.path}")
    days = int_param(request, "days", CONNECTION_DAYS, 1, 36_500)
    if not await _known_connection(s, conn_id) and not await s.usage.has_rows(connection_id=conn_id):
        raise ApiError(404, f"connection '{conn_id}' not found and it has no usage")
    usage = await s.usage.connection_usage(conn_id, since=time.time() - days * DAY_S, latest=CONNECTION_LOGS)
    return json_response({"connectionId": conn_id, "days": days, **usage})


routes = [
    Route("/api/usage/logs", usage_logs, methods=["GET"]),
    Route("/api/usage/history", usage_history, methods=["GET"]),
    Route("/api/usage/request-logs", request_logs, methods=["GET"]),
    Route("/api/usage/request-logs/{id}", request_log, methods=["GET"]),
    Route("/api/usage/purge", purge, methods=["POST"]),
    Route("/api/usage/summary", summary, methods=["GET"]),
    Route("/api/usage/{connectionId}", connection_usage, methods=["GET"]),  # last: a catch-all
]
