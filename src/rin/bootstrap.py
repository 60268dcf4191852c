"""What every entry point does before it loads a config: find the config file, read `.env`, set up
logging. Shared by the `rin` command line, its subcommands and the server's worker factory, so it
imports nothing of RIN's."""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import orjson

DEFAULT_CONFIG = "config/litellm/config.yaml"

LOG_FORMATS = ("text", "json")
#: access-log lines a second by default when the operator turns it on
ACCESS_LOG_RATE = 50

_TEXT_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


def config_path(arg: str | None) -> Path:
    """The config file: `arg` (a --config flag), else $RIN_CONFIG, else the default."""
    return Path(arg or os.environ.get("RIN_CONFIG") or DEFAULT_CONFIG)


def load_dotenv_file() -> None:
    """A `.env` in the working directory fills variables that are not already set."""
    from dotenv import load_dotenv

    load_dotenv(Path.cwd() / ".env", override=False)


@dataclass(frozen=True, slots=True)
class LogSettings:
    """How the process logs: level, line format, and the per-request access log with its cap."""

    level: str = "INFO"
    format: str = "text"
    access_log: bool = False
    access_log_rate: int = ACCESS_LOG_RATE

    def as_env(self) -> dict[str, str]:
        """The same settings as variables, for worker processes (`rin serve --workers N`)."""
        return {"RIN_LOG_LEVEL": self.level, "RIN_LOG_FORMAT": self.format,
                "RIN_ACCESS_LOG": "1" if self.access_log else "0", "RIN_ACCESS_LOG_RATE": str(self.access_log_rate)}


def log_settings(level: str | None = None, fmt: str | None = None, access_log: bool | None = None,
                 rate: str | None = None, env: Mapping[str, str] | None = None) -> LogSettings:
    """Flags (None: not given) over RIN_LOG_LEVEL, RIN_LOG_FORMAT, RIN_ACCESS_LOG and
    RIN_ACCESS_LOG_RATE. Raises ValueError naming a bad value and what is allowed."""
    env = os.environ if env is None else env
    level = (level or env.get("RIN_LOG_LEVEL") or "INFO").strip().upper()
    if not isinstance(logging.getLevelName(level), int):
        raise ValueError(f"log level {level!r} is not one of DEBUG, INFO, WARNING, ERROR, CRITICAL")
    name, value = ("--log-format", fmt) if fmt is not None else ("RIN_LOG_FORMAT", env.get("RIN_LOG_FORMAT"))
    value = (value or "text").strip().lower()
    if value not in LOG_FORMATS:
        raise ValueError(f"{name}={value!r} is not a log format: use {' or '.join(LOG_FORMATS)}")
    if access_log is None:
        switch = env.get("RIN_ACCESS_LOG", "").strip().lower()
        if switch not in ("", "0", "1", "true", "false", "yes", "no", "on", "off"):
            raise ValueError(f"RIN_ACCESS_LOG={switch!r}: use 1 (on) or 0 (off)")
        access_log = switch in ("1", "true", "yes", "on")
    name, text = ("--access-log-rate", rate) if rate is not None else ("RIN_ACCESS_LOG_RATE",
                                                                      env.get("RIN_ACCESS_LOG_RATE"))
    try:
        per_second = int(text) if text not in (None, "") else ACCESS_LOG_RATE
    except ValueError:
        per_second = 0
    if per_second < 1:
        raise ValueError(f"{name}={text!r} is not a rate: use a whole number of access-log lines a second, "
                         f"1 or more (default {ACCESS_LOG_RATE})")
    return LogSettings(level, value, access_log, per_second)


def setup_logging(level: str = "INFO", fmt: str = "text") -> None:
    """Configures the root logger once per process: one record a line on stderr, at `level` (a
    logging level name), readable text or one JSON object a line (`fmt`: "text" or "json")."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(_TEXT_FORMAT))
    logging.basicConfig(level=level, handlers=[handler])


#: what every LogRecord has; anything else on a record came from `extra=` and is a structured field
_STANDARD = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "taskName"}


class JsonFormatter(logging.Formatter):
    """One JSON object a line: ts (UTC), level, logger, message, then the record's `extra` fields."""

    def format(self, record: logging.LogRecord) -> str:
        created = record.created
        entry = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(created)) + f".{int(created % 1 * 1000):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD:
                entry[key] = value
        if record.exc_info:
            entry["exc_info"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exc_info"] = record.exc_text
        return orjson.dumps(entry, default=str).decode()
