"""Redaction of logged requests: headers, secret-named JSON fields, key-shaped strings, truncation."""

from __future__ import annotations

import orjson
import pytest

from omniroute.auth.apikeys import generate_key
from omniroute.usage.redact import REDACTED, redact_body, redact_headers, redact_text, secret_name

OPENAI_KEY = "sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4z"
ANTHROPIC_KEY = "sk-ant-api03-Zx9Cv8Bn7Mq6Wr5Et4Yu3Io2Pa1Sd0Fg-hJkL_AA"
GOOGLE_KEY = "AIzaSyD4kF8hJ2mN6pQ9rT3vX7zB1cE5gH0jK4m"


# ---- headers ------------------------------------------------------------------------------------------


def test_credential_headers_are_redacted_and_the_rest_kept():
    raw = [(b"authorization", b"Bearer " + OPENAI_KEY.encode()), (b"x-api-key", ANTHROPIC_KEY.encode()),
           (b"api-key", b"azure-secret"), (b"x-goog-api-key", GOOGLE_KEY.encode()), (b"cookie", b"auth_token=abc"),
           (b"set-cookie", b"session=xyz; HttpOnly"), (b"proxy-authorization", b"Basic dXNlcjpwYXNz"),
           (b"content-type", b"application/json"), (b"user-agent", b"openai-python/1.50"),
           (b"anthropic-version", b"2023-06-01")]
    out = redact_headers(raw)
    for name in ("authorization", "x-api-key", "api-key", "x-goog-api-key", "cookie", "set-cookie",
                 "proxy-authorization"):
        assert out[name] == REDACTED, name
    assert out["content-type"] == "application/json"
    assert out["user-agent"] == "openai-python/1.50"
    assert out["anthropic-version"] == "2023-06-01"


@pytest.mark.parametrize("name", ["X-Custom-Token", "x-session-secret", "X-Db-Password", "x-auth-user",
                                  "x-private-key", "OpenAI-Organization-Key", "x-amz-security-token"])
def test_any_header_named_like_a_secret_is_redacted(name):
    assert redact_headers([(name, "value-1234")]) == {name.lower(): REDACTED}


def test_rate_limit_token_counts_are_not_secrets():
    out = redact_headers([("x-ratelimit-remaining-tokens", "149984"),
                          ("anthropic-ratelimit-tokens-limit", "400000")])
    assert out == {"x-ratelimit-remaining-tokens": "149984", "anthropic-ratelimit-tokens-limit": "400000"}


def test_header_names_are_lower_cased_str_and_bytes_accepted_and_repeats_joined():
    out = redact_headers([("Accept", "text/event-stream"), (b"X-Trace", b"a"), ("x-trace", "b")])
    assert out == {"accept": "text/event-stream", "x-trace": "a, b"}


def test_a_mapping_is_accepted_too():
    assert redact_headers({"Authorization": "Bearer x", "Accept": "*/*"}) == {"authorization": REDACTED,
                                                                               "accept": "*/*"}


def test_key_shaped_values_of_other_headers_are_scrubbed():
    out = redact_headers([("x-debug", f"forwarded {OPENAI_KEY} upstream"), ("referer", "https://x/?key=" + "ab" * 12)])
    assert OPENAI_KEY not in out["x-debug"] and REDACTED in out["x-debug"]
    assert out["referer"] == f"https://x/?key={REDACTED}"


# ---- bodies -------------------------------------------------------------------------------------------


def test_secret_named_fields_are_redacted_recursively_and_the_rest_kept():
    body = {
        "model": "gpt-4o-mini", "max_tokens": 64, "temperature": 0,
        "api_key": "plain-secret", "apiKey": "another", "password": "hunter2",
        "messages": [{"role": "user", "content": "hello"}],
        "metadata": {"client_secret": "cs", "access_token": "at", "refreshToken": "rt", "auth": {"user": "u"},
                     "author": "Ada", "nested": [{"x-api-key": "k"}, {"secret": 12345}]},
        "usage": {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7},
        "usageMetadata": {"promptTokenCount": 3, "candidatesTokenCount": 4, "totalTokenCount": 7},
        "token": None, "stream": True,
    }
    text, truncated = redact_body(orjson.dumps(body), 1 << 20)
    assert truncated is False
    out = orjson.loads(text)
    for key in ("api_key", "apiKey", "password"):
        assert out[key] == REDACTED
    meta = out["metadata"]
    assert meta["client_secret"] == meta["access_token"] == meta["refreshToken"] == meta["auth"] == REDACTED
    assert meta["nested"] == [{"x-api-key": REDACTED}, {"secret": REDACTED}]
    assert meta["author"] == "Ada"
    assert out["model"] == "gpt-4o-mini" and out["max_tokens"] == 64 and out["temperature"] == 0
    assert out["messages"] == body["messages"]
    assert out["usage"] == body["usage"] and out["usageMetadata"] == body["usageMetadata"]
    assert out["token"] is None and out["stream"] is True


@pytest.mark.parametrize("secret", [
    OPENAI_KEY, "sk-Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4z0Ab3dEf6", "sk-or-v1-0a1b2c3d4e5f6a7b8c9d0e1f",
    ANTHROPIC_KEY, GOOGLE_KEY, "ghp_Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4z0Ab3",
    "gsk_Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4z", "xoxb-1234567890-abcdefghij",
    "AKIAIOSFODNN7EXAMPLE",
    "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
], ids=["openai-proj", "openai", "openrouter", "anthropic", "google", "github", "groq", "slack", "aws", "jwt"])
def test_key_shaped_strings_are_replaced_anywhere(secret):
    body = {"messages": [{"role": "user", "content": f"my key is {secret}, keep it safe"}]}
    text, _ = redact_body(body, 1 << 20)
    assert secret not in text
    assert orjson.loads(text)["messages"][0]["content"] == f"my key is {REDACTED}, keep it safe"


def test_the_gateways_own_keys_are_replaced():
    key = generate_key()
    text, _ = redact_body(f"use {key} for the gateway", 10_000)
    assert key not in text and text == f"use {REDACTED} for the gateway"


def test_bearer_tokens_and_key_assignments_in_text():
    text, _ = redact_body("Authorization: Bearer abcdef0123456789abcdef\nurl=https://g/v1?key=0123456789abcdef"
                          "&alt=sse&access_token=ya29.a0AfH6SM", 10_000)
    assert "abcdef0123456789abcdef" not in text and "0123456789abcdef" not in text and "ya29" not in text
    assert "alt=sse" in text


def test_form_bodies_lose_secret_values_only():
    text, _ = redact_body(b"grant_type=refresh_token&refresh_token=1//0gAbC&client_secret=s3cr3t&scope=a", 10_000)
    assert text == f"grant_type=refresh_token&refresh_token={REDACTED}&client_secret={REDACTED}&scope=a"


def test_prose_that_only_resembles_keys_is_kept():
    prose = ("Use sk-learn-based-pipelines for the task-management-system; bearer authentication is fine; "
             "set max_tokens=16; Key: C major; Author: Ada")
    assert redact_text(prose) == prose


def test_a_streamed_answer_is_redacted_event_by_event():
    stream = ('data: {"id":"c1","choices":[{"delta":{"content":"' + OPENAI_KEY + '"}}],"api_key":"x"}\n\n'
              "data: [DONE]\n\n")
    text, truncated = redact_body(stream.encode(), 10_000)
    assert not truncated
    events = [line[6:] for line in text.split("\n") if line.startswith("data: ")]
    first = orjson.loads(events[0])
    assert first["choices"][0]["delta"]["content"] == REDACTED and first["api_key"] == REDACTED
    assert events[1] == "[DONE]"


def test_invalid_json_is_scrubbed_as_text():
    text, _ = redact_body('{"api_key": "' + OPENAI_KEY + '", broken', 10_000)
    assert OPENAI_KEY not in text


def test_binary_bodies_are_summarised():
    assert redact_body(b"\x89PNG\r\n\x1a\n\x00\xff\xfe", 1000) == ("[binary body: 11 bytes]", False)


# ---- truncation ---------------------------------------------------------------------------------------


def test_truncated_to_max_bytes_of_utf8_without_splitting_a_character():
    text, truncated = redact_body("é" * 100, 51)  # 2 bytes each: the 26th is cut in half and dropped
    assert truncated is True
    assert text == "é" * 25 and len(text.encode()) <= 51


def test_fitting_bodies_are_not_truncated():
    body = {"model": "m", "messages": [{"role": "user", "content": "x" * 100}]}
    text, truncated = redact_body(body, len(orjson.dumps(body)))
    assert truncated is False and orjson.loads(text) == body


def test_redaction_happens_before_truncation():
    # A key straddling the cut must not leave its first characters in the log.
    text, truncated = redact_body("x" * 9 + " " + OPENAI_KEY + " " + "y" * 100, 20)
    assert truncated is True
    assert text == "x" * 9 + " " + REDACTED


@pytest.mark.parametrize(("name", "secret"), [
    ("api_key", True), ("apiKey", True), ("APIKEY", True), ("x-api-key", True), ("access_token", True),
    ("Authorization", True), ("client_secret", True), ("password", True), ("token", True),
    ("max_tokens", False), ("prompt_tokens", False), ("promptTokenCount", False), ("author", False),
    ("model", False), ("tokenizer", False), ("monkey", False),
])
def test_secret_names(name, secret):
    assert secret_name(name) is secret
