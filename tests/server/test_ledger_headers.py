"""The ledger headers of a non-streaming answer, in every chat dialect: cost, tokens in and out,
provider, model and latency, each equal to what the usage row of the request says."""

from __future__ import annotations

import httpx
import pytest

from tests.support import usage_rows

MODEL = "openai/gpt-4o-mini"
TEXT = "count these five words"
CALLS = {
    "openai": ("/v1/chat/completions", {"model": MODEL, "messages": [{"role": "user", "content": TEXT}]}),
    "anthropic": ("/v1/messages", {"model": MODEL, "max_tokens": 50, "messages": [{"role": "user", "content": TEXT}]}),
    "responses": ("/v1/responses", {"model": MODEL, "input": TEXT}),
    "gemini": (f"/v1beta/models/{MODEL}:generateContent", {"contents": [{"role": "user", "parts": [{"text": TEXT}]}]}),
    "ollama": ("/api/chat", {"model": MODEL, "stream": False, "messages": [{"role": "user", "content": TEXT}]}),
}


@pytest.mark.parametrize("dialect", list(CALLS))
def test_headers_match_the_usage_row(gateway, admin, connection, api_key, dialect):
    connection()
    key = api_key()
    path, body = CALLS[dialect]
    resp = httpx.post(gateway.url + path, json=body, timeout=30,
                      headers={"Authorization": f"Bearer {key['key']}", "x-goog-api-key": key["key"]})
    assert resp.status_code == 200, resp.text
    [row] = usage_rows(admin, key["id"])
    h = resp.headers
    assert (h["x-omniroute-provider"], h["x-omniroute-model"]) == (row["provider"], row["model"]) == (
        "openai", "gpt-4o-mini")
    assert int(h["x-omniroute-tokens-in"]) == row["promptTokens"] > 0
    assert int(h["x-omniroute-tokens-out"]) == row["completionTokens"] > 0
    assert float(h["x-omniroute-response-cost"]) == pytest.approx(row["cost"], abs=1e-10) and row["cost"] > 0
    assert 0 <= int(h["x-omniroute-latency-ms"]) <= row["latencyMs"]
    assert row["clientFormat"] == dialect and row["attempts"] == 1
