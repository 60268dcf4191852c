"""The catalogue package's public surface, pinned (the lead's wiring depends on these names)."""

from __future__ import annotations

import inspect

import rin.catalog
from rin.catalog.cli import run_sync_models


def test_exported_members() -> None:
    assert sorted(rin.catalog.__all__) == [
        "Catalog", "CatalogDiff", "CatalogError", "CatalogFormatError", "CatalogModel", "PriceTier", "SyncError",
        "SyncResult", "diff", "expand", "expand_cached", "fetch_catalog", "is_synced", "load_catalog",
        "openrouter_access", "parse_catalog", "sync_catalog", "write_catalog"]
    assert issubclass(rin.catalog.SyncError, rin.catalog.CatalogError)
    assert issubclass(rin.catalog.CatalogFormatError, rin.catalog.CatalogError)
    assert list(inspect.signature(rin.catalog.expand).parameters) == ["config", "catalog"]
    assert list(inspect.signature(rin.catalog.sync_catalog).parameters) == ["config", "transport", "timeout", "now"]
    assert list(inspect.signature(run_sync_models).parameters)[0] == "config_path"
