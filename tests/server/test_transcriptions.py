"""POST /v1/audio/transcriptions through the official openai SDK, over Deepgram, AssemblyAI and OpenAI fakes."""

from __future__ import annotations

import time

import httpx
import openai
import pytest

from tests.fakes.assemblyai_upstream import FakeAssemblyAI
from tests.fakes.deepgram_upstream import FakeDeepgram
from tests.support import Gateway

# The module's gateway: fast AssemblyAI polling, a short transcription timeout, a small body limit.
LIMIT = 40_000
ENV = {"TRANSCRIPTION_POLL_INTERVAL_MS": "20", "TRANSCRIPTION_TIMEOUT_MS": "600",
       "MAX_BODY_BYTES": str(LIMIT), "USAGE_FLUSH_INTERVAL_MS": "50"}
AUDIO = b"RIFF\x24\x7d\x00\x00WAVEfmt " + bytes(32_000 - 16)  # 1.0 s at the fakes' notional 32 000 bytes/s


@pytest.fixture(scope="module")
def gateway(tmp_path_factory):
    gw = Gateway(tmp_path_factory.mktemp("gw-audio"), ENV).start()
    yield gw
    gw.stop()


@pytest.fixture(scope="module")
def fake_deepgram():
    with FakeDeepgram() as fake:
        yield fake


@pytest.fixture(scope="module")
def fake_assemblyai():
    with FakeAssemblyAI() as fake:
        yield fake


@pytest.fixture
def deepgram(fake_deepgram, connection):
    fake_deepgram.reset()
    connection(provider="deepgram", apiKey="dg-key", baseUrl=fake_deepgram.base_url)
    yield fake_deepgram
    fake_deepgram.reset()


@pytest.fixture
def assemblyai(fake_assemblyai, connection):
    fake_assemblyai.reset()
    connection(provider="assemblyai", apiKey="aai-key", baseUrl=fake_assemblyai.base_url)
    yield fake_assemblyai
    fake_assemblyai.reset()


@pytest.fixture
def whisper(upstream, connection):
    connection()
    return upstream


def client(gw: Gateway, key: str = "sk-anything") -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.url + "/v1", api_key=key, max_retries=0, timeout=30)


def transcribe(gw: Gateway, key: str = "sk-anything", **kwargs):
    kwargs.setdefault("file", ("clip.wav", AUDIO, "audio/wav"))
    return client(gw, key).audio.transcriptions.create(**kwargs)


def usage_rows(admin, key_id: str, count: int) -> list[dict]:
    deadline = time.monotonic() + 5
    while True:
        logs = admin.get("/api/usage/logs", params={"apiKeyId": key_id}).json()["logs"]
        if len(logs) >= count or time.monotonic() > deadline:
            return logs
        time.sleep(0.05)


# ---- Deepgram -----------------------------------------------------------------------------------


def test_deepgram_json_answer(gateway, deepgram):
    result = transcribe(gateway, model="deepgram/nova-3")
    assert result.text == "Hello from the fake Deepgram."
    data = result.model_dump()
    assert data["task"] == "transcribe"
    assert data["language"] == "en"
    assert data["duration"] == 1.0
    [rec] = deepgram.requests
    assert rec.path == "/v1/listen"
    assert rec.query == {"model": "nova-3", "smart_format": "true", "detect_language": "true"}
    assert rec.headers["authorization"] == "Token dg-key"
    assert rec.headers["content-type"] == "audio/wav"
    assert rec.raw == AUDIO


def test_deepgram_text_and_language(gateway, deepgram):
    text = transcribe(gateway, model="dg/nova-3", response_format="text", language="fr")
    assert text.strip() == "Hello from the fake Deepgram."
    [rec] = deepgram.requests
    assert rec.query == {"model": "nova-3", "smart_format": "true", "language": "fr"}
    verbose = transcribe(gateway, model="deepgram/nova-3", response_format="verbose_json", language="fr",
                         file=("clip.mp3", AUDIO[:16_000], "audio/mpeg"))
    assert (verbose.language, verbose.duration, verbose.text) == ("fr", 0.5, "Hello from the fake Deepgram.")
    assert deepgram.requests[1].headers["content-type"] == "audio/mpeg"


def test_deepgram_upstream_error_keeps_status_and_message(gateway, deepgram):
    deepgram.fail_next(402)
    with pytest.raises(openai.APIStatusError) as caught:
        transcribe(gateway, model="deepgram/nova-3")
    assert caught.value.status_code == 402
    assert "enough credits" in caught.value.message


def test_deepgram_next_account_after_a_rejected_key(gateway, deepgram, connection):
    connection(provider="deepgram", apiKey="dg-second", baseUrl=deepgram.base_url, priority=2)
    deepgram.fail_for_key("dg-key", 401)
    raw = client(gateway).audio.transcriptions.with_raw_response.create(
        model="deepgram/nova-3", file=("clip.flac", AUDIO, "audio/flac"))
    assert raw.parse().text == "Hello from the fake Deepgram."
    assert raw.headers["x-omniroute-provider"] == "deepgram"
    assert raw.headers["x-omniroute-fallback-attempts"] == "1"
    assert raw.headers["x-omniroute-audio-seconds"] == "1"
    assert [r.api_key for r in deepgram.requests] == ["dg-key", "dg-second"]


# ---- AssemblyAI ---------------------------------------------------------------------------------


def test_assemblyai_json_answer_after_polling(gateway, assemblyai):
    result = transcribe(gateway, model="assemblyai/best")
    data = result.model_dump()
    assert (data["text"], data["task"], data["language"], data["duration"]) == (
        "Hello from the fake AssemblyAI.", "transcribe", "en_us", 1.0)
    upload, create, *polls = assemblyai.requests
    assert (upload.path, upload.api_key, upload.raw) == ("/v2/upload", "aai-key", AUDIO)
    assert upload.headers["content-type"] == "application/octet-stream"
    assert create.path == "/v2/transcript" and create.api_key == "aai-key"
    assert create.body["audio_url"].startswith(assemblyai.url + "/cdn/upload/")
    assert create.body["speech_models"] == ["best"]
    assert create.body["language_detection"] is True and "language_code" not in create.body
    [job] = assemblyai.jobs.values()
    assert job.steps == ["queued", "processing", "completed"]
    assert len(polls) == 2 and all(p.method == "GET" and p.api_key == "aai-key" for p in polls)


def test_assemblyai_text_and_language(gateway, assemblyai):
    text = transcribe(gateway, model="aai/nano", response_format="text", language="en-US",
                      file=("talk.m4a", AUDIO, "audio/mp4"))
    assert text.strip() == "Hello from the fake AssemblyAI."
    create = assemblyai.requests[1]
    assert create.body["language_code"] == "en_us" and "language_detection" not in create.body
    assert create.body["speech_models"] == ["nano"]
    verbose = transcribe(gateway, model="assemblyai/universal", response_format="verbose_json", language="de",
                         file=("talk.ogg", AUDIO[:16_000], "audio/ogg"))
    assert (verbose.language, verbose.duration) == ("de", 0.5)


def test_assemblyai_transcript_error(gateway, assemblyai):
    assemblyai.fail_with = "Transcoding failed. File does not appear to contain audio."
    with pytest.raises(openai.BadRequestError) as caught:
        transcribe(gateway, model="assemblyai/best")
    [transcript_id] = assemblyai.jobs
    assert transcript_id in caught.value.message
    assert "does not appear to contain audio" in caught.value.message
    assert caught.value.code == "transcription_failed"


def test_assemblyai_timeout_is_504_naming_the_transcript(gateway, assemblyai):
    assemblyai.never_finish = True
    started = time.monotonic()
    with pytest.raises(openai.APIStatusError) as caught:
        transcribe(gateway, model="assemblyai/best")
    assert time.monotonic() - started < 5
    assert caught.value.status_code == 504
    [transcript_id] = assemblyai.jobs
    assert transcript_id in caught.value.message
    assert len([r for r in assemblyai.requests if r.method == "GET"]) >= 2


def test_assemblyai_upload_rejected(gateway, assemblyai):
    assemblyai.fail_next(401)
    with pytest.raises(openai.AuthenticationError) as caught:
        transcribe(gateway, model="assemblyai/best")
    assert "API token missing/invalid" in caught.value.message
    assert [r.action for r in assemblyai.requests] == ["upload"]


# ---- OpenAI-compatible pass-through -------------------------------------------------------------


def test_openai_passthrough_json_text_and_verbose(gateway, whisper):
    result = transcribe(gateway, model="openai/whisper-1", language="en", prompt="names: Ada", temperature=0.2)
    assert result.text == "Hello from the fake Whisper."
    [rec] = whisper.requests
    assert rec.path == "/v1/audio/transcriptions"
    assert rec.headers["authorization"] == "Bearer sk-upstream-0"
    assert rec.body["model"] == "whisper-1"
    assert (rec.body["language"], rec.body["prompt"], float(rec.body["temperature"])) == ("en", "names: Ada", 0.2)
    assert rec.body["file"] == {"filename": "clip.wav", "content_type": "audio/wav", "size": len(AUDIO)}
    assert transcribe(gateway, model="openai/gpt-4o-transcribe", response_format="text") == \
        "Hello from the fake Whisper.\n"
    verbose = transcribe(gateway, model="whisper-1", response_format="verbose_json",
                         file=("voice.webm", AUDIO, "audio/webm"))
    assert (verbose.duration, verbose.text) == (1.0, "Hello from the fake Whisper.")
    assert whisper.requests[-1].body["model"] == "whisper-1"


def test_openai_upstream_error_is_passed_on(gateway, whisper):
    whisper.fail_next(429, count=1)
    with pytest.raises(openai.RateLimitError):
        transcribe(gateway, model="openai/whisper-1")


# ---- bad input: a 4xx naming the problem, nothing sent upstream ----------------------------------


def test_unsupported_format_is_400_naming_it(gateway, deepgram, whisper):
    with pytest.raises(openai.BadRequestError) as caught:
        transcribe(gateway, model="deepgram/nova-3", file=("notes.txt", b"hello there", "text/plain"))
    assert "'txt'" in caught.value.message and "mp3" in caught.value.message
    with pytest.raises(openai.BadRequestError) as caught:
        transcribe(gateway, model="openai/whisper-1", file=("clip", b"\x00" * 100, "image/png"))
    assert "image/png" in caught.value.message
    assert deepgram.requests == [] and whisper.requests == []


def test_format_by_content_type_when_no_extension(gateway, deepgram):
    transcribe(gateway, model="deepgram/nova-3", file=("recording", AUDIO, "audio/x-flac"))
    assert deepgram.requests[0].headers["content-type"] == "audio/flac"


def test_missing_file_or_model_is_400(gateway, deepgram):
    url = gateway.url + "/v1/audio/transcriptions"
    no_file = httpx.post(url, files={"model": (None, "deepgram/nova-3")})
    assert no_file.status_code == 400 and "'file'" in no_file.json()["error"]["message"]
    no_model = httpx.post(url, files={"file": ("clip.wav", AUDIO, "audio/wav")})
    assert no_model.status_code == 400 and "'model'" in no_model.json()["error"]["message"]
    as_json = httpx.post(url, json={"model": "deepgram/nova-3"})
    assert as_json.status_code == 400 and "multipart/form-data" in as_json.json()["error"]["message"]
    broken = httpx.post(url, content=b"--xyz\r\nnot a form", headers={"content-type": "multipart/form-data; boundary=xyz"})
    assert broken.status_code == 400
    assert deepgram.requests == []


def test_other_bad_fields(gateway, deepgram, connection):
    with pytest.raises(openai.BadRequestError) as caught:
        transcribe(gateway, model="deepgram/nova-3", response_format="srt")
    assert "srt" in caught.value.message
    with pytest.raises(openai.BadRequestError) as caught:
        transcribe(gateway, model="anthropic/claude-sonnet-4-5")
    assert "does not offer audio transcription" in caught.value.message
    with pytest.raises(openai.NotFoundError):
        transcribe(gateway, model="no-such-transcriber")
    assert deepgram.requests == []


def test_body_over_the_gateway_limit_is_413(gateway, deepgram):
    with pytest.raises(openai.APIStatusError) as caught:
        transcribe(gateway, model="deepgram/nova-3", file=("long.wav", bytes(LIMIT + 10_000), "audio/wav"))
    assert caught.value.status_code == 413
    assert f"limit of {LIMIT} bytes" in caught.value.message
    assert deepgram.requests == []


def test_file_over_openai_limit_is_413(make_gateway, upstream):
    gw = make_gateway({"MAX_BODY_BYTES": str(30 * 1024 * 1024)})
    gw_admin = gw.admin()
    resp = gw_admin.post("/api/providers", json={"provider": "openai", "name": "big", "apiKey": "sk-up",
                                                 "baseUrl": upstream.base_url})
    gw_admin.close()
    assert resp.status_code == 201, resp.text
    big = bytes(25 * 1024 * 1024 + 1)
    with pytest.raises(openai.APIStatusError) as caught:
        transcribe(gw, model="openai/whisper-1", file=("long.mp3", big, "audio/mpeg"))
    assert caught.value.status_code == 413
    assert "25 MB" in caught.value.message
    assert upstream.requests == []


# ---- usage ----------------------------------------------------------------------------------------


def test_a_usage_row_per_request(gateway, admin, api_key, deepgram, assemblyai, whisper):
    key = api_key()
    transcribe(gateway, key["key"], model="deepgram/nova-3")
    transcribe(gateway, key["key"], model="assemblyai/best", response_format="text")
    transcribe(gateway, key["key"], model="openai/whisper-1")
    with pytest.raises(openai.BadRequestError):
        transcribe(gateway, key["key"], model="deepgram/nova-3", file=("x.doc", b"abc", "application/msword"))
    rows = usage_rows(admin, key["id"], 4)
    assert len(rows) == 4
    seen = sorted((r["requestedModel"], r["provider"] or "-", r["model"] or "-", r["status"]) for r in rows)
    assert seen == [("assemblyai/best", "assemblyai", "best", 200), ("deepgram/nova-3", "-", "-", 400),
                    ("deepgram/nova-3", "deepgram", "nova-3", 200), ("openai/whisper-1", "openai", "whisper-1", 200)]
    assert all(r["completionTokens"] == 0 and r["clientFormat"] == "openai" for r in rows)


def test_audio_is_priced_per_minute(gateway, admin, api_key, whisper):
    """whisper-1 at $0.006 a minute: one second of audio costs $0.0001, in the header and the row."""
    key = api_key()
    raw = client(gateway, key["key"]).audio.transcriptions.with_raw_response.create(
        model="openai/whisper-1", response_format="verbose_json", file=("clip.wav", AUDIO, "audio/wav"))
    assert raw.headers["x-omniroute-audio-seconds"] == "1"
    assert float(raw.headers["x-omniroute-response-cost"]) == pytest.approx(0.006 / 60)
    [row] = usage_rows(admin, key["id"], 1)
    assert row["audioSeconds"] == 1.0 and row["cost"] == pytest.approx(0.006 / 60)
