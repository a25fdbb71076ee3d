"""Speech to text: the OpenAI-shaped transcription request, and each provider's way of serving it.

The client sends OpenAI's multipart form (``file``, ``model``, ``language``, ``prompt``,
``response_format``, ``temperature``). OpenAI-compatible upstreams receive the same form with only
the model edited; Deepgram receives the audio bytes on ``/listen``; AssemblyAI receives them on
``/upload``, then a transcript is created and polled until it is done. Deepgram and AssemblyAI
answers are mapped to ``{"text", "task", "language", "duration"}``.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlencode

import aiohttp
import orjson
from python_multipart import MultipartParser
from python_multipart.multipart import parse_options_header

from omniroute.errors import (
    InvalidRequest,
    PayloadTooLarge,
    UpstreamBadRequest,
    UpstreamConnectionError,
    UpstreamError,
    classify_upstream,
)
from omniroute.providers.catalog import ProviderSpec
from omniroute.transport.proxy import ProxyRouter

# Audio formats accepted, by file extension, and the content type each is sent upstream with.
FORMATS: dict[str, str] = {
    "mp3": "audio/mpeg", "wav": "audio/wav", "m4a": "audio/mp4",
    "flac": "audio/flac", "ogg": "audio/ogg", "webm": "audio/webm",
}
_EXTENSION_ALIASES = {"mpga": "mp3", "mpeg": "mp3", "oga": "ogg", "opus": "ogg", "wave": "wav"}
_CONTENT_TYPES: dict[str, str] = {
    "audio/mpeg": "mp3", "audio/mp3": "mp3", "audio/mpga": "mp3", "audio/x-mp3": "mp3", "audio/x-mpeg": "mp3",
    "audio/wav": "wav", "audio/x-wav": "wav", "audio/wave": "wav", "audio/vnd.wave": "wav",
    "audio/mp4": "m4a", "audio/m4a": "m4a", "audio/x-m4a": "m4a", "audio/aac": "m4a",
    "audio/flac": "flac", "audio/x-flac": "flac",
    "audio/ogg": "ogg", "application/ogg": "ogg", "audio/opus": "ogg",
    "audio/webm": "webm", "video/webm": "webm",
}
_GENERIC_TYPES = frozenset({"", "application/octet-stream", "binary/octet-stream"})

RESPONSE_FORMATS = ("json", "text", "verbose_json")
OPENAI_MAX_FILE_BYTES = 25 * 1024 * 1024  # OpenAI's own limit on transcription uploads
_FIELD_MAX_BYTES = 64 * 1024  # any one text field of the form

DEEPGRAM, ASSEMBLYAI, OPENAI = "deepgram", "assemblyai", "openai"


def _env_seconds(name: str, default_ms: int) -> float:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default_ms / 1000
    try:
        return max(int(raw), 1) / 1000
    except ValueError as exc:
        raise ValueError(f"environment variable {name} must be an integer (milliseconds), got {raw!r}") from exc


@dataclass(slots=True)
class PollingPolicy:
    """How long an asynchronous transcript (AssemblyAI) is waited for, and how often it is asked about."""

    timeout_s: float = 300.0
    interval_s: float = 2.0

    @classmethod
    def from_env(cls) -> PollingPolicy:
        return cls(timeout_s=_env_seconds("TRANSCRIPTION_TIMEOUT_MS", 300_000),
                   interval_s=_env_seconds("TRANSCRIPTION_POLL_INTERVAL_MS", 2_000))


# ---- the client's request -----------------------------------------------------------------------


@dataclass(slots=True)
class AudioRequest:
    """A transcription request as read from the client's multipart form."""

    fields: list[tuple[str, str]] = field(default_factory=list)  # every text field, in order
    file: bytes | None = None
    filename: str | None = None
    content_type: str | None = None
    format: str | None = None

    def get(self, name: str) -> str | None:
        for key, value in self.fields:
            if key == name:
                return value
        return None

    @property
    def model(self) -> str | None:
        return self.get("model")

    @property
    def language(self) -> str | None:
        return (self.get("language") or "").strip() or None

    @property
    def response_format(self) -> str:
        return (self.get("response_format") or "json").strip() or "json"


def audio_format(filename: str | None, content_type: str | None) -> str:
    """The audio format of an upload, by its extension or else its content type; others are a 400."""
    name = (filename or "").rsplit("/", 1)[-1]
    ext = name.rpartition(".")[2].lower() if "." in name else ""
    ext = _EXTENSION_ALIASES.get(ext, ext)
    if ext in FORMATS:
        return ext
    kind = (content_type or "").split(";", 1)[0].strip().lower()
    if kind in _CONTENT_TYPES:
        return _CONTENT_TYPES[kind]
    supported = ", ".join(FORMATS)
    if ext:
        raise InvalidRequest(f"unsupported audio format '{ext}' (file '{name}'); supported formats: {supported}",
                             code="unsupported_audio_format")
    if kind not in _GENERIC_TYPES:
        raise InvalidRequest(f"unsupported audio format '{kind}'; supported formats: {supported}",
                             code="unsupported_audio_format")
    raise InvalidRequest(f"cannot tell the audio format of '{name or 'file'}': give the file an extension "
                         f"({supported}) or an audio content type", code="unsupported_audio_format")


class FormReader:
    """Feeds a multipart/form-data body through a streaming parser, keeping the fields and the file.

    Holds at most the bytes received (the caller bounds those); ``file_limit`` refuses a file
    larger than an upstream accepts, checked as its bytes arrive.
    """

    def __init__(self, content_type: str | None):
        kind, options = parse_options_header(content_type or "")
        if kind != b"multipart/form-data":
            raise InvalidRequest("the transcription request must be multipart/form-data with a 'file' field "
                                 f"and a 'model' field (got content type '{content_type or 'none'}')")
        boundary = options.get(b"boundary")
        if not boundary:
            raise InvalidRequest("multipart/form-data request without a boundary")
        self.request = AudioRequest()
        self.file_limit: int | None = None
        self.file_size = 0
        self._headers: dict[bytes, bytes] = {}
        self._header_field = bytearray()
        self._header_value = bytearray()
        self._data = bytearray()
        self._part: tuple[str, str | None, str | None] | None = None  # name, filename, content type
        self._skipping = False  # a file past file_limit: later bytes are counted, not kept
        self._done = False
        callbacks = {
            "on_part_begin": self._part_begin, "on_header_field": self._header_field_data,
            "on_header_value": self._header_value_data, "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished, "on_part_data": self._part_data,
            "on_part_end": self._part_end, "on_end": self._end,
        }
        self._parser = MultipartParser(boundary, callbacks)

    def feed(self, chunk: bytes) -> None:
        try:
            self._parser.write(chunk)
        except InvalidRequest:
            raise
        except Exception as exc:  # the parser's own errors: a malformed form
            raise InvalidRequest(f"malformed multipart/form-data body: {exc}") from None

    def finish(self) -> AudioRequest:
        try:
            self._parser.finalize()
        except Exception as exc:
            raise InvalidRequest(f"malformed multipart/form-data body: {exc}") from None
        if not self._done:
            raise InvalidRequest("malformed multipart/form-data body: it ends before its closing boundary")
        return self.request

    @property
    def oversized(self) -> bool:
        return self._skipping

    # ---- parser callbacks ----

    def _part_begin(self) -> None:
        self._headers.clear()
        self._data.clear()
        self._part = None

    def _header_field_data(self, data: bytes, start: int, end: int) -> None:
        self._header_field += data[start:end]

    def _header_value_data(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def _header_end(self) -> None:
        self._headers[bytes(self._header_field).lower()] = bytes(self._header_value)
        self._header_field.clear()
        self._header_value.clear()

    def _headers_finished(self) -> None:
        _, options = parse_options_header(self._headers.get(b"content-disposition", b""))
        name = options.get(b"name", b"").decode("utf-8", "replace")
        filename = options.get(b"filename")
        kind = self._headers.get(b"content-type")
        self._part = (name, None if filename is None else filename.decode("utf-8", "replace"),
                      None if kind is None else kind.decode("latin-1"))

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        if self._part is None:
            return
        name, filename, _ = self._part
        size = end - start
        if name == "file":
            self.file_size += size
            if self._skipping:
                return
            if self.file_limit is not None and self.file_size > self.file_limit:
                self._skipping = True
                self._data.clear()
                return
        elif len(self._data) + size > _FIELD_MAX_BYTES:
            raise InvalidRequest(f"form field '{name}' is longer than {_FIELD_MAX_BYTES} bytes")
        self._data += data[start:end]

    def _part_end(self) -> None:
        if self._part is None:
            return
        name, filename, kind = self._part
        if name == "file":
            if self.request.file is not None:
                raise InvalidRequest("the form has more than one 'file' field; send one audio file")
            self.request.file = b"" if self._skipping else bytes(self._data)
            self.request.filename, self.request.content_type = filename, kind
        elif filename is None and name:
            self.request.fields.append((name, self._data.decode("utf-8", "replace")))
        self._data = bytearray()
        self._part = None

    def _end(self) -> None:
        self._done = True


def validate(req: AudioRequest) -> None:
    """The checks made before anything goes upstream (the file's size is checked as it arrives)."""
    if req.file is None:
        raise InvalidRequest("missing required field 'file': the audio file to transcribe", code="missing_file")
    model = req.model
    if model is None or not model.strip():
        raise InvalidRequest("missing required field 'model' (e.g. 'openai/whisper-1', 'deepgram/nova-3')",
                             code="missing_model")
    if not req.file:
        raise InvalidRequest("the field 'file' is empty: send the audio bytes", code="empty_file")
    req.format = audio_format(req.filename, req.content_type)
    temperature = req.get("temperature")
    if temperature is not None and temperature.strip():
        try:
            value = float(temperature)
        except ValueError:
            raise InvalidRequest(f"'temperature' must be a number, got '{temperature}'") from None
        if not 0 <= value <= 1:
            raise InvalidRequest(f"'temperature' must be between 0 and 1, got {value}")


# Transcription models of OpenAI-compatible providers, so that bare names resolve (``whisper-1``).
KNOWN_MODELS: dict[str, tuple[str, ...]] = {
    "openai": ("whisper-1", "gpt-4o-transcribe", "gpt-4o-mini-transcribe"),
    "groq": ("whisper-large-v3", "whisper-large-v3-turbo", "distil-whisper-large-v3-en"),
}


def adapter_kind(spec: ProviderSpec, model: str = "", custom: bool = False) -> str | None:
    """Which wire shape serves transcription for a provider, or None when it has none.

    An OpenAI-compatible provider qualifies by its ``audio`` capability, by being a provider node
    (whose capabilities are not known), or by ``model`` being one of its known transcription models.
    """
    if spec.id == DEEPGRAM or spec.dialect == DEEPGRAM:
        return DEEPGRAM
    if spec.id == ASSEMBLYAI or spec.dialect == ASSEMBLYAI:
        return ASSEMBLYAI
    if spec.dialect == "openai" and ("audio" in spec.capabilities or custom
                                     or model in KNOWN_MODELS.get(spec.id, ())):
        return OPENAI
    return None


def check_for(kind: str, req: AudioRequest) -> None:
    """Provider-specific checks, still before any upstream call."""
    if kind != OPENAI and req.response_format not in RESPONSE_FORMATS:
        raise InvalidRequest(f"response_format '{req.response_format}' is not available for {kind} models; "
                             f"use one of: {', '.join(RESPONSE_FORMATS)}", code="unsupported_response_format")
    if kind == OPENAI and len(req.file or b"") > OPENAI_MAX_FILE_BYTES:
        raise PayloadTooLarge(f"audio file of {len(req.file)} bytes exceeds OpenAI's limit of "
                              f"{OPENAI_MAX_FILE_BYTES} bytes (25 MB) for transcription uploads",
                              code="file_too_large")


# ---- answers ------------------------------------------------------------------------------------


@dataclass(slots=True)
class Transcript:
    """What a transcription produced: the body for the client and, where known, the audio's length."""

    body: bytes
    content_type: str
    duration: float | None = None


def openai_shaped(text: str, language: str | None, duration: float | None, response_format: str) -> Transcript:
    """A Deepgram or AssemblyAI result in OpenAI's shape (plain text for ``response_format=text``)."""
    if response_format == "text":
        return Transcript(text.encode(), "text/plain; charset=utf-8", duration)
    body = {"text": text, "task": "transcribe", "language": language, "duration": duration}
    return Transcript(orjson.dumps(body), "application/json", duration)


def _number(value) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _bad_answer(provider: str) -> UpstreamConnectionError:
    return UpstreamConnectionError(f"{provider} answered 200 with a body that is not a valid transcription")


async def _read(resp: aiohttp.ClientResponse) -> bytes:
    try:
        return await resp.read()
    except (TimeoutError, aiohttp.ClientError) as exc:
        raise UpstreamConnectionError(f"upstream answer interrupted: {exc.__class__.__name__}") from exc
    finally:
        resp.release()


async def _json(resp: aiohttp.ClientResponse, provider: str) -> dict:
    try:
        data = orjson.loads(await _read(resp))
    except orjson.JSONDecodeError:
        raise _bad_answer(provider) from None
    if not isinstance(data, dict):
        raise _bad_answer(provider)
    return data


def deepgram_transcript(data: dict, req: AudioRequest) -> Transcript:
    """``results.channels[0].alternatives[0].transcript``, ``metadata.duration``, the detected language."""
    try:
        channel = data["results"]["channels"][0]
        text = channel["alternatives"][0]["transcript"]
    except (KeyError, IndexError, TypeError):
        raise _bad_answer("Deepgram") from None
    if not isinstance(text, str):
        raise _bad_answer("Deepgram")
    language = channel.get("detected_language") if isinstance(channel, dict) else None
    metadata = data.get("metadata") if isinstance(data.get("metadata"), dict) else {}
    return openai_shaped(text, language or req.language, _number(metadata.get("duration")), req.response_format)


def assemblyai_transcript(data: dict, req: AudioRequest) -> Transcript:
    text = data.get("text")
    if text is not None and not isinstance(text, str):
        raise _bad_answer("AssemblyAI")
    language = data.get("language_code") or req.language
    return openai_shaped(text or "", language, _number(data.get("audio_duration")), req.response_format)


# ---- upstream calls -----------------------------------------------------------------------------


def upstream_headers(kind: str, account, pooled: dict[str, str] | None = None) -> dict[str, str]:
    """Headers for one account: the provider's fixed headers, its auth style, the account's own headers.

    Deepgram takes ``Authorization: Token <key>``, AssemblyAI the bare key in ``Authorization``;
    OpenAI-compatible upstreams keep the pool's headers without their JSON content type (the form
    sets its own).
    """
    if kind == OPENAI:
        out = {k: v for k, v in (pooled or {}).items() if k.lower() != "content-type"}
        return out
    out = dict(account.provider.headers)
    if account.api_key:
        out["Authorization"] = f"Token {account.api_key}" if kind == DEEPGRAM else account.api_key
    out.update(account.headers)
    return out


class TranscriptTimeout(UpstreamError):
    """An asynchronous transcript that did not finish in time (504)."""

    type = "server_error"
    next_account = False

    def __init__(self, message: str):
        super().__init__(message, status=504, code="transcription_timeout")


class TranscriptFailed(UpstreamBadRequest):
    """The provider finished the transcript with an error (usually about the audio itself)."""

    def __init__(self, message: str):
        super().__init__(message, status=400, code="transcription_failed")


class Transcriber:
    """Builds the upstream calls of one transcription for the pipeline's attempt loop."""

    def __init__(self, pipeline, pool, session, polling: PollingPolicy | None = None):
        self._pipeline = pipeline
        self._pool = pool
        self._proxies = ProxyRouter.wrap(session)  # a ProxyRouter, or a bare session (no proxies)
        self.polling = polling or PollingPolicy.from_env()

    def call(self, kind: str, req: AudioRequest, model: str) -> tuple[Callable, Callable]:
        """``send(account)`` and ``accept(resp) -> Transcript`` of ``kind``, for the pipeline's attempt loop."""
        if kind == DEEPGRAM:
            return self._deepgram(req, model)
        if kind == ASSEMBLYAI:
            return self._assemblyai(req, model)
        return self._openai(req, model)

    def _deepgram(self, req: AudioRequest, model: str) -> tuple[Callable, Callable]:
        params = {"model": model, "smart_format": "true"}
        if req.language:
            params["language"] = req.language
        else:
            params["detect_language"] = "true"
        query = urlencode(params)

        async def send(account):
            headers = upstream_headers(DEEPGRAM, account)
            headers["Content-Type"] = FORMATS[req.format]
            return await _checked(await self._pipeline.post(f"{account.base_url}/listen?{query}", account,
                                                            req.file, headers=headers))

        async def accept(resp) -> Transcript:
            return deepgram_transcript(await _json(resp, "Deepgram"), req)

        return send, accept

    def _assemblyai(self, req: AudioRequest, model: str) -> tuple[Callable, Callable]:
        current = {}

        async def send(account):
            headers = {**upstream_headers(ASSEMBLYAI, account), "Content-Type": "application/octet-stream"}
            current["account"] = account
            return await self._pipeline.post(f"{account.base_url}/upload", account, req.file, headers=headers)

        async def accept(resp) -> Transcript:
            account = current["account"]
            upload = await _json(resp, "AssemblyAI")
            audio_url = upload.get("upload_url")
            if not isinstance(audio_url, str) or not audio_url:
                raise _bad_answer("AssemblyAI")
            params: dict = {"audio_url": audio_url, "speech_models": [model]}
            if req.language:
                params["language_code"] = req.language.lower().replace("-", "_")
            else:
                params["language_detection"] = True
            headers = {**upstream_headers(ASSEMBLYAI, account), "Content-Type": "application/json"}
            created = await self._pipeline.post(f"{account.base_url}/transcript", account, orjson.dumps(params),
                                                headers=headers)
            if created.status >= 300:
                raise await _upstream_error(created)
            transcript = await _json(created, "AssemblyAI")
            return await self._wait(account, transcript, req)

        return send, accept

    async def _wait(self, account, transcript: dict, req: AudioRequest) -> Transcript:
        """Poll ``GET /transcript/{id}`` until it is completed or failed, within the polling timeout."""
        transcript_id = transcript.get("id")
        if not isinstance(transcript_id, str) or not transcript_id:
            raise _bad_answer("AssemblyAI")
        headers = upstream_headers(ASSEMBLYAI, account)
        url = f"{account.base_url}/transcript/{transcript_id}"
        deadline = time.monotonic() + self.polling.timeout_s
        status = transcript.get("status")
        while True:
            if status == "completed":
                return assemblyai_transcript(transcript, req)
            if status == "error":
                raise TranscriptFailed(f"AssemblyAI transcript {transcript_id} failed: "
                                       f"{transcript.get('error') or 'no reason given'}")
            left = deadline - time.monotonic()
            if left <= 0:
                raise TranscriptTimeout(
                    f"AssemblyAI transcript {transcript_id} was not completed within "
                    f"{self.polling.timeout_s:g} s (last status: {status or 'unknown'}); "
                    f"it may still finish upstream: GET {url}")
            await asyncio.sleep(min(self.polling.interval_s, left))
            try:
                session = self._proxies.session_for(url, account)
                resp = await asyncio.wait_for(session.get(url, headers=headers),
                                              max(deadline - time.monotonic(), 0.001))
            except TimeoutError:
                continue
            except (aiohttp.ClientError, OSError) as exc:
                raise UpstreamConnectionError(f"upstream unreachable: {exc.__class__.__name__}: {exc}") from exc
            if resp.status >= 300:
                raise await _upstream_error(resp)
            transcript = await _json(resp, "AssemblyAI")
            status = transcript.get("status")

    def _openai(self, req: AudioRequest, model: str) -> tuple[Callable, Callable]:
        async def send(account):
            form = aiohttp.FormData()
            for name, value in req.fields:
                form.add_field(name, model if name == "model" else value)
            form.add_field("file", req.file, filename=req.filename or f"audio.{req.format}",
                           content_type=req.content_type or FORMATS[req.format])
            headers = upstream_headers(OPENAI, account, self._pool.headers(account))
            return await self._pipeline.post(account.url("/audio/transcriptions"), account, form,
                                             headers=headers)

        async def accept(resp) -> Transcript:
            content_type = resp.headers.get("Content-Type", "application/json")
            body = await _read(resp)
            duration = None
            if content_type.startswith("application/json"):
                try:
                    data = orjson.loads(body)
                except orjson.JSONDecodeError:
                    raise _bad_answer("the upstream") from None
                if isinstance(data, dict):
                    duration = _number(data.get("duration"))
            return Transcript(body, content_type, duration)

        return send, accept


async def _upstream_error(resp: aiohttp.ClientResponse) -> UpstreamError:
    """The error of a non-2xx answer; Deepgram's ``err_msg`` becomes its message."""
    raw = await _read(resp)
    err = classify_upstream(resp.status, raw)
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        data = None
    if isinstance(data, dict) and isinstance(data.get("err_msg"), str):
        err.message = data["err_msg"]
    err.retry_after = resp.headers.get("Retry-After")
    return err


async def _checked(resp: aiohttp.ClientResponse) -> aiohttp.ClientResponse:
    if resp.status >= 300:
        raise await _upstream_error(resp)
    return resp
