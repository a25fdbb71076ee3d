"""Combos: ``/api/combos`` CRUD and ``/api/combos/{id}/test``.

A combo is a name clients use like a model; it stands for targets (models, aliases or other
combos) tried in the order its strategy gives, the next one when a target fails. Names share
the namespace of aliases and bare model names; nesting is at most three deep and cycles are
refused when a combo is saved. Every change reloads the in-memory model table.
"""

from __future__ import annotations

import time
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy.exc import IntegrityError
from starlette.requests import Request
from starlette.routing import Route

from omniroute.errors import OmniRouteError
from omniroute.routing.combos import MAX_DEPTH, STRATEGIES, WEIGHTED, depth, target_name
from omniroute.routing.resolve import CHAT
from omniroute.server.api.common import ApiError, admin, audit, json_response, read_model

Strategy = Literal[STRATEGIES]  # type: ignore[valid-type]
MAX_TARGETS = 50


def _name(value: str) -> str:
    if value != value.strip() or any(c.isspace() for c in value):
        raise ValueError("must not contain whitespace")
    return value


class WeightedTarget(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    model: str = Field(min_length=1, max_length=400)
    weight: float | None = Field(default=None, gt=0, le=1_000_000)

    _names = field_validator("model")(_name)


class ComboConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    maxRetries: int | None = Field(default=None, ge=0, le=10)
    retryDelayMs: int | None = Field(default=None, ge=0, le=60_000)
    targetTimeoutMs: int | None = Field(default=None, ge=1, le=600_000)


class ComboBody(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    name: str = Field(min_length=1, max_length=200)
    models: list[str | WeightedTarget] = Field(min_length=1, max_length=MAX_TARGETS)
    strategy: Strategy = "priority"
    config: ComboConfig = Field(default_factory=ComboConfig)

    _names = field_validator("name")(_name)


class ComboPatch(BaseModel):
    """PUT: the fields given replace the stored ones."""

    model_config = ConfigDict(extra="forbid", strict=True)
    name: str | None = Field(default=None, min_length=1, max_length=200)
    models: list[str | WeightedTarget] | None = Field(default=None, min_length=1, max_length=MAX_TARGETS)
    strategy: Strategy | None = None
    config: ComboConfig | None = None

    _names = field_validator("name")(_name)


def _entries(models: list[str | WeightedTarget]) -> list:
    """Targets as stored: a plain name, or ``{"model", "weight"}`` when a weight was given."""
    out: list = []
    for m in models:
        if isinstance(m, str):
            out.append(m)
        elif m.weight is None:
            out.append(m.model)
        else:
            out.append({"model": m.model, "weight": m.weight})
    return out


def _config(config: ComboConfig) -> dict:
    return config.model_dump(exclude_none=True)


# ---- validation ---------------------------------------------------------------------------------


def _check_name(s, name: str, aliases: dict[str, str], combos: list[dict], own_id: str | None) -> None:
    owner = s.registry.get(name)
    if owner is not None:
        raise ApiError(400, f"'name': '{name}' is the name of provider '{owner.id}'; pick another name")
    prefix, sep, _ = name.partition("/")
    if sep and s.registry.get(prefix) is not None:
        raise ApiError(400, f"'name': '{name}' starts with '{prefix}/', the prefix of provider "
                            f"'{s.registry.get(prefix).id}', so it could never be reached; pick another name")
    if name in aliases:
        raise ApiError(409, f"'name': '{name}' is already an alias (for '{aliases[name]}'); pick another name")
    taken = next((c for c in combos if c["name"] == name and c["id"] != own_id), None)
    if taken is not None:
        raise ApiError(409, f"combo '{name}' already exists (id {taken['id']})")


def _known_model(s, name: str) -> bool:
    """A ``provider/model`` of a known provider, or a bare name some provider lists."""
    prefix, sep, rest = name.partition("/")
    if sep:
        return bool(rest) and s.registry.get(prefix) is not None
    table = s.model_table
    return any(name in spec.models or name in table.added.get((spec.id, CHAT), ()) for spec in s.registry)


def _check_targets(s, name: str, entries: list, strategy: str, aliases: dict[str, str],
                   combos: list[dict], own_id: str | None) -> None:
    names = [target_name(e) for e in entries]
    others = {c["name"]: [target_name(e) for e in c["models"]] for c in combos if c["id"] != own_id}
    for i, target in enumerate(names):
        if target in names[:i]:
            raise ApiError(400, f"'models.{i}': '{target}' is listed twice")
        if target == name:
            raise ApiError(400, f"'models.{i}': combo '{name}' cannot contain itself")
        if target not in others and target not in aliases and not _known_model(s, target):
            raise ApiError(400, f"'models.{i}': '{target}' is no known model, alias or combo "
                                "(use 'provider/model'; see GET /api/models/catalog)")
    if strategy == WEIGHTED and not all(isinstance(e, dict) for e in entries):
        missing = next(i for i, e in enumerate(entries) if not isinstance(e, dict))
        raise ApiError(400, f"'models.{missing}': strategy 'weighted' needs a positive 'weight' for every "
                            "target, as {\"model\", \"weight\"}")
    # An alias that ends at a combo nests that combo, as the name itself would.
    ends = s.model_table.targets

    def edges(targets: list[str]) -> list[str]:
        return [ends.get(t, t) if t in aliases else t for t in targets]

    graph = {combo: edges(targets) for combo, targets in others.items()}
    graph[name] = edges(names)
    for combo in graph:
        try:
            levels = depth(combo, graph)
        except ValueError as exc:
            raise ApiError(400, f"'models': this would make a cycle of combos: {exc}") from None
        if levels > MAX_DEPTH:
            raise ApiError(400, f"'models': combo '{combo}' would nest {levels} deep; at most {MAX_DEPTH} "
                                "levels of combos are allowed")


def _users(name: str, aliases: dict[str, str], combos: list[dict]) -> list[str]:
    """What refers to combo ``name``: other combos and aliases."""
    users = [f"combo '{c['name']}'" for c in combos if c["name"] != name
             and name in (target_name(e) for e in c["models"])]
    return users + [f"alias '{a}'" for a, model in sorted(aliases.items()) if model == name]


# ---- routes -------------------------------------------------------------------------------------


async def _found(s, combo_id: str) -> dict:
    combo = await s.combos.get(combo_id)
    if combo is None:
        raise ApiError(404, f"combo '{combo_id}' not found")
    return combo


@admin
async def list_or_create(request: Request):
    s = request.app.state.services
    if request.method == "GET":
        return json_response({"combos": await s.combos.list()})
    body = await read_model(request, ComboBody)
    aliases, combos = await s.model_aliases.list(), await s.combos.list()
    entries = _entries(body.models)
    _check_name(s, body.name, aliases, combos, None)
    _check_targets(s, body.name, entries, body.strategy, aliases, combos, None)
    try:
        row = await s.combos.create(name=body.name, models=entries, strategy=body.strategy,
                                    config=_config(body.config))
    except IntegrityError:
        raise ApiError(409, f"combo '{body.name}' already exists") from None
    await s.reload_models()
    await audit(request, "combo.create", body.name)
    return json_response(row, 201)


@admin
async def one(request: Request):
    s = request.app.state.services
    current = await _found(s, request.path_params["id"])
    if request.method == "GET":
        return json_response(current)
    aliases, combos = await s.model_aliases.list(), await s.combos.list()
    if request.method == "DELETE":
        users = _users(current["name"], aliases, combos)
        if users:
            raise ApiError(409, f"combo '{current['name']}' is used by {', '.join(users)}; change those first")
        await s.combos.delete(current["id"])
        await s.reload_models()
        await audit(request, "combo.delete", current["name"])
        return json_response({"ok": True, "deleted": current["id"]})
    patch = await read_model(request, ComboPatch)
    name = patch.name if patch.name is not None else current["name"]
    entries = _entries(patch.models) if patch.models is not None else current["models"]
    strategy = patch.strategy or current["strategy"]
    config = _config(patch.config) if patch.config is not None else current["config"]
    if name != current["name"]:
        users = _users(current["name"], aliases, combos)
        if users:
            raise ApiError(409, f"combo '{current['name']}' is used by {', '.join(users)}; it cannot be renamed")
        _check_name(s, name, aliases, combos, current["id"])
    _check_targets(s, name, entries, strategy, aliases, combos, current["id"])
    try:
        row = await s.combos.update(current["id"], name=name, models=entries, strategy=strategy, config=config)
    except IntegrityError:
        raise ApiError(409, f"combo '{name}' already exists") from None
    if row is None:
        raise ApiError(404, f"combo '{current['id']}' not found")
    await s.reload_models()
    await audit(request, "combo.update", name)
    return json_response(row)


@admin
async def test(request: Request):
    """Each target once, in the listed order, with a one-token chat request."""
    from omniroute.pipeline import Exchange

    s = request.app.state.services
    combo = await _found(s, request.path_params["id"])
    results = []
    for entry in combo["models"]:
        model = target_name(entry)
        ex = Exchange(body={"model": model, "messages": [{"role": "user", "content": "ping"}], "max_tokens": 1},
                      api_key=None)
        started = time.perf_counter()
        error = None
        try:
            answer = await s.pipeline.run(ex)
            if answer.stream is not None:  # a plain request is never streamed; close it if it were
                await answer.stream.aclose()
        except OmniRouteError as err:
            error = err
        result = {"model": model, "ok": error is None, "latencyMs": int((time.perf_counter() - started) * 1000)}
        if error is not None:
            result["error"] = f"HTTP {error.status} {error.message}"
        s.pipeline.record(ex, error)
        results.append(result)
    return json_response({"results": results})


routes = [
    Route("/api/combos", list_or_create, methods=["GET", "POST"]),
    Route("/api/combos/{id}", one, methods=["GET", "PUT", "DELETE"]),
    Route("/api/combos/{id}/test", test, methods=["POST"]),
]
