"""Which providers serve embeddings and images, and the models each is known to offer for them."""

from __future__ import annotations

from omniroute.errors import InvalidRequest
from omniroute.providers.catalog import ProviderSpec

EMBEDDINGS = "embeddings"
IMAGES = "images"
KINDS = (EMBEDDINGS, IMAGES)

# Models offered per provider beyond the chat models of the catalog (ids as each upstream spells them).
KNOWN_MODELS: dict[str, dict[str, tuple[str, ...]]] = {
    EMBEDDINGS: {
        "openai": ("text-embedding-3-small", "text-embedding-3-large", "text-embedding-ada-002"),
        "gemini": ("gemini-embedding-001", "text-embedding-004"),
        "mistral": ("mistral-embed", "codestral-embed"),
        "together": ("BAAI/bge-large-en-v1.5", "BAAI/bge-base-en-v1.5",
                     "togethercomputer/m2-bert-80M-8k-retrieval"),
        "fireworks": ("nomic-ai/nomic-embed-text-v1.5", "thenlper/gte-large"),
        "nvidia": ("nvidia/nv-embedqa-e5-v5", "nvidia/llama-3.2-nv-embedqa-1b-v2", "baai/bge-m3"),
        "nebius": ("BAAI/bge-en-icl", "BAAI/bge-multilingual-gemma2", "intfloat/e5-mistral-7b-instruct"),
        "ollama": ("nomic-embed-text", "mxbai-embed-large", "all-minilm"),
        "openrouter": ("openai/text-embedding-3-small", "openai/text-embedding-3-large"),
        "siliconflow": ("BAAI/bge-m3", "BAAI/bge-large-en-v1.5"),
    },
    IMAGES: {
        "openai": ("gpt-image-1", "dall-e-3", "dall-e-2"),
        "xai": ("grok-2-image", "grok-2-image-1212"),
        "together": ("black-forest-labs/FLUX.1-schnell-Free", "black-forest-labs/FLUX.1-schnell",
                     "black-forest-labs/FLUX.1-dev", "black-forest-labs/FLUX.1.1-pro"),
        "nebius": ("black-forest-labs/flux-schnell", "black-forest-labs/flux-dev",
                   "stability-ai/sdxl"),
        "fireworks": ("accounts/fireworks/models/flux-1-schnell-fp8", "accounts/fireworks/models/flux-1-dev-fp8"),
    },
}

_NOUN = {EMBEDDINGS: "embedding", IMAGES: "image generation"}


# The provider-models ``type`` of each kind (the operator adds "embedding" and "image" models).
MODEL_TYPE = {EMBEDDINGS: "embedding", IMAGES: "image"}


def known_models(spec: ProviderSpec, kind: str, table=None) -> tuple[str, ...]:
    """The models ``spec`` is known to serve for ``kind`` (a catalog field of that name wins over
    KNOWN_MODELS); given the gateway's ``ModelTable``, plus the operator's additions, less the hidden."""
    listed = getattr(spec, f"{kind}_models", None)
    base = tuple(listed) if listed else KNOWN_MODELS[kind].get(spec.id, ())
    if table is None:
        return base
    return table.models(spec.id, MODEL_TYPE[kind], base)


def _table(registry):
    return getattr(registry, "model_table", None)


def supports(registry, spec: ProviderSpec, kind: str) -> bool:
    """Whether ``spec`` serves ``kind``: its catalog capabilities, or an OpenAI-compatible provider node."""
    if kind in spec.capabilities:
        return True
    return registry.is_custom(spec.id) and spec.dialect == "openai"


def check_model(registry, spec: ProviderSpec, model: str, requested: str, kind: str) -> None:
    """400 when the provider does not serve ``kind`` or the model is one of its chat models only."""
    if not supports(registry, spec, kind):
        raise InvalidRequest(
            f"model '{requested}': provider '{spec.id}' does not serve {kind} "
            f"(field 'model' must name a model with the {kind} capability)", code="unsupported_capability")
    table = _table(registry)
    if model in known_models(spec, kind, table):
        return
    other = next((k for k in KINDS if k != kind and model in known_models(spec, k, table)), None)
    if model in spec.models or other is not None:
        what = "a chat model" if other is None else f"an {_NOUN[other]} model"
        raise InvalidRequest(
            f"model '{requested}' is {what} of provider '{spec.id}', not an {_NOUN[kind]} model "
            f"(field 'model'); see GET /v1/{'embeddings' if kind == EMBEDDINGS else 'images/generations'}",
            code="unsupported_capability")


def listing(s, kind: str) -> list[dict]:
    """``provider/model`` entries of ``kind`` that the active connections can serve, OpenAI list items."""
    out, seen = [], set()
    table = _table(s.registry)
    for provider_id in s.pool.providers():
        spec = s.registry.get(provider_id)
        if spec is None or not supports(s.registry, spec, kind):
            continue
        label = spec.aliases[0] if s.registry.is_custom(provider_id) and spec.aliases else provider_id
        for name in known_models(spec, kind, table):
            model_id = f"{label}/{name}"
            if model_id not in seen:
                seen.add(model_id)
                out.append({"id": model_id, "object": "model", "created": int(s.started_at),
                            "owned_by": provider_id})
    return out


def bare_provider(s, name: str, kind: str) -> ProviderSpec | None:
    """An active provider listing the bare model ``name`` for ``kind`` (None when the name has a
    provider prefix, is a model alias, or no active provider lists it)."""
    prefix, sep, _ = name.partition("/")
    if sep and s.registry.get(prefix) is not None:
        return None
    table = _table(s.registry)
    if table is not None and name in table.targets:
        return None  # aliases win over the providers' lists, as in every other route
    for provider_id in s.pool.providers():
        spec = s.registry.get(provider_id)
        if spec is not None and supports(s.registry, spec, kind) and name in known_models(spec, kind, table):
            return spec
    return None
