"""/api/shutdown and /api/restart: the same graceful stop as SIGTERM, asked for over the API.

The answer goes out first; then the process signals itself. The server stops listening, lets every
request in flight finish (streams included) for up to ``SHUTDOWN_TIMEOUT_S`` seconds, flushes the
usage ledger and closes the database. For a restart, ``omniroute serve`` then replaces its own process
with a fresh one on the same command line and environment (``os.execv``: same PID, same port).
"""

from __future__ import annotations

import asyncio
import os
import signal

from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.routing import Route

from omniroute.server.api.common import ApiError, admin, audit, json_response

SIGNAL_DELAY_S = 0.05  # lets the answer leave before the listener closes


async def _signal_self() -> None:
    asyncio.get_running_loop().call_later(SIGNAL_DELAY_S, os.kill, os.getpid(), signal.SIGTERM)


async def _stop(request: Request, action: str):
    s = request.app.state.services
    if s.lifecycle_action is not None:
        raise ApiError(409, f"a {s.lifecycle_action} is already under way")
    s.lifecycle_action = action
    await audit(request, f"server.{action}")
    body = {"ok": True, "action": action, "inFlight": s.inflight,
            "drainTimeoutS": s.settings.shutdown_timeout_s, "pid": os.getpid()}
    response = json_response(body, 202)
    response.background = BackgroundTask(_signal_self)
    return response


@admin
async def shutdown(request: Request):
    return await _stop(request, "shutdown")


@admin
async def restart(request: Request):
    return await _stop(request, "restart")


routes = [
    Route("/api/shutdown", shutdown, methods=["POST"]),
    Route("/api/restart", restart, methods=["POST"]),
]
