"""cache_params read the LiteLLM way, from a real config file through the real loader."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from rin.cache import LocalCache, RedisCache, build_cache, cache_settings
from rin.config import ConfigError, load_config
from rin.config.resolved import LiteLLMSettings, RouterSettings
from rin.types import Secret

MODEL = "model_list:\n  - model_name: m\n    litellm_params: {model: openai/gpt-4o, api_key: sk-x}\n"


def settings(params: dict[str, Any] | None, router: RouterSettings | None = None) -> Any:
    return cache_settings(LiteLLMSettings(cache=True, cache_params=params or {}), router or RouterSettings())


def test_no_cache_unless_asked() -> None:
    assert cache_settings(LiteLLMSettings(cache=False, cache_params={"type": "redis"}), RouterSettings()) is None
    assert build_cache(LiteLLMSettings(), RouterSettings()) is None


def test_cache_true_alone_is_a_local_cache_with_defaults() -> None:
    cache = build_cache(LiteLLMSettings(cache=True), RouterSettings())
    assert cache is not None
    assert isinstance(cache.backend, LocalCache)
    assert (cache.ttl, cache.namespace, cache.default_on) == (600.0, None, True)
    assert cache.backend.max_bytes == 64 * 1024 * 1024


def test_a_redis_cache_from_a_real_config_file(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(MODEL + (
        "litellm_settings:\n  cache: true\n  cache_params:\n    type: redis\n    host: os.environ/CACHE_HOST\n"
        "    port: '6380'\n    password: os.environ/CACHE_PASSWORD\n    ttl: 120\n    namespace: rin-prod\n"
        "    max_size_bytes: 1048576\n"))
    config = load_config(path, env={"CACHE_HOST": "10.0.0.5", "CACHE_PASSWORD": "pw-from-env"})
    got = cache_settings(config.litellm, config.router)
    assert got is not None
    assert (got.type, got.host, got.port, got.ttl, got.namespace, got.max_bytes) == (
        "redis", "10.0.0.5", 6380, 120.0, "rin-prod", 1048576)
    assert got.password == Secret("pw-from-env")
    assert "pw-from-env" not in repr(got)
    cache = build_cache(config.litellm, config.router)
    assert cache is not None and isinstance(cache.backend, RedisCache)
    assert cache.backend.where == "10.0.0.5:6380"
    assert isinstance(cache.backend.fallback, LocalCache) and cache.backend.fallback.max_bytes == 1048576


def test_redis_connection_comes_from_router_settings_when_cache_params_lack_it() -> None:
    router = RouterSettings(redis_host="redis.internal", redis_port=6390, redis_password=Secret("router-pw"))
    got = settings({"type": "redis"}, router)
    assert (got.host, got.port, got.password) == ("redis.internal", 6390, Secret("router-pw"))
    own = settings({"type": "redis", "host": "cache.internal", "password": "own-pw"}, router)
    assert (own.host, own.port, own.password) == ("cache.internal", 6390, Secret("own-pw"))


def test_mode_default_off_is_read() -> None:
    assert settings({"mode": "default_off"}).default_on is False


def test_keys_rin_does_not_use_are_named_once_without_values(caplog: pytest.LogCaptureFixture) -> None:
    params = {"supported_call_types": ["acompletion"], "default_in_memory_ttl": 5, "ttl": 30}
    with caplog.at_level(logging.WARNING, logger="rin.cache"):
        build_cache(LiteLLMSettings(cache=True, cache_params=params), RouterSettings())
    lines = [r.getMessage() for r in caplog.records if r.name == "rin.cache"]
    assert lines == ["cache: cache_params keys RIN does not use: default_in_memory_ttl, supported_call_types"]


@pytest.mark.parametrize(("params", "named"), [
    ({"type": "s3"}, "cache_params.type"),
    ({"type": "memcached"}, "cache_params.type"),
    ({"type": "redis"}, "router_settings.redis_host"),
    ({"type": "redis", "host": "h", "port": "six"}, "cache_params.port"),
    ({"type": "redis", "url": "redis://:pw@h:6379"}, "host, port and password"),
    ({"ttl": 0}, "cache_params.ttl"),
    ({"ttl": "soon"}, "cache_params.ttl"),
    ({"max_size_bytes": -1}, "cache_params.max_size_bytes"),
    ({"namespace": "a b"}, "cache_params.namespace"),
    ({"mode": "sometimes"}, "cache_params.mode"),
])
def test_unusable_values_are_config_errors_naming_the_key(params: dict[str, Any], named: str) -> None:
    with pytest.raises(ConfigError) as info:
        settings(params)
    assert named in str(info.value)
    assert "pw" not in str(info.value)
