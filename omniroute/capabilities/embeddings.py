"""POST /v1/embeddings: the OpenAI request checked, and each provider's wire shape to and from it.

Every upstream is asked for float vectors except OpenAI itself, which may send base64; the
answer is always re-shaped here into the encoding the client asked for.
"""

from __future__ import annotations

import base64
import binascii
import sys
from array import array
from collections.abc import Callable
from dataclasses import dataclass

import orjson

from omniroute.errors import InvalidRequest
from omniroute.providers.catalog import ProviderSpec
from omniroute.tokens import estimate_text_tokens

ENCODINGS = ("float", "base64")


@dataclass(slots=True)
class EmbeddingsCall:
    """One upstream request: where it goes and what it carries."""

    url: str
    payload: bytes
    style: str  # openai | gemini | ollama: how the answer is read


@dataclass(slots=True)
class Vectors:
    """An upstream's answer reduced to what the client's answer needs."""

    vectors: list[list[float] | str]  # floats, or OpenAI base64 strings kept as they came
    prompt_tokens: int | None
    model: str | None = None


def validate(body: dict) -> list:
    """Check the OpenAI fields; returns the inputs as a list (400 naming the field otherwise)."""
    model = body.get("model")
    if not isinstance(model, str) or not model.strip():
        raise InvalidRequest("field 'model' is required and must be a non-empty string", code="missing_field")
    if "input" not in body or body["input"] is None:
        raise InvalidRequest("field 'input' is required: a string, a list of strings, or token arrays",
                             code="missing_field")
    raw = body["input"]
    if isinstance(raw, str) or (isinstance(raw, list) and raw and all(_is_int(t) for t in raw)):
        inputs = [raw]
    elif isinstance(raw, list):
        inputs = raw
    else:
        raise InvalidRequest("field 'input' must be a string, a list of strings, or token arrays")
    if not inputs:
        raise InvalidRequest("field 'input' must not be an empty list")
    for i, item in enumerate(inputs):
        if isinstance(item, str):
            if not item:
                raise InvalidRequest(f"field 'input[{i}]' must not be an empty string")
        elif isinstance(item, list):
            if not item or not all(_is_int(t) and t >= 0 for t in item):
                raise InvalidRequest(f"field 'input[{i}]' must be a non-empty array of token ids")
        else:
            raise InvalidRequest(f"field 'input[{i}]' must be a string or an array of token ids")
    fmt = body.get("encoding_format")
    if fmt is not None and fmt not in ENCODINGS:
        raise InvalidRequest(f"field 'encoding_format' must be 'float' or 'base64', not {fmt!r}")
    dims = body.get("dimensions")
    if dims is not None and (not _is_int(dims) or dims < 1):
        raise InvalidRequest(f"field 'dimensions' must be a positive integer, not {dims!r}")
    user = body.get("user")
    if user is not None and not isinstance(user, str):
        raise InvalidRequest("field 'user' must be a string")
    return inputs


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def build(spec: ProviderSpec, url: Callable[[str], str], model: str, body: dict, inputs: list) -> EmbeddingsCall:
    """The upstream request for ``spec`` (``model`` without the gateway's provider prefix); ``url`` turns
    a path into the account's full URL."""
    if spec.dialect == "gemini":
        return _gemini_call(url, model, body, inputs)
    if spec.dialect == "ollama":
        payload = {"model": model, "input": [_text(i, "ollama") for i in inputs]}
        if body.get("dimensions") is not None:
            payload["dimensions"] = body["dimensions"]
        return EmbeddingsCall(url("/api/embed"), orjson.dumps(payload), "ollama")
    payload = {**body, "model": model}
    if spec.id != "openai":
        # Other OpenAI-shaped upstreams differ on base64 and on `user`; floats are asked for everywhere.
        payload.pop("encoding_format", None)
        payload.pop("user", None)
    if spec.id == "mistral" and "dimensions" in payload:
        payload["output_dimension"] = payload.pop("dimensions")
    if spec.id == "nvidia":
        payload.setdefault("input_type", "query")  # NVIDIA's retrieval models require it
    return EmbeddingsCall(url("/embeddings"), orjson.dumps(payload), "openai")


def _text(item, provider: str) -> str:
    if isinstance(item, str):
        return item
    raise InvalidRequest(f"field 'input': token arrays cannot be sent to {provider}; send text")


def _gemini_call(url: Callable[[str], str], model: str, body: dict, inputs: list) -> EmbeddingsCall:
    requests = []
    for item in inputs:
        one = {"model": f"models/{model}", "content": {"parts": [{"text": _text(item, 'gemini')}]}}
        if body.get("dimensions") is not None:
            one["outputDimensionality"] = body["dimensions"]
        requests.append(one)
    return EmbeddingsCall(url(f"/models/{model}:batchEmbedContents"), orjson.dumps({"requests": requests}), "gemini")


def read(style: str, data, count: int) -> Vectors:
    """The vectors of an upstream answer; ValueError when it is not a valid answer for ``count`` inputs."""
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    if style == "gemini":
        items = data.get("embeddings")
        if not isinstance(items, list):
            raise ValueError("no 'embeddings' list")
        vectors = [_floats(item.get("values") if isinstance(item, dict) else None) for item in items]
        tokens = None
    elif style == "ollama":
        items = data.get("embeddings")
        if not isinstance(items, list):
            raise ValueError("no 'embeddings' list")
        vectors = [_floats(v) for v in items]
        tokens = data.get("prompt_eval_count") if _is_int(data.get("prompt_eval_count")) else None
    else:
        items = data.get("data")
        if not isinstance(items, list):
            raise ValueError("no 'data' list")
        ordered = sorted(items, key=lambda d: d.get("index", 0) if isinstance(d, dict) else 0)
        vectors = []
        for item in ordered:
            if not isinstance(item, dict):
                raise ValueError("an item of 'data' is not an object")
            vector = item.get("embedding")
            vectors.append(_b64_checked(vector) if isinstance(vector, str) else _floats(vector))
        usage = data.get("usage")
        tokens = usage.get("prompt_tokens") if isinstance(usage, dict) else None
        tokens = tokens if _is_int(tokens) else None
    if len(vectors) != count:
        raise ValueError(f"{len(vectors)} vectors for {count} inputs")
    model = data.get("model") if isinstance(data.get("model"), str) else None
    return Vectors(vectors, tokens, model)


def _floats(vector) -> list[float]:
    if not isinstance(vector, list) or not vector or not all(isinstance(x, (int, float)) for x in vector):
        raise ValueError("a vector is not a list of numbers")
    return vector


def _b64_checked(text: str) -> str:
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("a base64 vector does not decode") from None
    if not raw or len(raw) % 4:
        raise ValueError("a base64 vector is not float32 values")
    return text


def encode(vector: list[float] | str, fmt: str):
    """One vector in the client's encoding: a list of floats, or base64 of little-endian float32."""
    if fmt == "base64":
        if isinstance(vector, str):
            return vector
        packed = array("f", vector)
        if sys.byteorder != "little":
            packed.byteswap()
        return base64.b64encode(packed.tobytes()).decode("ascii")
    if isinstance(vector, str):
        packed = array("f", base64.b64decode(vector))
        if sys.byteorder != "little":
            packed.byteswap()
        return packed.tolist()
    return vector


def answer(vectors: Vectors, fmt: str, model: str, prompt_tokens: int) -> dict:
    """The OpenAI answer."""
    return {
        "object": "list",
        "data": [{"object": "embedding", "index": i, "embedding": encode(v, fmt)}
                 for i, v in enumerate(vectors.vectors)],
        "model": vectors.model or model,
        "usage": {"prompt_tokens": prompt_tokens, "total_tokens": prompt_tokens},
    }


def estimate_tokens(inputs: list) -> int:
    """Prompt tokens of the inputs, for upstreams that report none."""
    return sum(estimate_text_tokens(i) if isinstance(i, str) else len(i) for i in inputs)
