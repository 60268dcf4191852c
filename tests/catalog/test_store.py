"""The cached catalogue file: written whole or not at all, read back exactly, diffed."""

from __future__ import annotations

import json
import os
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal as D
from pathlib import Path

import pytest

from rin.catalog import CatalogError, diff, load_catalog, parse_catalog, write_catalog
from tests.catalog.support import entry, excerpt, excerpt_doc

WHEN = datetime(2026, 8, 19, 12, 30, tzinfo=UTC)


def test_a_written_catalogue_reads_back_the_same(tmp_path: Path) -> None:
    path = tmp_path / "data" / "openrouter" / "models.json"
    written = replace(excerpt(), synced_at=WHEN)
    write_catalog(path, written)
    doc = json.loads(path.read_bytes())
    assert doc["synced_at"] == "2026-08-19T12:30:00Z" and doc["total_count"] == 11
    chat = [e for e in excerpt_doc()["data"] if e["id"] in written.models]
    assert doc["data"] == chat  # OpenRouter's own entries, unchanged
    loaded = load_catalog(path)
    assert loaded is not None
    assert loaded.models == written.models and loaded.synced_at == WHEN
    assert [p.name for p in path.parent.iterdir()] == ["models.json"]  # no temporary file left
    assert path.stat().st_mode & 0o777 == 0o644  # not mkstemp's 0600: other users (containers) read it
    path.chmod(0o640)
    write_catalog(path, written)
    assert path.stat().st_mode & 0o777 == 0o640  # a replaced file keeps its permissions


def test_a_failed_write_leaves_the_old_file_and_no_debris(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "models.json"
    write_catalog(path, replace(excerpt(), synced_at=WHEN))
    good = path.read_bytes()

    def refuse(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(OSError):
        write_catalog(path, parse_catalog({"data": [entry("openai/gpt-4o")]}))
    assert path.read_bytes() == good
    assert [p.name for p in tmp_path.iterdir()] == ["models.json"]


def test_load_without_a_file_is_none_and_a_damaged_file_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "models.json"
    assert load_catalog(path) is None
    path.write_bytes(b"<html>502</html>")
    with pytest.raises(CatalogError, match=r"models\.json: the catalogue is not valid JSON; run `rin sync-models`"):
        load_catalog(path)
    path.write_text('{"data": "nope"}', encoding="utf-8")
    with pytest.raises(CatalogError, match=r"models\.json: not a catalogue: expected a JSON object"):
        load_catalog(path)


def test_a_raw_openrouter_dump_copied_in_by_hand_is_dated_by_its_mtime(tmp_path: Path) -> None:
    path = tmp_path / "models.json"
    path.write_text(json.dumps(excerpt_doc()), encoding="utf-8")
    os.utime(path, (WHEN.timestamp(), WHEN.timestamp()))
    loaded = load_catalog(path)
    assert loaded is not None and loaded.synced_at == WHEN and len(loaded) == 11


def test_diff_reports_added_removed_and_price_changes() -> None:
    new = excerpt()
    old_doc = excerpt_doc()
    old_doc["data"] = [e for e in old_doc["data"] if e["id"] != "openai/gpt-4o"]
    gone = entry("writer/palmyra-x5")
    gone["id"] = "writer/palmyra-x4"
    old_doc["data"].append(gone)
    for e in old_doc["data"]:
        if e["id"] == "anthropic/claude-3-haiku":
            e["pricing"]["input_cache_write"] = "0.0000004"
        if e["id"] == "writer/palmyra-x5":
            e["name"] = "renamed, same prices"
    change = diff(parse_catalog(old_doc), new)
    assert change.added == ("openai/gpt-4o",)
    assert change.removed == ("writer/palmyra-x4",)
    assert change.price_changed == ("anthropic/claude-3-haiku",)
    assert new.models["anthropic/claude-3-haiku"].info.cache_write_cost_per_token == D("0.0000003")


def test_diff_against_nothing_adds_everything() -> None:
    change = diff(None, excerpt())
    assert len(change.added) == 11 and change.removed == () == change.price_changed
