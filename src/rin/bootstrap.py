"""What every entry point does before it loads a config: find the config file, read `.env`, set up
logging. Shared by the `rin` command line, its subcommands and the server's worker factory, so it
imports nothing of RIN's."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

DEFAULT_CONFIG = "config/litellm/config.yaml"


def config_path(arg: str | None) -> Path:
    """The config file: `arg` (a --config flag), else $RIN_CONFIG, else the default."""
    return Path(arg or os.environ.get("RIN_CONFIG") or DEFAULT_CONFIG)


def load_dotenv_file() -> None:
    """A `.env` in the working directory fills variables that are not already set."""
    from dotenv import load_dotenv

    load_dotenv(Path.cwd() / ".env", override=False)


def setup_logging(level: str = "INFO") -> None:
    """Configures the root logger once per process: one line per record on stderr, at `level`
    (a logging level name such as "INFO" or "DEBUG")."""
    logging.basicConfig(
        level=level, format="%(asctime)s %(levelname)-7s %(name)s: %(message)s", stream=sys.stderr
    )
