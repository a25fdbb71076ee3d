"""Validation of OpenAI Chat Completions requests: each problem named by its field."""

from __future__ import annotations

from omniroute.errors import InvalidRequest

_ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})
_NUMBER_FIELDS = ("temperature", "top_p", "frequency_penalty", "presence_penalty")
_INT_FIELDS = ("max_tokens", "max_completion_tokens", "n", "seed", "top_logprobs")


def _type_name(value) -> str:
    return {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}.get(
        type(value), "number"
    )


def validate_chat_request(body) -> None:
    """Raise InvalidRequest naming the first field that is missing or of the wrong type."""
    if not isinstance(body, dict):
        raise InvalidRequest(f"request body must be a JSON object, got {_type_name(body)}")
    model = body.get("model")
    if model is None:
        raise InvalidRequest("missing required field 'model'", code="missing_required_parameter")
    if not isinstance(model, str) or not model.strip():
        raise InvalidRequest(f"'model' must be a non-empty string, got {_type_name(model)}")
    messages = body.get("messages")
    if messages is None:
        raise InvalidRequest("missing required field 'messages'", code="missing_required_parameter")
    if not isinstance(messages, list):
        raise InvalidRequest(f"'messages' must be an array, got {_type_name(messages)}")
    if not messages:
        raise InvalidRequest("'messages' must contain at least one message")
    for i, message in enumerate(messages):
        _validate_message(i, message)
    stream = body.get("stream")
    if stream is not None and not isinstance(stream, bool):
        raise InvalidRequest(f"'stream' must be a boolean, got {_type_name(stream)}")
    for name in _NUMBER_FIELDS:
        value = body.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
            raise InvalidRequest(f"'{name}' must be a number, got {_type_name(value)}")
    for name in _INT_FIELDS:
        value = body.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise InvalidRequest(f"'{name}' must be an integer, got {_type_name(value)}")
        if isinstance(value, int) and not isinstance(value, bool) and value < 0 and name != "seed":
            raise InvalidRequest(f"'{name}' must not be negative")
    for name in ("tools", "stop_sequences"):
        value = body.get(name)
        if value is not None and not isinstance(value, list):
            raise InvalidRequest(f"'{name}' must be an array, got {_type_name(value)}")
    stop = body.get("stop")
    if stop is not None and not isinstance(stop, str | list):
        raise InvalidRequest(f"'stop' must be a string or an array, got {_type_name(stop)}")
    options = body.get("stream_options")
    if options is not None and not isinstance(options, dict):
        raise InvalidRequest(f"'stream_options' must be an object, got {_type_name(options)}")


def _validate_message(i: int, message) -> None:
    if not isinstance(message, dict):
        raise InvalidRequest(f"'messages[{i}]' must be an object, got {_type_name(message)}")
    role = message.get("role")
    if role is None:
        raise InvalidRequest(f"missing required field 'messages[{i}].role'", code="missing_required_parameter")
    if not isinstance(role, str) or role not in _ROLES:
        raise InvalidRequest(f"'messages[{i}].role' must be one of {sorted(_ROLES)}, got {role!r}")
    content = message.get("content")
    if content is not None and not isinstance(content, str | list):
        raise InvalidRequest(f"'messages[{i}].content' must be a string or an array, got {_type_name(content)}")
    if content is None and role in ("system", "developer", "user"):
        raise InvalidRequest(f"missing required field 'messages[{i}].content'", code="missing_required_parameter")
