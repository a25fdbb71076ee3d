"""/api/db-backups: list, take and restore backups; export and import the database; export the data directory.

The work is done by ``omniroute.store.backups.BackupManager`` (``services.backups``), which the
command line uses as well; this module maps it onto HTTP.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import shutil
import time
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field
from starlette.background import BackgroundTask
from starlette.requests import ClientDisconnect, Request
from starlette.responses import FileResponse, StreamingResponse
from starlette.routing import Route

from omniroute.server.api.common import ApiError, admin, audit, json_response, read_model
from omniroute.store.backups import BackupError

IMPORT_MAX_BYTES = 1024**3  # the largest upload import takes (OMNIROUTE_IMPORT_MAX_BYTES)


class RestoreBody(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    backupId: str = Field(min_length=1, max_length=200)


def _stamp() -> str:
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())


@admin
async def backups(request: Request):
    """GET: the backups, newest first; PUT: take one now; POST ``{"backupId"}``: restore it."""
    m = request.app.state.services.backups
    try:
        if request.method == "GET":
            return json_response({"backups": m.list(), "lastSkipped": m.last_skipped})
        if request.method == "PUT":
            info = await m.create("manual")
            await audit(request, "backup.create", info["id"])
            return json_response({"backup": info})
        body = await read_model(request, RestoreBody)
        result = await m.restore(body.backupId)
    except BackupError as exc:
        raise ApiError(exc.status, exc.message) from None
    await audit(request, "backup.restore", body.backupId)
    return json_response(result)


@admin
async def export(request: Request):
    """The database as one SQLite file, from any backend."""
    try:
        path = await request.app.state.services.backups.export_temp()
    except BackupError as exc:
        raise ApiError(exc.status, exc.message) from None
    await audit(request, "backup.export")
    return FileResponse(path, media_type="application/vnd.sqlite3", filename=f"omniroute-{_stamp()}.sqlite",
                        content_disposition_type="attachment", background=BackgroundTask(_unlink, path))


@admin
async def import_db(request: Request):
    """A SQLite file as the raw body (any content type) or as the multipart field "file"."""
    m = request.app.state.services.backups
    upload = m.dir / f".tmp-upload-{os.urandom(6).hex()}.sqlite"
    try:
        await asyncio.to_thread(m.dir.mkdir, mode=0o700, parents=True, exist_ok=True)
        if request.headers.get("content-type", "").lower().startswith("multipart/form-data"):
            await _save_multipart(request, upload)
        else:
            await _save_raw(request, upload)
        result = await m.import_sqlite(upload)
    except BackupError as exc:
        raise ApiError(exc.status, exc.message) from None
    finally:
        await asyncio.to_thread(_unlink, upload)
    await audit(request, "backup.import", result["backup"]["id"])
    return json_response(result)


def _limit() -> int:
    raw = os.environ.get("OMNIROUTE_IMPORT_MAX_BYTES", "")
    return int(raw) if raw.strip().isdigit() else IMPORT_MAX_BYTES


async def _bounded(request: Request):
    """The body's chunks; 413 as soon as it passes the limit."""
    limit, seen = _limit(), 0
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > limit:
        raise ApiError(413, f"the upload is larger than the {limit} bytes import takes")
    try:
        async for chunk in request.stream():
            seen += len(chunk)
            if seen > limit:
                raise ApiError(413, f"the upload is larger than the {limit} bytes import takes")
            yield chunk
    except ClientDisconnect:
        raise ApiError(400, "the upload was interrupted") from None


async def _save_raw(request: Request, dest: Path) -> None:
    size = 0
    with open(dest, "wb") as out:  # noqa: ASYNC230 - chunks of a local upload, written as they arrive
        async for chunk in _bounded(request):
            size += len(chunk)
            await asyncio.to_thread(out.write, chunk)
    if size == 0:
        raise ApiError(400, "no file uploaded: send the .sqlite file as the body or as the form field 'file'")


async def _save_multipart(request: Request, dest: Path) -> None:
    from starlette.formparsers import MultiPartException, MultiPartParser

    try:
        form = await MultiPartParser(request.headers, _bounded(request), max_files=1, max_fields=10).parse()
    except MultiPartException as exc:
        raise ApiError(400, f"invalid multipart body: {exc.message}") from None
    try:
        file = form.get("file")
        if file is None or isinstance(file, str):
            raise ApiError(400, "no file uploaded: the multipart form field 'file' must hold the .sqlite file")
        await asyncio.to_thread(_copy_upload, file.file, dest)
    finally:
        await form.close()


def _copy_upload(src, dest: Path) -> None:
    src.seek(0)
    with open(dest, "wb") as out:
        shutil.copyfileobj(src, out, 1024 * 1024)


def _unlink(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


class _Pipe(io.RawIOBase):
    """A file object a worker thread writes to and the event loop reads chunks from (bounded)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, queue: asyncio.Queue):
        self.loop, self.queue, self.abandoned = loop, queue, False

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        if self.abandoned:
            raise BrokenPipeError("the download was abandoned")
        asyncio.run_coroutine_threadsafe(self.queue.put(bytes(data)), self.loop).result()
        return len(data)


@admin
async def export_all(request: Request):
    """The data directory as a .tar.gz stream; the database as a consistent snapshot."""
    m = request.app.state.services.backups
    try:
        snapshot = await m.export_temp()
    except BackupError as exc:
        raise ApiError(exc.status, exc.message) from None
    await audit(request, "backup.exportAll")

    async def chunks():
        queue: asyncio.Queue = asyncio.Queue(maxsize=16)
        pipe = _Pipe(asyncio.get_running_loop(), queue)

        async def produce():
            try:
                await asyncio.to_thread(m.write_archive, pipe, snapshot)
            finally:
                await queue.put(None)

        task = asyncio.create_task(produce())
        try:
            while (chunk := await queue.get()) is not None:
                yield chunk
            await task
        finally:
            pipe.abandoned = True
            while not queue.empty():  # unblock a write in flight; the next one fails
                queue.get_nowait()
            with contextlib.suppress(BaseException):
                await task
            await asyncio.to_thread(_unlink, snapshot)

    name = f"omniroute-data-{_stamp()}.tar.gz"
    return StreamingResponse(chunks(), media_type="application/gzip",
                             headers={"Content-Disposition": f'attachment; filename="{name}"'})


routes = [
    Route("/api/db-backups", backups, methods=["GET", "PUT", "POST"]),
    Route("/api/db-backups/export", export, methods=["GET"]),
    Route("/api/db-backups/import", import_db, methods=["POST"]),
    Route("/api/db-backups/exportAll", export_all, methods=["GET"]),
]
