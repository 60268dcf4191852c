"""`router_settings`, `general_settings` and `litellm_settings` -> the resolved settings objects.

LiteLLM reads many router keys (num_retries, fallbacks, request_timeout, ...) and the proxy budget
(max_budget, budget_duration, max_end_user_budget) from `litellm_settings` too; RIN does the same,
with `router_settings` / `general_settings` winning when both name a key.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel

from rin.config import litellm_keys, telemetry
from rin.config.build import model_info
from rin.config.environ import Resolver, drop_unset_setting
from rin.config.fields import duration_seconds, validate
from rin.config.model_entry import ModelInfoSection
from rin.config.problems import KeyPath, Problems, nearest
from rin.config.resolved import (
    OPENROUTER_API_BASE, CatalogSettings, GeneralSettings, LiteLLMSettings, OpenRouterAccess, RouterSettings,
    TelemetrySettings,
)
from rin.config.sections import (
    LITELLM_BUDGET_KEYS, LITELLM_ROUTER_KEYS, CatalogSection, GeneralSection, LiteLLMRouterSection,
    LiteLLMSection, RouterSection,
)
from rin.types import ModelInfo, Secret

M = TypeVar("M", bound=BaseModel)

_FALLBACK_MAPS = ("fallbacks", "context_window_fallbacks", "content_policy_fallbacks")
_ERROR_KINDS = ("BadRequestError", "AuthenticationError", "TimeoutError", "RateLimitError",
                "ContentPolicyViolationError", "InternalServerError")
_MODEL_COST_IGNORED = frozenset({"litellm_provider", "supports_system_messages", "supports_tool_choice",
                                 "supports_prompt_caching", "supports_audio_input", "supports_audio_output",
                                 "supports_pdf_input", "supports_web_search", "source", "deprecation_date"})

#: proxy_batch_write_at above this many seconds loads with a warning
_BATCH_WARN_ABOVE = 60.0

#: where a key misplaced into another section belongs
_HOME = {
    **{k: "router_settings" for k in RouterSection.model_fields},
    **{k: "general_settings" for k in GeneralSection.model_fields},
    **{k: "litellm_settings" for k in LiteLLMSection.model_fields},
    **{k: "litellm_settings" for k in litellm_keys.LITELLM},
    **{k: "general_settings" for k in litellm_keys.GENERAL},
    **{k: "litellm_settings" for k in telemetry.LITELLM_KEYS},
    **{k: "general_settings" for k in telemetry.GENERAL_KEYS},
    "model_list": "the top level", "environment_variables": "the top level",
}


class SettingsBuilder:
    def __init__(self, data: dict[str, Any], resolver: Resolver, problems: Problems) -> None:
        self.data = data
        self.resolver = resolver
        self.problems = problems
        #: the raw keys rin.config.telemetry reads, kept by build() for telemetry()
        self._telemetry: tuple[dict[str, Any], dict[str, Any]] = ({}, {})

    def _section(self, name: str, known: Collection[str], ignored: Collection[str]) -> dict[str, Any]:
        """The keys of section `name` that RIN reads, Unset values dropped."""
        value = drop_unset_setting(self.data.get(name), (name,), self.problems)
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.problems.error((name,), "must be a mapping of settings")
            return {}
        kept, skipped = self.problems.sort_keys((name,), value, known, ignored, _HOME)
        if skipped:
            self.problems.note(f"{name}: LiteLLM settings RIN ignores: {', '.join(skipped)}")
        return kept

    def _validate(self, model: type[M], values: dict[str, Any], name: str) -> dict[str, Any]:
        """The keys of `values` that `model` accepts, validated; None values mean "not set"."""
        parsed = validate(model, values, (name,), self.problems, self.resolver.from_env)
        if parsed is None:
            return {}
        return {k: v for k, v in parsed.model_dump(exclude_unset=True).items() if v is not None}

    def build(self, model_names: Collection[str]) -> tuple[RouterSettings, GeneralSettings, LiteLLMSettings]:
        lit = self._section("litellm_settings",
                            {*LiteLLMSection.model_fields, *LITELLM_ROUTER_KEYS, *LITELLM_BUDGET_KEYS,
                             *telemetry.LITELLM_KEYS}, litellm_keys.LITELLM)
        self._telemetry = ({k: v for k, v in lit.items() if k in telemetry.LITELLM_KEYS}, {})
        router = self._router(lit, model_names)
        general = self._general(lit)
        own = self._validate(LiteLLMSection, {k: v for k, v in lit.items() if k in LiteLLMSection.model_fields},
                             "litellm_settings")
        return router, general, LiteLLMSettings(**own)

    def telemetry(self, env: Mapping[str, str]) -> TelemetrySettings:
        """Tracing: the callback lists, the OTEL_* / LANGFUSE_* variables (after build())."""
        lit, general = self._telemetry
        return telemetry.telemetry_settings(lit, general, env, self.problems)

    def catalog(self) -> CatalogSettings:
        """`catalog:`, RIN's own section (LiteLLM has none)."""
        values = self._validate(CatalogSection, self._section("catalog", CatalogSection.model_fields, ()),
                                "catalog")
        if "path" in values:
            values["path"] = Path(values["path"])
        if "sync_interval" in values:
            values["sync_interval"] = duration_seconds(values["sync_interval"])
        for name in ("include", "exclude"):
            if name in values:
                values[name] = tuple(values[name])
        return CatalogSettings(**values)

    def _router(self, lit: dict[str, Any], model_names: Collection[str]) -> RouterSettings:
        from_lit = self._validate(LiteLLMRouterSection,
                                  {k: v for k, v in lit.items() if k in LITELLM_ROUTER_KEYS}, "litellm_settings")
        if "request_timeout" in from_lit:
            from_lit.setdefault("timeout", from_lit.pop("request_timeout"))
        raw = self._section("router_settings", RouterSection.model_fields, litellm_keys.ROUTER)
        values = {**from_lit, **self._validate(RouterSection, raw, "router_settings")}
        origin = {k: "router_settings" if k in raw else "litellm_settings" for k in values}
        for name in _FALLBACK_MAPS:
            if name in values:
                values[name] = self._fallback_map(values[name], (origin[name], name), model_names)
        if "default_fallbacks" in values:
            path = (origin["default_fallbacks"], "default_fallbacks")
            values["default_fallbacks"] = self._targets(values["default_fallbacks"], path, model_names)
        for name, suffix in (("retry_policy", "Retries"), ("allowed_fails_policy", "AllowedFails")):
            if name in values:
                known = [kind + suffix for kind in _ERROR_KINDS]
                values[name], _ = self.problems.sort_keys((origin[name], name), values[name], known)
        if "redis_password" in values:
            values["redis_password"] = Secret(values["redis_password"])
        return RouterSettings(**values)

    def _general(self, lit: dict[str, Any]) -> GeneralSettings:
        from_lit = self._validate(GeneralSection, {k: v for k, v in lit.items() if k in LITELLM_BUDGET_KEYS},
                                  "litellm_settings")
        raw = self._section("general_settings", {*GeneralSection.model_fields, *telemetry.GENERAL_KEYS},
                            litellm_keys.GENERAL)
        self._telemetry[1].update({k: raw.pop(k) for k in telemetry.GENERAL_KEYS if k in raw})
        values = {**from_lit, **self._validate(GeneralSection, raw, "general_settings")}
        if "master_key" in values:
            values["master_key"] = Secret(values["master_key"]) if values["master_key"] else None
        if "model_cost" in values:
            values["model_cost"] = self._model_cost(values["model_cost"], ("general_settings", "model_cost"))
        if "proxy_batch_write_at" in values:
            values["proxy_batch_write_at"] = self._batch_interval(values["proxy_batch_write_at"])
        return GeneralSettings(**values)

    def _batch_interval(self, seconds: float) -> float:
        """LiteLLM takes any interval; RIN uses it as given, warning when a hard kill could lose
        more than a minute of spend rows. Zero would make the ledger writer spin: that one is raised."""
        path = ("general_settings", "proxy_batch_write_at")
        if seconds == 0:
            minimum = GeneralSettings().proxy_batch_write_at
            self.problems.warn(path, f"0 would make the spend writer spin; using {minimum:g} s (RIN's default)")
            return minimum
        if seconds > _BATCH_WARN_ABOVE:
            self.problems.warn(path, f"{seconds:g} s between spend writes: a hard kill can lose up to that much "
                                     f"of the ledger (RIN's default is 0.25 s); used as given")
        return seconds

    def _model_cost(self, value: dict[str, Any], path: KeyPath) -> dict[str, ModelInfo]:
        out: dict[str, ModelInfo] = {}
        for name, prices in value.items():
            at = (*path, name)
            if not isinstance(prices, dict):
                self.problems.error(at, "must be a mapping of prices, e.g. "
                                        "{input_cost_per_token: 0.0000025, output_cost_per_token: 0.00001}")
                continue
            kept, _ = self.problems.sort_keys(at, prices, ModelInfoSection.model_fields, _MODEL_COST_IGNORED)
            section = validate(ModelInfoSection, kept, at, self.problems, self.resolver.from_env)
            if section is not None:
                out[str(name)] = model_info(section)
        return out

    def _fallback_map(self, value: Any, path: KeyPath, names: Collection[str]) -> dict[str, list[str]]:
        """LiteLLM's `[{"gpt-4o": ["openrouter/gpt-4o"]}, ...]`, or one plain mapping."""
        pairs: list[tuple[KeyPath, Any, Any]] = []
        if isinstance(value, dict):
            pairs = [((*path, k), k, v) for k, v in value.items()]
        elif isinstance(value, list):
            for index, item in enumerate(value):
                if not isinstance(item, dict) or len(item) != 1:
                    self.problems.error((*path, index), "must be a one-key mapping {model_name: [fallback, ...]}, "
                                                        "e.g. {gpt-4o: [openrouter/gpt-4o]}")
                    continue
                ((source, targets),) = item.items()
                pairs.append(((*path, index, source), source, targets))
        else:
            self.problems.error(path, "must be a list of {model_name: [fallback, ...]} mappings "
                                      "(or one such mapping)")
        chains: dict[str, list[str]] = {}
        for at, source, targets in pairs:
            if str(source) not in names:
                self.problems.warn(at, f"'{source}' is not a model_name in model_list{_hint(source, names)}")
            chains.setdefault(str(source), []).extend(self._targets(targets, at, names))
        return chains

    def _targets(self, targets: Any, path: KeyPath, names: Collection[str]) -> list[str]:
        """Fallback targets that exist. An unknown one is dropped with a warning, not an error: real
        LiteLLM configs carry stale fallback names and must still load."""
        if isinstance(targets, str):
            targets = [targets]
        if not isinstance(targets, list) or not all(isinstance(t, str) for t in targets):
            self.problems.error(path, "must be a list of model_names")
            return []
        kept: list[str] = []
        for index, target in enumerate(targets):
            if target in names:
                kept.append(target)
            else:
                self.problems.warn((*path, index), f"fallback target '{target}' is not a model_name in "
                                                   f"model_list{_hint(target, names)}; dropped from the chain")
        return kept


def openrouter_access(env: Mapping[str, str]) -> OpenRouterAccess:
    """OpenRouter's base URL, key and attribution headers from the environment (for the catalogue)."""
    from rin.providers.openrouter import attribution_headers  # keep config importable alone

    base = (env.get("OPENROUTER_API_BASE") or OPENROUTER_API_BASE).rstrip("/")
    key = env.get("OPENROUTER_API_KEY")
    return OpenRouterAccess(api_base=base, api_key=Secret(key) if key else None,
                            headers=attribution_headers(env))


def _hint(name: Any, names: Collection[str]) -> str:
    close = nearest(str(name), names)
    return f" (nearest: '{close}')" if close else ""
