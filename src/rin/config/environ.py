"""`os.environ/VAR` references: LiteLLM's way to keep secrets out of the YAML.

Any scalar may be written `os.environ/VAR`. Resolution replaces it with the variable's value, or
with an `Unset` marker when the variable is missing, so each section can decide what a missing
variable means (a deployment is disabled; a setting falls back to its default).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from rin.config.problems import KeyPath, Problems

PREFIX = "os.environ/"


@dataclass(frozen=True, slots=True)
class Unset:
    """Stands where an `os.environ/VAR` reference named a variable that is not set."""

    var: str


def environment(base: Mapping[str, str], section: Any, problems: Problems) -> dict[str, str]:
    """`base` plus the config's `environment_variables` (which never override a variable already set)."""
    env = dict(base)
    if section is None:
        return env
    path: KeyPath = ("environment_variables",)
    if not isinstance(section, dict):
        problems.error(path, "must be a mapping of VARIABLE: value")
        return env
    for name, value in section.items():
        if isinstance(value, (dict, list)):
            problems.error((*path, name), "must be a single value (text or number)")
            continue
        if value is None or name in env:
            continue
        text = _text(value)
        if text.startswith(PREFIX):
            ref = text[len(PREFIX):].strip()
            if ref not in base:
                continue
            text = base[ref]
        env[str(name)] = text
    return env


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value).strip()


class Resolver:
    """Resolves references in a subtree; remembers which paths got their value from the environment,
    so an error about such a value names the variable instead of showing the value."""

    def __init__(self, env: Mapping[str, str], problems: Problems) -> None:
        self.env = env
        self.problems = problems
        self.from_env: dict[KeyPath, str] = {}

    def resolve(self, value: Any, path: KeyPath) -> Any:
        if isinstance(value, str):
            return self._scalar(value, path)
        if isinstance(value, dict):
            return {k: self.resolve(v, (*path, k)) for k, v in value.items()}
        if isinstance(value, list):
            return [self.resolve(v, (*path, i)) for i, v in enumerate(value)]
        return value

    def _scalar(self, value: str, path: KeyPath) -> Any:
        if not value.startswith(PREFIX):
            return value
        var = value[len(PREFIX):].strip()
        if not var:
            self.problems.error(path, "os.environ/ needs a variable name, e.g. os.environ/OPENAI_API_KEY")
            return None
        if var not in self.env:
            return Unset(var)
        self.from_env[path] = var
        return self.env[var]


def drop_unset(value: Any, path: KeyPath) -> tuple[Any, list[tuple[KeyPath, str]]]:
    """`value` without its Unset markers (a mapping loses the key, a list the item), and what was dropped."""
    found: list[tuple[KeyPath, str]] = []

    def walk(item: Any, at: KeyPath) -> Any:
        if isinstance(item, dict):
            return {k: walk(v, (*at, k)) for k, v in item.items() if not _note(v, (*at, k))}
        if isinstance(item, list):
            return [walk(v, (*at, i)) for i, v in enumerate(item) if not _note(v, (*at, i))]
        return item

    def _note(item: Any, at: KeyPath) -> bool:
        if isinstance(item, Unset):
            found.append((at, item.var))
            return True
        return False

    if isinstance(value, Unset):
        return None, [(path, value.var)]
    return walk(value, path), found


def drop_unset_setting(value: Any, path: KeyPath, problems: Problems) -> Any:
    """For settings (not deployments): a missing variable means "not configured", with a warning."""
    clean, dropped = drop_unset(value, path)
    for at, var in dropped:
        problems.warn(at, f"{var} is not set; treated as not configured")
    return clean
