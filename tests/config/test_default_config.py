"""The shipped config/litellm/config.yaml: loads without keys (all disabled) and with them (all usable)."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from rin.config import load_config

REPO = Path(__file__).resolve().parents[2]
DEFAULT = REPO / "config" / "litellm" / "config.yaml"
CATALOGUE = REPO / ".." / "shared" / "fixtures" / "openrouter" / "openrouter_models_2026-08_text.json"
KEYS = {"OPENAI_API_KEY": "sk-test-openai", "ANTHROPIC_API_KEY": "sk-ant-test",
        "OPENROUTER_API_KEY": "sk-or-test"}
GUIDE_ALIASES = {
    "openrouter/gpt-4o", "openrouter/gpt-4-turbo", "openrouter/claude-3-5-sonnet", "openrouter/claude-3-opus",
    "openrouter/llama-3.1-405b", "openrouter/llama-3.1-70b", "openrouter/gemini-pro", "openrouter/gemini-flash",
    "openrouter/mistral-large", "openrouter/mixtral-8x7b", "openrouter/command-r-plus",
    "openrouter/perplexity-online",
}


def test_without_keys_every_model_is_disabled_and_names_its_variable() -> None:
    config = load_config(DEFAULT, env={})
    assert config.deployments
    assert not any(dep.enabled for dep in config.deployments)
    assert config.missing_env == ["ANTHROPIC_API_KEY", "OPENAI_API_KEY", "OPENROUTER_API_KEY"]
    disabled = [w for w in config.warnings if "is disabled" in w]
    assert len(disabled) == len(config.deployments)
    assert any("'gpt-4o'" in w and "OPENAI_API_KEY is not set" in w for w in disabled)
    assert any("'claude-3-opus'" in w and "ANTHROPIC_API_KEY is not set" in w for w in disabled)
    assert any("'openrouter/gemini-pro'" in w and "OPENROUTER_API_KEY is not set" in w for w in disabled)


def test_with_keys_every_model_is_enabled_and_the_guide_aliases_exist() -> None:
    config = load_config(DEFAULT, env=KEYS)
    assert all(dep.enabled for dep in config.deployments)
    openrouter = {dep.model_name for dep in config.deployments if dep.provider == "openrouter"}
    assert openrouter == GUIDE_ALIASES
    assert {"gpt-4o", "gpt-4o-mini", "gpt-4-turbo", "claude-3-5-sonnet", "claude-3-opus"} <= set(config.groups)
    for dep in config.deployments:
        assert dep.api_base == {"openai": "https://api.openai.com/v1", "anthropic": "https://api.anthropic.com",
                                "openrouter": "https://openrouter.ai/api/v1"}[dep.provider]
        assert dep.api_key is not None and dep.api_key.get() == KEYS[f"{dep.provider.upper()}_API_KEY"]
        # attribution headers come from OPENROUTER_SITE_URL / OPENROUTER_APP_NAME or their defaults, not from
        # extra_headers in the file (an os.environ/ reference there would disable the model when unset)
        if dep.provider == "openrouter":
            assert dep.extra_headers["HTTP-Referer"] == "http://localhost:3000"
            assert dep.extra_headers["X-Title"] == "RIN - Rhyzomic Intelligence Node"
        else:
            assert dep.extra_headers == {}
    site = load_config(DEFAULT, env={**KEYS, "OPENROUTER_SITE_URL": "https://rin.example"})
    assert site.groups["openrouter/gpt-4o"][0].extra_headers["HTTP-Referer"] == "https://rin.example"
    # only the optional master key is reported
    assert [w for w in config.warnings if "LITELLM_MASTER_KEY" not in w] == []


def test_fallbacks_follow_the_guide_and_point_at_existing_groups() -> None:
    config = load_config(DEFAULT, env=KEYS)
    router = config.router
    assert router.fallbacks["gpt-4o"] == ["openrouter/gpt-4o", "openrouter/llama-3.1-405b"]
    assert router.fallbacks["claude-3-5-sonnet"] == ["openrouter/claude-3-5-sonnet", "gpt-4o"]
    for chains in (router.fallbacks, router.context_window_fallbacks):
        for source, targets in chains.items():
            assert source in config.groups
            assert targets and all(target in config.groups for target in targets)
    assert (router.routing_strategy, router.num_retries, router.timeout, router.allowed_fails,
            router.cooldown_time) == ("simple-shuffle", 2, 60.0, 3, 60.0)


def test_fallback_chains_never_loop() -> None:
    chains = load_config(DEFAULT, env=KEYS).router.fallbacks

    def reaches(start: str, seen: tuple[str, ...]) -> None:
        for target in chains.get(start, ()):
            assert target not in seen, f"fallback loop: {' -> '.join((*seen, target))}"
            reaches(target, (*seen, target))

    for source in chains:
        reaches(source, (source,))


def test_parameters_budget_and_prices() -> None:
    config = load_config(DEFAULT, env=KEYS)
    for dep in config.deployments:
        assert dep.defaults["temperature"] == 0.7 and dep.defaults["top_p"] == 1.0
        limit = dep.info.max_output_tokens
        assert 1 <= dep.defaults["max_tokens"] <= (limit or 2**31)
        assert dep.info.input_cost_per_token and dep.info.output_cost_per_token
        assert dep.info.price_source == "config"
        assert dep.info.supports_function_calling is not None and dep.info.supports_vision is not None
    general = config.general
    assert general.max_budget == Decimal("100") and general.budget_duration == "30d"
    assert general.enforce_budget is False
    # data_dir: ../.. puts the guide's ledger at <repo>/data/litellm/..., whatever the working directory
    assert general.data_dir == REPO
    assert general.database_url == f"sqlite:///{REPO}/data/litellm/litellm_cost_tracking.db"
    assert config.catalog.path == REPO / "data" / "openrouter" / "models.json"
    assert config.litellm.drop_params is True
    direct = [dep for dep in config.deployments if dep.provider != "openrouter"]
    for dep in direct:
        cost = general.model_cost[dep.model_name]
        assert cost.input_cost_per_token == dep.info.input_cost_per_token
        assert cost.output_cost_per_token == dep.info.output_cost_per_token
    assert general.model_cost["gpt-4o"].input_cost_per_token == Decimal("0.0000025")


def test_openrouter_entries_match_the_catalogue() -> None:
    if not CATALOGUE.exists():
        pytest.skip(f"OpenRouter catalogue fixture absent: {CATALOGUE}")
    models = {m["id"]: m for m in json.loads(CATALOGUE.read_text(encoding="utf-8"))["data"]}
    config = load_config(DEFAULT, env=KEYS)
    for dep in config.deployments:
        if dep.provider != "openrouter":
            continue
        assert dep.provider_model in models, f"{dep.model_name}: {dep.provider_model} is not a current model"
        pricing = models[dep.provider_model]["pricing"]
        assert dep.info.input_cost_per_token == Decimal(pricing["prompt"]), dep.model_name
        assert dep.info.output_cost_per_token == Decimal(pricing["completion"]), dep.model_name
        assert dep.info.context_length == models[dep.provider_model]["context_length"], dep.model_name


def test_the_commented_media_examples_load_with_their_modes_and_prices(tmp_path) -> None:
    text = DEFAULT.read_text()
    for prefix in ("model_name", "litellm_params", "model_info"):
        text = text.replace(f"  # - {prefix}", f"  - {prefix}").replace(f"  #   {prefix}", f"    {prefix}")
    path = tmp_path / "config.yaml"
    path.write_text(text)
    config = load_config(path, env={**KEYS, "COHERE_API_KEY": "co-test"})
    modes = {name: deps[0].info.mode for name, deps in config.groups.items()}
    assert modes["whisper-1"] == "audio_transcription" and modes["tts-1"] == "audio_speech"
    assert modes["gpt-image-1"] == "image_generation" and modes["rerank"] == modes["local-rerank"] == "rerank"
    assert config.groups["whisper-1"][0].info.input_cost_per_second == Decimal("0.0001")
    assert config.groups["tts-1"][0].info.input_cost_per_character == Decimal("0.000015")
    assert all(d.enabled for name in ("whisper-1", "tts-1", "gpt-image-1", "rerank", "local-rerank")
               for d in config.groups[name])
