"""What a request cost, in exact Decimal USD, and where the price came from (`cost_source`).

Precedence, first match wins:

    config     general_settings.model_cost (by model group, then provider model id), then the
               deployment's own model_info / litellm_params prices
    provider   the cost the provider reported for this request (OpenRouter's usage.cost)
    catalog    the synced OpenRouter catalogue
    builtin    rin.pricing_builtin, for well-known direct OpenAI / Anthropic models
    unpriced   cost 0, recorded as "unpriced", and a warning logged once per model

`price_for` picks the price list (everything but `provider`, which only the response knows);
`cost_of` applies it to a response's usage (`usage_cost`).

Quantities other than tokens (the media endpoints) are priced by LiteLLM's keys: `Usage.seconds` at
input_cost_per_second (else output_cost_per_second), `characters` at input_cost_per_character,
`images` at the variant's price (`image_price`), `search_units` at input_cost_per_query. Tokens win:
when the usage reports tokens and the model has a token price (gpt-image-1, gpt-4o-transcribe), the
tokens price the request and those quantities are recorded but not billed again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from decimal import Decimal

from rin import pricing_builtin
from rin.types import CostSource, Deployment, ModelInfo, Usage

log = logging.getLogger("rin.cost")

#: the catalogue's answer for a deployment, or None when it doesn't list the model
CatalogLookup = Callable[[Deployment], ModelInfo | None]

_ZERO = Decimal(0)
_warned_unpriced: set[str] = set()
_warned_variants: set[str] = set()


#: any one of these makes a price list (cache prices alone only adjust token prices)
_PRICE_FIELDS = (
    "input_cost_per_token", "output_cost_per_token", "cost_per_request", "input_cost_per_second",
    "output_cost_per_second", "input_cost_per_character", "output_cost_per_image",
    "output_cost_per_image_by_size", "input_cost_per_query",
)


def _priced(info: ModelInfo | None) -> bool:
    return info is not None and any(getattr(info, name) is not None for name in _PRICE_FIELDS)


def price_for(
    model_group: str,
    dep: Deployment,
    general_model_cost: Mapping[str, ModelInfo],
    catalog_lookup: CatalogLookup | None = None,
) -> tuple[ModelInfo | None, CostSource]:
    """The prices for a call of `dep` serving `model_group`, and their source (None, "unpriced"
    when nothing prices it)."""
    # model_cost keys: the group, the model, and the other names LiteLLM's price tables use for
    # it, which the provider's load-time setup lists (Bedrock: `bedrock/<id>`, a cross-region id's
    # base model)
    for key in (model_group, dep.provider_model, f"{dep.provider}/{dep.provider_model}",
                *dep.options.get("price_keys", ())):
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
    return usage_cost(usage, prices), source


def usage_cost(usage: Usage, prices: ModelInfo) -> Decimal:
    """`token_cost`, plus the media quantities at their prices unless tokens priced the request
    (see the module docstring)."""
    tokens = token_cost(usage, prices)
    if (usage.prompt_tokens or usage.completion_tokens) and (prices.input_cost_per_token
                                                             or prices.output_cost_per_token):
        return tokens
    return tokens + unit_cost(usage, prices)


def unit_cost(usage: Usage, prices: ModelInfo, *, worst: bool = False) -> Decimal:
    """Seconds, characters, images and search units at their prices (0 where a price is unset).
    `worst`: an image whose variant has no price of its own costs the dearest listed."""
    cost = _ZERO
    if usage.seconds > 0:
        per_second = _first(prices.input_cost_per_second, prices.output_cost_per_second)
        cost += Decimal(str(usage.seconds)) * per_second
    if usage.characters > 0:
        cost += usage.characters * (prices.input_cost_per_character or _ZERO)
    if usage.images > 0:
        cost += usage.images * (image_price(prices, usage.image_variant, worst=worst) or _ZERO)
    if usage.search_units > 0:
        cost += usage.search_units * (prices.input_cost_per_query or _ZERO)
    return cost


def variant_key(text: str) -> str:
    """The canonical form of an image variant: lower case, no spaces, sizes as WxH (LiteLLM's
    `1024-x-1792` too): " HD/1024-x-1792" -> "hd/1024x1792"."""
    return "".join(text.split()).lower().replace("-x-", "x").replace("×", "x")


def image_price(prices: ModelInfo, variant: str | None, *, worst: bool = False) -> Decimal | None:
    """The price of one image of `variant` ("quality/size" or "size"): the exact entry of
    output_cost_per_image_by_size, else its size alone (a quality the table doesn't list, such as
    "auto" or "standard" where only sizes are keyed), else output_cost_per_image, else the dearest
    entry (an unknown size is never billed as free; a one-time warning says so). `worst`: the
    dearest entry whenever the variant has no entry (the budget reservation)."""
    table = prices.output_cost_per_image_by_size
    if table and variant:
        key = variant_key(variant)
        found = table.get(key)
        if found is None:
            found = table.get(key.rpartition("/")[2])
        if found is not None:
            return found
    if table and (worst or prices.output_cost_per_image is None):
        # the variant comes from the client's request: remember a bounded number of them
        if not worst and str(variant) not in _warned_variants and len(_warned_variants) < 100:
            _warned_variants.add(str(variant))
            log.warning("cost: no image price for variant %r (priced: %s); billed at the dearest",
                        variant, ", ".join(sorted(table)))
        return max(max(table.values()), prices.output_cost_per_image or _ZERO)
    return prices.output_cost_per_image


def _first(*values: Decimal | None) -> Decimal:
    return next((v for v in values if v is not None), _ZERO)


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


def estimate_max_cost(
    prices: ModelInfo | None, prompt_tokens_estimate: int, max_output_tokens: int, *,
    expected: Usage | None = None,
) -> Decimal:
    """The worst case for a budget reservation: every prompt token at the dearest prompt price
    (a cache write costs more than plain input) and every allowed output token at the output price.
    0 for an unpriced model.

    `expected`: the media quantities known before the call (speech characters, `n` images and their
    variant, 1 search unit per rerank, audio seconds bounded from the upload), added at their
    prices on top of the tokens (the sum bounds either way of billing); an image of unknown variant
    counts at the dearest listed."""
    if prices is None:
        return _ZERO
    units = unit_cost(expected, prices, worst=True) if expected is not None else _ZERO
    prompt_price = max(p for p in (prices.input_cost_per_token, prices.cache_write_cost_per_token,
                                   prices.cache_read_cost_per_token, _ZERO) if p is not None)
    return (
        max(prompt_tokens_estimate, 0) * prompt_price
        + max(max_output_tokens, 0) * (prices.output_cost_per_token or _ZERO)
        + (prices.cost_per_request or _ZERO)
        + units
    )


def unpriced_models() -> frozenset[str]:
    """Models that have been served without a price since startup (for /metrics and reports)."""
    return frozenset(_warned_unpriced)
