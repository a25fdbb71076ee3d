"""Model management: provider models, aliases, and the catalog of every model by provider and type.

``/api/provider-models`` adds models to a provider's lists (they then appear in ``/v1/models``
and resolve as bare names) or hides them (gone from the lists and from bare-name resolution,
still reachable as ``provider/model``). ``/api/models/alias`` names a model; an alias resolves
before anything but an explicit provider prefix. Every change reloads the in-memory model table.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy.exc import IntegrityError
from starlette.requests import Request
from starlette.routing import Route

from omniroute.capabilities.audio import KNOWN_MODELS as AUDIO_MODELS
from omniroute.capabilities.models import EMBEDDINGS, IMAGES, known_models, supports
from omniroute.routing.resolve import AUDIO, CHAT, EMBEDDING, IMAGE, alias_end
from omniroute.server.api.common import ApiError, admin, audit, json_response, read_model

ModelType = Literal["chat", "embedding", "image"]
_KIND = {EMBEDDING: EMBEDDINGS, IMAGE: IMAGES}  # provider-models type → capability


def _name(value: str) -> str:
    if value != value.strip() or any(c.isspace() for c in value):
        raise ValueError("must not contain whitespace")
    return value


class ProviderModelBody(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    provider: str = Field(min_length=1, max_length=100)
    model: str = Field(min_length=1, max_length=200)
    type: ModelType = CHAT
    hidden: bool = False

    _names = field_validator("provider", "model")(_name)


class AliasBody(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    alias: str = Field(min_length=1, max_length=200)
    model: str = Field(min_length=1, max_length=400)

    _names = field_validator("alias", "model")(_name)


# ---- helpers ------------------------------------------------------------------------------------


def _provider(s, name: str, field: str = "provider"):
    spec = s.registry.get(name)
    if spec is None:
        raise ApiError(400, f"'{field}': unknown provider '{name}' (see GET /api/models/catalog)")
    return spec


def _serves(s, spec, kind: str) -> bool:
    """Whether ``spec`` serves a provider-models ``kind``."""
    if kind == CHAT:
        return "chat" in spec.capabilities or s.registry.is_custom(spec.id)
    return supports(s.registry, spec, _KIND[kind])


def _catalog_list(spec, kind: str) -> tuple[str, ...]:
    """What the catalog alone lists for ``spec`` and ``kind``."""
    if kind == CHAT:
        return spec.models if "chat" in spec.capabilities else ()
    if kind == AUDIO:
        own = spec.models if "chat" not in spec.capabilities and "audio" in spec.capabilities else ()
        return tuple(dict.fromkeys((*AUDIO_MODELS.get(spec.id, ()), *own)))
    return known_models(spec, _KIND[kind])


def _only(request: Request, allowed: set[str]) -> dict[str, str]:
    """The query parameters, 400 naming any that is not in ``allowed``."""
    params = dict(request.query_params)
    unknown = sorted(set(params) - allowed)
    if unknown:
        raise ApiError(400, f"unknown query parameter '{unknown[0]}'; allowed: {', '.join(sorted(allowed))}")
    return params


# ---- /api/provider-models -----------------------------------------------------------------------


@admin
async def provider_models(request: Request):
    s = request.app.state.services
    if request.method == "GET":
        return await _list_provider_models(s, request)
    if request.method == "DELETE":
        return await _delete_provider_models(s, request)
    body = await read_model(request, ProviderModelBody)
    spec = _provider(s, body.provider)
    if not _serves(s, spec, body.type):
        raise ApiError(400, f"'type': provider '{spec.id}' does not serve {body.type} models "
                            f"(it offers {', '.join(sorted(spec.capabilities)) or 'chat'})")
    if not body.hidden and body.model in _catalog_list(spec, body.type):
        raise ApiError(409, f"model '{body.model}' is already a {body.type} model of provider '{spec.id}' "
                            "in the catalog")
    rows = await s.provider_models.list()
    taken = next((r for r in rows if (r["provider"], r["model"], r["type"]) == (spec.id, body.model, body.type)),
                 None)
    if taken is not None:
        what = "hidden from" if taken["hidden"] else "added to"
        raise ApiError(409, f"{body.type} model '{body.model}' is already {what} provider '{spec.id}' "
                            f"(id {taken['id']}); delete it first")
    try:
        row = await s.provider_models.create(provider=spec.id, model=body.model, type=body.type,
                                             hidden=body.hidden)
    except IntegrityError:
        raise ApiError(409, f"{body.type} model '{body.model}' of provider '{spec.id}' already exists") from None
    await s.reload_models()
    await audit(request, "provider-model.hide" if body.hidden else "provider-model.add", f"{spec.id}/{body.model}")
    return json_response(row, 201)


async def _list_provider_models(s, request: Request):
    params = _only(request, {"provider", "type"})
    rows = await s.provider_models.list()
    if "provider" in params:
        provider_id = _provider(s, params["provider"]).id
        rows = [r for r in rows if r["provider"] == provider_id]
    if "type" in params:
        if params["type"] not in (CHAT, EMBEDDING, IMAGE):
            raise ApiError(400, f"'type' must be one of chat, embedding, image, got '{params['type']}'")
        rows = [r for r in rows if r["type"] == params["type"]]
    return json_response({"models": rows})


async def _delete_provider_models(s, request: Request):
    params = _only(request, {"id", "provider", "model", "type"})
    rows = await s.provider_models.list()
    if "id" in params:
        if set(params) != {"id"}:
            raise ApiError(400, "give either 'id' or 'provider' and 'model' (with 'type' optional), not both")
        matches = [r for r in rows if r["id"] == params["id"]]
        what = f"provider model '{params['id']}'"
    else:
        missing = [f for f in ("provider", "model") if not params.get(f)]
        if missing:
            raise ApiError(400, f"missing query parameter '{missing[0]}': DELETE takes ?provider=&model= "
                                "(and optionally &type=) or ?id=")
        provider_id = _provider(s, params["provider"]).id
        matches = [r for r in rows if r["provider"] == provider_id and r["model"] == params["model"]
                   and params.get("type") in (None, r["type"])]
        what = f"model '{params['model']}' of provider '{provider_id}'"
    if not matches:
        raise ApiError(404, f"{what} not found in /api/provider-models")
    await s.provider_models.delete(r["id"] for r in matches)
    await s.reload_models()
    for r in matches:
        await audit(request, "provider-model.delete", f"{r['provider']}/{r['model']}")
    return json_response({"ok": True, "deleted": [r["id"] for r in matches]})


# ---- /api/models/alias --------------------------------------------------------------------------


def _check_alias(s, alias: str, model: str, aliases: dict[str, str]) -> None:
    """400 for an alias that hides a provider name or a target that loops back; 409 for a taken name."""
    owner = s.registry.get(alias)
    if owner is not None:
        raise ApiError(400, f"'alias': '{alias}' is the name of provider '{owner.id}'; pick another name")
    prefix, sep, rest = alias.partition("/")
    if sep and s.registry.get(prefix) is not None:
        raise ApiError(400, f"'alias': '{alias}' starts with '{prefix}/', the prefix of provider "
                            f"'{s.registry.get(prefix).id}', so it could never be reached; pick another name")
    combo = s.model_table.combos.get(alias)
    if combo is not None:
        raise ApiError(409, f"'alias': '{alias}' is the name of combo '{combo.id}'; pick another name")
    if alias in aliases:
        raise ApiError(409, f"alias '{alias}' already exists (for '{aliases[alias]}'); delete it first")
    target_prefix, sep, rest = model.partition("/")
    if sep and not rest:
        raise ApiError(400, f"'model': '{model}' names no model after '{target_prefix}/'")
    if alias_end({**aliases, alias: model}, alias) is None:
        raise ApiError(400, f"'model': '{alias}' → '{model}' would make a cycle of aliases")


@admin
async def model_aliases(request: Request):
    s = request.app.state.services
    if request.method == "GET":
        _only(request, set())
        return json_response({"aliases": await s.model_aliases.list()})
    if request.method == "DELETE":
        alias = _only(request, {"alias"}).get("alias")
        if not alias:
            raise ApiError(400, "missing query parameter 'alias'")
        aliases = await s.model_aliases.list()
        if alias not in aliases:
            raise ApiError(404, f"alias '{alias}' not found")
        users = sorted(a for a, target in aliases.items() if target == alias)
        if users:
            raise ApiError(409, f"alias '{alias}' is the target of alias(es) {', '.join(users)}; delete them first")
        await s.model_aliases.delete(alias)
        await s.reload_models()
        await audit(request, "model-alias.delete", alias)
        return json_response({"ok": True, "deleted": alias})
    body = await read_model(request, AliasBody)
    aliases = await s.model_aliases.list()
    _check_alias(s, body.alias, body.model, aliases)
    try:
        await s.model_aliases.create(body.alias, body.model)
    except IntegrityError:
        raise ApiError(409, f"alias '{body.alias}' already exists") from None
    await s.reload_models()
    await audit(request, "model-alias.create", body.alias)
    return json_response({"alias": body.alias, "model": body.model}, 201)


# ---- /api/models/catalog ------------------------------------------------------------------------


def _provider_entry(s, spec, connections: list[dict], active: set[str]) -> dict:
    table = s.model_table
    models: dict[str, list[dict]] = {}
    for kind in (CHAT, EMBEDDING, IMAGE, AUDIO):
        served = _serves(s, spec, kind) if kind != AUDIO else "audio" in spec.capabilities or bool(
            AUDIO_MODELS.get(spec.id))
        base = _catalog_list(spec, kind) if served else ()
        listed = table.models(spec.id, kind, base) if served and kind != AUDIO else base
        models[kind] = [{"id": m, "source": "catalog" if m in base else "custom"} for m in listed]
    names = {m["id"] for m in models[CHAT]}
    for row in connections:
        default = row.get("defaultModel")
        if default and default not in names and not table.is_hidden(spec.id, CHAT, default):
            names.add(default)
            models[CHAT].append({"id": default, "source": "connection"})
    hidden = [{"model": m, "type": kind} for (pid, kind), found in sorted(table.hidden.items())
              if pid == spec.id for m in sorted(found)]
    return {"id": spec.id, "name": spec.name, "prefix": spec.prefix, "custom": s.registry.is_custom(spec.id),
            "configured": bool(connections), "active": spec.id in active,
            "capabilities": sorted(spec.capabilities), "models": models, "hidden": hidden}


@admin
async def catalog(request: Request):
    s = request.app.state.services
    params = _only(request, {"provider"})
    specs = list(s.registry)
    if "provider" in params:
        specs = [_provider(s, params["provider"])]
    by_provider: dict[str, list[dict]] = {}
    for row in await s.connections.list():
        by_provider.setdefault(row["provider"], []).append(row)
    active = set(s.pool.providers())
    return json_response({"providers": [_provider_entry(s, spec, by_provider.get(spec.id, []), active)
                                        for spec in specs]})


routes = [
    Route("/api/provider-models", provider_models, methods=["GET", "POST", "DELETE"]),
    Route("/api/models/alias", model_aliases, methods=["GET", "POST", "DELETE"]),
    Route("/api/models/catalog", catalog, methods=["GET"]),
]
