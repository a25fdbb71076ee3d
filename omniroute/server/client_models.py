"""GET /v1/models and /v1/models/{id}: what the active connections serve, in OpenAI's list shape."""

from __future__ import annotations

from urllib.parse import unquote

import orjson

from omniroute.errors import ModelNotFound, OmniRouteError
from omniroute.routing.resolve import CHAT
from omniroute.server.asgi import JSON_HEADERS, headers_of, send_bytes
from omniroute.server.client_auth import KEY_HEADERS, authenticate, presented_key


def catalog_models(s) -> list[dict]:
    """Every ``provider/model`` the active connections can serve (a provider node's under its prefix),
    with the models the operator added and without the ones hidden."""
    out, seen = [], set()
    table = s.model_table
    for provider_id in s.pool.providers():
        spec = s.registry.get(provider_id)
        label = spec.aliases[0] if s.registry.is_custom(provider_id) and spec.aliases else provider_id
        names = list(table.models(provider_id, CHAT, spec.models))  # the operator's additions and hides
        names += [a.default_model for a in s.pool.accounts(provider_id)
                  if a.default_model and not table.is_hidden(provider_id, CHAT, a.default_model)]
        for name in names:
            model_id = f"{label}/{name}"
            if model_id not in seen:
                seen.add(model_id)
                out.append({"id": model_id, "object": "model", "created": int(s.started_at),
                            "owned_by": provider_id})
    for combo in table.combos.values():
        if combo.name not in seen:
            seen.add(combo.name)
            out.append({"id": combo.name, "object": "model", "created": int(s.started_at), "owned_by": "combo"})
    from omniroute.capabilities.models import listing

    for kind in ("embeddings", "images"):  # the OpenAI list holds every model type
        for model in listing(s, kind):
            if model["id"] not in seen:
                seen.add(model["id"])
                out.append(model)
    return out


def _ollama_list(models: list[dict]) -> dict:
    stamp = "1970-01-01T00:00:00Z"
    return {"models": [{"name": m["id"], "model": m["id"], "modified_at": stamp, "size": 0, "digest": "",
                        "details": {"format": "", "family": m["owned_by"], "parameter_size": "",
                                    "quantization_level": ""}} for m in models]}


def _gemini_model(m: dict) -> dict:
    return {"name": f"models/{m['id']}", "displayName": m["id"],
            "supportedGenerationMethods": ["generateContent", "streamGenerateContent", "countTokens"]}


def _gemini_list(models: list[dict]) -> dict:
    return {"models": [_gemini_model(m) for m in models]}


class ModelsRoute:
    """Lists models under the client API's key rules (a key's allowed models narrow the list).

    ``shape`` picks the dialect: OpenAI's list (also one model by id), Ollama's tags, Gemini's list.
    """

    def __init__(self, services, shape: str = "openai"):
        self.s = services
        self.shape = shape

    async def __call__(self, scope, receive, send) -> None:
        s = self.s
        headers = headers_of(scope, KEY_HEADERS)
        path = scope["path"]
        shape = self.shape
        if path.startswith("/v1beta/models/") or (path.startswith("/v1/models") and b"x-goog-api-key" in headers):
            shape = "gemini"  # a Google client (google-genai uses /v1 by default and sends its key this way)
        try:
            key = authenticate(s.keyring, presented_key(headers), s.require_api_key)
            models = catalog_models(s)
            if key is not None and key.allowed_models:
                models = [m for m in models if key.allows_model(m["id"])]
            if shape == "ollama":
                body = _ollama_list(models)
            elif path in ("/v1/models", "/v1beta/models"):
                body = _gemini_list(models) if shape == "gemini" else {"object": "list", "data": models}
            else:
                model_id = unquote(path.split("/models/", 1)[1]).removeprefix("models/")
                found = next((m for m in models if m["id"] == model_id), None)
                if found is None:
                    raise ModelNotFound(f"The model '{model_id}' does not exist or no active connection serves it")
                body = _gemini_model(found) if shape == "gemini" else found
        except OmniRouteError as err:
            from omniroute.server.client_chat import error_payload

            await send_bytes(send, err.status, error_payload(shape, err), JSON_HEADERS)
            return
        await send_bytes(send, 200, orjson.dumps(body), JSON_HEADERS)
