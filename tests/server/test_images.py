"""/v1/images/generations through the official openai SDK: OpenAI models, the other providers' shapes,
fallback, usage, errors."""

from __future__ import annotations

import base64

import httpx
import openai
import orjson
import pytest

from omniroute.providers.registry import ProviderRegistry
from tests.fakes.fireworks_upstream import FakeFireworks
from tests.fakes.openai_answers import tiny_png
from tests.support import usage_rows

PNG = tiny_png()
FIREWORKS_FLUX = "accounts/fireworks/models/flux-1-schnell-fp8"
_fireworks_images = "images" in ProviderRegistry().get("fireworks").capabilities


def sdk(gateway, key: str = "sk-anything") -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.url + "/v1", api_key=key, max_retries=0)


def post(gateway, body: dict, **kwargs) -> httpx.Response:
    return httpx.post(gateway.url + "/v1/images/generations", json=body, timeout=30, **kwargs)




@pytest.fixture(scope="module")
def fireworks_fake():
    fake = FakeFireworks().start()
    yield fake
    fake.stop()


@pytest.fixture
def fireworks(fireworks_fake, admin):
    fireworks_fake.clear()
    conn = admin.post("/api/providers", json={"provider": "fireworks", "name": "fw", "apiKey": "fw-key",
                                              "baseUrl": fireworks_fake.base_url}).json()
    yield fireworks_fake
    admin.delete(f"/api/providers/{conn['id']}")
    fireworks_fake.clear()


def test_dall_e_3_url(gateway, upstream, connection):
    connection()
    result = sdk(gateway).images.generate(model="openai/dall-e-3", prompt="a red fox", size="1024x1024",
                                          quality="hd", style="vivid", response_format="url")
    assert len(result.data) == 1
    assert result.data[0].url.startswith(upstream.url + "/files/")
    assert httpx.get(result.data[0].url).content == PNG
    assert result.data[0].revised_prompt == "revised: a red fox"
    sent = upstream.requests[-1]
    assert sent.path == "/v1/images/generations"
    assert sent.body == {"model": "dall-e-3", "prompt": "a red fox", "size": "1024x1024", "quality": "hd",
                         "style": "vivid", "response_format": "url"}


def test_b64_json_and_n(gateway, upstream, connection):
    connection()
    result = sdk(gateway).images.generate(model="openai/dall-e-2", prompt="cat", n=3, response_format="b64_json")
    assert len(result.data) == 3
    assert all(base64.b64decode(d.b64_json) == PNG and d.url is None for d in result.data)


def test_gpt_image_1_never_gets_response_format(gateway, upstream, connection):
    connection()
    client = sdk(gateway)
    result = client.images.generate(model="openai/gpt-image-1", prompt="a tiny robot", quality="low",
                                    response_format="b64_json")
    assert "response_format" not in upstream.requests[-1].body
    assert upstream.requests[-1].body["quality"] == "low"
    assert base64.b64decode(result.data[0].b64_json) == PNG
    assert result.usage.input_tokens == 3
    as_url = client.images.generate(model="openai/gpt-image-1", prompt="robot", response_format="url")
    assert as_url.data[0].url.startswith("data:image/png;base64,") and as_url.data[0].b64_json is None
    assert base64.b64decode(as_url.data[0].url.split(",", 1)[1]) == PNG
    plain = client.images.generate(model="openai/gpt-image-1", prompt="robot")
    assert plain.data[0].b64_json


def test_bare_model_name_resolves(gateway, upstream, connection):
    connection()
    resp = post(gateway, {"model": "dall-e-3", "prompt": "x"})
    assert resp.status_code == 200, resp.text
    assert upstream.requests[-1].body["model"] == "dall-e-3"
    assert resp.headers["x-omniroute-provider"] == "openai"


def test_fallback_to_the_next_account_on_5xx(gateway, upstream, connection):
    connection(priority=1, apiKey="sk-a")
    connection(priority=2, apiKey="sk-b")
    upstream.fail_next(502)
    resp = post(gateway, {"model": "openai/dall-e-3", "prompt": "x"})
    assert resp.status_code == 200, resp.text
    assert [r.api_key for r in upstream.requests] == ["sk-a", "sk-b"]
    assert resp.headers["x-omniroute-fallback-attempts"] == "1"


def test_upstream_refusal_keeps_status_and_is_not_retried(gateway, upstream, connection):
    connection(priority=1, apiKey="sk-a")
    connection(priority=2, apiKey="sk-b")
    resp = post(gateway, {"model": "openai/dall-e-3", "prompt": "x", "n": 2})  # DALL-E 3 makes one at a time
    assert resp.status_code == 400 and "dall-e-3 supports only n=1" in resp.json()["error"]["message"]
    assert len(upstream.requests) == 1


def test_usage_row_written(gateway, upstream, connection, api_key, admin):
    connection()
    key = api_key()
    sdk(gateway, key["key"]).images.generate(model="openai/gpt-image-1", prompt="one two")
    rows = usage_rows(admin, key["id"])
    assert len(rows) == 1
    row = rows[0]
    assert row["provider"] == "openai" and row["model"] == "gpt-image-1" and row["clientFormat"] == "images"
    assert row["promptTokens"] == 2 and row["completionTokens"] == 272 and row["status"] == 200


def test_key_allowed_models_enforced(gateway, upstream, connection, api_key):
    connection()
    key = api_key(allowedModels=["openai/dall-e-*"])
    client = sdk(gateway, key["key"])
    assert client.images.generate(model="openai/dall-e-3", prompt="ok").data
    with pytest.raises(openai.PermissionDeniedError):
        client.images.generate(model="openai/gpt-image-1", prompt="no")
    assert len(upstream.requests) == 1
    listed = httpx.get(gateway.url + "/v1/images/generations",
                       headers={"Authorization": f"Bearer {key['key']}"}).json()
    assert {m["id"] for m in listed["data"]} == {"openai/dall-e-3", "openai/dall-e-2"}


def test_get_lists_image_models(gateway, connection):
    connection()
    connection(provider="xai")
    data = httpx.get(gateway.url + "/v1/images/generations").json()
    ids = {m["id"] for m in data["data"]}
    assert data["object"] == "list"
    assert {"openai/gpt-image-1", "openai/dall-e-3", "xai/grok-2-image"} <= ids
    assert "openai/text-embedding-3-small" not in ids and "openai/gpt-4o" not in ids


def test_xai_drops_the_fields_it_refuses(gateway, upstream, connection):
    connection(provider="xai", apiKey="xai-key")
    result = sdk(gateway).images.generate(model="xai/grok-2-image", prompt="a comet", n=2, size="1024x1024",
                                          quality="hd", style="natural", response_format="b64_json")
    assert len(result.data) == 2 and base64.b64decode(result.data[0].b64_json) == PNG
    sent = upstream.requests[-1]
    assert sent.api_key == "xai-key"
    assert sent.body == {"model": "grok-2-image", "prompt": "a comet", "n": 2, "response_format": "b64_json"}


def test_together_size_to_width_height_and_base64(gateway, upstream, connection):
    connection(provider="together")
    result = sdk(gateway).images.generate(model="together/black-forest-labs/FLUX.1-schnell", prompt="a lake",
                                          size="1024x768", response_format="b64_json", extra_body={"steps": 4})
    assert base64.b64decode(result.data[0].b64_json) == PNG
    sent = upstream.requests[-1].body
    assert sent["width"] == 1024 and sent["height"] == 768 and "size" not in sent
    assert sent["response_format"] == "base64" and sent["steps"] == 4
    assert sent["model"] == "black-forest-labs/FLUX.1-schnell"


def test_nebius_size_to_width_height(gateway, upstream, connection):
    connection(provider="nebius")
    result = sdk(gateway).images.generate(model="nebius/black-forest-labs/flux-schnell", prompt="hills",
                                          size="512x512", quality="standard", response_format="url")
    assert result.data[0].url
    sent = upstream.requests[-1].body
    assert sent == {"model": "black-forest-labs/flux-schnell", "prompt": "hills", "width": 512, "height": 512,
                    "response_format": "url"}


@pytest.mark.skipif(not _fireworks_images, reason="the catalog's fireworks entry lacks the 'images' capability")
def test_fireworks_flux_workflow(gateway, fireworks):
    client = sdk(gateway)
    result = client.images.generate(model=f"fireworks/{FIREWORKS_FLUX}", prompt="neon city", n=2,
                                    size="1792x1024", response_format="b64_json", extra_body={"seed": 7})
    assert len(result.data) == 2 and all(base64.b64decode(d.b64_json) == PNG for d in result.data)
    assert len(fireworks.requests) == 2
    sent = fireworks.requests[-1]
    assert sent.path == f"/inference/v1/workflows/{FIREWORKS_FLUX}/text_to_image"
    assert sent.api_key == "fw-key" and sent.headers["accept"] == "application/json"
    assert sent.body == {"prompt": "neon city", "aspect_ratio": "16:9", "seed": 7}
    as_url = client.images.generate(model=f"fireworks/{FIREWORKS_FLUX}", prompt="p", response_format="url")
    assert as_url.data[0].url.startswith("data:image/png;base64,")


@pytest.mark.skipif(not _fireworks_images, reason="the catalog's fireworks entry lacks the 'images' capability")
def test_fireworks_error_and_malformed(gateway, fireworks):
    fireworks.fail_next(503)
    assert post(gateway, {"model": f"fireworks/{FIREWORKS_FLUX}", "prompt": "p"}).status_code == 503
    fireworks.fail_next(200, raw=b'{"finishReason": "CONTENT_FILTERED"}', content_type="application/json")
    resp = post(gateway, {"model": f"fireworks/{FIREWORKS_FLUX}", "prompt": "p"})
    assert resp.status_code == 502 and "CONTENT_FILTERED" in resp.json()["error"]["message"]


@pytest.mark.parametrize("body, field", [
    ({"model": "openai/dall-e-3"}, "prompt"),
    ({"model": "openai/dall-e-3", "prompt": ""}, "prompt"),
    ({"model": "openai/dall-e-3", "prompt": 5}, "prompt"),
    ({"prompt": "x"}, "model"),
    ({"model": "openai/dall-e-3", "prompt": "x", "n": 0}, "n"),
    ({"model": "openai/dall-e-3", "prompt": "x", "n": 11}, "n"),
    ({"model": "openai/dall-e-3", "prompt": "x", "n": "2"}, "n"),
    ({"model": "openai/dall-e-3", "prompt": "x", "size": "big"}, "size"),
    ({"model": "openai/dall-e-3", "prompt": "x", "size": "1024x"}, "size"),
    ({"model": "openai/dall-e-3", "prompt": "x", "size": 1024}, "size"),
    ({"model": "openai/dall-e-3", "prompt": "x", "response_format": "png"}, "response_format"),
    ({"model": "openai/dall-e-3", "prompt": "x", "style": "gothic"}, "style"),
    ({"model": "openai/dall-e-3", "prompt": "x", "quality": 3}, "quality"),
    ({"model": "openai/gpt-4o", "prompt": "x"}, "model"),
    ({"model": "openai/text-embedding-3-small", "prompt": "x"}, "model"),
])
def test_bad_input_is_400_naming_the_field(gateway, upstream, connection, body, field):
    connection()
    resp = post(gateway, body)
    assert resp.status_code == 400, resp.text
    assert f"'{field}'" in resp.json()["error"]["message"]
    assert upstream.requests == []


def test_provider_without_the_capability_is_400(gateway, upstream, connection):
    connection(provider="mistral")
    resp = post(gateway, {"model": "mistral/mistral-large-latest", "prompt": "x"})
    assert resp.status_code == 400 and "images" in resp.json()["error"]["message"]
    assert upstream.requests == []


@pytest.mark.parametrize("raw, content_type", [
    (b"<html>bad gateway page</html>", "text/html"),
    (b'{"created": 1, "data": []}', "application/json"),
    (b'{"created": 1, "data": [{"revised_prompt": "x"}]}', "application/json"),
])
def test_malformed_upstream_answer_is_502_with_status_and_excerpt(gateway, upstream, connection, raw, content_type):
    connection()
    upstream.fail_next(200, raw=raw, content_type=content_type)
    resp = post(gateway, {"model": "openai/dall-e-3", "prompt": "x"})
    assert resp.status_code == 502, resp.text
    message = resp.json()["error"]["message"]
    assert "HTTP 200" in message and raw[:12].decode() in message


def test_url_answer_where_base64_was_asked_is_502(gateway, upstream, connection):
    connection()
    upstream.fail_next(200, raw=b'{"created": 1, "data": [{"url": "https://x/y.png"}]}',
                       content_type="application/json")
    resp = post(gateway, {"model": "openai/dall-e-3", "prompt": "x", "response_format": "b64_json"})
    assert resp.status_code == 502 and "base64" in resp.json()["error"]["message"]


def test_fireworks_shape_translation():
    from omniroute.capabilities import images

    spec = ProviderRegistry().get("fireworks")
    call = images.build(spec, lambda path: "https://fw.example/inference/v1" + path, FIREWORKS_FLUX,
                        {"model": "x", "prompt": "p", "n": 3, "size": "1024x1792", "quality": "hd",
                         "response_format": "url", "steps": 8, "guidance_scale": 3.5})
    assert call.url == f"https://fw.example/inference/v1/workflows/{FIREWORKS_FLUX}/text_to_image"
    assert call.calls == 3 and call.accept == "application/json" and call.style == "fireworks"
    assert orjson.loads(call.payload) == {"prompt": "p", "aspect_ratio": "9:16", "num_inference_steps": 8,
                                          "guidance_scale": 3.5}
    png = base64.b64encode(PNG).decode()
    got = images.read("fireworks", {"base64": [f"data:image/png;base64,{png}"], "finishReason": "SUCCESS"},
                      "application/json", b"")
    assert got.items == [{"b64_json": png}]
    assert images.read("fireworks", None, "image/jpeg", PNG).items == [{"b64_json": png}]
    with pytest.raises(ValueError, match="CONTENT_FILTERED"):
        images.read("fireworks", {"finishReason": "CONTENT_FILTERED"}, "application/json", b"")
    assert images.nearest_ratio(1024, 1024) == "1:1" and images.nearest_ratio(1536, 1024) == "3:2"


def test_images_are_priced_per_image(gateway, upstream, connection, api_key, admin):
    """dall-e-2 priced by the operator at $0.025 an image: three images cost $0.075 (header and row)."""
    connection()
    key = api_key()
    price = {"input": 0, "output": 0, "perImage": 0.025}
    assert admin.put("/api/pricing", json={"pricing": {"openai/dall-e-2": price}}).status_code == 200
    try:
        raw = sdk(gateway, key["key"]).images.with_raw_response.generate(model="openai/dall-e-2", prompt="cats", n=3)
    finally:
        admin.put("/api/pricing", json={"pricing": {"openai/dall-e-2": None}})
    assert len(raw.parse().data) == 3
    assert float(raw.headers["x-omniroute-response-cost"]) == pytest.approx(0.075)
    [row] = usage_rows(admin, key["id"])
    assert row["images"] == 3 and row["cost"] == pytest.approx(0.075)
