"""What loading a config can find wrong: fatal errors (collected, then raised as one ConfigError) and
warnings. Every line names `FILE:LINE: key.path:` so a user can jump to it; none carries a secret."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Collection, Iterable, Mapping
from typing import Any

#: a position in the YAML tree: mapping keys and list indices, e.g. ("model_list", 0, "litellm_params")
KeyPath = tuple[Any, ...]

#: keys whose values are credentials (or URLs that may embed one): never echoed in a message
SENSITIVE_KEYS = frozenset({
    "api_key", "master_key", "redis_password", "password", "database_url", "secret", "token",
    "access_token", "auth_token", "aws_secret_access_key", "aws_session_token", "vertex_credentials",
    "vertex_ai_credentials", "s3_aws_secret_access_key", "redis_url", "url", "alert_webhook_url",
    "azure_ad_token", "client_secret", "aws_access_key_id",
})
#: containers whose every value is treated as sensitive (headers carry tokens, env vars carry keys)
SENSITIVE_CONTAINERS = frozenset({"extra_headers", "headers", "environment_variables", "cache_params"})


class ConfigError(Exception):
    """The config cannot be used. `errors` holds one `FILE:LINE: key.path: problem` line per finding."""

    def __init__(self, errors: str | list[str]) -> None:
        self.errors = [errors] if isinstance(errors, str) else list(errors)
        super().__init__("\n".join(self.errors))


def dotted(path: KeyPath) -> str:
    """`("model_list", 0, "litellm_params")` -> `model_list[0].litellm_params`."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif any(c in str(part) for c in ".[] ") or not str(part):
            out += f'["{part}"]'
        else:
            out += f".{part}" if out else str(part)
    return out


def is_sensitive(path: KeyPath) -> bool:
    keys = {str(p).lower() for p in path if not isinstance(p, int)}
    return bool(keys & SENSITIVE_KEYS or keys & SENSITIVE_CONTAINERS)


def nearest(key: str, known: Iterable[str]) -> str | None:
    found = difflib.get_close_matches(str(key), list(known), n=1, cutoff=0.6)
    return found[0] if found else None


class Problems:
    """Collects findings while a config is built; `where(path)` gives the `FILE:LINE` of a key."""

    def __init__(self, where: Callable[[KeyPath], str]) -> None:
        self.where = where
        self.errors: list[str] = []
        self.warnings: list[str] = []

    def _line(self, path: KeyPath, message: str) -> str:
        key = dotted(path)
        return f"{self.where(path)}: {key}: {message}" if key else f"{self.where(path)}: {message}"

    def error(self, path: KeyPath, message: str) -> None:
        self.errors.append(self._line(path, message))

    def warn(self, path: KeyPath, message: str) -> None:
        self.warnings.append(self._line(path, message))

    def note(self, message: str) -> None:
        self.warnings.append(message)

    def raise_if_errors(self) -> None:
        if self.errors:
            raise ConfigError(self.errors)

    def sort_keys(
        self,
        path: KeyPath,
        mapping: dict[str, Any],
        known: Collection[str],
        ignored: Collection[str] = (),
        elsewhere: Mapping[str, str] | None = None,
    ) -> tuple[dict[str, Any], list[str]]:
        """Split `mapping` into the keys RIN reads and the LiteLLM keys it ignores; warn about the rest,
        naming the nearest known key (or the section a misplaced key belongs in, from `elsewhere`)."""
        kept: dict[str, Any] = {}
        skipped: list[str] = []
        for key, value in mapping.items():
            if key in known:
                kept[key] = value
            elif key in ignored:
                skipped.append(str(key))
            elif elsewhere and key in elsewhere:
                self.warn((*path, key), f"unknown key here, it belongs in {elsewhere[key]} (ignored)")
            else:
                hint = nearest(key, [*known, *ignored])
                tip = f", did you mean '{hint}'?" if hint else ""
                self.warn((*path, key), f"unknown key{tip} (ignored)")
        return kept, skipped
