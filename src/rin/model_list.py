"""GET /v1/models and /model/info: the OpenAI list shape plus RIN's metadata, built once per config;
model groups' readable names (also those of `rin openwebui-export`)."""

from __future__ import annotations

import re
from decimal import Decimal
from collections.abc import Mapping
from typing import Any

import orjson

from rin.codecs.modes import mode_of
from rin.config.resolved import Config
from rin.cost import price_for
from rin.types import Deployment, ModelInfo

CREATED = 1_700_000_000
_PROVIDER_NAMES = {"openai": "OpenAI", "anthropic": "Anthropic", "openrouter": "OpenRouter"}
_ACRONYMS = {"gpt": "GPT", "llm": "LLM", "ai": "AI"}


def _price(value: Decimal | None) -> str | None:
    return None if value is None else format(value, "f")


def _merge_info(deps: list[Deployment]) -> ModelInfo:
    """The group's metadata: the first deployment that knows a field wins."""
    fields: dict[str, Any] = {}
    for dep in deps:
        for name in ModelInfo.__slots__:  # type: ignore[attr-defined]
            value = getattr(dep.info, name)
            if value is not None and fields.get(name) is None:
                fields[name] = value
    return ModelInfo(**fields)


def model_entry(name: str, deps: list[Deployment],
                model_cost: Mapping[str, ModelInfo] | None = None) -> dict[str, Any]:
    info = _merge_info(deps)
    first = deps[0]
    # the prices the ledger bills the first deployment at (general_settings.model_cost, its own,
    # the catalogue's, the built-in table), not only those its model_info states
    prices, source = price_for(name, first, model_cost or {})
    priced = prices or info
    return {
        "id": name,
        "object": "model",
        "created": CREATED,
        "owned_by": first.provider,
        "name": readable_name(name, deps),
        "mode": mode_of(first),
        "rin": {
            "mode": mode_of(first),
            "provider": first.provider,
            "provider_model": first.provider_model,
            "deployments": len(deps),
            "capabilities": {
                "vision": bool(info.supports_vision),
                "function_calling": bool(info.supports_function_calling),
                "reasoning": bool(info.supports_reasoning),
                "response_format": bool(info.supports_response_format),
            },
            "context_length": info.context_length,
            "max_output_tokens": info.max_output_tokens,
            "pricing": {
                "input_per_token": _price(priced.input_cost_per_token),
                "output_per_token": _price(priced.output_cost_per_token),
                "cache_read_per_token": _price(priced.cache_read_cost_per_token),
                "cache_write_per_token": _price(priced.cache_write_cost_per_token),
                "per_request": _price(priced.cost_per_request),
                "source": source if prices is not None else info.price_source,
            },
        },
    }


def model_list_body(config: Config, allowed: frozenset[str] | None = None) -> bytes:
    """GET /v1/models: every model group with a listed, enabled deployment (only `allowed` ones
    when given: what a virtual key limited to some models may call)."""
    data = []
    for name in config.groups:
        if allowed is not None and name not in allowed:
            continue
        enabled = [d for d in config.enabled(name) if d.listed]
        if enabled:
            data.append(model_entry(name, enabled, config.general.model_cost))
    return orjson.dumps({"object": "list", "data": data})


def model_info_body(config: Config, cooling: dict[str, float], now: float,
                    allowed: frozenset[str] | None = None) -> bytes:
    """LiteLLM's /model/info shape: one entry per deployment, with status; never a key or header
    (only the deployments of `allowed` model groups when given, as for GET /v1/models)."""
    data = []
    for dep in config.deployments:
        if allowed is not None and dep.model_name not in allowed:
            continue
        until = cooling.get(dep.id)
        status = "disabled" if not dep.enabled else ("cooling_down" if until else "available")
        entry = model_entry(dep.model_name, [dep], config.general.model_cost)
        data.append({
            "model_name": dep.model_name,
            "litellm_params": {"model": dep.label},
            "model_info": {
                "id": dep.id,
                **entry["rin"],
                "status": status,
                "disabled_reason": dep.disabled_reason,
                "cooling_down_for_seconds": round(until - now, 1) if until else None,
            },
        })
    return orjson.dumps({"data": data})


def readable_name(name: str, deps: list[Deployment]) -> str:
    """The config's display name (model_info.display_name or description), else one made from the id:
    `openrouter/llama-3.1-70b` -> `Llama 3.1 70B (OpenRouter)`."""
    for dep in deps:
        if dep.info.display_name:
            return dep.info.display_name
    prefix, _, base = name.rpartition("/")
    words = " ".join(_word(token) for token in re.split(r"[-_ ]+", base) if token)
    words = re.sub(r"(?<=\b\d) (?=\d\b)", ".", words)  # claude-3-5 -> Claude 3.5
    words = re.sub(r"\b(GPT) (?=\d)", r"\1-", words)  # gpt-4o -> GPT-4o
    provider = prefix.split("/")[0] if prefix else ""
    if provider:
        return f"{words} ({_PROVIDER_NAMES.get(provider, provider.capitalize())})"
    return words or name


def _word(token: str) -> str:
    if token.lower() in _ACRONYMS:
        return _ACRONYMS[token.lower()]
    if re.fullmatch(r"[\d.x]+[bkm]", token, re.IGNORECASE):
        return token[:-1] + token[-1].upper()  # 70b -> 70B, 8x7b -> 8x7B
    if re.match(r"[a-z]{2,}|[a-z]$", token):
        return token[0].upper() + token[1:]  # llama3 -> Llama3
    return token  # 4o, o3, 3.1: already as their makers write them
