"""OpenRouter's `GET /models` JSON -> typed `CatalogModel`s, tolerantly.

The real data has prices as decimal strings (USD per token), `"-1"` for router entries whose price
depends on the model they pick, null limits, `~`-prefixed alias ids, `pricing.overrides` tiers
for long prompts, and grows new fields often. Unknown fields are ignored; an entry without an id is
skipped and counted; only models that answer in text (chat models) or draw (image models, mode
image_generation) are kept.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from rin.types import Deployment, ModelInfo

#: `:suffix` shortcuts OpenRouter resolves to the base model (same prices and limits)
ROUTING_SUFFIXES = frozenset({"nitro", "floor", "online", "exacto"})
_MILLION = Decimal(1_000_000)


class CatalogError(Exception):
    """Base of the catalogue's errors: `CatalogFormatError`, `rin.catalog.sync.SyncError`."""


class CatalogFormatError(CatalogError):
    """A document (fetched or cached) that is not OpenRouter's model list (`{"data": [...]}`)."""


@dataclass(frozen=True, slots=True)
class PriceTier:
    """A `pricing.overrides` entry: prices (USD per token) that apply from `min_prompt_tokens` on."""

    min_prompt_tokens: int | None
    prompt: Decimal | None
    completion: Decimal | None
    cache_read: Decimal | None = None
    cache_write: Decimal | None = None


@dataclass(frozen=True, slots=True)
class CatalogModel:
    """One catalogue entry, with what RIN acts on; `info` is its ModelInfo for deployments."""

    id: str
    name: str
    info: ModelInfo
    input_modalities: tuple[str, ...] = ()
    output_modalities: tuple[str, ...] = ()
    supported_parameters: frozenset[str] = frozenset()
    #: long-prompt price tiers; `info` keeps the base price (what most requests pay)
    price_tiers: tuple[PriceTier, ...] = ()
    #: for `~` alias ids: the model it currently points at
    alias_target: str | None = None

    @property
    def is_alias(self) -> bool:
        return self.id.startswith("~")

    @property
    def variable_price(self) -> bool:
        """A router entry (openrouter/auto): its price is that of whichever model it picks."""
        return self.info.input_cost_per_token is None and self.info.output_cost_per_token is None

    @property
    def is_free(self) -> bool:
        info = self.info
        return (info.input_cost_per_token == 0 and info.output_cost_per_token == 0
                and not info.cost_per_request)

    def prices(self) -> tuple[Decimal | None, ...]:
        """The prices compared when telling whether a model's price changed."""
        i = self.info
        return (i.input_cost_per_token, i.output_cost_per_token, i.cache_read_cost_per_token,
                i.cache_write_cost_per_token, i.cost_per_request)


@dataclass(frozen=True, slots=True)
class Catalog:
    """The chat models of one OpenRouter model list, by id, in the list's order."""

    models: Mapping[str, CatalogModel]
    #: when it was fetched (from the file RIN wrote), None when unknown
    synced_at: datetime | None = None
    #: entries dropped: without a usable id (or repeating one) / not answering in text
    skipped: int = 0
    not_text: int = 0
    raw_entries: tuple[dict[str, Any], ...] = field(default=(), repr=False, compare=False)

    def __len__(self) -> int:
        return len(self.models)

    def __iter__(self) -> Iterator[CatalogModel]:
        return iter(self.models.values())

    def __contains__(self, model_id: object) -> bool:
        return model_id in self.models

    def get(self, model_id: str) -> CatalogModel | None:
        """The entry for `model_id`; `vendor/model:nitro` and the other routing shortcuts resolve to
        `vendor/model`."""
        found = self.models.get(model_id)
        if found is None:
            base, sep, suffix = model_id.rpartition(":")
            if sep and suffix in ROUTING_SUFFIXES:
                found = self.models.get(base)
        return found

    def lookup(self, dep: Deployment) -> ModelInfo | None:
        """`rin.cost.CatalogLookup`: the catalogue's ModelInfo for an OpenRouter deployment."""
        if dep.provider != "openrouter":
            return None
        found = self.get(dep.provider_model)
        return found.info if found is not None else None


def parse_catalog(doc: Any, synced_at: datetime | None = None) -> Catalog:
    """The chat and image models in a decoded `GET /models` document. Raises CatalogFormatError for a document
    that is not a model list; individual bad entries are skipped and counted, never fatal."""
    if not isinstance(doc, dict) or not isinstance(doc.get("data"), list):
        got = type(doc).__name__ if not isinstance(doc, dict) else f"keys {sorted(doc)[:5]}"
        raise CatalogFormatError(f'expected a JSON object {{"data": [...]}}, got {got}')
    models: dict[str, CatalogModel] = {}
    raw: list[dict[str, Any]] = []
    skipped = not_text = 0
    for entry in doc["data"]:
        model = parse_model(entry)
        if model is None or model.id in models:
            skipped += 1
        elif "text" not in model.output_modalities and "image" not in model.output_modalities:
            not_text += 1
        else:
            models[model.id] = model
            raw.append(entry)
    return Catalog(models, synced_at, skipped, not_text, tuple(raw))


def parse_model(entry: Any) -> CatalogModel | None:
    """One entry, or None when it has no usable id."""
    if not isinstance(entry, dict):
        return None
    model_id = entry.get("id")
    if not isinstance(model_id, str) or not model_id.strip():
        return None
    model_id = model_id.strip()
    arch = _mapping(entry.get("architecture"))
    top = _mapping(entry.get("top_provider"))
    pricing = _mapping(entry.get("pricing"))
    inputs = _modalities(arch, "input_modalities", 0)
    outputs = _modalities(arch, "output_modalities", 1)
    params = frozenset(p for p in _list(entry.get("supported_parameters")) if isinstance(p, str))
    known_params = isinstance(entry.get("supported_parameters"), list)
    raw_name = entry.get("name")
    name = raw_name.strip() if isinstance(raw_name, str) and raw_name.strip() else model_id
    prompt, completion, request = (price(pricing.get(k)) for k in ("prompt", "completion", "request"))
    info = ModelInfo(
        context_length=_count(entry.get("context_length")) or _count(top.get("context_length")),
        max_output_tokens=_count(top.get("max_completion_tokens")),
        supports_vision="image" in inputs if inputs else None,
        supports_function_calling="tools" in params if known_params else None,
        supports_reasoning=bool(params & {"reasoning", "include_reasoning"}) if known_params else None,
        supports_response_format=(bool(params & {"response_format", "structured_outputs"})
                                  if known_params else None),
        input_cost_per_token=prompt,
        output_cost_per_token=completion,
        cache_read_cost_per_token=price(pricing.get("input_cache_read")),
        cache_write_cost_per_token=price(pricing.get("input_cache_write")),
        cost_per_request=request,
        display_name=name,
        # models that only draw are served by /v1/images/generations (through OpenRouter's chat), not
        # by chat; those that also write (and the router, openrouter/auto) stay chat models
        mode="image_generation" if "image" in outputs and "text" not in outputs else "chat",
        price_source="catalog" if (prompt, completion, request) != (None, None, None) else None,
    )
    target = _mapping(entry.get("alias_target")).get("slug")
    return CatalogModel(
        id=model_id,
        name=name,
        info=info,
        input_modalities=inputs,
        output_modalities=outputs,
        supported_parameters=params,
        price_tiers=tuple(t for t in map(_tier, _list(pricing.get("overrides"))) if t is not None),
        alias_target=target if isinstance(target, str) else None,
    )


def price(value: Any) -> Decimal | None:
    """A price (USD per token) from OpenRouter's decimal string; None for "-1" (variable, router
    entries), negatives, and anything unreadable."""
    if value is None or isinstance(value, bool):
        return None
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        return None
    return amount if amount.is_finite() and amount >= 0 else None


def per_million(per_token: Decimal | None) -> Decimal | None:
    return None if per_token is None else per_token * _MILLION


def _modalities(arch: Mapping[str, Any], key: str, side: int) -> tuple[str, ...]:
    """`architecture.input_modalities` / `output_modalities`, else that side of `modality`
    ("text+image->text")."""
    listed = arch.get(key)
    if isinstance(listed, list):
        return tuple(m for m in listed if isinstance(m, str))
    modality = arch.get("modality")
    if isinstance(modality, str) and "->" in modality:
        return tuple(m for m in modality.split("->", 1)[side].strip().split("+") if m)
    return ()


def _tier(value: Any) -> PriceTier | None:
    if not isinstance(value, dict):
        return None
    return PriceTier(
        min_prompt_tokens=_count(value.get("min_prompt_tokens")),
        prompt=price(value.get("prompt")),
        completion=price(value.get("completion")),
        cache_read=price(value.get("input_cache_read")),
        cache_write=price(value.get("input_cache_write")),
    )


def _count(value: Any) -> int | None:
    """A positive whole number of tokens, or None (null, zero, or not a number)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return int(value) if value > 0 and value == int(value) else None


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []
