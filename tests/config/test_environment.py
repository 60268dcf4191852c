"""`os.environ/VAR`, `environment_variables`, disabled deployments, and secrets kept out of messages."""

from __future__ import annotations

import os
from decimal import Decimal
from pathlib import Path

import pytest

from rin.config import ConfigError, load_config

DATA = Path(__file__).resolve().parent / "data"
CANARY = "canary-7f3a9e-do-not-print"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_references_in_api_base_and_extra_headers_are_resolved() -> None:
    env = {"GATEWAY_BASE": "https://gateway.example/v1/", "TRACE_TOKEN": "t-1", "HOSTED_VLLM_API_BASE": "http://gpu:8000/v1"}
    config = load_config(DATA / "env_refs.yaml", env=env)
    dep = config.groups["with-headers"][0]
    assert dep.enabled
    assert dep.api_base == "https://gateway.example/v1"
    assert dep.extra_headers == {"X-Team": "research", "X-Trace": "t-1"}
    # the key came from environment_variables, the file's own fallback for unset variables
    assert dep.api_key is not None and dep.api_key.get() == "sk-from-config"
    local = config.groups["local"][0]
    assert local.enabled and local.api_base == "http://gpu:8000/v1" and local.api_key is None
    plain = config.groups["plain"][0]
    assert (plain.provider, plain.provider_model, plain.api_base) == ("openai", "gpt-4o-mini", "https://proxy.example/v1")


def test_unset_variables_disable_the_deployment_with_a_reason() -> None:
    config = load_config(DATA / "env_refs.yaml", env={"GATEWAY_BASE": "https://gateway.example"})
    reasons = {dep.model_name: dep.disabled_reason for dep in config.deployments}
    assert reasons["with-headers"] == "TRACE_TOKEN is not set"
    assert reasons["local"] is not None and "api_base" in reasons["local"] and "HOSTED_VLLM_API_BASE" in reasons["local"]
    assert reasons["cloud-only"] == "provider 'sagemaker' is not supported by RIN"
    assert reasons["plain"] is None
    assert config.missing_env == ["TRACE_TOKEN"]
    assert any("'with-headers'" in w and "TRACE_TOKEN is not set" in w for w in config.warnings)
    # settings whose variable is unset count as not configured, with a warning naming the variable
    assert config.general.master_key is None and config.router.redis_host is None
    assert "password" not in config.litellm.cache_params
    assert any("general_settings.master_key: RIN_TEST_MASTER_KEY is not set" in w for w in config.warnings)


def test_environment_variables_never_override_the_environment_or_touch_os_environ() -> None:
    before = dict(os.environ)
    config = load_config(DATA / "env_refs.yaml", env={"OPENAI_API_KEY": "sk-real", "TEAM_HEADER": "ops",
                                                      "GATEWAY_BASE": "https://g", "TRACE_TOKEN": "t"})
    dep = config.groups["with-headers"][0]
    assert dep.api_key is not None and dep.api_key.get() == "sk-real"
    assert dep.extra_headers["X-Team"] == "ops"
    assert dict(os.environ) == before


def test_env_defaults_to_the_process_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, "model_list:\n  - model_name: m\n    litellm_params: {model: groq/llama-3.1-8b-instant}\n")
    monkeypatch.delenv("GROQ_API_KEY", raising=False)
    assert load_config(path).deployments[0].disabled_reason == "GROQ_API_KEY is not set"
    monkeypatch.setenv("GROQ_API_KEY", "gsk-test")
    monkeypatch.setenv("GROQ_API_BASE", "http://groq.local/v1")
    dep = load_config(path).deployments[0]
    assert dep.enabled and dep.api_base == "http://groq.local/v1"


def test_litellm_params_split_into_typed_fields_defaults_and_prices(tmp_path: Path) -> None:
    path = write(tmp_path, """\
model_list:
  - model_name: tuned
    litellm_params:
      model: anthropic/claude-sonnet-4-6
      api_key: literal-key
      temperature: 0.2
      thinking: {type: enabled, budget_tokens: 2048}
      timeout: 30
      rpm: 60
      weight: 2
      order: 1
      max_budget: 12.5
      budget_duration: 1mo
      drop_params: true
      tags: [prod]
      input_cost_per_token: 0.000003
    model_info:
      id: sonnet-primary
      context_window: 200000
      max_tokens: 64000
      output_cost_per_token: 0.000015
      input_cost_per_token: 0.1
      supports_vision: true
      display_name: Sonnet
""")
    dep = load_config(path, env={}).deployments[0]
    assert dep.id == "sonnet-primary" and dep.enabled and dep.api_key is not None
    assert dep.defaults == {"temperature": 0.2, "thinking": {"type": "enabled", "budget_tokens": 2048}}
    assert (dep.timeout, dep.rpm, dep.weight, dep.order) == (30.0, 60, 2.0, 1)
    assert (dep.max_budget, dep.budget_duration, dep.drop_params) == (Decimal("12.5"), "1mo", True)
    info = dep.info
    assert (info.context_length, info.max_output_tokens, info.display_name) == (200000, 64000, "Sonnet")
    # litellm_params prices win over model_info's; money is exact Decimal
    assert info.input_cost_per_token == Decimal("0.000003") and info.output_cost_per_token == Decimal("0.000015")
    assert info.price_source == "config" and info.supports_vision is True


def test_generated_ids_are_stable_and_duplicates_are_rejected(tmp_path: Path) -> None:
    text = "model_list:\n" + "  - model_name: m\n    litellm_params: {model: openai/gpt-4o}\n" * 2
    first = [d.id for d in load_config(write(tmp_path, text), env={}).deployments]
    again = [d.id for d in load_config(write(tmp_path, text), env={"OPENAI_API_KEY": "x"}).deployments]
    assert first == again and len(set(first)) == 2 and all(len(i) == 12 for i in first)
    dup = "model_list:\n" + "  - model_name: m\n    litellm_params: {model: openai/gpt-4o}\n    model_info: {id: a}\n" * 2
    with pytest.raises(ConfigError, match=r"config.yaml:7: model_list\[1\].model_info.id: 'a' is already the id"):
        load_config(write(tmp_path, dup), env={})


def test_secrets_never_appear_in_warnings_errors_or_repr(tmp_path: Path) -> None:
    path = write(tmp_path, f"""\
model_list:
  - model_name: m
    litellm_params:
      model: openai/gpt-4o
      api_key: os.environ/SECRET_KEY
      extra_headers: {{Authorization: "Bearer {CANARY}"}}
  - model_name: waiting
    litellm_params:
      model: openrouter/openai/gpt-4o
      extra_headers: {{X-Token: os.environ/UNSET_TOKEN}}
router_settings:
  redis_password: {CANARY}
general_settings:
  master_key: {CANARY}
  database_url: postgresql://rin:{CANARY}@db/rin
  alert_webhook_url: https://hooks.example/{CANARY}
litellm_settings:
  cache_params: {{type: redis, password: os.environ/SECRET_KEY}}
""")
    config = load_config(path, env={"SECRET_KEY": CANARY})
    assert config.general.master_key is not None and config.general.master_key.get() == CANARY
    assert config.litellm.cache_params["password"] == CANARY
    assert config.deployments[0].extra_headers["Authorization"] == f"Bearer {CANARY}"
    shown = repr(config) + str(config) + "\n".join(config.warnings)
    assert CANARY not in shown and "UNSET_TOKEN" in shown


@pytest.mark.parametrize("bad", [
    "router_settings:\n  timeout: os.environ/SECRET_KEY\n",
    "general_settings:\n  master_key: [os.environ/SECRET_KEY]\n",
    "model_list:\n  - model_name: m\n    litellm_params: {model: openai/x, extra_headers: {A: [os.environ/SECRET_KEY]}}\n",
    "environment_variables:\n  X: [os.environ/SECRET_KEY]\n",
])
def test_secrets_never_appear_in_errors(tmp_path: Path, bad: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, bad), env={"SECRET_KEY": CANARY})
    assert CANARY not in str(caught.value) and str(tmp_path) in str(caught.value)
