"""POST /v1/audio/transcriptions: OpenAI's multipart transcription request, served as raw ASGI."""

from __future__ import annotations

import asyncio

from omniroute.capabilities.audio import (
    KNOWN_MODELS,
    OPENAI,
    OPENAI_MAX_FILE_BYTES,
    FormReader,
    Transcriber,
    adapter_kind,
    check_for,
    validate,
)
from omniroute.errors import InvalidRequest, ModelNotFound, OmniRouteError, PayloadTooLarge, PermissionDenied
from omniroute.pipeline import Exchange, cost_header
from omniroute.routing.resolve import Target
from omniroute.server.asgi import DisconnectWatch, client_address, header, headers_of, send_bytes
from omniroute.server.client_auth import KEY_HEADERS, authenticate, presented_key
from omniroute.server.client_chat import error_headers, error_payload

_WANTED = KEY_HEADERS | {b"x-omniroute-connection", b"x-request-id"}


class TranscriptionRoute:
    """Authenticate, read the form (bounded), route the model, transcribe over the account fallback loop."""

    def __init__(self, services):
        self.s = services
        self._transcriber: Transcriber | None = None

    @property
    def transcriber(self) -> Transcriber:
        if self._transcriber is None:  # the upstream session exists only once the services have started
            s = self.s
            self._transcriber = Transcriber(s.pipeline, s.pool, s.proxies)
        return self._transcriber

    async def __call__(self, scope, receive, send) -> None:
        s = self.s
        headers = headers_of(scope, _WANTED)
        ex = Exchange(body={}, api_key=None, client_format="openai", request_id=headers.get(b"x-request-id"),
                      pinned_connection=headers.get(b"x-omniroute-connection"), client_ip=client_address(scope))
        watch: DisconnectWatch | None = None
        release = None
        s.inflight += 1
        try:
            ex.api_key = authenticate(s.keyring, presented_key(headers), s.require_api_key)
            if s.limits.active:  # before the upload is read: a refused client sends nothing more
                release = await s.limits.admit(ex.api_key.id if ex.api_key is not None else None)
            req, kind = await self._read(scope, receive, ex)
            send_call, accept = self.transcriber.call(kind, req, ex.target.model)
            watch = DisconnectWatch(receive)
            transcript = await s.pipeline.attempt(ex, ex.target, send_call, accept)
            watch.stop()
            answer_headers = s.pipeline.headers(ex)
            answer_headers.append((b"content-type", transcript.content_type.encode("latin-1")))
            if transcript.duration is not None:
                ex.audio_seconds = float(transcript.duration)
                answer_headers.append((b"x-omniroute-audio-seconds", f"{transcript.duration:g}".encode()))
            answer_headers.append((b"x-omniroute-response-cost", cost_header(s.pipeline.cost(ex))))
            ex.status = 200
            await send_bytes(send, 200, transcript.body, answer_headers)
        except OmniRouteError as err:
            if watch is not None:
                watch.stop()
            s.pipeline.record(ex, err)
            await send_bytes(send, err.status, error_payload("openai", err), error_headers(err))
        except asyncio.CancelledError:
            if watch is None or not watch.disconnected:
                raise
            asyncio.current_task().uncancel()
            ex.status, ex.error = 499, "client disconnected"
        finally:
            s.inflight -= 1
            if watch is not None:
                watch.stop()
            if release is not None:
                await release()
            s.pipeline.record(ex)

    async def _read(self, scope, receive, ex: Exchange):
        """Read and check the whole form; nothing goes upstream until this has passed."""
        s = self.s
        limit = s.settings.max_body_bytes
        length = header(scope, b"content-length")
        if length is not None and length.isdigit() and int(length) > limit:
            raise PayloadTooLarge(f"request body of {int(length)} bytes exceeds the limit of {limit} bytes")
        reader = FormReader(header(scope, b"content-type"))
        decided = False
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise asyncio.CancelledError()
            chunk = message.get("body", b"")
            more = message.get("more_body", False)
            size += len(chunk)
            if size > limit:
                raise PayloadTooLarge(f"request body exceeds the limit of {limit} bytes")
            reader.feed(chunk)
            if not decided and reader.request.model:
                # Once the model is known, a file bigger than its upstream accepts stops being kept.
                decided = True
                kind = self._kind_quietly(ex, reader.request.model)
                if kind == OPENAI:
                    reader.file_limit = OPENAI_MAX_FILE_BYTES
        req = reader.finish()
        if reader.oversized:
            raise PayloadTooLarge(f"audio file of {reader.file_size} bytes exceeds OpenAI's limit of "
                                  f"{OPENAI_MAX_FILE_BYTES} bytes (25 MB) for transcription uploads",
                                  code="file_too_large")
        if req.model and req.model.strip():
            ex.requested_model = req.model.strip()  # named in the usage row even when the form is refused
        validate(req)
        ex.requested_model = req.model.strip()
        ex.body = {"model": ex.requested_model}
        target = self._route(ex)
        kind = adapter_kind(target.provider, target.model, s.registry.is_custom(target.provider.id))
        if kind is None:
            raise InvalidRequest(f"model '{ex.requested_model}' is served by provider '{target.provider.id}', "
                                 "which does not offer audio transcription", code="unsupported_capability")
        check_for(kind, req)
        return req, kind

    def _route(self, ex: Exchange) -> Target:
        """The pipeline's routing, then bare names of known transcription models (``whisper-1``)."""
        s = self.s
        try:
            return s.pipeline.route(ex)
        except ModelNotFound:
            name = ex.requested_model
            provider_id = next((p for p in s.pool.providers() if name in KNOWN_MODELS.get(p, ())), None)
            spec = s.registry.get(provider_id) if provider_id else None
            if spec is None:
                raise
        if ex.api_key is not None and not ex.api_key.allows_model(name):
            raise PermissionDenied(f"this API key may not use the model '{name}'", code="model_not_allowed")
        ex.target = Target(spec, name)
        return ex.target

    def _kind_quietly(self, ex: Exchange, model: str) -> str | None:
        """The transcription kind of ``model`` if it resolves now; errors wait for the full check."""
        probe = Exchange(body={}, api_key=ex.api_key, requested_model=model.strip())
        try:
            target = self._route(probe)
        except OmniRouteError:
            return None
        return adapter_kind(target.provider, target.model, self.s.registry.is_custom(target.provider.id))
