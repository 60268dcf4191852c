"""Config + catalogue -> served Config: synced models, hand-written priority, enrichment, stale aliases."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal as D
from pathlib import Path

from rin.catalog import Catalog, expand, expand_cached, is_synced, write_catalog
from rin.config.resolved import CatalogSettings
from rin.cost import price_for
from rin.types import Secret
from tests.catalog.support import ALIAS, EXCERPT_CHAT_IDS, config_from, excerpt

KEY = {"OPENROUTER_API_KEY": "sk-or-test", "OPENROUTER_API_BASE": "http://127.0.0.1:9/api/v1"}
SYNCED_AT = datetime(2026, 8, 19, 12, 0, tzinfo=UTC)
DIRECT = """\
  - model_name: gpt-4o
    litellm_params:
      model: openai/gpt-4o
      api_key: sk-direct
"""


def catalog() -> Catalog:
    return replace(excerpt(), synced_at=SYNCED_AT)


def test_every_catalogue_model_becomes_an_openrouter_deployment(tmp_path: Path) -> None:
    config = config_from(tmp_path, "model_list:\n" + DIRECT, KEY)
    served = expand(config, catalog())
    synced = [d for d in served.deployments if is_synced(d)]
    assert {d.model_name for d in synced} == {f"openrouter/{i}" for i in EXCERPT_CHAT_IDS}
    dep = served.enabled("openrouter/openai/gpt-4o")[0]
    assert (dep.provider, dep.provider_model, dep.api_base) == ("openrouter", "openai/gpt-4o", KEY["OPENROUTER_API_BASE"])
    assert dep.api_key == Secret("sk-or-test")
    assert dep.extra_headers["X-Title"] == "RIN - Rhyzomic Intelligence Node"
    assert dep.info == catalog().models["openai/gpt-4o"].info and dep.listed and dep.enabled
    assert served.enabled("openrouter/~anthropic/claude-sonnet-latest")
    assert served.groups["gpt-4o"][0].provider == "openai"  # the direct model is untouched
    assert served.deployments[0].model_name == "gpt-4o"  # hand-written entries come first


def test_the_input_config_is_not_changed(tmp_path: Path) -> None:
    config = config_from(tmp_path, "model_list:\n" + DIRECT + ALIAS, KEY)
    before = (list(config.deployments), [replace(d) for d in config.deployments], dict(config.groups),
              list(config.warnings))
    without_gpt4o = {k: v for k, v in catalog().models.items() if k != "openai/gpt-4o"}
    stale = expand(config, replace(catalog(), models=without_gpt4o))
    assert stale.groups["openrouter/gpt-4o"][0].catalog_missing and len(stale.warnings) > len(config.warnings)
    served = expand(config, catalog())
    assert served is not config and len(served.deployments) > len(config.deployments)
    assert config.deployments == before[0] and config.deployments == before[1]
    assert config.groups == before[2] and config.warnings == before[3]
    assert all(a is not b for a, b in zip(config.deployments, served.deployments))


def test_a_hand_written_group_of_the_same_name_keeps_priority(tmp_path: Path) -> None:
    config = config_from(tmp_path, """\
model_list:
  - model_name: openrouter/openai/gpt-4o
    litellm_params:
      model: openrouter/openai/gpt-4o
      api_key: os.environ/OPENROUTER_API_KEY
      temperature: 0.2
""", KEY)
    served = expand(config, catalog())
    group = served.groups["openrouter/openai/gpt-4o"]
    assert len(group) == 1 and not is_synced(group[0])
    assert group[0].defaults == {"temperature": 0.2}
    assert group[0].info.context_length == 128000  # but enriched from the catalogue


def test_aliases_are_enriched_where_the_config_is_silent(tmp_path: Path) -> None:
    config = config_from(tmp_path, "model_list:\n" + ALIAS + """\
    model_info:
      supports_vision: false
      max_output_tokens: 1000
""", KEY)
    dep = expand(config, catalog()).groups["openrouter/gpt-4o"][0]
    info = dep.info
    assert info.supports_vision is False and info.max_output_tokens == 1000  # config wins
    assert (info.context_length, info.supports_function_calling, info.display_name) == (128000, True, "OpenAI: GPT-4o")
    assert (info.input_cost_per_token, info.output_cost_per_token) == (D("0.0000025"), D("0.00001"))
    assert info.price_source == "catalog"
    prices, source = price_for("openrouter/gpt-4o", dep, {}, catalog().lookup)
    assert source == "catalog" and prices is not None and prices.input_cost_per_token == D("0.0000025")
    assert not dep.catalog_missing


def test_config_prices_are_kept_whole_and_stay_config_priced(tmp_path: Path) -> None:
    config = config_from(tmp_path, "model_list:\n" + ALIAS + """\
    model_info:
      input_cost_per_token: 0.000002
""", KEY)
    dep = expand(config, catalog()).groups["openrouter/gpt-4o"][0]
    assert dep.info.input_cost_per_token == D("0.000002")
    assert dep.info.output_cost_per_token is None and dep.info.cache_read_cost_per_token is None
    assert dep.info.price_source == "config"
    assert dep.info.context_length == 128000
    assert price_for("openrouter/gpt-4o", dep, {}, catalog().lookup)[1] == "config"


def test_an_alias_whose_model_left_the_catalogue_is_flagged_and_warned(tmp_path: Path) -> None:
    config = config_from(tmp_path, "model_list:\n" + ALIAS.replace("openai/gpt-4o", "openai/gpt-4-32k"), KEY)
    served = expand(config, catalog())
    dep = served.groups["openrouter/gpt-4o"][0]
    assert dep.catalog_missing and dep.enabled
    assert served.warnings.count(
        "openrouter/gpt-4o: 'openai/gpt-4-32k' is no longer in the OpenRouter catalogue (synced 2026-08-19); "
        "requests to it will likely fail — update model_list") == 1
    again = expand(served, catalog())  # expanding the served config does not repeat anything
    assert again.warnings == served.warnings
    assert [d.model_name for d in again.deployments] == [d.model_name for d in served.deployments]


def test_no_staleness_verdict_without_a_catalogue(tmp_path: Path) -> None:
    config = config_from(tmp_path, "model_list:\n" + ALIAS.replace("openai/gpt-4o", "openai/gpt-4-32k"), KEY)
    for nothing in (None, replace(catalog(), models={})):
        served = expand(config, nothing)
        assert not served.groups["openrouter/gpt-4o"][0].catalog_missing
        assert served.warnings == config.warnings
        assert not any(is_synced(d) for d in served.deployments)


def test_without_a_key_synced_models_load_disabled(tmp_path: Path) -> None:
    config = config_from(tmp_path, "model_list:\n" + DIRECT, {})
    served = expand(config, catalog())
    synced = [d for d in served.deployments if is_synced(d)]
    assert synced and all(d.disabled_reason == "OPENROUTER_API_KEY is not set" for d in synced)
    assert all(d.api_base == "https://openrouter.ai/api/v1" for d in synced)
    assert "catalog: 11 synced OpenRouter models are disabled: OPENROUTER_API_KEY is not set" in served.warnings
    assert served.missing_env == ["OPENROUTER_API_KEY"]
    assert served.enabled("openrouter/openai/gpt-4o") == []


def test_access_is_copied_from_a_hand_written_openrouter_deployment(tmp_path: Path) -> None:
    config = config_from(tmp_path, """\
model_list:
  - model_name: openrouter/gpt-4o
    litellm_params:
      model: openrouter/openai/gpt-4o
      api_key: sk-or-from-yaml
      api_base: http://proxy.internal/or/v1
      extra_headers: {X-Team: blue}
""", {})
    dep = expand(config, catalog()).enabled("openrouter/x-ai/grok-4.6")[0]
    assert (dep.api_base, dep.api_key) == ("http://proxy.internal/or/v1", Secret("sk-or-from-yaml"))
    assert dep.extra_headers["X-Team"] == "blue" and "HTTP-Referer" in dep.extra_headers


def test_expose_false_keeps_synced_models_routable_but_unlisted(tmp_path: Path) -> None:
    config = config_from(tmp_path, "model_list:\n" + ALIAS + "catalog:\n  expose: false\n", KEY)
    served = expand(config, catalog())
    assert served.enabled("openrouter/openai/gpt-4o")[0].listed is False
    assert served.groups["openrouter/gpt-4o"][0].listed is True


def test_filters_choose_the_synced_models_but_never_hide_hand_written_ones(tmp_path: Path) -> None:
    config = config_from(tmp_path, "model_list:\n" + ALIAS + "catalog:\n  include: [anthropic/*]\n", KEY)
    served = expand(config, catalog())
    assert sorted(served.groups) == ["openrouter/anthropic/claude-3-haiku", "openrouter/gpt-4o"]
    assert served.groups["openrouter/gpt-4o"][0].info.context_length == 128000  # still enriched


def test_a_disabled_catalogue_changes_nothing(tmp_path: Path) -> None:
    config = config_from(tmp_path, "model_list:\n" + ALIAS + "catalog:\n  enabled: false\n", KEY)
    served = expand(config, catalog())
    assert list(served.groups) == ["openrouter/gpt-4o"]
    assert served.groups["openrouter/gpt-4o"][0].info == config.deployments[0].info


def test_expand_cached_reads_the_file_named_by_the_config(tmp_path: Path) -> None:
    cache = tmp_path / "cache" / "models.json"
    config = config_from(tmp_path, f"model_list:\n{ALIAS}catalog:\n  path: {cache}\n", KEY)
    served, loaded = expand_cached(config)
    assert loaded is None and list(served.groups) == ["openrouter/gpt-4o"]
    write_catalog(cache, catalog())
    served, loaded = expand_cached(config)
    assert loaded is not None and loaded.synced_at == SYNCED_AT and len(loaded) == 11
    assert len(served.groups) == 12
    cache.write_text(json.dumps({"models": []}), encoding="utf-8")
    served, loaded = expand_cached(config)
    assert loaded is None and list(served.groups) == ["openrouter/gpt-4o"]
    assert any(w.startswith(f"catalog: {cache}: not a catalogue") for w in served.warnings)


def test_catalog_settings_default_path_is_relative_to_the_working_directory() -> None:
    assert not CatalogSettings().path.is_absolute()
