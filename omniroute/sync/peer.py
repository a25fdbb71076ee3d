"""This instance's sync identity, its remote, and the push and pull calls to that remote.

Stored in settings rows that never travel (``sync.`` keys):

- ``sync.identity``: ``{"instanceId", "tokenHash", "tokenEnc", "createdAt", "rotatedAt"}``; the hash
  verifies incoming calls, the encrypted copy lets the status show a masked hint.
- ``sync.remote``: ``{"url", "tokenEnc"}``, the peer this instance pushes to and pulls from.
- ``sync.status``: ``{"lastPush", "lastPull"}``, each ``{"at", "remote", "counts"}``.
"""

from __future__ import annotations

import time
import uuid
from urllib.parse import urlparse

import aiohttp
import orjson

from omniroute.auth.secrets import mask
from omniroute.sync import snapshot
from omniroute.sync.transit import Transit, TransitError, new_token, token_hash, token_matches

IDENTITY = "sync.identity"
REMOTE = "sync.remote"
STATUS = "sync.status"
TIMEOUT_S = 30.0
MAX_ANSWER_BYTES = 64 * 1024 * 1024


class SyncError(Exception):
    """A sync that could not be done: ``status`` 4xx for a problem of the request, 502 of the remote."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


async def initialize(services) -> tuple[dict, str, bool]:
    """Create the identity, or rotate its token; (identity, the new token, whether it rotated)."""
    current = await services.settings_repo.get(IDENTITY) or {}
    token, now = new_token(), time.time()
    identity = {"instanceId": current.get("instanceId") or str(uuid.uuid4()), "tokenHash": token_hash(token),
                "tokenEnc": services.secrets.encrypt(token), "createdAt": current.get("createdAt") or now,
                "rotatedAt": now}
    await services.settings_repo.set(IDENTITY, identity)
    return identity, token, bool(current)


async def identity(services) -> dict | None:
    return await services.settings_repo.get(IDENTITY)


async def verify(services, presented: str | None) -> dict | None:
    """The identity when ``presented`` is this instance's sync token, else None."""
    ident = await identity(services)
    if ident is None or not token_matches(presented, ident.get("tokenHash")):
        return None
    return ident


def check_url(url) -> str:
    if not isinstance(url, str) or not url.strip():
        raise SyncError(400, "'remote.url' is required: the base URL of the other OmniRoute")
    parsed = urlparse(url.strip())
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise SyncError(400, "'remote.url' must be an http:// or https:// URL")
    return url.strip().rstrip("/")


async def remote(services, given: dict | None) -> tuple[str, str]:
    """The remote's (url, token): from ``given`` (then stored, encrypted) or as stored before."""
    if given is not None:
        url = check_url(given.get("url"))
        token = given.get("token")
        if not isinstance(token, str) or not token.strip():
            raise SyncError(400, "'remote.token' is required: the sync token the other instance gave")
        token = token.strip()
        await services.settings_repo.set(REMOTE, {"url": url, "tokenEnc": services.secrets.encrypt(token)})
        return url, token
    stored = await services.settings_repo.get(REMOTE)
    if not stored:
        raise SyncError(400, "no remote configured: give 'remote': {\"url\", \"token\"}")
    try:
        token = services.secrets.decrypt(stored.get("tokenEnc"))
    except Exception:  # sealed under another storage key
        token = None
    if not token:
        raise SyncError(400, "the stored remote token cannot be read: give 'remote' again")
    return stored["url"], token


async def status(services) -> dict:
    ident = await identity(services) or {}
    stored_remote = await services.settings_repo.get(REMOTE) or {}
    done = await services.settings_repo.get(STATUS) or {}
    own_token = _plain(services, ident.get("tokenEnc"))
    remote_token = _plain(services, stored_remote.get("tokenEnc"))
    return {
        "initialized": bool(ident),
        "instanceId": ident.get("instanceId"),
        "token": mask(own_token) if ident else None,
        "tokenRotatedAt": ident.get("rotatedAt"),
        "remote": {"url": stored_remote["url"], "token": mask(remote_token)} if stored_remote else None,
        "lastPush": done.get("lastPush"),
        "lastPull": done.get("lastPull"),
    }


def _plain(services, stored: str | None) -> str | None:
    try:
        return services.secrets.decrypt(stored)
    except Exception:
        return None


async def _call(services, method: str, url: str, token: str, body: dict | None = None) -> dict:
    """One call to the remote's /api/cloud/*; its JSON answer, or SyncError naming what failed."""
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    data = orjson.dumps(body) if body is not None else None
    try:
        async with services.session.request(method, url, data=data, headers=headers, allow_redirects=False,
                                            timeout=aiohttp.ClientTimeout(total=TIMEOUT_S)) as resp:
            raw = bytearray()
            async for chunk in resp.content.iter_chunked(65_536):
                raw += chunk
                if len(raw) > MAX_ANSWER_BYTES:
                    break
            status_code = resp.status
    except TimeoutError:
        raise SyncError(502, f"the remote did not answer within {TIMEOUT_S:g} s ({url})") from None
    except aiohttp.ClientError as exc:
        raise SyncError(502, f"the remote is unreachable ({url}): {exc.__class__.__name__}") from None
    if len(raw) > MAX_ANSWER_BYTES:
        raise SyncError(502, "the remote's answer is too large")
    try:
        answer = orjson.loads(bytes(raw)) if raw else None
    except orjson.JSONDecodeError:
        answer = None
    if status_code == 401:
        raise SyncError(400, "the remote refused the sync token (401): check 'remote.token'")
    if status_code == 404:
        raise SyncError(502, f"the remote has no sync endpoint at {url}: is it an OmniRoute?")
    if not 200 <= status_code < 300 or not isinstance(answer, dict):
        detail = answer.get("error") if isinstance(answer, dict) else None
        raise SyncError(502, f"the remote answered {status_code}" + (f": {detail}" if detail else ""))
    return answer


async def push(services, url: str, token: str) -> dict:
    """Send this instance's snapshot to the remote, which merges it; the remote's counts."""
    ident = await identity(services) or {}
    transit = Transit(token)
    payload = await snapshot.build(services, transit, ident.get("instanceId"))
    answer = await _call(services, "POST", url + "/api/cloud/apply", token,
                         transit.seal(payload, instanceId=ident.get("instanceId")))
    counts = answer.get("counts")
    if not isinstance(counts, dict):
        raise SyncError(502, "the remote's answer has no counts")
    return await _done(services, "lastPush", url, counts)


async def pull(services, url: str, token: str) -> dict:
    """Fetch the remote's snapshot and merge it here; the local counts."""
    envelope = await _call(services, "GET", url + "/api/cloud/snapshot", token)
    try:
        transit, payload = Transit.open(token, envelope)
        counts = await snapshot.merge(services, transit, payload)
    except (TransitError, snapshot.SnapshotError) as exc:
        raise SyncError(502, f"the remote's snapshot cannot be used: {exc}") from None
    return await _done(services, "lastPull", url, counts.to_json())


async def _done(services, which: str, url: str, counts: dict) -> dict:
    record = {"at": time.time(), "remote": url, "counts": counts}
    done = await services.settings_repo.get(STATUS) or {}
    done[which] = record
    await services.settings_repo.set(STATUS, done)
    return record
