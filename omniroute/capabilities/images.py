"""POST /v1/images/generations: the OpenAI request checked, and each provider's wire shape to and from it.

OpenAI, xAI, Together and Nebius take OpenAI-like bodies with their own differences; Fireworks
FLUX models take one prompt per call at ``{base}/workflows/{model}/text_to_image``.
"""

from __future__ import annotations

import base64
import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass

import orjson

from omniroute.errors import InvalidRequest
from omniroute.providers.catalog import ProviderSpec

FORMATS = ("url", "b64_json")
STYLES = ("vivid", "natural")
MAX_N = 10
_SIZE = re.compile(r"^([1-9][0-9]{1,4})x([1-9][0-9]{1,4})$")
_OPENAI_ONLY = ("size", "quality", "style", "response_format", "n", "user")
# Aspect ratios Fireworks' FLUX workflows accept.
FIREWORKS_RATIOS = ("1:1", "21:9", "16:9", "3:2", "5:4", "4:5", "2:3", "9:16", "9:21")


@dataclass(slots=True)
class ImagesCall:
    """One upstream request (Fireworks makes one per image)."""

    url: str
    payload: bytes
    style: str  # openai | fireworks
    calls: int = 1
    accept: str | None = None  # an Accept header the upstream needs


@dataclass(slots=True)
class Images:
    """An upstream's answer reduced to the OpenAI items."""

    items: list[dict]
    usage: dict | None = None


def validate(body: dict) -> None:
    """Check the OpenAI fields (400 naming the field otherwise)."""
    model = body.get("model")
    if not isinstance(model, str) or not model.strip():
        raise InvalidRequest("field 'model' is required and must be a non-empty string", code="missing_field")
    prompt = body.get("prompt")
    if prompt is None:
        raise InvalidRequest("field 'prompt' is required", code="missing_field")
    if not isinstance(prompt, str) or not prompt.strip():
        raise InvalidRequest("field 'prompt' must be a non-empty string")
    n = body.get("n")
    if n is not None and (not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= MAX_N):
        raise InvalidRequest(f"field 'n' must be an integer from 1 to {MAX_N}, not {n!r}")
    size = body.get("size")
    if size is not None and size != "auto" and (not isinstance(size, str) or not _SIZE.match(size)):
        raise InvalidRequest(f"field 'size' must be 'WIDTHxHEIGHT' (e.g. '1024x1024') or 'auto', not {size!r}")
    fmt = body.get("response_format")
    if fmt is not None and fmt not in FORMATS:
        raise InvalidRequest(f"field 'response_format' must be 'url' or 'b64_json', not {fmt!r}")
    style = body.get("style")
    if style is not None and style not in STYLES:
        raise InvalidRequest(f"field 'style' must be 'vivid' or 'natural', not {style!r}")
    quality = body.get("quality")
    if quality is not None and not isinstance(quality, str):
        raise InvalidRequest("field 'quality' must be a string")


def _dimensions(size) -> tuple[int, int] | None:
    match = _SIZE.match(size) if isinstance(size, str) else None
    return (int(match[1]), int(match[2])) if match else None


def is_gpt_image(model: str) -> bool:
    """GPT image models always answer base64 and refuse ``response_format``."""
    return model.startswith("gpt-image")


def build(spec: ProviderSpec, url: Callable[[str], str], model: str, body: dict) -> ImagesCall:
    """The upstream request for ``spec`` (``model`` without the gateway's provider prefix); ``url`` turns
    a path into the account's full URL."""
    payload = {**body, "model": model}
    pid = spec.id
    if pid == "fireworks":
        return _fireworks_call(url, model, body)
    if pid == "openai":
        if is_gpt_image(model):
            payload.pop("response_format", None)
            payload.pop("style", None)
    elif pid == "xai":
        for name in ("size", "quality", "style"):  # xAI refuses these
            payload.pop(name, None)
    elif pid in ("together", "nebius"):
        dims = _dimensions(payload.pop("size", None))
        if dims is not None:
            payload.setdefault("width", dims[0])
            payload.setdefault("height", dims[1])
        payload.pop("quality", None)
        payload.pop("style", None)
        if pid == "together" and payload.get("response_format") == "b64_json":
            payload["response_format"] = "base64"
    return ImagesCall(url("/images/generations"), orjson.dumps(payload), "openai")


def _fireworks_call(url: Callable[[str], str], model: str, body: dict) -> ImagesCall:
    payload = {k: v for k, v in body.items() if k not in _OPENAI_ONLY and k != "model"}
    if "steps" in payload:
        payload.setdefault("num_inference_steps", payload.pop("steps"))
    dims = _dimensions(body.get("size"))
    if dims is not None:
        payload.setdefault("aspect_ratio", nearest_ratio(*dims))
    return ImagesCall(url(f"/workflows/{model}/text_to_image"), orjson.dumps(payload), "fireworks", calls=body.get("n") or 1,
                      accept="application/json")


def nearest_ratio(width: int, height: int) -> str:
    """The Fireworks aspect ratio closest to ``width``:``height``."""
    target = math.log(width / height)

    def distance(ratio: str) -> float:
        w, h = ratio.split(":")
        return abs(math.log(int(w) / int(h)) - target)

    return min(FIREWORKS_RATIOS, key=distance)


def read(style: str, data, content_type: str, raw: bytes) -> Images:
    """The images of one upstream answer; ValueError when it is not a valid answer."""
    if style == "fireworks":
        if content_type.startswith("image/"):
            if not raw:
                raise ValueError("an empty image")
            return Images([{"b64_json": base64.b64encode(raw).decode("ascii")}])
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
        images = data.get("base64")
        if isinstance(images, str):
            images = [images]
        if not isinstance(images, list) or not images or not all(isinstance(i, str) for i in images):
            reason = data.get("finishReason")
            raise ValueError(f"no images (finishReason {reason!r})" if reason else "no 'base64' images")
        return Images([{"b64_json": _strip_data_url(i)} for i in images])
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    items = data.get("data")
    if not isinstance(items, list) or not items:
        raise ValueError("no 'data' list of images")
    out = []
    for item in items:
        if not isinstance(item, dict):
            raise ValueError("an item of 'data' is not an object")
        b64 = item.get("b64_json") or item.get("base64")
        found = {}
        if isinstance(item.get("url"), str) and item["url"]:
            found["url"] = item["url"]
        if isinstance(b64, str) and b64:
            found["b64_json"] = _strip_data_url(b64)
        if not found:
            raise ValueError("an image has neither 'url' nor 'b64_json'")
        if isinstance(item.get("revised_prompt"), str):
            found["revised_prompt"] = item["revised_prompt"]
        out.append(found)
    usage = data.get("usage") if isinstance(data.get("usage"), dict) else None
    return Images(out, usage)


def _strip_data_url(text: str) -> str:
    return text.split(",", 1)[1] if text.startswith("data:") and "," in text else text


_MIMES = (("iVBOR", "image/png"), ("/9j/", "image/jpeg"), ("UklGR", "image/webp"), ("R0lGOD", "image/gif"))


def _mime(b64: str) -> str:
    return next((mime for head, mime in _MIMES if b64.startswith(head)), "image/png")


def answer(images: Images, wanted: str | None, created: int | None = None) -> dict:
    """The OpenAI answer; a client that asked for URLs of an upstream that only sends base64 gets data URLs."""
    data = []
    for item in images.items:
        item = dict(item)
        if wanted == "url" and "url" not in item:
            b64 = item.pop("b64_json")
            item["url"] = f"data:{_mime(b64)};base64,{b64}"
        elif wanted == "b64_json" and "b64_json" not in item:
            raise ValueError("the upstream sent an image URL where base64 was asked for")
        elif wanted is not None:
            item.pop("b64_json" if wanted == "url" else "url", None)
        data.append(item)
    out = {"created": created or int(time.time()), "data": data}
    if images.usage is not None:
        out["usage"] = images.usage
    return out
