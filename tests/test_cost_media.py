"""Pricing the media endpoints: audio seconds, speech characters, images by quality and size, rerank
search units; config and built-in prices, exact Decimals, and the budget's worst case."""

from __future__ import annotations

import logging
from decimal import Decimal
from pathlib import Path

import pytest

from rin import pricing_builtin
from rin.config import load_config
from rin.cost import cost_of, estimate_max_cost, image_price, price_for, usage_cost, variant_key
from rin.types import Deployment, ModelInfo, Usage

D = Decimal


def dep(model: str, info: ModelInfo | None = None, provider: str = "openai") -> Deployment:
    return Deployment(model_name="group", provider=provider, provider_model=model, api_base="http://x",
                      id="d1", info=info or ModelInfo())


def builtin(model: str) -> ModelInfo:
    found = pricing_builtin.lookup("openai", model)
    assert found is not None, model
    return found


def test_builtin_prices_of_openais_media_models() -> None:
    # whisper-1: $0.006 a minute, billed by the second
    assert cost_of(Usage(seconds=60), builtin("whisper-1"), "builtin") == (D("0.006"), "builtin")
    assert usage_cost(Usage(seconds=12.5), builtin("whisper-1")) == D("0.00125")
    # tts-1 $15, tts-1-hd $30 per 1M characters
    assert usage_cost(Usage(characters=1000), builtin("tts-1")) == D("0.015")
    assert usage_cost(Usage(characters=1000), builtin("tts-1-hd")) == D("0.03")
    # token-priced: gpt-4o-transcribe audio tokens $2.50 / $10, mini $1.25 / $5; gpt-4o-mini-tts
    assert usage_cost(Usage(prompt_tokens=1000, completion_tokens=100), builtin("gpt-4o-transcribe")) == D("0.0035")
    assert usage_cost(Usage(prompt_tokens=1000, completion_tokens=100),
                      builtin("gpt-4o-mini-transcribe")) == D("0.00175")
    assert usage_cost(Usage(prompt_tokens=100, completion_tokens=1000), builtin("gpt-4o-mini-tts")) == D("0.01206")
    # gpt-image-1: $5 text input, $40 image output per 1M tokens
    assert usage_cost(Usage(prompt_tokens=50, completion_tokens=4160, images=1),
                      builtin("gpt-image-1")) == D("0.16665")
    assert price_for("group", dep("whisper-1"), {}, None) == (builtin("whisper-1"), "builtin")
    assert price_for("group", dep("dall-e-3", provider="azure"), {}, None) == (None, "unpriced")


def test_dall_e_prices_by_quality_and_size() -> None:
    dalle3, dalle2_info = builtin("dall-e-3"), builtin("dall-e-2")
    cases = {
        "standard/1024x1024": "0.04", "standard/1024x1792": "0.08", "standard/1792x1024": "0.08",
        "hd/1024x1024": "0.08", "hd/1024x1792": "0.12", "hd/1792x1024": "0.12",
        "1024x1024": "0.04", "1792x1024": "0.08",  # quality left out: standard
        "auto/1024x1024": "0.04",  # a quality the table doesn't list: the size alone
        "HD/1024-x-1792": "0.12",  # LiteLLM's spelling, any case
    }
    for variant, price in cases.items():
        assert usage_cost(Usage(images=1, image_variant=variant), dalle3) == D(price), variant
    assert usage_cost(Usage(images=3, image_variant="hd/1024x1792"), dalle3) == D("0.36")
    for size, price in (("256x256", "0.016"), ("512x512", "0.018"), ("1024x1024", "0.02"),
                        ("standard/1024x1024", "0.02")):
        assert usage_cost(Usage(images=2, image_variant=size), dalle2_info) == 2 * D(price), size


def test_an_unknown_variant_is_billed_at_the_dearest_or_the_flat_price(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, "rin.cost")
    dalle3 = builtin("dall-e-3")
    assert image_price(dalle3, "hd/4096x4096") == D("0.12")
    assert image_price(dalle3, None) == D("0.12")
    assert any("hd/4096x4096" in r.getMessage() for r in caplog.records)
    flat = ModelInfo(output_cost_per_image=D("0.05"), output_cost_per_image_by_size={"hd/1024x1024": D("0.09")})
    assert image_price(flat, "hd/1024x1024") == D("0.09")
    assert image_price(flat, "512x512") == D("0.05")
    assert image_price(flat, "512x512", worst=True) == D("0.09")
    assert image_price(ModelInfo(output_cost_per_image=D("0.05")), "anything") == D("0.05")
    assert image_price(ModelInfo(), "1024x1024") is None
    assert variant_key(" High / 1536-X-1024 ") == "high/1536x1024"


def test_tokens_win_over_the_quantities_when_both_are_priced() -> None:
    """gpt-4o-transcribe reports tokens and LiteLLM lists it per second too: billed once, by tokens."""
    both = ModelInfo(input_cost_per_token=D("0.0000025"), output_cost_per_token=D("0.00001"),
                     input_cost_per_second=D("0.0001"))
    assert usage_cost(Usage(prompt_tokens=1000, completion_tokens=100, seconds=60), both) == D("0.0035")
    assert usage_cost(Usage(seconds=60), both) == D("0.006")  # no tokens reported: the seconds
    # a zero token price (Cohere's rerank lists 0.0) leaves the search units billed
    rerank = ModelInfo(input_cost_per_token=D(0), output_cost_per_token=D(0), input_cost_per_query=D("0.002"))
    assert usage_cost(Usage(prompt_tokens=500, search_units=3), rerank) == D("0.006")


def test_seconds_are_billed_once_even_when_both_second_prices_are_set() -> None:
    # LiteLLM's whisper-1: input_cost_per_second and output_cost_per_second, both 0.0001
    whisper = ModelInfo(input_cost_per_second=D("0.0001"), output_cost_per_second=D("0.0001"))
    assert usage_cost(Usage(seconds=30), whisper) == D("0.003")
    assert usage_cost(Usage(seconds=30), ModelInfo(output_cost_per_second=D("0.0002"))) == D("0.006")
    assert usage_cost(Usage(seconds=0.1), whisper) == D("0.00001")  # the float's shortest form, exact


def test_media_prices_alone_make_a_price_list() -> None:
    for info in (ModelInfo(input_cost_per_second=D(1)), ModelInfo(input_cost_per_character=D(1)),
                 ModelInfo(output_cost_per_image=D(1)), ModelInfo(input_cost_per_query=D(1)),
                 ModelInfo(output_cost_per_image_by_size={"1024x1024": D(1)})):
        assert price_for("group", dep("my-model"), {"group": info}, None) == (info, "config")
        assert price_for("group", dep("my-model", info), {}, None) == (info, "config")


def test_estimate_covers_the_quantities_known_in_advance() -> None:
    assert estimate_max_cost(builtin("tts-1"), 1, 0, expected=Usage(characters=4096)) == D("0.06144")
    assert estimate_max_cost(builtin("whisper-1"), 1, 0, expected=Usage(seconds=600)) == D("0.06")
    dalle3 = builtin("dall-e-3")
    assert estimate_max_cost(dalle3, 1, 0, expected=Usage(images=2, image_variant="1024x1024")) == D("0.08")
    assert estimate_max_cost(dalle3, 1, 0, expected=Usage(images=2)) == D("0.24")  # variant unknown: dearest
    rerank = ModelInfo(input_cost_per_token=D("0.00000005"), input_cost_per_query=D("0.002"))
    # the sum bounds either way of billing
    assert estimate_max_cost(rerank, 1000, 0, expected=Usage(search_units=1)) == D("0.00205")
    assert estimate_max_cost(dalle3, 1, 0) == D(0)
    for usage, info in ((Usage(characters=4096), builtin("tts-1")), (Usage(seconds=600), builtin("whisper-1")),
                        (Usage(images=2, image_variant="hd/1792x1024"), dalle3)):
        assert estimate_max_cost(info, 1, 0, expected=usage) >= usage_cost(usage, info)


def test_budget_worst_case_takes_the_expected_quantities(tmp_path: Path) -> None:
    from rin.budgets import Budgets

    path = tmp_path / "c.yaml"
    path.write_text("model_list:\n  - model_name: speech\n    litellm_params: {model: openai/tts-1, api_key: k}\n")
    config = load_config(path, env={})
    budgets = Budgets(config)
    speech = config.deployments[0]
    body = {"model": "speech", "input": "x" * 2000}
    assert budgets.worst_case(speech, body, 2100, Usage(characters=2000)) == D("0.03")
    assert budgets.worst_case(speech, body, 2100) == D(0)  # tokens only: tts-1 has no token price


def test_config_prices_for_every_quantity(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("""
model_list:
  - model_name: transcribe
    litellm_params: {model: openai/my-whisper, api_key: k, input_cost_per_second: 0.0001}
  - model_name: speech
    litellm_params: {model: openai/my-tts, api_key: k}
    model_info: {input_cost_per_character: 0.000015}
  - model_name: images
    litellm_params:
      model: openai/my-images
      api_key: k
      output_cost_per_image: 0.05
      output_cost_per_image_by_size: {"HD/1024-x-1792": 0.12, "1024x1024": "0.04"}
  - model_name: rerank
    litellm_params: {model: cohere/rerank-v3.5, api_base: "http://x", api_key: k, input_cost_per_query: 0.002}
general_settings:
  model_cost:
    speech-b: {output_cost_per_second: 0.00025, input_cost_per_character: 0.0000006}
""")
    config = load_config(path, env={})
    by_name = {d.model_name: d for d in config.deployments}
    assert not any("input_cost_per" in w or "output_cost_per" in w for w in config.warnings)

    def cost(name: str, usage: Usage) -> tuple[Decimal, str]:
        d = by_name[name]
        prices, source = price_for(name, d, config.general.model_cost, None)
        return cost_of(usage, prices, source, model=d.label)

    assert cost("transcribe", Usage(seconds=61)) == (D("0.0061"), "config")
    assert cost("speech", Usage(characters=3)) == (D("0.000045"), "config")
    assert cost("images", Usage(images=1, image_variant="hd/1024x1792")) == (D("0.12"), "config")
    assert cost("images", Usage(images=2, image_variant="1024x1024")) == (D("0.08"), "config")
    assert cost("images", Usage(images=1, image_variant="512x512")) == (D("0.05"), "config")
    assert cost("rerank", Usage(search_units=2)) == (D("0.004"), "config")
    info = by_name["images"].info
    assert info.output_cost_per_image_by_size == {"hd/1024x1792": D("0.12"), "1024x1024": D("0.04")}
    assert config.general.model_cost["speech-b"].output_cost_per_second == D("0.00025")
    assert config.general.model_cost["speech-b"].input_cost_per_character == D("0.0000006")


def test_a_negative_media_price_is_a_config_error(tmp_path: Path) -> None:
    from rin.config.problems import ConfigError

    path = tmp_path / "c.yaml"
    path.write_text("model_list:\n  - model_name: x\n    litellm_params:\n      model: openai/x\n      api_key: k\n"
                    "      output_cost_per_image_by_size: {\"1024x1024\": -1}\n")
    with pytest.raises(ConfigError, match="output_cost_per_image_by_size"):
        load_config(path, env={})
