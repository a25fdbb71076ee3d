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
