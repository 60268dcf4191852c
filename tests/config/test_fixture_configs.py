"""Every real LiteLLM proxy config in ../shared/fixtures/configs loads, with a dummy value for each
`os.environ/VAR` it references (found by scanning the YAML text), and enables the models it should."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from rin.config import load_config
from tests.conftest import SHARED_FIXTURES

CONFIGS = SHARED_FIXTURES / "configs"
_REF = re.compile(r"os\.environ/([A-Za-z_][A-Za-z0-9_]*)")

#: config file -> (deployments, enabled), observed with every referenced variable set
EXPECTED = {
    # The 15 cloudflare/ deployments stay disabled: their key is os.environ/CLOUDFLARE_API_TOKEN, but the
    # account id lives only in the user's environment (CLOUDFLARE_ACCOUNT_ID, never referenced in the file).
    "abbiirr_unified_llm_api.yaml": (306, 291),
    # Everything loads enabled (its azure/ models are commented out).
    "d0wn10ad_ai_gateway.yaml": (16, 16),
    # Everything loads enabled.
    "radkisson_magi.yaml": (54, 54),
}


def _configs() -> list[Path]:
    return sorted(CONFIGS.glob("*.yaml")) if CONFIGS.is_dir() else []


def dummy_env(path: Path) -> dict[str, str]:
    """A placeholder for every variable the file references (URLs where a URL is likely expected)."""
    env = {}
    for name in set(_REF.findall(path.read_text(encoding="utf-8"))):
        if name.endswith(("_URL", "_BASE", "_HOST", "_ENDPOINT")):
            env[name] = "postgresql://u@db/x" if "DATABASE" in name else f"http://placeholder-{name.lower()}:1"
        elif name.endswith("_PORT"):
            env[name] = "6379"
        else:
            env[name] = f"placeholder-{name.lower()}"
    return env


def test_the_folder_is_covered() -> None:
    if not CONFIGS.is_dir():
        pytest.skip(f"real-world fixtures {CONFIGS} are absent (../shared/fixtures)")
    assert {p.name for p in _configs()} == set(EXPECTED), "a new fixture config: pin its numbers in EXPECTED"


@pytest.mark.parametrize("path", _configs(), ids=lambda p: p.name)
def test_loads_with_every_referenced_variable(path: Path) -> None:
    config = load_config(path, env=dummy_env(path))
    deployments, enabled = EXPECTED[path.name]
    assert len(config.deployments) == deployments
    assert sum(dep.enabled for dep in config.deployments) == enabled, sorted(
        {dep.disabled_reason for dep in config.deployments if not dep.enabled})
    assert not config.missing_env or config.missing_env == ["CLOUDFLARE_ACCOUNT_ID"]
