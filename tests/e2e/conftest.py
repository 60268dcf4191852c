from __future__ import annotations

from typing import Any

import pytest

from tests.gateway import Gateway

KEYS = {
    "OPENAI_API_KEY": "sk-canary-openai-7f3a",
    "ANTHROPIC_API_KEY": "sk-ant-canary-91bc",
    "OPENROUTER_API_KEY": "sk-or-canary-5d2e",
}


def deployment(name: str, model: str, base: str, key_var: str | None = "OPENAI_API_KEY", **extra: Any) -> dict:
    params: dict[str, Any] = {"model": model, "api_base": base}
    if key_var:
        params["api_key"] = f"os.environ/{key_var}"
    info = extra.pop("model_info", None)
    params.update(extra)
    entry: dict[str, Any] = {"model_name": name, "litellm_params": params}
    if info:
        entry["model_info"] = info
    return entry


def core_config(fake: Any) -> dict[str, Any]:
    o, a, r = fake.openai_base, fake.anthropic_base, fake.openrouter_base
    return {
        "model_list": [
            deployment("gpt-4o", "openai/gpt-4o", o, temperature=0.3, model_info={
                "supports_vision": True, "supports_function_calling": True,
                "max_input_tokens": 128000, "max_output_tokens": 16384,
                "input_cost_per_token": 0.0000025, "output_cost_per_token": 0.00001}),
            deployment("gpt-tool", "openai/gpt-tool", o),
            deployment("embed", "openai/text-embedding-3-small", o),
            deployment("claude", "anthropic/claude-sonnet-4-5", a, "ANTHROPIC_API_KEY", max_tokens=1024),
            deployment("claude-tool", "anthropic/claude-tool", a, "ANTHROPIC_API_KEY"),
            deployment("or-gpt", "openrouter/openai/gpt-4o", r, "OPENROUTER_API_KEY"),
            deployment("or-error-stream", "openrouter/error-in-stream", r, "OPENROUTER_API_KEY"),
            deployment("broken", "openai/fail-500", o),
            deployment("unauthorized", "openai/fail-401", o),
            deployment("cut", "openai/cut-mid", o),
            deployment("garbage", "openai/garbage", o),
            deployment("needs-key", "openai/gpt-4o", o, "RIN_TEST_UNSET_KEY"),
        ],
        "router_settings": {"num_retries": 0, "timeout": 10, "allowed_fails": 1000},
    }


@pytest.fixture(scope="session")
def core_gateway(fake, tmp_path_factory):
    with Gateway(core_config(fake), tmp_path_factory.mktemp("core"), env=KEYS) as gw:
        yield gw


@pytest.fixture
def upstream(fake):
    fake.reset()
    return fake
