"""/api/sync/*: this instance's sync identity and its push and pull; /api/cloud/*: the remote side.

The /api/cloud/* routes are what another instance calls. They take no login: the caller presents
this instance's sync token (``Authorization: Bearer <token>``), compared in constant time with its
stored hash. Everything else in front of /api (the IP filter) still applies.
"""

from __future__ import annotations

import functools
from typing import Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from omniroute.server.api.common import ApiError, admin, audit, error_response, json_response, read_model
from omniroute.sync import peer, snapshot
from omniroute.sync.transit import Transit, TransitError


class Remote(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    url: str = Field(min_length=1, max_length=2_000)
    token: str = Field(min_length=1, max_length=500)


class SyncBody(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    action: Literal["push", "pull"]
    remote: Remote | None = None


@admin
async def initialize(request: Request):
    s = request.app.state.services
    ident, token, rotated = await peer.initialize(s)
    await audit(request, "sync.rotate-token" if rotated else "sync.initialize", ident["instanceId"])
    note = ("the sync token was rotated: the previous one no longer works; give this one to the instances "
            "that sync with this one" if rotated else
            "give this token to the instance that pushes to or pulls from this one")
    return json_response({"instanceId": ident["instanceId"], "token": token, "rotated": rotated,
                          "message": f"{note}. It is shown only this once."}, 200 if rotated else 201)


@admin
async def cloud(request: Request):
    s = request.app.state.services
    if request.method == "GET":
        return json_response(await peer.status(s))
    body = await read_model(request, SyncBody)
    try:
        url, token = await peer.remote(s, body.remote.model_dump() if body.remote else None)
        if body.action == "push":
            record = await peer.push(s, url, token)
        else:
            record = await peer.pull(s, url, token)
    except peer.SyncError as err:
        await audit(request, f"sync.{body.action}", body.remote.url if body.remote else None,
                    status=f"failed:{err.status}")
        raise ApiError(err.status, err.message) from None
    await audit(request, f"sync.{body.action}", url)
    return json_response({"action": body.action, **record})


def sync_token(handler):
    """Guard of the /api/cloud/* routes: this instance's sync token, not a login."""

    @functools.wraps(handler)
    async def guarded(request: Request) -> Response:
        s = request.app.state.services
        scheme, _, raw = request.headers.get("authorization", "").partition(" ")
        token = raw.strip() if scheme.lower() == "bearer" else None
        ident = await peer.verify(s, token)
        if ident is None:
            return error_response(401, "a valid sync token is required (Authorization: Bearer <sync token>)")
        request.state.actor = "sync"
        try:
            return await handler(request, token, ident)
        except ApiError as err:
            return error_response(err.status, err.message)

    return guarded


@sync_token
async def cloud_status(request: Request, token: str, ident: dict):
    return json_response({"ok": True, "instanceId": ident["instanceId"]})


@sync_token
async def cloud_snapshot(request: Request, token: str, ident: dict):
    """This instance's snapshot, sealed with keys derived from the token."""
    s = request.app.state.services
    transit = Transit(token)
    payload = await snapshot.build(s, transit, ident["instanceId"])
    return json_response(transit.seal(payload, instanceId=ident["instanceId"]))


@sync_token
async def cloud_apply(request: Request, token: str, ident: dict):
    """Merge a sealed snapshot pushed by a peer: last writer wins per item."""
    s = request.app.state.services
    raw = await request.body()
    if len(raw) > s.settings.max_body_bytes:
        raise ApiError(413, "request body is too large")
    try:
        envelope = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise ApiError(400, "request body is not valid JSON: expected a sealed sync snapshot") from None
    try:
        transit, payload = Transit.open(token, envelope)
        counts = await snapshot.merge(s, transit, payload)
    except (TransitError, snapshot.SnapshotError) as exc:
        await audit(request, "sync.apply", envelope.get("instanceId") if isinstance(envelope, dict) else None,
                    status="failed:400")
        raise ApiError(400, f"the snapshot cannot be applied: {exc}") from None
    peer_id = payload.get("instanceId")
    await audit(request, "sync.apply", str(peer_id)[:100] if peer_id else None)
    return json_response({"ok": True, "instanceId": ident["instanceId"], "counts": counts.to_json()})


routes = [
    Route("/api/sync/initialize", initialize, methods=["POST"]),
    Route("/api/sync/cloud", cloud, methods=["GET", "POST"]),
    Route("/api/cloud/status", cloud_status, methods=["GET"]),
    Route("/api/cloud/snapshot", cloud_snapshot, methods=["GET"]),
    Route("/api/cloud/apply", cloud_apply, methods=["POST"]),
]
