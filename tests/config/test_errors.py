"""Invalid values are fatal and say FILE:LINE: key.path: what is wrong; unknown keys only warn."""

from __future__ import annotations

from pathlib import Path

import pytest

from rin.config import ConfigError, load_config

MODEL = """\
model_list:
  - model_name: gpt-4o
    litellm_params:
      model: openai/gpt-4o
"""


def write(tmp_path: Path, text: str, name: str = "config.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def errors_of(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_config(path, env={"OPENAI_API_KEY": "sk-test"})
    return caught.value.errors


@pytest.mark.parametrize(("extra", "line", "expected"), [
    ("      temperature: 3.0\n", 5,
     "model_list[0].litellm_params.temperature: 3.0 is out of range, must be between 0 and 2"),
    ("      top_p: 1.5\n", 5, "model_list[0].litellm_params.top_p: 1.5 is out of range, must be between 0 and 1"),
    ("      max_tokens: 0\n", 5, "model_list[0].litellm_params.max_tokens: 0 is too small, must be 1 or more"),
    ("      max_tokens: 10.5\n", 5, "model_list[0].litellm_params.max_tokens: 10.5 is not a whole number"),
    ("      temperature: hot\n", 5, "model_list[0].litellm_params.temperature: 'hot' is not a number"),
    ("      timeout: 0\n", 5, "model_list[0].litellm_params.timeout: 0 must be greater than 0"),
    ("      max_budget: -1\n", 5, "model_list[0].litellm_params.max_budget: -1 must be a number of 0 or more"),
    ("      budget_duration: 30 days\n", 5,
     "model_list[0].litellm_params.budget_duration: '30 days' is not a duration: use a whole number followed by "
     "s, m, h, d, w or mo"),
    ("router_settings:\n  num_retries: -1\n", 6, "router_settings.num_retries: -1 is too small, must be 0 or more"),
    ("router_settings:\n  allowed_fails: -2\n", 6, "router_settings.allowed_fails: -2 is too small"),
    ("router_settings:\n  cooldown_time: -5\n", 6, "router_settings.cooldown_time: -5 is too small"),
    ("router_settings:\n  timeout: 0\n", 6, "router_settings.timeout: 0 must be greater than 0"),
    ("router_settings:\n  routing_strategy: round-robin\n", 6,
     "router_settings.routing_strategy: 'round-robin' is not a routing strategy, must be one of: simple-shuffle, "
     "least-busy, latency-based-routing, usage-based-routing, usage-based-routing-v2, cost-based-routing"),
    ("router_settings:\n  fallbacks: gpt-4o\n", 6,
     "router_settings.fallbacks: must be a list of {model_name: [fallback, ...]} mappings"),
    ("router_settings:\n  fallbacks:\n    - gpt-4o\n", 7, "router_settings.fallbacks[0]: must be a one-key mapping"),
    ("general_settings:\n  budget_duration: monthly\n", 6, "general_settings.budget_duration: 'monthly' is not a duration"),
    ("general_settings:\n  max_budget: lots\n", 6, "general_settings.max_budget: 'lots' is not a number"),
    ("litellm_settings:\n  num_retries: many\n", 6, "litellm_settings.num_retries: 'many' is not a whole number"),
    ("general_settings:\n  proxy_batch_write_at: -1\n", 6,
     "general_settings.proxy_batch_write_at: -1 is too small, must be 0 or more"),
])
def test_invalid_value_names_file_line_key_and_rule(tmp_path: Path, extra: str, line: int, expected: str) -> None:
    path = write(tmp_path, MODEL + extra)
    errors = errors_of(path)
    assert any(e.startswith(f"{path}:{line}: {expected}") for e in errors), errors


def test_model_name_and_model_are_required(tmp_path: Path) -> None:
    path = write(tmp_path, """\
model_list:
  - model_name: ""
    litellm_params:
      model: openai/gpt-4o
  - model_name: other
    litellm_params:
      temperature: 0.5
""")
    errors = errors_of(path)
    assert f"{path}:2: model_list[0].model_name: '' is empty, must be a non-empty string" in errors
    assert f"{path}:6: model_list[1].litellm_params.model: is required but missing" in errors


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    path = write(tmp_path, MODEL + "      temperature: 5\nrouter_settings:\n  num_retries: -1\n")
    errors = errors_of(path)
    assert len(errors) == 2
    assert str(ConfigError(errors)).count(str(path)) == 2


def test_fallback_to_unknown_target_warns_with_nearest_name_and_drops_it(tmp_path: Path) -> None:
    path = write(tmp_path, MODEL + """\
  - model_name: claude-3-5-sonnet
    litellm_params:
      model: anthropic/claude-sonnet-4-6
router_settings:
  fallbacks: {gpt-4o: [claude-3-5-sonet, claude-3-5-sonnet]}
""")
    config = load_config(path, env={})
    assert config.router.fallbacks == {"gpt-4o": ["claude-3-5-sonnet"]}
    warning = next(w for w in config.warnings if "claude-3-5-sonet'" in w)
    assert warning.startswith(f"{path}:9: router_settings.fallbacks.gpt-4o[0]: fallback target 'claude-3-5-sonet'")
    assert "nearest: 'claude-3-5-sonnet'" in warning


@pytest.mark.parametrize(("text", "line"), [
    ("model_list:\n  - model_name: a\n    litellm_params: {model: [unclosed\n", 4),
    ("model_list:\n  - model_name: a\n   bad_indent: 1\n", 3),
    ("model_list:\n  - model_name: a\n\tlitellm_params: {}\n", 3),
])
def test_yaml_syntax_error_names_file_and_line(tmp_path: Path, text: str, line: int) -> None:
    path = write(tmp_path, text)
    errors = errors_of(path)
    assert len(errors) == 1 and errors[0].startswith(f"{path}:{line}: YAML syntax error")


def test_python_tags_are_rejected(tmp_path: Path) -> None:
    path = write(tmp_path, "model_list: !!python/object/apply:os.system ['echo pwned']\n")
    [error] = errors_of(path)
    assert error.startswith(f"{path}:1: YAML syntax error") and "python/object/apply" in error


def test_missing_file_and_non_mapping_top_level(tmp_path: Path) -> None:
    assert errors_of(tmp_path / "nope.yaml") == [f"{tmp_path / 'nope.yaml'}: config file not found"]
    [error] = errors_of(write(tmp_path, "- just\n- a list\n"))
    assert "the top level must be a mapping" in error


def test_unknown_keys_warn_with_the_nearest_known_key(tmp_path: Path) -> None:
    path = write(tmp_path, """\
model_lst: []
model_list:
  - model_name: gpt-4o
    litellm_parms: {}
    litellm_params:
      model: openai/gpt-4o
      api_bse: https://example.test
      reasoning_effort: low
      seed: 7
      temprature: 0.2
    model_info:
      tags: [fast]
      popularity_score: 80
router_settings:
  routing_stratgy: least-busy
  enable_pre_call_checks: true
general_settings:
  store_model_in_db: true
  max_budgt: 5
litellm_settings:
  success_callback: [langfuse]
""")
    config = load_config(path, env={"OPENAI_API_KEY": "sk-test"})
    unknown = [w for w in config.warnings if "unknown key" in w]
    assert f"{path}:1: model_lst: unknown key, did you mean 'model_list'? (ignored)" in unknown
    assert f"{path}:4: model_list[0].litellm_parms: unknown key, did you mean 'litellm_params'? (ignored)" in unknown
    assert any(w.startswith(f"{path}:7: model_list[0].litellm_params.api_bse: unknown key, did you mean 'api_base'?")
               for w in unknown)
    assert any(w.startswith(f"{path}:10: model_list[0].litellm_params.temprature: unknown key, did you mean "
                            "'temperature'?") for w in unknown)  # a misspelt request default, too
    assert f"{path}:15: router_settings.routing_stratgy: unknown key, did you mean 'routing_strategy'? (ignored)" in unknown
    assert f"{path}:19: general_settings.max_budgt: unknown key, did you mean 'max_budget'? (ignored)" in unknown
    assert len(unknown) == 6  # request defaults, model_info metadata and LiteLLM-only settings are not "unknown"
    dep = config.deployments[0]
    assert dep.defaults == {"api_bse": "https://example.test", "reasoning_effort": "low", "seed": 7,
                            "temprature": 0.2}
    ignored = [w for w in config.warnings if "ignores" in w]
    assert any("store_model_in_db" in w for w in ignored)
    # success_callback is read now (rin.config.telemetry): langfuse without its keys says so
    assert any("LANGFUSE_PUBLIC_KEY and LANGFUSE_SECRET_KEY are not set" in w for w in config.warnings)


def test_anchors_and_merge_keys_work_and_errors_point_into_the_merged_mapping(tmp_path: Path) -> None:
    text = """\
x-defaults: &defaults
  temperature: 0.3
  api_key: os.environ/OPENAI_API_KEY
model_list:
  - model_name: a
    litellm_params:
      <<: *defaults
      model: openai/gpt-4o
"""
    dep = load_config(write(tmp_path, text), env={"OPENAI_API_KEY": "sk-test"}).deployments[0]
    assert dep.enabled and dep.defaults == {"temperature": 0.3}
    path = write(tmp_path, text + "      top_p: 3\n")
    assert errors_of(path) == [f"{path}:9: model_list[0].litellm_params.top_p: 3 is out of range, "
                               "must be between 0 and 1"]


def test_proxy_batch_write_at_sets_the_ledger_flush_interval(tmp_path: Path) -> None:
    default = load_config(write(tmp_path, MODEL), env={"OPENAI_API_KEY": "sk-test"})
    tuned = load_config(write(tmp_path, MODEL + "general_settings:\n  proxy_batch_write_at: 2\n", "b.yaml"),
                        env={"OPENAI_API_KEY": "sk-test"})
    assert default.general.proxy_batch_write_at == 0.25
    assert tuned.general.proxy_batch_write_at == 2.0
    assert not any("proxy_batch_write_at" in w for w in tuned.warnings)  # implemented, not "ignored"
