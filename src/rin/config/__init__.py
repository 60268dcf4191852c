"""Loading a LiteLLM proxy config into RIN's resolved `Config`.

    load_config(path, env)
      yamlsrc   YAML (safe) -> data + the file:line of every key, `include:` merged
      environ   `environment_variables` added to env; `os.environ/VAR` resolved
      build     model_list -> Deployments (disabled, with a reason, when unusable)
      settings  router / general / litellm settings; fallback targets checked; `catalog:`
      paths     relative data paths (ledger, catalogue) made absolute under one base
      -> Config, or ConfigError listing every `FILE:LINE: key.path: problem`

This is the only code that reads the environment; nothing reads `os.environ` after it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from rin.config import litellm_keys
from rin.config.build import DeploymentBuilder
from rin.config.environ import Resolver, environment
from rin.config.paths import resolve_data_paths
from rin.config.problems import ConfigError, Problems
from rin.config.resolved import Config, GeneralSettings, LiteLLMSettings, RouterSettings
from rin.config.settings import SettingsBuilder, openrouter_access
from rin.config.yamlsrc import load_document

__all__ = ["Config", "ConfigError", "GeneralSettings", "LiteLLMSettings", "RouterSettings", "load_config"]

#: `catalog` is RIN's own; `environment_variables` stays last (it is read before the others resolve)
_SECTIONS = ("model_list", "router_settings", "general_settings", "litellm_settings", "catalog",
             "environment_variables")


def load_config(path: str | os.PathLike[str], env: Mapping[str, str] | None = None) -> Config:
    """Parse, check and resolve the config at `path`. `env` defaults to `os.environ` (read, never written).

    Raises ConfigError (every problem found, one `FILE:LINE: key.path: problem` line each)."""
    doc = load_document(Path(path))
    problems = Problems(doc.where)
    for duplicate in doc.duplicates:
        problems.note(duplicate)
    _, skipped = problems.sort_keys((), doc.data, _SECTIONS, litellm_keys.TOP_LEVEL)
    if skipped:
        problems.note(f"LiteLLM sections RIN ignores: {', '.join(skipped)}")
    full_env = environment(os.environ if env is None else env, doc.data.get("environment_variables"), problems)
    resolver = Resolver(full_env, problems)
    data = {k: resolver.resolve(v, (k,)) for k, v in doc.data.items() if k in _SECTIONS[:-1]}
    deployments = DeploymentBuilder(full_env, resolver, problems, data.get("litellm_settings")).build_all(
        data.get("model_list"), doc.data.get("model_list"))
    names = {dep.model_name for dep in deployments}
    settings = SettingsBuilder(data, resolver, problems)
    router, general, litellm = settings.build(names)
    catalog = settings.catalog()
    telemetry = settings.telemetry(full_env)
    resolve_data_paths(Path(path), general, catalog, full_env, problems)
    problems.raise_if_errors()
    return Config(
        path=Path(path),
        deployments=deployments,
        router=router,
        general=general,
        litellm=litellm,
        warnings=problems.warnings,
        catalog=catalog,
        openrouter=openrouter_access(full_env),
        telemetry=telemetry,
    )
