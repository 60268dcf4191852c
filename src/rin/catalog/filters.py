"""Which catalogue models become `openrouter/<id>` deployments: the `catalog:` filters.

Every filter must pass. A model whose price or context length is unknown (router entries such as
openrouter/auto) fails a filter on that value: RIN cannot show it is within the limit.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from fnmatch import fnmatchcase

from rin.catalog.model import Catalog, CatalogModel, per_million
from rin.config.resolved import CatalogSettings


def select(catalog: Catalog, settings: CatalogSettings) -> list[CatalogModel]:
    """The models that pass every filter, in catalogue order."""
    return [model for model in catalog if passes(model, settings)]


def passes(model: CatalogModel, settings: CatalogSettings) -> bool:
    if settings.include and not matches(model.id, settings.include):
        return False
    if matches(model.id, settings.exclude):
        return False
    if settings.free_only and not model.is_free:
        return False
    info = model.info
    if not _within(per_million(info.input_cost_per_token), settings.max_prompt_price):
        return False
    if not _within(per_million(info.output_cost_per_token), settings.max_completion_price):
        return False
    if settings.min_context is not None:
        return info.context_length is not None and info.context_length >= settings.min_context
    return True


def matches(model_id: str, patterns: Iterable[str]) -> bool:
    """True when a pattern matches the catalogue id (`anthropic/*`, not `openrouter/anthropic/*`:
    `openrouter/*` means OpenRouter's own router entries), ignoring case."""
    lowered = model_id.lower()
    return any(fnmatchcase(lowered, pattern.lower()) for pattern in patterns)


def _within(value: Decimal | None, limit: Decimal | None) -> bool:
    return limit is None or (value is not None and value <= limit)
