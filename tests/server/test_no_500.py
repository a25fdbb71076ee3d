"""No input produces a 500: a spread of malformed bodies against every writable route."""

from __future__ import annotations

import json
import random

import httpx
import pytest

WEIRD = [None, True, 0, -1, 1.5, 10**30, "", "x" * 10_000, [], [None], {}, {"a": {"b": [1, {"c": None}]}},
         "\u0000", "\ud7ff", {"$gt": ""}, [[[[[]]]]]]
FIELDS = ["model", "messages", "stream", "temperature", "max_tokens", "tools", "stop", "stream_options",
          "provider", "name", "apiKey", "baseUrl", "priority", "isActive", "headers", "scopes",
          "allowedModels", "expiresAt", "password", "requireLogin", "role", "content"]


def bodies(seed: int, count: int):
    rng = random.Random(seed)
    yield b"{"
    yield b"\xff\xfe"
    yield b"null"
    yield b'{"model": "openai/gpt-4o", "messages": [{"role": "user", "content": [{"type": "text"}]}]}'
    for _ in range(count):
        body = {rng.choice(FIELDS): rng.choice(WEIRD) for _ in range(rng.randint(1, 5))}
        if rng.random() < 0.5:
            body["messages"] = [{"role": rng.choice(["user", "assistant", "tool", 5]),
                                 "content": rng.choice(WEIRD)}]
        yield json.dumps(body).encode()


ROUTES = [("POST", "/v1/chat/completions"), ("POST", "/api/providers"), ("POST", "/api/keys"),
          ("POST", "/api/providers/validate"), ("PUT", "/api/settings/require-login"),
          ("POST", "/api/auth/login"), ("PUT", "/api/providers/none"), ("PATCH", "/api/keys/none")]


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_no_body_makes_a_500(gateway, admin, upstream, connection, method, path):
    connection()
    client = admin if path.startswith("/api/") and not path.startswith("/api/auth") else httpx.Client(
        base_url=gateway.url, timeout=30)
    for raw in bodies(sum(path.encode()), 60):
        resp = client.request(method, path, content=raw, headers={"content-type": "application/json"})
        assert resp.status_code < 500 or resp.status_code in (502, 503), (raw[:200], resp.status_code, resp.text)
        if resp.status_code >= 400:
            assert "error" in resp.json()
