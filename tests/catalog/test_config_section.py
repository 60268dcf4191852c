"""The `catalog:` config section and the OpenRouter access resolved at load time."""

from __future__ import annotations

from decimal import Decimal as D
from pathlib import Path

import pytest

from rin.config import ConfigError
from rin.providers.openrouter import DEFAULT_APP_NAME
from rin.types import Secret
from tests.catalog.support import config_from


def test_defaults_without_a_catalog_section(tmp_path: Path) -> None:
    config = config_from(tmp_path, "model_list: []\n")
    settings = config.catalog
    assert settings.enabled and settings.sync_on_startup and settings.expose
    assert settings.path == tmp_path / "data" / "openrouter" / "models.json"  # under the config's folder
    assert settings.sync_interval is None
    assert (settings.include, settings.exclude, settings.free_only) == ((), (), False)
    assert (settings.max_prompt_price, settings.max_completion_price, settings.min_context) == (None, None, None)


def test_every_key_is_read(tmp_path: Path) -> None:
    config = config_from(tmp_path, """\
catalog:
  enabled: true
  path: /var/lib/rin/models.json
  sync_on_startup: false
  sync_interval: 6h
  expose: false
  include: ["anthropic/*", "openai/gpt-4o*"]
  exclude: "*:free"
  free_only: false
  max_prompt_price: 3
  max_completion_price: 15.5
  min_context: 32000
""")
    settings = config.catalog
    assert settings.path == Path("/var/lib/rin/models.json")
    assert (settings.sync_on_startup, settings.expose, settings.sync_interval) == (False, False, 21600.0)
    assert settings.include == ("anthropic/*", "openai/gpt-4o*")
    assert settings.exclude == ("*:free",)
    assert (settings.max_prompt_price, settings.max_completion_price) == (D("3"), D("15.5"))
    assert settings.min_context == 32000
    assert not config.warnings


@pytest.mark.parametrize(("body", "expected"), [
    ("  sync_interval: often\n", "catalog.sync_interval: 'often' is not a duration"),
    ("  sync_interval: 30s\n", "catalog.sync_interval: '30s' is too short: sync at most once a minute"),
    ("  max_prompt_price: -1\n", "catalog.max_prompt_price: -1 must be a number of 0 or more (USD)"),
    ("  max_completion_price: cheap\n", "catalog.max_completion_price: 'cheap' is not a number"),
    ("  min_context: 0\n", "catalog.min_context: 0 is too small, must be 1 or more"),
    ("  expose: sometimes\n", "catalog.expose: 'sometimes' is not true or false"),
    ("  include: [\"\"]\n", "catalog.include[0]: '' is empty, must be a non-empty string"),
    ("  exclude: {a: b}\n", "catalog.exclude: a mapping is not a list"),
])
def test_invalid_values_are_errors_with_file_and_line(tmp_path: Path, body: str, expected: str) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("model_list: []\ncatalog:\n" + body, encoding="utf-8")
    from rin.config import load_config

    with pytest.raises(ConfigError) as caught:
        load_config(path, env={})
    assert caught.value.errors[0].startswith(f"{path}:3: {expected}"), caught.value.errors


def test_unknown_key_warns_with_the_nearest_known_one(tmp_path: Path) -> None:
    config = config_from(tmp_path, "catalog:\n  min_contxt: 8000\n")
    assert any("catalog.min_contxt: unknown key, did you mean 'min_context'?" in w for w in config.warnings)
    assert config.catalog.min_context is None


def test_catalog_must_be_a_mapping(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="catalog: must be a mapping of settings"):
        config_from(tmp_path, "catalog: yes\n")


def test_openrouter_access_comes_from_the_environment(tmp_path: Path) -> None:
    env = {"OPENROUTER_API_KEY": "sk-or-test", "OPENROUTER_API_BASE": "http://127.0.0.1:9/api/v1/",
           "OPENROUTER_APP_NAME": "My Node"}
    access = config_from(tmp_path, "model_list: []\n", env).openrouter
    assert access.api_base == "http://127.0.0.1:9/api/v1"
    assert access.api_key == Secret("sk-or-test")
    assert access.headers["X-Title"] == "My Node" and access.headers["HTTP-Referer"] == "http://localhost:3000"
    assert "sk-or-test" not in repr(access)


def test_openrouter_access_defaults(tmp_path: Path) -> None:
    access = config_from(tmp_path, "model_list: []\n").openrouter
    assert (access.api_base, access.api_key) == ("https://openrouter.ai/api/v1", None)
    assert access.headers["X-Title"] == DEFAULT_APP_NAME


def test_catalog_values_may_come_from_the_environment(tmp_path: Path) -> None:
    config = config_from(tmp_path, "catalog:\n  path: os.environ/RIN_CATALOG\n  min_context: os.environ/UNSET\n",
                         {"RIN_CATALOG": "/tmp/cat.json"})
    assert config.catalog.path == Path("/tmp/cat.json")
    assert any("UNSET is not set; treated as not configured" in w for w in config.warnings)
