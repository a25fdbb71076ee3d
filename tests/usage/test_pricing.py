"""The pricing table: defaults, overrides, lookup order, normalisation and the cost of a request."""

from __future__ import annotations

import copy
import dataclasses
import math

import pytest

from omniroute.dialects.gemini.response import usage_from_gemini
from omniroute.dialects.openai_chat.usage import usage_from_openai
from omniroute.providers.catalog import CATALOG
from omniroute.schema import Usage
from omniroute.usage.pricing import Price, PricingTable, blended, cost, normalise_model
from omniroute.usage.pricing_defaults import DEFAULT_PRICES

M = 1_000_000


@pytest.fixture
def table() -> PricingTable:
    return PricingTable()


# --- Price ---------------------------------------------------------------------------------------


def test_price_defaults_cache_to_input_and_reasoning_to_output():
    p = Price(input=2.0, output=8.0)
    assert (p.cache_read, p.cache_write, p.reasoning) == (2.0, 2.0, 8.0)
    assert p.per_image is None and p.per_audio_minute is None


def test_price_is_frozen_and_slotted():
    p = Price(input=1.0, output=2.0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.input = 5.0  # type: ignore[misc]
    assert not hasattr(p, "__dict__")


@pytest.mark.parametrize("bad", [-1, math.inf, math.nan, "1", True, None])
def test_price_rejects_bad_numbers(bad):
    with pytest.raises(ValueError, match="input"):
        Price(input=bad, output=1.0)


def test_price_api_round_trip():
    body = {"input": 3, "output": 15, "cacheRead": 0.3, "cacheWrite": 3.75, "reasoning": 20,
            "perImage": 0.04, "perAudioMinute": 0.006}
    p = Price.from_api(body)
    assert p == Price(3.0, 15.0, 0.3, 3.75, 20.0, 0.04, 0.006)
    assert p.to_api() == {k: float(v) for k, v in body.items()}
    assert set(Price(1, 2).to_api()) == {"input", "output", "cacheRead", "cacheWrite", "reasoning"}


# --- defaults --------------------------------------------------------------------------------------


def test_every_default_entry_is_a_valid_price_of_a_catalog_provider():
    providers = {spec.id for spec in CATALOG}
    for key, fields in DEFAULT_PRICES.items():
        provider, _, model = key.partition("/")
        assert provider in providers, key
        assert model, key
        Price(**fields)


def test_anthropic_defaults_use_the_published_cache_multipliers(table):
    for model in ("claude-sonnet-4-5", "claude-opus-4-1", "claude-haiku-4-5", "claude-3-5-haiku-latest"):
        p = table.lookup("anthropic", model)
        assert p is not None, model
        assert p.cache_write == pytest.approx(1.25 * p.input)
        assert p.cache_read == pytest.approx(0.1 * p.input)
    assert table.lookup("anthropic", "claude-sonnet-4-5").input == 3.0


def test_openai_cached_input_is_the_real_discount_not_the_input_price(table):
    assert table.lookup("openai", "gpt-4o").cache_read == 1.25
    assert table.lookup("openai", "gpt-4.1").cache_read == 0.5
    assert table.lookup("openai", "gpt-5").cache_read == 0.125


def test_catalog_models_with_known_prices_resolve(table):
    for provider, model in [("openai", "gpt-4o-mini"), ("openai-responses", "gpt-5-codex"),
                            ("gemini", "gemini-2.5-flash-lite"), ("vertex-express", "gemini-2.5-pro"),
                            ("azure-openai", "gpt-4.1"), ("deepseek", "deepseek-reasoner"),
                            ("xai", "grok-3-mini"), ("groq", "openai/gpt-oss-120b"),
                            ("openrouter", "anthropic/claude-sonnet-4.5"),
                            ("openrouter", "openai/gpt-4o-mini"), ("openrouter", "google/gemini-2.5-flash")]:
        assert table.lookup(provider, model) is not None, (provider, model)
    assert table.lookup("openrouter", "openai/gpt-4o-mini") == table.lookup("openai", "gpt-4o-mini")


def test_unknown_model_has_no_price(table):
    assert table.lookup("openai", "no-such-model") is None
    assert table.lookup("ollama", "llama3.2") is None
    assert table.lookup("openai", "") is None


# --- lookup order and normalisation ------------------------------------------------------------------


def test_override_precedence():
    t = PricingTable()
    default = t.lookup("openai", "gpt-4o")
    t.set_overrides({"gpt-4o": {"input": 1, "output": 1}})
    assert t.lookup("openai", "gpt-4o").input == 1.0  # bare override beats the default
    assert t.lookup("azure-openai", "gpt-4o").input == 1.0  # …for every provider
    t.set_overrides({"gpt-4o": {"input": 1, "output": 1}, "openai/gpt-4o": {"input": 2, "output": 2}})
    assert t.lookup("openai", "gpt-4o").input == 2.0  # exact override beats the bare one
    assert t.lookup("azure-openai", "gpt-4o").input == 1.0
    t.set_overrides({})
    assert t.lookup("openai", "gpt-4o") == default  # replaced, not merged


def test_provider_aliases_in_override_keys_and_lookups():
    t = PricingTable({"oai/gpt-4.1": {"input": 9, "output": 9}})  # `oai` is OpenAI's alias
    assert t.lookup("openai", "gpt-4.1").input == 9.0
    assert t.lookup("oai", "gpt-4.1").input == 9.0
    assert t.lookup("azure-openai", "gpt-4.1").input == 2.0  # the default, priced by OpenAI's entry


def test_vendor_prefixed_override_key_is_a_bare_model_name():
    t = PricingTable({"meta-llama/llama-3.3-70b-instruct": {"input": 0.1, "output": 0.2}})
    assert t.lookup("openrouter", "meta-llama/llama-3.3-70b-instruct").output == 0.2
    assert t.lookup("novita", "meta-llama/llama-3.3-70b-instruct").output == 0.2


@pytest.mark.parametrize("model", ["gpt-4o-2024-08-06", "GPT-4o", "models/gpt-4o", "gpt-4o-20240806"])
def test_normalised_names_find_the_base_model(table, model):
    assert table.lookup("openai", model) == table.lookup("openai", "gpt-4o")


def test_anthropic_dated_ids_and_gemini_model_paths(table):
    assert table.lookup("anthropic", "claude-sonnet-4-5-20250929") == table.lookup("anthropic", "claude-sonnet-4-5")
    assert table.lookup("anthropic", "claude-3-5-haiku-20241022").input == 0.8
    assert table.lookup("gemini", "models/gemini-2.5-flash") == table.lookup("gemini", "gemini-2.5-flash")


def test_overrides_are_normalised_too():
    t = PricingTable({"anthropic/claude-sonnet-4-5": {"input": 1, "output": 2}})
    assert t.lookup("anthropic", "claude-sonnet-4-5-20250929").input == 1.0
    assert t.lookup("claude-code", "claude-sonnet-4-5-20250929").input == 3.0  # not that provider


def test_normalise_model():
    assert normalise_model("models/Gemini-2.5-Pro") == "gemini-2-5-pro"
    assert normalise_model("claude-opus-4-1-20250805") == "claude-opus-4-1"
    assert normalise_model("gpt-4o-2024-08-06") == "gpt-4o"
    assert normalise_model("command-a-03-2025") == "command-a-03-2025"


def test_lookup_does_not_mutate_state(table):
    table.set_overrides({"gpt-4o": {"input": 1, "output": 1}})
    before = copy.deepcopy(table._index)
    json_before = table.to_json()
    for provider, model in [("openai", "gpt-4o"), ("openai", "gpt-4o-2024-08-06"), ("x", "unknown"),
                            ("openrouter", "openai/gpt-4o-mini"), ("oai", "GPT-4.1")]:
        table.lookup(provider, model)
    assert table._index == before
    assert table.to_json() == json_before


# --- validation ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("body", "field"), [
    ({"input": 1, "output": 1, "cached": 1}, "cached"),
    ({"input": 1}, "output"),
    ({"input": -1, "output": 1}, "input"),
    ({"input": 1, "output": math.inf}, "output"),
    ({"input": 1, "output": 1, "cacheRead": float("nan")}, "cache_read"),
    ({"input": 1, "output": 1, "perImage": "0.04"}, "per_image"),
    ({"input": True, "output": 1}, "input"),
])
def test_set_overrides_rejects_bad_entries_naming_the_field(body, field):
    t = PricingTable({"gpt-4o": {"input": 7, "output": 7}})
    with pytest.raises(ValueError, match=field):
        t.set_overrides({"gpt-4o": {"input": 1, "output": 1}, "openai/o3": body})
    assert t.lookup("openai", "gpt-4o").input == 7.0  # a rejected update changes nothing


@pytest.mark.parametrize("overrides", [[], {"": {"input": 1, "output": 1}}, {"openai/": {"input": 1, "output": 1}},
                                       {"gpt-4o": [1, 2]}])
def test_set_overrides_rejects_bad_shapes(overrides):
    with pytest.raises(ValueError):
        PricingTable().set_overrides(overrides)


def test_to_json_is_the_merged_table_in_camel_case():
    t = PricingTable({"openai/gpt-4o": {"input": 1, "output": 2, "cacheRead": 0.5}, "my-model": {"input": 0, "output": 0}})
    out = t.to_json()
    assert out["openai/gpt-4o"] == {"input": 1.0, "output": 2.0, "cacheRead": 0.5, "cacheWrite": 1.0, "reasoning": 2.0}
    assert out["my-model"]["input"] == 0.0
    assert out["anthropic/claude-sonnet-4-5"]["cacheWrite"] == 3.75
    assert out["openai/dall-e-3"]["perImage"] == 0.04
    assert len(out) == len(DEFAULT_PRICES) + 1
    assert t.overrides() == {"openai/gpt-4o": out["openai/gpt-4o"], "my-model": out["my-model"]}


# --- cost ------------------------------------------------------------------------------------------

P = Price(input=3.0, output=15.0, cache_read=0.3, cache_write=3.75, reasoning=20.0,
          per_image=0.04, per_audio_minute=0.006)


def test_cost_plain():
    assert cost(Price(2.0, 8.0), Usage(input=1000, output=500)) == pytest.approx((1000 * 2 + 500 * 8) / M)
    assert cost(Price(2.0, 8.0), Usage(input=M, output=M)) == 10.0


def test_cost_cached_read_is_billed_apart_from_input():
    # input excludes cache reads: 200 fresh tokens at 3, 800 cached at 0.3
    assert cost(P, Usage(input=200, cache_read=800)) == round((200 * 3 + 800 * 0.3) / M, 10)
    # from the wire: prompt_tokens 1000 of which 800 cached → the same charge
    wire = usage_from_openai({"prompt_tokens": 1000, "completion_tokens": 0,
                              "prompt_tokens_details": {"cached_tokens": 800}})
    assert cost(P, wire) == cost(P, Usage(input=200, cache_read=800))


def test_cost_cache_write():
    assert cost(P, Usage(input=100, cache_write=1000)) == round((100 * 3 + 1000 * 3.75) / M, 10)


def test_cost_reasoning_is_not_double_counted():
    # 1000 output tokens of which 400 are reasoning: 600 at 15 plus 400 at 20
    assert cost(P, Usage(output=1000, reasoning=400)) == round((600 * 15 + 400 * 20) / M, 10)
    # the default reasoning price is the output price: same as plain output
    plain = Price(1.0, 4.0)
    assert cost(plain, Usage(output=1000, reasoning=400)) == cost(plain, Usage(output=1000))
    # Gemini counts thoughts apart from candidates; canonical output holds both, priced once
    gem = usage_from_gemini({"promptTokenCount": 10, "candidatesTokenCount": 600, "thoughtsTokenCount": 400})
    assert (gem.output, gem.reasoning) == (1000, 400)
    assert cost(P, gem) == round((10 * 3 + 600 * 15 + 400 * 20) / M, 10)
    # reasoning reported above output is capped at output
    assert cost(P, Usage(output=100, reasoning=500)) == round(100 * 20 / M, 10)


def test_cost_images_and_audio():
    assert cost(P, Usage(), images=3) == 0.12
    assert cost(P, Usage(), audio_seconds=90) == 0.009
    assert cost(P, None, images=1, audio_seconds=60) == 0.046
    assert cost(Price(1.0, 1.0), Usage(), images=5, audio_seconds=60) == 0.0  # no such prices


def test_cost_subscription_and_unknown_are_free():
    assert cost(P, Usage(input=M, output=M), subscription=True) == 0.0
    assert cost(None, Usage(input=M, output=M)) == 0.0


def test_cost_rounds_to_ten_places():
    value = cost(Price(0.123456789123, 0.0), Usage(input=1))
    assert value == round(0.123456789123 / M, 10)
    assert value == float(f"{value:.10f}")


def test_cost_of_a_whole_request_with_default_prices(table):
    usage = Usage(input=10_000, output=2_000, cache_read=50_000, cache_write=5_000, reasoning=500)
    got = cost(table.lookup("anthropic", "claude-sonnet-4-5-20250929"), usage)
    want = (10_000 * 3 + 50_000 * 0.3 + 5_000 * 3.75 + 2_000 * 15) / M
    assert got == pytest.approx(want, abs=1e-10)
    assert cost(table.lookup("openai", "whisper-1"), Usage(), audio_seconds=120) == 0.012
    assert cost(table.lookup("openai", "dall-e-3"), Usage(), images=2) == 0.08


# --- blended ---------------------------------------------------------------------------------------


def test_blended_ranks_by_a_three_to_one_mix(table):
    assert blended(Price(3.0, 15.0)) == 6.0
    assert blended(None) == math.inf
    ranked = sorted(["gpt-4o", "gpt-4o-mini", "o1"], key=lambda m: blended(table.lookup("openai", m)))
    assert ranked == ["gpt-4o-mini", "gpt-4o", "o1"]
