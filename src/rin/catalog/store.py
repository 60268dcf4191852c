"""The cached catalogue file (`catalog.path`, default data/openrouter/models.json).

It holds OpenRouter's own entries, unchanged, for the chat models of the last good sync, plus the
time of that sync: `{"data": [...], "total_count": N, "synced_at": "2026-08-19T12:00:00Z"}`. It is
written whole to a temporary file and renamed over the old one, so a reader (or a crash) never sees
half a file, and a failed sync never replaces a good one.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import orjson

from rin.catalog.model import Catalog, CatalogError, CatalogFormatError, parse_catalog


@dataclass(frozen=True, slots=True)
class CatalogDiff:
    """What changed between two catalogues, as sorted model ids."""

    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    price_changed: tuple[str, ...] = ()


def load_catalog(path: Path) -> Catalog | None:
    """The catalogue cached at `path`; None when there is no file yet. Raises CatalogError when the
    file cannot be read or is not a catalogue."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise CatalogError(f"{path}: cannot read the catalogue ({type(exc).__name__})") from None
    try:
        doc = orjson.loads(data)
    except orjson.JSONDecodeError:
        raise CatalogError(f"{path}: the catalogue is not valid JSON; run `rin sync-models` "
                           "to fetch it again") from None
    try:
        return parse_catalog(doc, _synced_at(doc, path))
    except CatalogFormatError as exc:
        raise CatalogError(f"{path}: not a catalogue: {exc}") from None


def write_catalog(path: Path, catalog: Catalog) -> None:
    """Write `catalog` (its raw entries and sync time) to `path` atomically."""
    synced = catalog.synced_at or datetime.now(UTC)
    doc = {
        "data": list(catalog.raw_entries),
        "total_count": len(catalog.raw_entries),
        "synced_at": synced.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    write_atomic(path, orjson.dumps(doc, option=orjson.OPT_INDENT_2))


def write_atomic(path: Path, data: bytes) -> None:
    """Replace `path` with `data`: a temporary file in the same directory, flushed to disk, renamed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.chmod(tmp, _mode_of(path))
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)


def diff(old: Catalog | None, new: Catalog) -> CatalogDiff:
    """Models added, removed, and whose prices (prompt, completion, cache, per request) changed."""
    before = old.models if old is not None else {}
    after = new.models
    return CatalogDiff(
        added=tuple(sorted(after.keys() - before.keys())),
        removed=tuple(sorted(before.keys() - after.keys())),
        price_changed=tuple(sorted(
            mid for mid in after.keys() & before.keys() if after[mid].prices() != before[mid].prices()
        )),
    )


def _synced_at(doc: object, path: Path) -> datetime | None:
    """The file's `synced_at`, else its modification time (a catalogue copied in by hand)."""
    stamp = doc.get("synced_at") if isinstance(doc, dict) else None
    if isinstance(stamp, str):
        with contextlib.suppress(ValueError):
            parsed = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    try:
        return datetime.fromtimestamp(path.stat().st_mtime, UTC)
    except OSError:
        return None


def _mode_of(path: Path) -> int:
    """The replaced file's permissions; a new file is readable by all (mkstemp's default is 0600)."""
    try:
        return stat.S_IMODE(path.stat().st_mode)
    except OSError:
        return 0o644


def _fsync_dir(directory: Path) -> None:
    """Make the rename itself durable (POSIX); a no-op where directories cannot be opened."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
