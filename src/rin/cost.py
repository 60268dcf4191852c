"""What a request cost, in exact Decimal USD, and where the price came from (`cost_source`).

Precedence, first match wins:

    config     general_settings.model_cost (by model group, then provider model id), then the
               deployment's own model_info / litellm_params prices
    provider   the cost the provider reported for this request (OpenRouter's usage.cost)
    catalog    the synced OpenRouter catalogue
    builtin    rin.pricing_builtin, for well-known direct OpenAI / Anthropic models
    unpriced   cost 0, recorded as "unpriced", and a warning logged once per model

`price_for` picks the price list (everything but `provider`, which only the response knows);
`cost_of` applies it to a response's usage.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from decimal import Decimal

from rin import pricing_builtin
from rin.ledger.row import CostSource
from rin.types import Deployment, ModelInfo, Usage

log = logging.getLogger("rin.cost")

#: the catalogue's answer for a deployment, or None when it doesn't list the model
CatalogLookup = Callable[[Deployment], ModelInfo | None]

_ZERO = Decimal(0)
_warned_unpriced: set[str] = set()


def _priced(info: ModelInfo | None) -> bool:
    return info is not None and (
        info.input_cost_per_token is not None
        or info.output_cost_per_token is not None
        or info.cost_per_request is not None
    )


def price_for(
    model_group: str,
    dep: Deployment,
    general_model_cost: Mapping[str, ModelInfo],
    catalog_lookup: CatalogLookup | None = None,
) -> tuple[ModelInfo | None, CostSource]:
    """The prices for a call of `dep` serving `model_group`, and their source (None, "unpriced"
    when nothing prices it)."""
    for key in (model_group, dep.provider_model, f"{dep.provider}/{dep.provider_model}"):
        info = general_model_cost.get(key)
        if _priced(info):
            return info, "config"
    own = dep.info
    if _priced(own) and own.price_source in (None, "config"):
        return own, "config"
    if catalog_lookup is not None:
        info = catalog_lookup(dep)
        if _priced(info):
            return info, "catalog"
    if _priced(own) and own.price_source == "catalog":
        return own, "catalog"
    info = pricing_builtin.lookup(dep.provider, dep.provider_model)
    if info is not None:
        return info, "builtin"
    return None, "unpriced"


def cost_of(
    usage: Usage, prices: ModelInfo | None, source: CostSource, *, model: str = ""
) -> tuple[Decimal, CostSource]:
    """The request's cost and the source to record. The provider's own figure wins over every
    source but config. `model` names the model in the one-time unpriced warning."""
    if usage.provider_cost is not None and source != "config":
        return usage.provider_cost, "provider"
    if prices is None or source == "unpriced":
        if model not in _warned_unpriced:
            _warned_unpriced.add(model)
            log.warning("cost: no price known for %s; its requests are recorded with cost 0 and "
                        "cost_source 'unpriced' (set general_settings.model_cost or model_info "
                        "input_cost_per_token / output_cost_per_token)", model or "an unnamed model")
        return _ZERO, "unpriced"
    return token_cost(usage, prices), source


def token_cost(usage: Usage, prices: ModelInfo) -> Decimal:
    """Prompt tokens at the input price, except cache reads and writes at their own prices when
    known; completion tokens (which include reasoning tokens) at the output price; plus the
    per-request price."""
    inp = prices.input_cost_per_token or _ZERO
    read = prices.cache_read_cost_per_token if prices.cache_read_cost_per_token is not None else inp
    write = prices.cache_write_cost_per_token if prices.cache_write_cost_per_token is not None else inp
    cached = min(max(usage.cached_tokens, 0), usage.prompt_tokens)
    written = min(max(usage.cache_write_tokens, 0), usage.prompt_tokens - cached)
    fresh = usage.prompt_tokens - cached - written
    return (
        fresh * inp
        + cached * read
        + written * write
        + usage.completion_tokens * (prices.output_cost_per_token or _ZERO)
        + (prices.cost_per_request or _ZERO)
    )


def estimate_max_cost(prices: ModelInfo | None, prompt_tokens_estimate: int, max_output_tokens: int) -> Decimal:
    """The worst case for a budget reservation: every prompt token at the dearest prompt price
    (a cache write costs more than plain input) and every allowed output token at the output price.
    0 for an unpriced model."""
    if prices is None:
        return _ZERO
    prompt_price = max(p for p in (prices.input_cost_per_token, prices.cache_write_cost_per_token,
                                   prices.cache_read_cost_per_token, _ZERO) if p is not None)
    return (
        max(prompt_tokens_estimate, 0) * prompt_price
        + max(max_output_tokens, 0) * (prices.output_cost_per_token or _ZERO)
        + (prices.cost_per_request or _ZERO)
    )


def unpriced_models() -> frozenset[str]:
    """Models that have been served without a price since startup (for /metrics and reports)."""
    return frozenset(_warned_unpriced)
