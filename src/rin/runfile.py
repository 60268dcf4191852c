"""The run file, `<data_dir>/data/rin.run.json`: a running `rin serve` says where it listens, so
`rin sync-models` finds the gateway that uses the same data folder from any working directory.

Written atomically at startup, removed on a clean shutdown; a file left by a process that is gone
(kill -9, power loss) is recognised as stale and ignored.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import orjson

log = logging.getLogger("rin")

#: under the data folder (general_settings.data_dir, rin.config.paths), beside the ledger and catalogue
RELATIVE = Path("data") / "rin.run.json"


@dataclass(frozen=True, slots=True)
class RunInfo:
    pid: int
    host: str
    port: int
    config: str
    started_at: str
    #: the machine (or container) that wrote it: its pid means something only there
    hostname: str = ""

    @property
    def url(self) -> str:
        """Where to reach it from this machine: a wildcard bind is reached on loopback."""
        host = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}.get(self.host, self.host)
        return f"http://[{host}]:{self.port}" if ":" in host else f"http://{host}:{self.port}"


def path_for(data_dir: Path) -> Path:
    return data_dir / RELATIVE


def write(data_dir: Path, host: str, port: int, config: Path) -> Path | None:
    """Writes this process's run file; None (after one warning) when the folder is not writable."""
    target = path_for(data_dir)
    info = {"pid": os.getpid(), "host": host, "port": port, "config": os.path.abspath(config),
            "started_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "hostname": socket.gethostname()}
    temp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        temp.write_bytes(orjson.dumps(info, option=orjson.OPT_INDENT_2))
        os.replace(temp, target)
    except OSError as err:
        with contextlib.suppress(OSError):
            temp.unlink()
        log.warning("could not write the run file %s (%s): `rin sync-models` will not find this gateway "
                    "on its own; give it --url", target, err.strerror or err)
        return None
    return target


def remove(path: Path) -> None:
    """Removes the run file if it is still this process's (another gateway may have replaced it)."""
    info = _read(path)
    if info is not None and info.pid == os.getpid():
        with contextlib.suppress(OSError):
            path.unlink()


def remove_on_signals(path: Path) -> None:
    """uvicorn ends a graceful SIGTERM / SIGINT shutdown by raising the signal again under the handler
    it found; this one removes the run file first, then lets the signal end the process as before."""

    def handler(sig: int, frame: object) -> None:
        remove(path)
        signal.signal(sig, signal.SIG_DFL)
        signal.raise_signal(sig)

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, handler)


def find(data_dir: Path) -> tuple[RunInfo | None, str]:
    """The live gateway that uses `data_dir`, or None and why none was found."""
    path = path_for(data_dir)
    info = _read(path)
    if info is None:
        return None, f"no run file at {path}"
    if info.hostname == socket.gethostname() and not _alive(info.pid):
        return None, f"{path} is stale: process {info.pid} is gone"
    return info, ""


def _read(path: Path) -> RunInfo | None:
    try:
        data = orjson.loads(path.read_bytes())
        return RunInfo(pid=int(data["pid"]), host=str(data["host"]), port=int(data["port"]),
                       config=str(data["config"]), started_at=str(data.get("started_at", "")),
                       hostname=str(data.get("hostname", "")))
    except (OSError, ValueError, TypeError, KeyError, orjson.JSONDecodeError):
        return None


def _alive(pid: int) -> bool:
    """The process exists and, where /proc tells, is `rin serve` (a reused pid is not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # another user's process: exists
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return True  # no /proc (macOS): the pid is all there is to go on
    args = command.split(b"\0")
    return b"serve" in args and any(os.path.basename(arg) == b"rin" for arg in args)
