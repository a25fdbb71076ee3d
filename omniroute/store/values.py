"""Small helpers shared by the repositories: ids and JSON columns."""

from __future__ import annotations

import uuid

import orjson


def new_id() -> str:
    return str(uuid.uuid4())


def _loads(value: str | None, default=None):
    return default if value is None else orjson.loads(value)


def _dumps(value) -> str | None:
    return None if value is None else orjson.dumps(value).decode()
