"""Classification of upstream error answers and the OpenAI-shaped error bodies."""

from __future__ import annotations

import orjson
import pytest

from omniroute.errors import (
    InvalidRequest,
    ModelNotFound,
    UpstreamAuthError,
    UpstreamBadRequest,
    UpstreamConnectionError,
    UpstreamError,
    UpstreamNotFound,
    UpstreamRateLimited,
    UpstreamServerError,
    classify_upstream,
)


def openai_error(message: str, type_: str = "invalid_request_error") -> bytes:
    return orjson.dumps({"error": {"message": message, "type": type_, "code": None}})


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (429, openai_error("Too many requests, slow down")),
        (429, b""),
        (400, openai_error("Rate limit reached for gpt-4o in organization org-x")),
        (403, openai_error("You exceeded your current quota: quota exceeded")),
        (400, b"The engine is currently OVERLOADED, try later"),
        (403, orjson.dumps({"error": "rate limit hit"})),
    ],
)
def test_rate_limits_by_status_or_text(status, body):
    err = classify_upstream(status, body)
    assert type(err) is UpstreamRateLimited
    assert err.status == status
    assert err.next_account is True
    assert err.cooldown is True
    assert err.body == body


@pytest.mark.parametrize("status", [401, 402, 403])
def test_auth_failures_move_to_next_account(status):
    err = classify_upstream(status, openai_error("Incorrect API key provided"))
    assert type(err) is UpstreamAuthError
    assert err.status == status
    assert err.next_account is True
    assert err.cooldown is False
    assert err.message == "Incorrect API key provided"


def test_not_found():
    err = classify_upstream(404, openai_error("The model `nope` does not exist"))
    assert type(err) is UpstreamNotFound
    assert err.status == 404
    assert err.next_account is True
    assert err.cooldown is False


@pytest.mark.parametrize("status", [408, 500, 502, 503, 504, 529])
def test_timeouts_and_server_errors_cool_down(status):
    err = classify_upstream(status, b"<html>bad gateway</html>")
    assert type(err) is UpstreamServerError
    assert err.status == status
    assert err.next_account is True
    assert err.cooldown is True


@pytest.mark.parametrize("status", [400, 422])
def test_other_client_errors_stop_routing(status):
    err = classify_upstream(status, openai_error("'messages' is too short"))
    assert type(err) is UpstreamBadRequest
    assert err.status == status
    assert err.next_account is False
    assert err.cooldown is False
    assert err.type == "invalid_request_error"


def test_message_from_openai_shaped_body():
    err = classify_upstream(400, openai_error("Invalid value for 'temperature'"))
    assert err.message == "Invalid value for 'temperature'"
    assert str(err) == "Invalid value for 'temperature'"


def test_message_from_string_error_field():
    err = classify_upstream(400, b'{"error": "bad things happened"}')
    assert err.message == "bad things happened"


def test_message_from_top_level_message_field():
    err = classify_upstream(422, b'{"message": "schema mismatch"}')
    assert err.message == "schema mismatch"


def test_message_from_non_json_body_is_its_text():
    err = classify_upstream(502, b"  upstream connect error or disconnect  \n")
    assert err.message == "upstream connect error or disconnect"


def test_non_json_message_is_truncated():
    err = classify_upstream(500, b"x" * 2000)
    assert err.message == "x" * 500


@pytest.mark.parametrize("body", [b"", b"   \n", b"{}", b'{"error": {"code": 5}}', b"[1, 2]"])
def test_fallback_message_names_the_status(body):
    err = classify_upstream(418, body)
    assert err.message == "upstream answered HTTP 418"


def test_empty_body_server_error_fallback():
    err = classify_upstream(503, b"")
    assert type(err) is UpstreamServerError
    assert err.message == "upstream answered HTTP 503"


def test_openai_body_shape_of_upstream_error():
    err = classify_upstream(429, openai_error("Rate limit reached"))
    assert err.openai_body() == {
        "error": {"message": "Rate limit reached", "type": "rate_limit_error", "code": None}
    }
    # The body is what the client receives: it must serialise.
    assert orjson.loads(orjson.dumps(err.openai_body())) == err.openai_body()


def test_openai_body_shape_of_client_errors():
    assert InvalidRequest("missing 'model'").openai_body() == {
        "error": {"message": "missing 'model'", "type": "invalid_request_error", "code": "invalid_request"}
    }
    err = ModelNotFound("no such model: x")
    assert err.status == 404
    assert err.openai_body()["error"]["code"] == "model_not_found"
    custom = InvalidRequest("field missing", code="missing_required_parameter")
    assert custom.openai_body()["error"]["code"] == "missing_required_parameter"
    # A per-instance code must not leak to the class or other instances.
    assert InvalidRequest("x").code == "invalid_request"


def test_connection_error_is_502_and_moves_on():
    err = UpstreamConnectionError("connection refused")
    assert isinstance(err, UpstreamError)
    assert err.status == 502
    assert err.code == "upstream_unreachable"
    assert err.next_account is True
    assert err.cooldown is True
    assert err.body is None
    assert err.openai_body() == {
        "error": {"message": "connection refused", "type": "server_error", "code": "upstream_unreachable"}
    }
