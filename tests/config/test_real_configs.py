"""Three real LiteLLM proxy configs from public repositories load unchanged (../shared/fixtures)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from rin.config import Config, load_config

FIXTURES = Path(__file__).resolve().parents[2] / ".." / "shared" / "fixtures" / "configs"


def fixture(name: str) -> Path:
    path = FIXTURES / name
    if not path.exists():
        pytest.skip(f"real-world fixture {path} is absent (../shared/fixtures)")
    return path


def load_with_every_variable(path: Path, **settings: str) -> Config:
    """Set each variable the models wait for (placeholders) until nothing is missing."""
    env: dict[str, str] = dict(settings)
    config = load_config(path, env=env)
    while config.missing_env:
        env.update({name: f"placeholder-{name.lower()}" for name in config.missing_env})
        config = load_config(path, env=env)
    return config


@pytest.mark.parametrize(("name", "deployments", "groups"), [
    ("abbiirr_unified_llm_api.yaml", 306, None),
    ("d0wn10ad_ai_gateway.yaml", 16, 14),
    ("radkisson_magi.yaml", 54, 54),
])
def test_loads_unchanged(name: str, deployments: int, groups: int | None) -> None:
    bare = load_config(fixture(name), env={})
    assert len(bare.deployments) == deployments
    assert not any(dep.enabled for dep in bare.deployments)
    full = load_with_every_variable(fixture(name))
    assert len(full.deployments) == deployments
    if groups is not None:
        assert len(full.groups) == groups
    assert all(dep.enabled for dep in full.deployments)


def test_abbiirr_load_balancing_groups_and_litellm_settings_fallbacks() -> None:
    config = load_with_every_variable(fixture("abbiirr_unified_llm_api.yaml"))
    cloudflare = [dep for dep in config.deployments if dep.provider == "cloudflare"]
    assert len(cloudflare) == 15 and all(dep.enabled for dep in cloudflare)
    assert cloudflare[0].api_base == ("https://api.cloudflare.com/client/v4/accounts/"
                                      "placeholder-cloudflare_account_id/ai/v1")
    fast = config.groups["fast"]
    assert len(fast) > 1 and fast[0].order == 0 and fast[0].cooldown_time == 60.0
    assert config.router.routing_strategy == "latency-based-routing"
    assert (config.router.timeout, config.router.stream_timeout, config.router.allowed_fails) == (12.0, 90.0, 2)
    # fallbacks written under litellm_settings reach the router
    assert config.router.fallbacks["thinking"] == ["thinking_cloud"]
    assert config.router.context_window_fallbacks["tools"] == ["tools_large"]
    assert config.router.retry_policy["RateLimitErrorRetries"] == 2
    # LiteLLM names this key ContentPolicyViolationErrorRetries: the typo is reported, not fatal
    assert any("ContentPolicyViolationRetries" in w and "ContentPolicyViolationErrorRetries" in w
               for w in config.warnings)
    ollama = next(dep for dep in config.deployments if dep.provider in ("ollama", "ollama_chat"))
    assert ollama.api_key is None and ollama.api_base.startswith("placeholder-")


def test_d0wn10ad_request_defaults_budgets_and_redis() -> None:
    config = load_with_every_variable(fixture("d0wn10ad_ai_gateway.yaml"),
                                      DATABASE_URL="postgresql://litellm@db/litellm")
    thinking = config.groups["claude-sonnet-4-6-thinking"][0]
    assert thinking.defaults == {"thinking": {"type": "adaptive"}}
    assert config.groups["chatgpt-5.4-thinking"][0].defaults == {"reasoning_effort": "medium"}
    assert len(config.groups["gemini-3.1-pro-preview"]) == 2
    assert config.groups["gpt-image-1.5"][0].info.mode == "image_generation"
    general = config.general
    assert general.user_header_name == "x-openwebui-user-email"
    assert general.max_end_user_budget == Decimal("5.0") and general.budget_duration == "7d"
    assert general.database_url == "postgresql://litellm@db/litellm"
    assert config.litellm.cache is True and config.litellm.cache_params["ttl"] == 3600
    assert (config.router.redis_host, config.router.redis_port) == ("redis", 6379)
    assert config.router.timeout == 300.0  # router_settings wins over litellm_settings.request_timeout
    assert not [w for w in config.warnings if "unknown key" in w]


def test_radkisson_headers_stale_fallbacks_and_misplaced_cache() -> None:
    path = fixture("radkisson_magi.yaml")
    keys = {"OPENAI_API_KEY": "k1", "ANTHROPIC_API_KEY": "k2", "OPENROUTER_API_KEY": "k3"}
    without_site = load_config(path, env=keys)
    routed = [dep for dep in without_site.deployments if dep.provider == "openrouter"]
    assert routed and all(dep.disabled_reason == "OPENROUTER_SITE_URL is not set" for dep in routed)
    config = load_config(path, env={**keys, "OPENROUTER_SITE_URL": "https://rin.example",
                                    "OPENROUTER_APP_NAME": "RIN"})
    dep = config.groups["openrouter/openai-gpt-5.2"][0]
    assert dep.enabled
    assert (dep.extra_headers["HTTP-Referer"], dep.extra_headers["X-Title"]) == ("https://rin.example", "RIN")
    assert dep.defaults == {"temperature": 0.7, "max_tokens": 8192, "top_p": 1.0}
    # fallback targets that name no model_name are dropped with a warning naming the nearest one
    assert config.router.fallbacks["gpt-4o"] == ["openrouter/openai-gpt-4o", "claude-3-5-sonnet"]
    stale = [w for w in config.warnings if "openrouter/anthropic-claude-3-5-sonnet-20241022" in w]
    assert stale and "radkisson_magi.yaml:1190:" in stale[0] and "nearest:" in stale[0]
    assert any("general_settings.cache" in w and "litellm_settings" in w for w in config.warnings)
