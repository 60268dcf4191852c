"""The config package's public surface, pinned."""

from __future__ import annotations

import inspect

import rin.config
from rin.config import ConfigError, load_config


def test_exported_members() -> None:
    assert sorted(rin.config.__all__) == [
        "Config", "ConfigError", "GeneralSettings", "LiteLLMSettings", "RouterSettings", "load_config"]
    assert list(inspect.signature(load_config).parameters) == ["path", "env"]
    assert issubclass(ConfigError, Exception) and ConfigError(["a", "b"]).errors == ["a", "b"]
    assert str(ConfigError(["a", "b"])) == "a\nb"
