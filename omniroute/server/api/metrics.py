"""GET /metrics: the Prometheus exposition.

Open without credentials to loopback peers (the socket's address: X-Forwarded-For is not trusted)
or, with the ``{"metrics": {"public": true}}`` setting, to any address; otherwise it asks for the
management credentials of /api (the session cookie or a bearer key with the "manage" scope).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from omniroute.server.api.common import client_ip, error_response, is_loopback, who_is_admin


async def metrics(request: Request) -> Response:
    s = request.app.state.services
    if not (s.metrics_public or is_loopback(client_ip(request))):
        refused = await _refusal(request)
        if refused is not None:
            return refused
    from omniroute.usage.metrics import gather, render

    body, content_type = render(s.metrics, await gather(s))
    return Response(body, media_type=content_type, headers={"cache-control": "no-store"})


async def _refusal(request: Request) -> Response | None:
    """None when the request carries management credentials; else the 401 or 403 to answer."""
    if await who_is_admin(request) is not None:
        return None
    auth = request.headers.get("authorization", "")
    scheme, _, raw = auth.partition(" ")
    if scheme.lower() == "bearer" and raw.strip():
        key = request.app.state.services.keyring.lookup(raw.strip())
        if key is not None and key.usable():
            return error_response(403, "this API key lacks the 'manage' scope needed for /metrics")
    return error_response(401, "authentication required for /metrics from this address: log in, send a key "
                               "with the 'manage' scope, or set {\"metrics\": {\"public\": true}}")


routes = [Route("/metrics", metrics, methods=["GET"])]
