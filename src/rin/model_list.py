"""GET /v1/models and /model/info: the OpenAI list shape plus RIN's metadata, built once per config."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import orjson

from rin.codecs.modes import mode_of
from rin.config.resolved import Config
from rin.openwebui import readable_name
from rin.types import Deployment, ModelInfo

CREATED = 1_700_000_000


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


def model_entry(name: str, deps: list[Deployment]) -> dict[str, Any]:
    info = _merge_info(deps)
    first = deps[0]
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
                "input_per_token": _price(info.input_cost_per_token),
                "output_per_token": _price(info.output_cost_per_token),
                "cache_read_per_token": _price(info.cache_read_cost_per_token),
                "cache_write_per_token": _price(info.cache_write_cost_per_token),
                "per_request": _price(info.cost_per_request),
                "source": info.price_source,
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
            data.append(model_entry(name, enabled))
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
        entry = model_entry(dep.model_name, [dep])
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
