"""Every embeddings and images provider of the catalog, added with the management API and used
through the openai SDK against the fake of its wire shape."""

from __future__ import annotations

import openai
import pytest

from omniroute.capabilities.models import known_models
from omniroute.providers.catalog import CATALOG

EMBEDDINGS = [s for s in CATALOG if "embeddings" in s.capabilities and not s.executor]
IMAGES = [s for s in CATALOG if "images" in s.capabilities and not s.executor]


def _fake(spec, kind: str):
    if spec.dialect == "gemini":
        from tests.fakes.gemini_embed_upstream import FakeGeminiEmbed as Fake
    elif spec.dialect == "ollama":
        from tests.fakes.ollama_upstream import FakeOllama as Fake
    elif kind == "images" and spec.id == "fireworks":
        from tests.fakes.fireworks_upstream import FakeFireworks as Fake
    else:
        from tests.fakes.openai_upstream import FakeOpenAI as Fake
    return Fake()


def _connect(admin, spec, fake):
    resp = admin.post("/api/providers", json={"provider": spec.id, "name": f"media-{spec.id}",
                                              "apiKey": f"key-{spec.id}", "baseUrl": fake.base_url})
    assert resp.status_code == 201, resp.text
    return resp.json()["id"]


@pytest.mark.parametrize("spec", EMBEDDINGS, ids=[s.id for s in EMBEDDINGS])
def test_catalog_provider_embeddings(gateway, admin, spec):
    with _fake(spec, "embeddings") as fake:
        conn = _connect(admin, spec, fake)
        try:
            models = known_models(spec, "embeddings") or ("some-embedding-model",)
            client = openai.OpenAI(base_url=gateway.url + "/v1", api_key="sk-local", max_retries=0)
            answer = client.embeddings.create(model=f"{spec.prefix}/{models[0]}", input=["one", "two words"])
            assert len(answer.data) == 2 and all(len(d.embedding) > 0 for d in answer.data)
            assert answer.data[0].embedding != answer.data[1].embedding
            sent = [r for r in fake.requests if r.method == "POST"]
            assert sent, "the upstream was not called"
            for name, value in spec.query:
                assert f"{name}={value}" in sent[-1].query_string
        finally:
            admin.delete(f"/api/providers/{conn}")


@pytest.mark.parametrize("spec", IMAGES, ids=[s.id for s in IMAGES])
def test_catalog_provider_images(gateway, admin, spec):
    with _fake(spec, "images") as fake:
        conn = _connect(admin, spec, fake)
        try:
            models = known_models(spec, "images") or ("some-image-model",)
            client = openai.OpenAI(base_url=gateway.url + "/v1", api_key="sk-local", max_retries=0)
            answer = client.images.generate(model=f"{spec.prefix}/{models[0]}", prompt="a red square",
                                            response_format="b64_json")
            assert answer.data and answer.data[0].b64_json
        finally:
            admin.delete(f"/api/providers/{conn}")


# AssemblyAI polls for seconds by design: tests/server/test_transcriptions.py runs it on a fast gateway.
AUDIO = [s for s in CATALOG if "audio" in s.capabilities and not s.executor and s.id != "assemblyai"]
WAV = b"RIFF\x24\x7d\x00\x00WAVEfmt " + bytes(32_000 - 16)


@pytest.mark.parametrize("spec", AUDIO, ids=[s.id for s in AUDIO])
def test_catalog_provider_transcription(gateway, admin, spec):
    if spec.id == "deepgram":
        from tests.fakes.deepgram_upstream import FakeDeepgram as Fake
        model = "nova-3"
    else:
        from tests.fakes.openai_upstream import FakeOpenAI as Fake
        model = "whisper-1"
    with Fake() as fake:
        conn = _connect(admin, spec, fake)
        try:
            client = openai.OpenAI(base_url=gateway.url + "/v1", api_key="sk-local", max_retries=0)
            answer = client.audio.transcriptions.create(model=f"{spec.prefix}/{model}", file=("a.wav", WAV))
            assert answer.text
            sent = [r for r in fake.requests if r.method == "POST"]
            assert sent, "the upstream was not called"
            for name, value in spec.query:  # e.g. Azure's api-version
                assert f"{name}={value}" in sent[-1].query_string
        finally:
            admin.delete(f"/api/providers/{conn}")
