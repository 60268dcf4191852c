"""Where RIN's files go. Every relative data path in a config resolves from one base, the same in
every command (`rin serve`, `rin spend`, `rin sync-models`, `rin keys`, `rin check-config`) and
never from the working directory:

    base = $RIN_DATA_DIR                  (an absolute path)
      else general_settings.data_dir      (RIN's key; a relative value is relative to the config file's folder)
      else the config file's folder

    catalog.path                    data/openrouter/models.json          -> <base>/data/openrouter/models.json
    general_settings.database_url   sqlite:///data/litellm/<file>.db     -> sqlite:////<base>/data/litellm/<file>.db
    the ledger's spill files        beside a SQLite database, else <base>/data/litellm
    the gateway's run file          <base>/data/rin.run.json (rin.runfile)

Absolute paths stay as written; a PostgreSQL URL is left alone.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

from rin.config.problems import Problems
from rin.config.resolved import CatalogSettings, GeneralSettings

DATA_DIR_VAR = "RIN_DATA_DIR"


def resolve_data_paths(config_path: Path, general: GeneralSettings, catalog: CatalogSettings,
                       env: Mapping[str, str], problems: Problems) -> None:
    """Makes `general.data_dir` the absolute base and every relative data path absolute under it."""
    base = _base(config_path, general.data_dir, env, problems)
    general.data_dir = base
    general.database_url = _sqlite_under(base, general.database_url)
    catalog.path = base / catalog.path.expanduser()


def _base(config_path: Path, setting: Path, env: Mapping[str, str], problems: Problems) -> Path:
    override = env.get(DATA_DIR_VAR, "").strip()
    if override:
        path = Path(override).expanduser()
        if not path.is_absolute():
            problems.errors.append(f"{DATA_DIR_VAR}={override!r} is a relative path: set it to an absolute one "
                                   "(relative data paths in the config resolve from it)")
        return Path(os.path.normpath(path.absolute()))
    folder = Path(config_path).absolute().parent
    return Path(os.path.normpath(folder / Path(setting).expanduser()))


def sqlite_file(database_url: str) -> Path | None:
    """The file a `sqlite:///...` URL names (relative as written), or None for any other URL."""
    if not database_url.startswith("sqlite://"):
        return None
    path = urlsplit(database_url).path[1:]
    return Path(path) if path and path != ":memory:" else None


def _sqlite_under(base: Path, database_url: str) -> str:
    file = sqlite_file(database_url)
    if file is None or file.is_absolute():
        return database_url
    parts = urlsplit(database_url)
    query = f"?{parts.query}" if parts.query else ""
    return f"sqlite:///{base / file}{query}"


def spill_dir(general: GeneralSettings) -> Path:
    """Where the ledger keeps rows while its database is down: beside a SQLite file, else
    <base>/data/litellm."""
    file = sqlite_file(general.database_url)
    return file.parent if file is not None else general.data_dir / "data" / "litellm"


def describe_data_paths(general: GeneralSettings, catalog: CatalogSettings) -> str:
    """One line for `rin check-config`: the base and where the ledger and the catalogue are."""
    file = sqlite_file(general.database_url)
    ledger = str(file) if file is not None else "the database_url's server (not a file)"
    return f"{general.data_dir} (ledger {ledger}, catalogue {catalog.path})"
