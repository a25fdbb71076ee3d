"""Login, logout, status, require-login and first-run information."""

from __future__ import annotations

import asyncio
import math

from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.routing import Route

from omniroute.auth.passwords import hash_password, verify_password
from omniroute.auth.sessions import COOKIE
from omniroute.server.api.common import (
    admin,
    audit,
    client_ip,
    error_response,
    json_response,
    public,
    read_model,
    set_session_cookie,
    who_is_admin,
)


class LoginBody(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)
    password: str


class PasswordBody(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    currentPassword: str = Field(min_length=1, max_length=1000)
    newPassword: str = Field(min_length=8, max_length=1000)


class RequireLoginBody(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)
    requireLogin: bool


@public
async def login(request: Request):
    s = request.app.state.services
    ip = client_ip(request)
    locked = await s.login_guard.locked_for(ip)
    if locked:
        await audit(request, "login", status="locked")
        return json_response({"error": f"too many failed logins; try again in {math.ceil(locked)} s"}, 429,
                             headers={"Retry-After": str(math.ceil(locked))})
    body = await read_model(request, LoginBody)
    stored = await s.password_hash()
    ok = stored is not None and await asyncio.to_thread(verify_password, body.password, stored)
    if not ok:
        now_locked = await s.login_guard.failed(ip)
        await audit(request, "login", status="failed")
        if now_locked:
            return error_response(429, "too many failed logins; this address is locked out for 15 minutes")
        return error_response(401, "wrong password")
    await s.login_guard.succeeded(ip)
    request.state.actor = "admin"  # authenticated from here on: the entry names who logged in
    await audit(request, "login")
    token = s.signer.issue()
    resp = json_response({"ok": True, "csrfToken": s.signer.verify(token)["csrf"]})
    set_session_cookie(resp, token)
    return resp


async def logout(request: Request):
    resp = json_response({"ok": True})
    resp.delete_cookie(COOKIE, path="/", httponly=True, samesite="lax")
    return resp


async def status(request: Request):
    s = request.app.state.services
    actor = await who_is_admin(request)
    has_connections = bool(s.pool.providers()) or bool(await s.connections.list())
    body = {"authenticated": actor is not None, "requireLogin": s.require_login, "needsSetup": not has_connections}
    if getattr(request.state, "via_cookie", False):
        body["csrfToken"] = request.state.csrf
    return json_response(body)


@admin
async def require_login(request: Request):
    s = request.app.state.services
    if request.method == "PUT":
        body = await read_model(request, RequireLoginBody)
        await s.settings_repo.set("requireLogin", body.requireLogin)
        s.require_login = body.requireLogin
        await audit(request, "settings.requireLogin", str(body.requireLogin))
    return json_response({"requireLogin": s.require_login})


@admin
async def change_password(request: Request):
    """PUT {"currentPassword", "newPassword"}: the current one must match (a wrong one counts toward the
    address's lock-out like a failed login)."""
    s = request.app.state.services
    ip = client_ip(request)
    locked = await s.login_guard.locked_for(ip)
    if locked:
        return error_response(429, f"too many wrong passwords; try again in {math.ceil(locked)} s")
    body = await read_model(request, PasswordBody)
    stored = await s.password_hash()
    if stored is None or not await asyncio.to_thread(verify_password, body.currentPassword, stored):
        await s.login_guard.failed(ip)
        await audit(request, "password.change", status="failed")
        return error_response(400, "'currentPassword' is wrong")
    if body.newPassword == body.currentPassword:
        return error_response(400, "'newPassword' must differ from the current password")
    await s.settings_repo.set("passwordHash", await asyncio.to_thread(hash_password, body.newPassword))
    await audit(request, "password.change")
    return json_response({"ok": True})


async def init(request: Request):
    s = request.app.state.services
    initialized = await s.password_hash() is not None
    has_connections = bool(await s.connections.list())
    return json_response({"initialized": initialized, "needsSetup": not has_connections, "version": s.version})


routes = [
    Route("/api/auth/login", login, methods=["POST"]),
    Route("/api/auth/logout", logout, methods=["POST"]),
    Route("/api/auth/status", status, methods=["GET"]),
    Route("/api/settings/require-login", require_login, methods=["GET", "PUT"]),
    Route("/api/auth/password", change_password, methods=["PUT"]),
    Route("/api/init", init, methods=["GET"]),
]
