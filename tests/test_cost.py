"""Pricing: which source wins, how usage becomes exact Decimal USD, and the built-in table."""

from __future__ import annotations

import logging
from decimal import Decimal

import pytest

from rin import pricing_builtin
from rin.cost import cost_of, estimate_max_cost, price_for, token_cost, unpriced_models
from rin.types import Deployment, ModelInfo, Usage

D = Decimal


def dep(provider: str = "openai", model: str = "gpt-4o", info: ModelInfo | None = None) -> Deployment:
    return Deployment(model_name="group", provider=provider, provider_model=model, api_base="http://x",
                      id="d1", info=info or ModelInfo())


def prices(inp: str, out: str, source: str | None = "config", **kw: str) -> ModelInfo:
    return ModelInfo(input_cost_per_token=D(inp), output_cost_per_token=D(out), price_source=source,
                     **{k: D(v) for k, v in kw.items()})


GROUP = prices("0.001", "0.002")
BY_ID = prices("0.003", "0.004")
OWN = prices("0.005", "0.006")
CATALOG = prices("0.007", "0.008", "catalog")


def test_each_source_wins_in_order() -> None:
    full = {"group": GROUP, "gpt-4o": BY_ID}
    catalog = {"gpt-4o": CATALOG}.get

    def lookup(d: Deployment) -> ModelInfo | None:
        return catalog(d.provider_model)

    assert price_for("group", dep(info=OWN), full, lookup) == (GROUP, "config")
    assert price_for("group", dep(info=OWN), {"gpt-4o": BY_ID}, lookup) == (BY_ID, "config")
    assert price_for("group", dep(info=OWN), {"openai/gpt-4o": BY_ID}, lookup) == (BY_ID, "config")
    assert price_for("group", dep(info=OWN), {}, lookup) == (OWN, "config")
    assert price_for("group", dep(), {}, lookup) == (CATALOG, "catalog")
    assert price_for("group", dep(info=CATALOG), {}, None) == (CATALOG, "catalog")
    assert price_for("group", dep(), {}, None) == (pricing_builtin.PRICES["gpt-4o"], "builtin")
    assert price_for("group", dep("openai", "my-finetune"), {}, None) == (None, "unpriced")
    # a model_cost entry without prices (only limits, say) doesn't count as a match
    assert price_for("group", dep(), {"group": ModelInfo(context_length=8)}, None)[1] == "builtin"


def test_provider_reported_cost_beats_everything_but_config() -> None:
    usage = Usage(prompt_tokens=1000, completion_tokens=100, total_tokens=1100, provider_cost=D("0.0123"))
    assert cost_of(usage, CATALOG, "catalog") == (D("0.0123"), "provider")
    assert cost_of(usage, pricing_builtin.PRICES["gpt-4o"], "builtin") == (D("0.0123"), "provider")
    assert cost_of(usage, None, "unpriced", model="openrouter/some-new-model") == (D("0.0123"), "provider")
    assert cost_of(usage, GROUP, "config") == (D("1.2"), "config")  # 1000 * 0.001 + 100 * 0.002


def test_cached_prompt_tokens_cost_less() -> None:
    gpt4o = pricing_builtin.PRICES["gpt-4o"]
    plain = Usage(prompt_tokens=1000, completion_tokens=200, total_tokens=1200)
    cached = Usage(prompt_tokens=1000, completion_tokens=200, total_tokens=1200, cached_tokens=800)
    assert cost_of(plain, gpt4o, "builtin") == (D("0.0045"), "builtin")  # 1000*2.5e-6 + 200*1e-5
    assert cost_of(cached, gpt4o, "builtin") == (D("0.0035"), "builtin")  # 200*2.5e-6 + 800*1.25e-6 + ...
    # without a cache-read price, cached tokens cost the input price (never nothing)
    assert token_cost(cached, prices("0.000001", "0.000002")) == D("0.0014")


def test_anthropic_cache_writes_and_reads_use_their_own_prices() -> None:
    sonnet = pricing_builtin.lookup("anthropic", "claude-sonnet-4-5-20250929")
    assert sonnet is not None
    # Anthropic's prompt_tokens = input + cache reads + cache writes
    usage = Usage(prompt_tokens=1000 + 2000 + 4000, completion_tokens=100, cached_tokens=2000,
                  cache_write_tokens=4000)
    expected = 1000 * D("0.000003") + 2000 * D("0.0000003") + 4000 * D("0.00000375") + 100 * D("0.000015")
    assert cost_of(usage, sonnet, "builtin") == (expected, "builtin") == (D("0.0201"), "builtin")


def test_reasoning_tokens_are_not_counted_twice() -> None:
    o3 = pricing_builtin.PRICES["o3"]
    thinking = Usage(prompt_tokens=100, completion_tokens=1000, reasoning_tokens=900)
    plain = Usage(prompt_tokens=100, completion_tokens=1000)
    assert token_cost(thinking, o3) == token_cost(plain, o3) == D("0.0082")


def test_per_request_price_is_added() -> None:
    info = ModelInfo(input_cost_per_token=D("0.000001"), output_cost_per_token=D("0.000002"),
                     cost_per_request=D("0.005"))
    assert token_cost(Usage(prompt_tokens=10, completion_tokens=10), info) == D("0.00503")
    assert price_for("g", dep(info=ModelInfo(cost_per_request=D("0.01"))), {}, None)[1] == "config"


def test_unpriced_is_zero_labelled_and_warned_once_per_model(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, "rin.cost")
    usage = Usage(prompt_tokens=10, completion_tokens=10)
    for _ in range(3):
        assert cost_of(usage, None, "unpriced", model="local/mystery-1") == (D(0), "unpriced")
    cost_of(usage, None, "unpriced", model="local/mystery-2")
    warnings = [r.getMessage() for r in caplog.records if r.name == "rin.cost"]
    assert len(warnings) == 2 and "local/mystery-1" in warnings[0] and "unpriced" in warnings[0]
    assert {"local/mystery-1", "local/mystery-2"} <= unpriced_models()


def test_money_is_exact_decimal() -> None:
    info = prices("0.0000001", "0")
    one = Usage(prompt_tokens=1)
    total = sum((cost_of(one, info, "config")[0] for _ in range(1000)), D(0))
    assert total == D("0.0001") and isinstance(total, Decimal)
    for name, p in pricing_builtin.PRICES.items():
        listed = [getattr(p, f) for f in ("input_cost_per_token", "output_cost_per_token", "input_cost_per_second",
                                          "input_cost_per_character", "output_cost_per_image")]
        listed += list((p.output_cost_per_image_by_size or {}).values())
        assert all(isinstance(v, Decimal) for v in listed if v is not None), name
        assert any(v is not None for v in listed), name


def test_estimate_max_cost_is_an_upper_bound_for_the_reservation() -> None:
    gpt4o = pricing_builtin.PRICES["gpt-4o"]
    assert estimate_max_cost(gpt4o, 1000, 500) == D("0.0075")
    assert estimate_max_cost(None, 1000, 500) == D(0)
    sonnet = pricing_builtin.PRICES["claude-sonnet-4-5"]
    worst = estimate_max_cost(sonnet, 1000, 100)
    written = cost_of(Usage(prompt_tokens=1000, completion_tokens=100, cache_write_tokens=1000), sonnet, "builtin")
    assert worst >= written[0]


def test_builtin_table_matches_dated_ids_to_their_family_only() -> None:
    assert pricing_builtin.lookup("openai", "gpt-4o-2024-08-06") is pricing_builtin.PRICES["gpt-4o"]
    assert pricing_builtin.lookup("openai", "gpt-4o-2024-05-13") is pricing_builtin.PRICES["gpt-4o-2024-05-13"]
    assert pricing_builtin.lookup("openai", "gpt-4o-mini-2024-07-18") is pricing_builtin.PRICES["gpt-4o-mini"]
    assert pricing_builtin.lookup("anthropic", "claude-3-5-sonnet-latest") is pricing_builtin.PRICES[
        "claude-3-5-sonnet"]
    assert pricing_builtin.lookup("anthropic", "claude-opus-4-1-20250805") is pricing_builtin.PRICES[
        "claude-opus-4-1"]
    assert pricing_builtin.lookup("openai", "gpt-4o-audio-preview-2024-12-17") is None
    assert pricing_builtin.lookup("openrouter", "gpt-4o") is None  # OpenRouter reports its own cost
    assert pricing_builtin.lookup("anthropic", "gpt-4o") is None


def test_builtin_table_covers_the_well_known_direct_models() -> None:
    expected = {
        "gpt-4o", "gpt-4o-mini", "gpt-4-turbo", "gpt-4.1", "gpt-4.1-mini", "gpt-4.1-nano", "o1", "o3",
        "o3-mini", "o4-mini", "gpt-5", "gpt-5-mini", "gpt-5-nano", "text-embedding-3-small",
        "text-embedding-3-large", "claude-3-5-sonnet", "claude-3-5-haiku", "claude-3-opus", "claude-3-haiku",
        "claude-sonnet-4", "claude-sonnet-4-5", "claude-opus-4", "claude-opus-4-1", "claude-haiku-4-5",
    }
    assert expected <= set(pricing_builtin.PRICES)
    for name, info in pricing_builtin.PRICES.items():
        assert info.price_source == "builtin", name
        if info.mode in ("audio_transcription", "audio_speech", "image_generation"):
            continue  # tests/test_cost_media.py
        assert info.input_cost_per_token is not None and info.input_cost_per_token < D("0.001"), name
        if info.cache_read_cost_per_token is not None:
            assert info.cache_read_cost_per_token < info.input_cost_per_token, name
    assert pricing_builtin.PRICES["text-embedding-3-small"].mode == "embedding"
