"""OpenRouter's model list -> CatalogModel / ModelInfo: the real data's quirks, tolerantly."""

from __future__ import annotations

import json
from decimal import Decimal as D

import pytest

from rin.catalog import CatalogFormatError, PriceTier, parse_catalog
from rin.catalog.model import parse_model, price
from rin.types import Deployment
from tests.catalog.support import EXCERPT_CHAT_IDS, entry, excerpt
from tests.conftest import shared_fixture


def test_excerpt_keeps_the_chat_models_and_counts_the_rest() -> None:
    catalog = excerpt()
    assert set(catalog.models) == EXCERPT_CHAT_IDS
    assert (catalog.not_text, catalog.skipped) == (1, 0)  # the embeddings model
    assert catalog.models["openai/gpt-image-1"].info.mode == "image_generation"  # it only draws
    # text+image output still answers in text, and so does the router
    assert catalog.models["google/gemini-3.1-flash-image"].info.mode == "chat"
    assert catalog.models["openrouter/auto"].info.mode == "chat"


def test_prices_are_exact_decimals_per_token() -> None:
    catalog = excerpt()
    gpt = catalog.models["openai/gpt-4o"].info
    assert (gpt.input_cost_per_token, gpt.output_cost_per_token, gpt.cache_read_cost_per_token) == (
        D("0.0000025"), D("0.00001"), D("0.00000125"))
    assert gpt.cache_write_cost_per_token is None and gpt.cost_per_request is None
    assert gpt.price_source == "catalog"
    flash = catalog.models["google/gemini-2.5-flash"].info
    assert flash.cache_write_cost_per_token == D("0.0000000833333333333333")  # not rounded through float


def test_router_entry_with_minus_one_prices_is_unpriced_not_negative() -> None:
    auto = excerpt().models["openrouter/auto"]
    assert auto.info.input_cost_per_token is None and auto.info.output_cost_per_token is None
    assert auto.info.price_source is None
    assert auto.variable_price and not auto.is_free
    assert auto.info.context_length == 2000000
    assert auto.info.max_output_tokens is None  # top_provider.max_completion_tokens is null


def test_tilde_alias_id_is_kept_verbatim_with_its_target() -> None:
    catalog = excerpt()
    alias = catalog.get("~anthropic/claude-sonnet-latest")
    assert alias is not None and alias.is_alias
    assert alias.alias_target == "anthropic/claude-sonnet-5"
    assert alias.info.cache_write_cost_per_token == D("0.0000025")
    assert alias.info.supports_vision is True
    assert catalog.get("anthropic/claude-sonnet-latest") is None


def test_pricing_overrides_are_noted_and_the_base_price_kept() -> None:
    grok = excerpt().models["x-ai/grok-4.6"]
    assert grok.info.input_cost_per_token == D("0.000002")
    assert grok.info.output_cost_per_token == D("0.000006")
    assert grok.price_tiers == (PriceTier(200000, D("0.000004"), D("0.000012"), D("0.000001"), None),)
    assert grok.info.max_output_tokens is None


def test_capabilities_come_from_modalities_and_supported_parameters() -> None:
    models = excerpt().models
    gpt = models["openai/gpt-4o"].info
    assert (gpt.supports_vision, gpt.supports_function_calling, gpt.supports_response_format) == (True, True, True)
    assert gpt.supports_reasoning is False
    assert (gpt.context_length, gpt.max_output_tokens, gpt.display_name) == (128000, 16384, "OpenAI: GPT-4o")
    palmyra = models["writer/palmyra-x5"].info
    assert (palmyra.supports_vision, palmyra.supports_function_calling, palmyra.supports_response_format) == (
        False, False, False)
    oss = models["openai/gpt-oss-20b:free"]
    assert oss.is_free and oss.info.supports_reasoning is True


def test_structured_outputs_alone_means_response_format() -> None:
    raw = entry("writer/palmyra-x5")
    raw["supported_parameters"] = ["max_tokens", "structured_outputs", "include_reasoning"]
    model = parse_model(raw)
    assert model is not None
    assert model.info.supports_response_format is True and model.info.supports_reasoning is True


def test_null_context_length_falls_back_to_the_top_provider_then_unknown() -> None:
    raw = entry("openai/gpt-4o")
    raw["context_length"] = None
    assert parse_model(raw).info.context_length == 128000  # type: ignore[union-attr]
    raw["top_provider"]["context_length"] = None
    raw["top_provider"]["max_completion_tokens"] = None
    info = parse_model(raw).info  # type: ignore[union-attr]
    assert info.context_length is None and info.max_output_tokens is None


def test_unknown_fields_and_unreadable_values_are_tolerated() -> None:
    raw = entry("meta-llama/llama-3.1-70b-instruct")
    raw["a_field_from_2027"] = {"nested": [1, 2]}
    raw["pricing"] = {"prompt": "n/a", "completion": "0.0000004", "request": "0.005", "discount": 0.5}
    raw["context_length"] = "131k"
    del raw["supported_parameters"]
    info = parse_model(raw).info  # type: ignore[union-attr]
    assert info.input_cost_per_token is None
    assert (info.output_cost_per_token, info.cost_per_request) == (D("0.0000004"), D("0.005"))
    assert info.price_source == "catalog"
    assert info.context_length == 131072  # from top_provider
    assert (info.supports_function_calling, info.supports_reasoning, info.supports_response_format) == (
        None, None, None)  # unknown, not "no"


@pytest.mark.parametrize(("value", "expected"), [
    ("0.0000025", D("0.0000025")), ("0", D("0")), ("-1", None), ("-0.5", None), ("NaN", None),
    ("", None), (None, None), (True, None), (0.5, D("0.5")),
])
def test_price_parsing(value: object, expected: D | None) -> None:
    assert price(value) == expected


def test_entries_without_a_usable_id_are_skipped_and_counted() -> None:
    good = entry("openai/gpt-4o")
    no_id = entry("writer/palmyra-x5")
    del no_id["id"]
    doc = {"data": [no_id, {"id": "   "}, {"id": 42}, "not an object", good, entry("openai/gpt-4o")]}
    catalog = parse_catalog(doc)
    assert list(catalog.models) == ["openai/gpt-4o"]
    assert catalog.skipped == 5  # four without a usable id, one repeating an id
    assert catalog.raw_entries == (good,)


def test_modality_string_is_the_fallback_when_the_lists_are_absent() -> None:
    text = entry("openai/gpt-4o")
    text["architecture"] = {"modality": "text+image->text"}
    image = entry("openai/gpt-image-1")
    image["architecture"] = {"modality": "text->image"}
    unknown = entry("writer/palmyra-x5")
    del unknown["architecture"]
    catalog = parse_catalog({"data": [text, image, unknown]})
    assert list(catalog.models) == ["openai/gpt-4o", "openai/gpt-image-1"]
    assert catalog.models["openai/gpt-4o"].info.supports_vision is True
    assert catalog.models["openai/gpt-image-1"].info.mode == "image_generation"
    assert catalog.not_text == 1


@pytest.mark.parametrize("doc", [[], {"models": []}, {"data": {"id": "x"}}, "data", None])
def test_a_document_that_is_not_a_model_list_is_rejected(doc: object) -> None:
    with pytest.raises(CatalogFormatError, match=r'expected a JSON object \{"data": \[\.\.\.\]\}'):
        parse_catalog(doc)


def test_routing_suffixes_resolve_to_the_base_model_and_lookup_serves_cost() -> None:
    catalog = excerpt()
    assert catalog.get("openai/gpt-4o:nitro") is catalog.models["openai/gpt-4o"]
    assert catalog.get("openai/gpt-4o:extended") is None
    dep = Deployment("openrouter/gpt-4o", "openrouter", "openai/gpt-4o:floor", "http://x", "d1")
    assert catalog.lookup(dep) == catalog.models["openai/gpt-4o"].info
    direct = Deployment("gpt-4o", "openai", "openai/gpt-4o", "http://x", "d2")
    assert catalog.lookup(direct) is None


def test_every_model_of_the_real_text_dump_parses() -> None:
    doc = json.loads(shared_fixture("openrouter", "openrouter_models_2026-08_text.json").read_bytes())
    catalog = parse_catalog(doc)
    assert len(catalog) == 414 == doc["total_count"]
    assert (catalog.skipped, catalog.not_text) == (0, 0)
    routers = {m.id for m in catalog if m.variable_price}
    assert routers == {"openrouter/auto", "openrouter/auto-beta", "openrouter/fusion", "openrouter/pareto-code",
                       "openrouter/bodybuilder"}
    assert sum(1 for m in catalog if m.is_alias) == 11
    assert sum(1 for m in catalog if m.price_tiers) == 61
    for model in catalog:
        raw = next(e for e in catalog.raw_entries if e["id"] == model.id)
        if raw["pricing"]["prompt"] != "-1":
            assert model.info.input_cost_per_token == D(raw["pricing"]["prompt"]), model.id
        assert model.info.context_length == raw["context_length"], model.id
        assert model.info.supports_vision == ("image" in raw["architecture"]["input_modalities"]), model.id
        assert model.info.supports_function_calling == ("tools" in raw["supported_parameters"]), model.id


def test_the_all_modalities_dump_keeps_the_models_that_answer_in_text_or_draw() -> None:
    every = json.loads(shared_fixture("openrouter", "openrouter_models_2026-08_all_modalities.json").read_bytes())
    text = json.loads(shared_fixture("openrouter", "openrouter_models_2026-08_text.json").read_bytes())
    catalog = parse_catalog(every)
    assert len(every["data"]) == 549
    drawing = {e["id"] for e in every["data"]
               if e["architecture"]["output_modalities"] == ["image"]}
    assert (len(catalog), catalog.not_text) == (414 + len(drawing), 135 - len(drawing))
    assert set(catalog.models) == {e["id"] for e in text["data"]} | drawing
    assert all(catalog.models[i].info.mode == "image_generation" for i in drawing)
    assert "openai/text-embedding-3-small" not in catalog and "openai/whisper-1" not in catalog
