"""`model_list` entries -> resolved `Deployment`s: provider, endpoint, key, defaults, model info.

A deployment that cannot be used (provider RIN doesn't speak, a variable not set, no api_base) still
loads, disabled with a reason, so `rin models` and the logs can say why.
"""

from __future__ import annotations

import difflib
import hashlib
import re
from collections import Counter
from dataclasses import replace
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from rin.config import litellm_keys
from rin.config.environ import Resolver, drop_unset, drop_unset_setting
from rin.config.problems import KeyPath, Problems
from rin.config.fields import validate
from rin.config.model_entry import DEPLOYMENT_PARAMS, LiteLLMParams, ModelEntry, ModelInfoSection, Prices
from rin.cost import variant_key
from rin.types import Deployment, ModelInfo, Secret

_ENTRY_KEYS = ("model_name", "litellm_params", "model_info")
_TEMPLATE_VAR = re.compile(r"\{([A-Z0-9_]+)\}")


class DeploymentBuilder:
    """Builds every deployment of one config; collects the litellm_params keys RIN ignores."""

    def __init__(
        self, env: Mapping[str, str], resolver: Resolver, problems: Problems, settings: Any = None
    ) -> None:
        self.env = env
        #: litellm_settings, for the switches providers read at load (enable_azure_ad_token_refresh)
        self.settings: Mapping[str, Any] = settings if isinstance(settings, Mapping) else {}
        self.resolver = resolver
        self.problems = problems
        self.ignored: Counter[str] = Counter()

    def build_all(self, entries: Any, raw_entries: Any) -> list[Deployment]:
        if entries is None:
            return []
        if not isinstance(entries, list):
            self.problems.error(("model_list",), "must be a list of models (model_name, litellm_params, model_info)")
            return []
        raw_list = raw_entries if isinstance(raw_entries, list) else []
        deployments: list[Deployment] = []
        seen: dict[str, int] = {}
        for index, entry in enumerate(entries):
            raw = raw_list[index] if index < len(raw_list) else {}
            dep = self.build(entry, raw, index)
            if dep is None:
                continue
            if dep.id in seen:
                self.problems.error(("model_list", index, "model_info", "id"),
                                    f"'{dep.id}' is already the id of model_list[{seen[dep.id]}]; ids must be unique")
            seen.setdefault(dep.id, index)
            deployments.append(dep)
        if self.ignored:
            keys = ", ".join(f"{k} ({n}x)" for k, n in sorted(self.ignored.items()))
            self.problems.note(f"litellm_params keys RIN ignores: {keys}")
        return deployments

    def build(self, entry: Any, raw: Any, index: int) -> Deployment | None:
        path: KeyPath = ("model_list", index)
        if not isinstance(entry, dict):
            self.problems.error(path, "must be a mapping with model_name and litellm_params")
            return None
        kept, _ = self.problems.sort_keys(path, entry, _ENTRY_KEYS)
        unset: list[tuple[KeyPath, str]] = []
        if isinstance(kept.get("litellm_params"), dict):
            params, unset = drop_unset(kept["litellm_params"], (*path, "litellm_params"))
            if "model" not in params and (*path, "litellm_params", "model") in dict(unset):
                params["model"] = "os.environ/" + dict(unset)[(*path, "litellm_params", "model")]
            kept["litellm_params"] = self._sort_params(params, (*path, "litellm_params"))
        if "model_info" in kept:
            kept["model_info"] = drop_unset_setting(kept["model_info"], (*path, "model_info"), self.problems)
        model = validate(ModelEntry, kept, path, self.problems, self.resolver.from_env)
        if model is None:
            return None
        raw_params = raw.get("litellm_params") if isinstance(raw, dict) else None
        raw_base = raw_params.get("api_base", raw_params.get("base_url")) if isinstance(raw_params, dict) else None
        return self._deployment(model, index, str(raw_base or ""), unset)

    def _sort_params(self, params: dict[str, Any], path: KeyPath) -> dict[str, Any]:
        """Drop the LiteLLM-only keys, accept `base_url` for `api_base`, flag likely typos."""
        out: dict[str, Any] = {}
        for key, value in params.items():
            if key == "base_url":
                if "api_base" in params:
                    self.problems.warn((*path, key), "both api_base and base_url are set; api_base wins")
                    continue
                key = "api_base"
            if key in litellm_keys.PARAMS:
                self.ignored[key] += 1
                continue
            if key not in LiteLLMParams.model_fields and key not in litellm_keys.REQUEST_PARAMS:
                hint = difflib.get_close_matches(key, sorted(DEPLOYMENT_PARAMS | litellm_keys.REQUEST_PARAMS),
                                                 n=1, cutoff=0.8)
                if hint:
                    self.problems.warn((*path, key), f"unknown key, did you mean '{hint[0]}'? "
                                       "(passed to the provider as a request parameter)")
            out[key] = value
        return out

    def _deployment(
        self, entry: ModelEntry, index: int, raw_base: str, unset: list[tuple[KeyPath, str]]
    ) -> Deployment:
        from rin import providers  # the registry (adapters load on first use); keep config importable alone

        params = entry.litellm_params
        provider, provider_model = _split(params, providers.split_model)
        spec = providers.PROVIDERS.get(provider)
        headers = self._headers(provider, params)
        api_key, api_base, reason, setup = self._access(params, provider, provider_model, spec, unset, headers, index)
        api_version = params.api_version or (self.env.get(spec.api_version_env) if spec and spec.api_version_env
                                             else None) or None
        if spec is not None and spec.endpoint_required:
            self._require_endpoint(spec, index, api_base, api_version, {p[-1] for p, _ in unset})
        info = model_info(entry.model_info or ModelInfoSection(), params)
        if setup is not None and setup.info:
            info = replace(info, **{k: v for k, v in setup.info.items() if getattr(info, k) is None})
        dep = Deployment(
            model_name=entry.model_name,
            provider=provider,
            provider_model=provider_model,
            api_base=api_base,
            id=(entry.model_info.id if entry.model_info and entry.model_info.id else
                _stable_id(entry.model_name, params.model, raw_base, index)),
            api_key=Secret(api_key) if api_key else None,
            extra_headers=headers,
            defaults=_defaults(params),
            info=info,
            disabled_reason=reason,
            **_typed_fields(params),
        )
        dep.api_version = api_version
        if setup is not None:
            dep.credential, dep.options = setup.credential, setup.options
        self._check(dep, index)
        return dep

    def _access(
        self, params: LiteLLMParams, provider: str, provider_model: str, spec: Any,
        unset: list[tuple[KeyPath, str]], headers: dict[str, str], index: int,
    ) -> tuple[str, str, str | None, Any]:
        """Key, base URL, why the deployment cannot be used (if it cannot) and the provider's setup.
        A credential the setup refreshes (an Entra ID app's tokens) replaces a key or token found in
        the provider's variables; a static Entra ID token goes into `headers`."""
        api_key, token = self._credential(params, spec)
        api_base, reason = self._endpoint(params, provider, spec, [var for _, var in unset], bool(api_key or token))
        setup = self._setup(spec, params, provider_model, api_base, index) if reason is None else None
        if setup is not None:
            api_base, reason = (setup.api_base or api_base).rstrip("/"), setup.disabled_reason
            if setup.credential is not None:
                return "", api_base, reason, setup
            reason = reason or _keyless(spec, bool(api_key or token))
        if token and "authorization" not in {k.lower() for k in headers}:
            headers["authorization"] = "Bearer " + token
        return api_key, api_base, reason, setup

    def _endpoint(
        self, params: LiteLLMParams, provider: str, spec: Any, unset: list[str], has_key: bool
    ) -> tuple[str, str | None]:
        """Base URL (config, else the provider's variable, else its default), and why the deployment
        cannot be used, if it cannot (a missing key is for the provider's setup to settle, if it has one)."""
        api_base = params.api_base or (self.env.get(spec.api_base_env, "") if spec and spec.api_base_env else "")
        template_var = None
        if not api_base and spec and spec.default_api_base:
            api_base, template_var = _fill(spec.default_api_base, self.env)
        api_base = api_base.rstrip("/")
        if spec is None:
            return api_base, f"provider '{provider}' is not supported by RIN"
        if unset:
            return api_base, f"{unset[0]} is not set"
        if spec.setup is None and (missing := _keyless(spec, has_key)):
            return api_base, missing
        if template_var:
            return api_base, f"{template_var} is not set"
        if not api_base and spec.setup is None:
            where = f"litellm_params.api_base or {spec.api_base_env}" if spec.api_base_env else "litellm_params.api_base"
            return api_base, f"{provider} needs an api_base: set {where}"
        return api_base, None

    def _setup(
        self, spec: Any, params: LiteLLMParams, provider_model: str, api_base: str, index: int
    ) -> Any:
        """The provider's own load-time setup (cloud credentials, regions, projects), if it has one;
        its errors are reported at the litellm_params key they name."""
        if spec is None or spec.setup is None:
            return None
        from rin.providers.base import SetupInput

        result = spec.setup(SetupInput(params, self.env, provider_model, api_base, self.settings))
        for key, message in result.errors:
            self.problems.error(("model_list", index, "litellm_params", key), message)
        for key, message in result.warnings:
            self.problems.warn(("model_list", index, "litellm_params", key), message)
        return result

    def _credential(self, params: LiteLLMParams, spec: Any) -> tuple[str, str]:
        """(API key, Entra ID token): the config's api_key, else its azure_ad_token, else the
        provider's key variable, else its token variable (AZURE_AD_TOKEN)."""
        if params.api_key:
            return params.api_key, ""
        takes_token = bool(spec and spec.ad_token_env)
        if takes_token and params.azure_ad_token:
            return "", params.azure_ad_token
        key = self.env.get(spec.api_key_env, "") if spec and spec.api_key_env else ""
        if key or not takes_token:
            return key, ""
        return "", self.env.get(spec.ad_token_env, "")

    def _require_endpoint(
        self, spec: Any, index: int, api_base: str, api_version: str | None, unset_keys: set[Any]
    ) -> None:
        """A provider with no default endpoint (Azure): a missing api_base or api_version is a config
        error naming the key to add (a reference to an unset variable only disables the model)."""
        path: KeyPath = ("model_list", index, "litellm_params")
        if not api_base and "api_base" not in unset_keys:
            self.problems.error(path, f"{spec.name} needs api_base: add litellm_params.api_base "
                                      f"(e.g. https://<resource>.openai.azure.com) or set {spec.api_base_env}")
        if not api_version and "api_version" not in unset_keys:
            self.problems.error(path, f"{spec.name} needs api_version: add litellm_params.api_version "
                                      f"(e.g. \"2024-10-21\") or set {spec.api_version_env}")

    def _headers(self, provider: str, params: LiteLLMParams) -> dict[str, str]:
        """Config's extra_headers, over OpenRouter's attribution headers for OpenRouter models."""
        headers: dict[str, str] = {}
        if provider == "openrouter":
            from rin.providers.openrouter import attribution_headers

            headers.update(attribution_headers(self.env))
        configured = dict(params.extra_headers or {})
        lowered = {k.lower() for k in configured}
        headers = {k: v for k, v in headers.items() if k.lower() not in lowered}
        headers.update(configured)
        return headers

    def _check(self, dep: Deployment, index: int) -> None:
        path: KeyPath = ("model_list", index)
        if dep.disabled_reason:
            self.problems.warn(path, f"model '{dep.model_name}' ({dep.label}) is disabled: {dep.disabled_reason}")
        max_tokens = dep.defaults.get("max_tokens")
        limit = dep.info.max_output_tokens
        if isinstance(max_tokens, int) and limit and max_tokens > limit:
            self.problems.warn((*path, "litellm_params", "max_tokens"),
                               f"{max_tokens} is more than model_info.max_output_tokens ({limit})")


def _split(params: LiteLLMParams, split_model: Any) -> tuple[str, str]:
    """Provider and provider-side model name; `custom_llm_provider` overrides the model prefix."""
    forced = params.custom_llm_provider
    if forced:
        model = params.model
        return forced, model[len(forced) + 1:] if model.startswith(forced + "/") else model
    provider, provider_model = split_model(params.model)
    return str(provider), str(provider_model)


def _typed_fields(params: LiteLLMParams) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "timeout": params.timeout,
        "stream_timeout": params.stream_timeout,
        "rpm": params.rpm,
        "tpm": params.tpm,
        "order": params.order,
        "max_budget": params.max_budget,
        "budget_duration": params.budget_duration,
        "api_version": params.api_version,
        "cooldown_time": params.cooldown_time,
    }
    if params.weight is not None:
        fields["weight"] = params.weight
    drop = list(params.additional_drop_params or ())
    if isinstance(params.drop_params, list):
        drop += params.drop_params  # LiteLLM reads a list here as additional_drop_params
    elif params.drop_params is not None:
        fields["drop_params"] = params.drop_params
    if drop:
        fields["additional_drop_params"] = tuple(dict.fromkeys(drop))
    return fields


def _keyless(spec: Any, has_key: bool) -> str | None:
    """Why a deployment without a key cannot be used, when its provider needs one."""
    return f"{spec.api_key_env} is not set" if not has_key and spec.key_required and spec.api_key_env else None


def _fill(template: str, env: Mapping[str, str]) -> tuple[str, str | None]:
    """`template` with each `{VAR}` replaced by its value, and the first variable that is unset."""
    missing = None

    def value(match: re.Match[str]) -> str:
        nonlocal missing
        found = env.get(match.group(1), "")
        if not found and missing is None:
            missing = match.group(1)
        return found

    return _TEMPLATE_VAR.sub(value, template), missing


def _defaults(params: LiteLLMParams) -> dict[str, Any]:
    """Request parameters from litellm_params: defaults a request may override."""
    return params.model_dump(exclude_unset=True, exclude=set(DEPLOYMENT_PARAMS | set(Prices.model_fields)))


def model_info(info: ModelInfoSection, overrides: Prices | None = None) -> ModelInfo:
    """ModelInfo from a `model_info` mapping; prices in `overrides` (litellm_params) win."""
    prices = {name: getattr(info, name) for name in Prices.model_fields}
    if overrides is not None:
        prices.update({k: v for k in Prices.model_fields if (v := getattr(overrides, k)) is not None})
    return ModelInfo(
        context_length=_first(info.max_input_tokens, info.context_length, info.context_window),
        max_output_tokens=_first(info.max_output_tokens, info.max_tokens),
        supports_vision=info.supports_vision,
        supports_function_calling=info.supports_function_calling,
        supports_reasoning=info.supports_reasoning,
        supports_response_format=info.supports_response_format,
        input_cost_per_token=prices["input_cost_per_token"],
        output_cost_per_token=prices["output_cost_per_token"],
        cache_read_cost_per_token=prices["cache_read_input_token_cost"],
        cache_write_cost_per_token=prices["cache_creation_input_token_cost"],
        cost_per_request=prices["input_cost_per_request"],
        input_cost_per_second=prices["input_cost_per_second"],
        output_cost_per_second=prices["output_cost_per_second"],
        input_cost_per_character=prices["input_cost_per_character"],
        output_cost_per_image=prices["output_cost_per_image"],
        output_cost_per_image_by_size=_by_variant(prices["output_cost_per_image_by_size"]),
        input_cost_per_query=prices["input_cost_per_query"],
        display_name=info.display_name or info.description,
        mode=info.mode or "chat",
        price_source="config" if any(v is not None for v in prices.values()) else None,
    )


def _by_variant(table: dict[str, Decimal] | None) -> dict[str, Decimal] | None:
    """Image prices keyed by the canonical variant ("HD/1024-x-1792" -> "hd/1024x1792")."""
    return None if table is None else {variant_key(k): v for k, v in table.items()}


def _first(*values: Any) -> Any:
    return next((v for v in values if v is not None), None)


def _stable_id(model_name: str, model: str, api_base: str, index: int) -> str:
    key = "\x00".join((model_name, model, api_base, str(index)))
    return hashlib.sha256(key.encode()).hexdigest()[:12]
