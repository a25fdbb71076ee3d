"""Field checks shared by the request decoders: every problem is named by its JSON path."""

from __future__ import annotations

from omniroute.errors import InvalidRequest

_TYPE_NAMES = {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}
_EXPECTED = {str: "a string", dict: "an object", int: "an integer", bool: "a boolean", list: "an array"}


def type_name(value) -> str:
    """The JSON name of a value's type."""
    return _TYPE_NAMES.get(type(value), "number")


def missing(field: str) -> InvalidRequest:
    return InvalidRequest(f"missing required field '{field}'", code="missing_required_parameter")


def wrong(field: str, expected: str, value) -> InvalidRequest:
    return InvalidRequest(f"'{field}' must be {expected}, got {type_name(value)}")


def optional(obj: dict, key: str, field: str, kind: type = str, default=None):
    """``obj[key]`` when present (of ``kind``; a bool is not an int), else ``default``."""
    value = obj.get(key)
    if value is None:
        return default
    if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
        raise wrong(f"{field}.{key}" if field else key, _EXPECTED[kind], value)
    return value


def required(obj: dict, key: str, field: str, kind: type = str):
    """``obj[key]``, which must be present and of ``kind``."""
    if obj.get(key) is None:
        raise missing(f"{field}.{key}" if field else key)
    return optional(obj, key, field, kind)


def body_model_messages(body) -> tuple[str, list]:
    """The common head of chat bodies: an object with a non-empty ``model`` and ``messages``."""
    if not isinstance(body, dict):
        raise InvalidRequest(f"request body must be a JSON object, got {type_name(body)}")
    model = body.get("model")
    if model is None:
        raise missing("model")
    if not isinstance(model, str) or not model.strip():
        raise wrong("model", "a non-empty string", model)
    messages = body.get("messages")
    if messages is None:
        raise missing("messages")
    if not isinstance(messages, list):
        raise wrong("messages", "an array", messages)
    if not messages:
        raise InvalidRequest("'messages' must contain at least one message")
    return model, messages
