"""The OpenRouter catalogue: every model OpenRouter lists, served as `openrouter/<id>`.

    sync     GET $OPENROUTER_API_BASE/models -> chat models -> data/openrouter/models.json (atomic)
    store    the cached file: load, write, diff (added / removed / price changed)
    model    OpenRouter's JSON -> CatalogModel (+ ModelInfo), tolerant of the real data's quirks
    filters  catalog.include / exclude / free_only / max_*_price / min_context
    expand   Config + Catalog -> the Config served: hand-written entries first, enriched and checked
    pending  the cached file, read once the gateway is up; requests needing its models wait for it
    cli      `rin sync-models`

Errors:

    CatalogError             a catalogue that cannot be used
    ├── CatalogFormatError   not OpenRouter's {"data": [...]} shape
    └── SyncError            fetch failed (down, timeout, garbage, empty); the cached file is unchanged
"""

from __future__ import annotations

from rin.catalog.expand import expand, expand_cached, is_synced, openrouter_access
from rin.catalog.model import Catalog, CatalogError, CatalogFormatError, CatalogModel, PriceTier, parse_catalog
from rin.catalog.store import CatalogDiff, diff, load_catalog, write_catalog
from rin.catalog.sync import SyncError, SyncResult, fetch_catalog, sync_catalog

__all__ = [
    "Catalog", "CatalogDiff", "CatalogError", "CatalogFormatError", "CatalogModel", "PriceTier", "SyncError",
    "SyncResult", "diff", "expand", "expand_cached", "fetch_catalog", "is_synced", "load_catalog",
    "openrouter_access", "parse_catalog", "sync_catalog", "write_catalog",
]
