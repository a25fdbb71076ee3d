"""Each request's cost, computed once from the usage the upstream reported and the pricing table:
in the usage row, and in X-OmniRoute-Response-Cost on whole answers. (Each pricing case — cached,
cache-write, reasoning, subscription — is covered in tests/usage/test_pricing.py.)"""

from __future__ import annotations

import httpx
import pytest

from omniroute.schema import Usage
from omniroute.usage.pricing import PricingTable, cost
from tests.support import usage_rows

MODEL = "openai/gpt-4o-mini"


def expected(prompt: int, completion: int, cached: int = 0) -> float:
    usage = Usage(input=prompt - cached, output=completion, cache_read=cached)
    return cost(PricingTable().lookup("openai", "gpt-4o-mini"), usage)


@pytest.mark.parametrize("stream", [False, True])
def test_the_cost_follows_the_reported_usage(gateway, admin, connection, api_key, stream):
    connection()
    key = api_key()
    body = {"model": MODEL, "messages": [{"role": "system", "content": "CACHE this"},
                                         {"role": "user", "content": "price me"}]}
    if stream:
        body |= {"stream": True, "stream_options": {"include_usage": True}}
    resp = httpx.post(gateway.url + "/v1/chat/completions", json=body,
                      headers={"Authorization": f"Bearer {key['key']}"}, timeout=30)
    assert resp.status_code == 200
    row = usage_rows(admin, key["id"])[0]
    price = expected(row["promptTokens"], row["completionTokens"], row["cachedTokens"])
    assert row["completionTokens"] > 0 and price > 0
    assert row["cost"] == pytest.approx(price, abs=1e-12)
    if not stream:
        assert float(resp.headers["x-omniroute-response-cost"]) == pytest.approx(price, abs=1e-10)


def test_an_unpriced_model_costs_nothing(gateway, admin, connection, api_key):
    connection()
    key = api_key()
    resp = httpx.post(gateway.url + "/v1/chat/completions", timeout=30,
                      json={"model": "openai/some-unlisted-model", "messages": [{"role": "user", "content": "hi"}]},
                      headers={"Authorization": f"Bearer {key['key']}"})
    assert resp.status_code == 200 and resp.headers["x-omniroute-response-cost"] == "0"
    assert usage_rows(admin, key["id"])[0]["cost"] == 0


def priced_cost(price: dict, row: dict) -> float:
    """USD of a usage row at an API-shaped price: plain input, cache reads, cache writes, plain output and
    reasoning each at their own rate (promptTokens is OpenAI's prompt_tokens: plain input plus cache
    reads; cache writes are counted apart)."""
    plain_in = row["promptTokens"] - row["cachedTokens"]
    plain_out = row["completionTokens"] - row["reasoningTokens"]
    return (plain_in * price["input"] + row["cachedTokens"] * price["cacheRead"]
            + row["cacheWriteTokens"] * price["cacheWrite"] + plain_out * price["output"]
            + row["reasoningTokens"] * price["reasoning"]) / 1e6


def test_cache_reads_and_writes_each_at_their_price(gateway, admin, connection, api_key, anthropic_upstream):
    """Anthropic bills cache writes at 1.25x and cache reads at 0.1x the input price."""
    connection(provider="anthropic", apiKey="sk-ant-test", baseUrl=anthropic_upstream.base_url)
    key = api_key()
    resp = httpx.post(gateway.url + "/v1/messages", timeout=30, headers={"x-api-key": key["key"]},
                      json={"model": "anthropic/claude-sonnet-4-5", "max_tokens": 50, "system": "CACHE the rules",
                            "messages": [{"role": "user", "content": "one two three"}]})
    assert resp.status_code == 200, resp.text
    row = usage_rows(admin, key["id"])[0]
    assert (row["cachedTokens"], row["cacheWriteTokens"]) == (100, 50)
    price = admin.get("/api/pricing").json()["pricing"]["anthropic/claude-sonnet-4-5"]
    assert price["cacheWrite"] > price["input"] > price["cacheRead"]
    assert row["cost"] == pytest.approx(priced_cost(price, row), abs=1e-12)
    assert float(resp.headers["x-omniroute-response-cost"]) == pytest.approx(row["cost"], abs=1e-10)
    # Counting every prompt token at the input price would have billed more.
    flat = (row["promptTokens"] * price["input"] + row["completionTokens"] * price["output"]) / 1e6
    assert row["cost"] != pytest.approx(flat)


def test_reasoning_tokens_at_the_reasoning_price(gateway, admin, connection, api_key):
    """An operator price with a reasoning rate of its own: the thinking tokens, part of the output count,
    are billed at it and not a second time at the output rate."""
    from tests.fakes.responses_upstream import FakeResponses

    fake = FakeResponses().start()
    try:
        connection(provider="openai-responses", apiKey="r-key", baseUrl=fake.base_url)
        key = api_key()
        price = {"input": 1.0, "output": 2.0, "cacheRead": 0.5, "cacheWrite": 1.0, "reasoning": 40.0}
        assert admin.put("/api/pricing", json={"pricing": {"openai-responses/thinker": price}}).status_code == 200
        try:
            resp = httpx.post(gateway.url + "/v1/responses", timeout=30, headers={"Authorization": f"Bearer {key['key']}"},
                              json={"model": "openai-responses/thinker", "input": "why is the sky blue",
                                    "reasoning": {"effort": "low"}})
        finally:
            admin.put("/api/pricing", json={"pricing": {"openai-responses/thinker": None}})
        assert resp.status_code == 200, resp.text
        row = usage_rows(admin, key["id"])[0]
        assert 0 < row["reasoningTokens"] < row["completionTokens"]
        assert row["cost"] == pytest.approx(priced_cost(price, row), abs=1e-12)
        assert float(resp.headers["x-omniroute-response-cost"]) == pytest.approx(row["cost"], abs=1e-10)
    finally:
        fake.stop()

