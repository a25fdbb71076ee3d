"""GET /v1/models: what the active connections serve, in OpenAI's list shape."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from omniroute.errors import OmniRouteError
from omniroute.server.api.common import json_response
from omniroute.server.client_auth import authenticate, presented_key


def _key_of(request: Request) -> str | None:
    headers = {k.encode(): v for k, v in request.headers.items()
               if k in ("authorization", "x-api-key", "x-goog-api-key")}
    return presented_key(headers)


def catalog_models(s) -> list[dict]:
    """Every ``provider/model`` the active connections can serve."""
    out, seen = [], set()
    for provider_id in s.pool.providers():
        spec = s.registry.get(provider_id)
        names = list(spec.models)
        names += [a.default_model for a in s.pool.accounts(provider_id) if a.default_model]
        for name in names:
            model_id = f"{provider_id}/{name}"
            if model_id not in seen:
                seen.add(model_id)
                out.append({"id": model_id, "object": "model", "created": int(s.started_at),
                            "owned_by": provider_id})
    return out


async def list_models(request: Request) -> Response:
    s = request.app.state.services
    try:
        key = authenticate(s.keyring, _key_of(request), s.require_api_key)
    except OmniRouteError as err:
        return json_response(err.openai_body(), err.status)
    models = catalog_models(s)
    if key is not None and key.allowed_models:
        models = [m for m in models if key.allows_model(m["id"])]
    return json_response({"object": "list", "data": models})


async def get_model(request: Request) -> Response:
    s = request.app.state.services
    try:
        authenticate(s.keyring, _key_of(request), s.require_api_key)
    except OmniRouteError as err:
        return json_response(err.openai_body(), err.status)
    model_id = request.path_params["model"]
    for model in catalog_models(s):
        if model["id"] == model_id:
            return json_response(model)
    return json_response({"error": {"message": f"The model '{model_id}' does not exist",
                                    "type": "invalid_request_error", "code": "model_not_found"}}, 404)


routes = [
    Route("/v1/models", list_models, methods=["GET"]),
    Route("/v1/models/{model:path}", get_model, methods=["GET"]),
]
