"""/api/provider-nodes: the operator's own upstreams, served under their own prefix.

A node is an OpenAI-compatible or Anthropic-compatible endpoint. Once created it is a provider
like the catalog's: connections name it as their ``provider`` and clients ask for
``<prefix>/<model>`` (or ``<node id>/<model>``). Every change reaches the live registry at once.
"""

from __future__ import annotations

import re
import uuid
from typing import Literal
from urllib.parse import urlparse

from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy.exc import IntegrityError
from starlette.requests import Request
from starlette.routing import Route

from omniroute.auth.secrets import mask
from omniroute.providers.registry import NODE_TYPES
from omniroute.server.api.common import ApiError, admin, audit, json_response, read_model

_NAME = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
NodeType = Literal["openai-compatible", "anthropic-compatible"]
_REQUIRED = ("name", "prefix", "type", "baseUrl")


class NodeBody(BaseModel):
    """The fields a PUT may change; every one optional, unknown ones refused."""

    model_config = ConfigDict(extra="forbid", strict=True)
    id: str | None = Field(default=None, min_length=1, max_length=100, pattern=_NAME)
    name: str | None = Field(default=None, min_length=1, max_length=200)
    prefix: str | None = Field(default=None, min_length=1, max_length=100, pattern=_NAME)
    type: NodeType | None = None
    baseUrl: str | None = Field(default=None, max_length=2000)
    chatPath: str | None = Field(default=None, max_length=500)
    modelsPath: str | None = Field(default=None, max_length=500)
    headers: dict[str, str] | None = Field(default=None, max_length=50)
    models: list[str] | None = Field(default=None, max_length=2000)

    @field_validator("baseUrl")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parsed = urlparse(value)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise ValueError("must be an http:// or https:// URL")
        return value.rstrip("/")

    @field_validator("chatPath", "modelsPath")
    @classmethod
    def _path(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not value.startswith("/"):
            raise ValueError("must start with '/'")
        if any(c.isspace() for c in value):
            raise ValueError("must not contain whitespace")
        return value

    @field_validator("headers")
    @classmethod
    def _headers(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        for name, text in (value or {}).items():
            if not _HEADER_NAME.match(name):
                raise ValueError(f"{name!r} is not a valid header name")
            if "\r" in text or "\n" in text or len(text) > 8000:
                raise ValueError(f"the value of {name!r} must be one line of at most 8000 characters")
        return value

    @field_validator("models")
    @classmethod
    def _models(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        out: list[str] = []
        for model in value:
            model = model.strip()
            if not model or len(model) > 200 or any(c.isspace() for c in model):
                raise ValueError(f"{model!r} is not a model name (1-200 characters, no spaces)")
            if model not in out:
                out.append(model)
        return out


class NodeCreate(NodeBody):
    name: str = Field(min_length=1, max_length=200)
    prefix: str = Field(min_length=1, max_length=100, pattern=_NAME)
    type: NodeType
    baseUrl: str = Field(max_length=2000)


def _public(s, node: dict) -> dict:
    """A node as the API shows it: header values masked, default paths filled in."""
    kind = NODE_TYPES.get(node["type"], {})
    headers = s.secrets.decrypt_json(node["headersEnc"], {})
    return {
        "id": node["id"], "name": node["name"], "prefix": node["prefix"], "type": node["type"],
        "baseUrl": node["baseUrl"],
        "chatPath": node["chatPath"] or kind.get("chat_path"),
        "modelsPath": node["modelsPath"] or kind.get("models_path"),
        "headers": {name: mask(value) for name, value in headers.items()},
        "models": node["models"],
        "createdAt": node["createdAt"], "updatedAt": node["updatedAt"],
    }


def _check_names(s, node_id: str, names: dict[str, str]) -> None:
    """409 when an id or prefix is taken by a catalog provider (id or alias) or another node."""
    for field, name in names.items():
        owner = s.registry.get(name)
        if owner is None or (owner.id == node_id and s.registry.is_custom(node_id)):
            continue
        what = f"provider node '{owner.id}'" if s.registry.is_custom(owner.id) else f"provider '{owner.id}'"
        raise ApiError(409, f"{field} '{name}' is already used by {what}")


async def _node_or_404(s, node_id: str) -> dict:
    node = await s.nodes.get(node_id)
    if node is None:
        raise ApiError(404, f"provider node '{node_id}' not found")
    return node


def _kept_headers(given: dict[str, str], current: dict[str, str]) -> dict[str, str]:
    """New headers; a value sent back exactly as it was shown (masked) keeps the stored one."""
    return {name: current[name] if name in current and value == mask(current[name]) else value
            for name, value in given.items()}


@admin
async def list_or_create(request: Request):
    s = request.app.state.services
    if request.method == "GET":
        return json_response({"nodes": [_public(s, node) for node in await s.nodes.list()]})
    body = await read_model(request, NodeCreate)
    node_id = body.id or f"{body.type}-{uuid.uuid4().hex[:12]}"
    _check_names(s, node_id, {"id": node_id, "prefix": body.prefix})
    if await s.nodes.get(node_id) is not None:
        raise ApiError(409, f"id '{node_id}' is already used by provider node '{node_id}'")
    values = body.model_dump(exclude={"headers"})
    values.update(id=node_id, headersEnc=s.secrets.encrypt_json(body.headers), models=body.models or [])
    try:
        node = await s.nodes.create(values)
    except IntegrityError:
        raise ApiError(409, f"id '{node_id}' or prefix '{body.prefix}' is already used") from None
    await s.reload_providers()
    await audit(request, "provider-node.create", node_id)
    return json_response(_public(s, node), 201)


@admin
async def one(request: Request):
    s = request.app.state.services
    node_id = request.path_params["id"]
    node = await _node_or_404(s, node_id)
    if request.method == "GET":
        return json_response(_public(s, node))
    if request.method == "DELETE":
        users = [c for c in await s.connections.list() if c["provider"] == node_id]
        if users:
            named = ", ".join(f"'{c['name']}' ({c['id']})" for c in users)
            raise ApiError(409, f"provider node '{node_id}' still has connections: {named}; "
                                "delete them (DELETE /api/providers/{id}) first")
        await s.nodes.delete(node_id)
        await s.reload_providers()
        await audit(request, "provider-node.delete", node_id)
        return json_response({"ok": True, "deleted": node_id})
    body = await read_model(request, NodeBody)
    given = body.model_fields_set
    if body.id is not None and body.id != node_id:
        raise ApiError(400, "'id' cannot be changed: connections refer to it")
    for field in _REQUIRED:
        if field in given and getattr(body, field) is None:
            raise ApiError(400, f"'{field}' cannot be null")
    if "prefix" in given:
        _check_names(s, node_id, {"prefix": body.prefix})
    values = body.model_dump(include=given - {"id", "headers"})
    if "headers" in given:
        current = s.secrets.decrypt_json(node["headersEnc"], {})
        values["headersEnc"] = s.secrets.encrypt_json(_kept_headers(body.headers or {}, current))
    if "models" in given:
        values["models"] = body.models or []
    try:
        node = await s.nodes.update(node_id, values)
    except IntegrityError:
        raise ApiError(409, f"prefix '{body.prefix}' is already used") from None
    await s.reload_providers()
    await audit(request, "provider-node.update", node_id)
    return json_response(_public(s, node))


routes = [
    Route("/api/provider-nodes", list_or_create, methods=["GET", "POST"]),
    Route("/api/provider-nodes/{id}", one, methods=["GET", "PUT", "DELETE"]),
]
