"""`include:`: files relative to the includer, model_list appended, other sections merged."""

from __future__ import annotations

from pathlib import Path

import pytest

from rin.config import ConfigError, load_config

DATA = Path(__file__).resolve().parent / "data"


def test_included_models_are_appended_and_the_including_file_wins() -> None:
    config = load_config(DATA / "include" / "main.yaml", env={"OPENAI_API_KEY": "a", "ANTHROPIC_API_KEY": "b",
                                                              "OPENROUTER_API_KEY": "c"})
    assert [d.model_name for d in config.deployments] == ["main-model", "included-model", "nested-model"]
    assert config.router.num_retries == 5          # main.yaml wins
    assert config.router.cooldown_time == 42.0     # only in the included file
    assert config.router.fallbacks == {"main-model": ["included-model"]}
    assert config.general.max_budget is not None and config.general.budget_duration == "7d"
    assert config.groups["nested-model"][0].defaults == {"temperature": 0.2}


def test_errors_in_an_included_file_name_that_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "main.yaml").write_text("include: [sub/models.yaml]\nmodel_list: []\n", encoding="utf-8")
    (tmp_path / "sub" / "models.yaml").write_text(
        "model_list:\n  - model_name: m\n    litellm_params:\n      model: openai/gpt-4o\n      top_p: 2\n",
        encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path / "main.yaml", env={})
    assert caught.value.errors == [
        f"{tmp_path / 'sub' / 'models.yaml'}:5: model_list[0].litellm_params.top_p: 2 is out of range, "
        "must be between 0 and 1"
    ]


def test_include_cycle_is_an_error_naming_the_file() -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(DATA / "cycle" / "a.yaml", env={})
    [error] = caught.value.errors
    assert error.startswith(f"{DATA / 'cycle' / 'b.yaml'}:2: include[0]:") and "a.yaml" in error
    assert "cycle" in error


def test_missing_include_is_an_error_naming_the_file(tmp_path: Path) -> None:
    (tmp_path / "main.yaml").write_text("model_list: []\ninclude:\n  - models/extra.yaml\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path / "main.yaml", env={})
    [error] = caught.value.errors
    assert error.startswith(f"{tmp_path / 'main.yaml'}:3: include[0]: included file 'models/extra.yaml' not found")


def test_a_key_given_twice_is_a_warning_naming_both_lines(tmp_path: Path) -> None:
    """YAML keeps the last of two equal keys without a word (LiteLLM too, so it is not an error):
    a budget written twice, or a section written twice, is named with both lines, in included
    files too."""
    (tmp_path / "main.yaml").write_text(
        "include: [more.yaml]\n"
        "model_list:\n  - model_name: m\n    litellm_params: {model: openai/gpt-4o, api_key: sk-x}\n"
        "general_settings:\n  max_budget: 10\n  enforce_budget: true\n  max_budget: 1000\n"
        "router_settings: {num_retries: 1}\nrouter_settings: {timeout: 5}\n", encoding="utf-8")
    (tmp_path / "more.yaml").write_text("litellm_settings:\n  drop_params: true\n  drop_params: false\n",
                                        encoding="utf-8")
    config = load_config(tmp_path / "main.yaml", env={})
    assert config.general.max_budget == 1000  # as YAML (and LiteLLM) read it
    twice = [w for w in config.warnings if "is given twice" in w]
    assert twice == [
        f"{tmp_path / 'main.yaml'}:8: 'general_settings.max_budget' is given twice (also at line 6); YAML keeps "
        "only this one, so line 6's is ignored: remove one of them",
        f"{tmp_path / 'main.yaml'}:10: 'router_settings' is given twice (also at line 9); YAML keeps only this "
        "one, so line 9's is ignored: remove one of them",
        f"{tmp_path / 'more.yaml'}:3: 'litellm_settings.drop_params' is given twice (also at line 2); YAML keeps "
        "only this one, so line 2's is ignored: remove one of them",
    ]
