"""`rin serve --workers N`: what one worker does for all of them."""

from __future__ import annotations

import logging
import os
import signal

log = logging.getLogger("rin.server")


def restart_workers() -> int | None:
    """Under `rin serve --workers N` (RIN_WORKERS, set by the CLI) a reload or a catalogue sync
    reaches the one worker that took the request: SIGHUP to the supervisor (uvicorn's) replaces
    every worker, one at a time and each ready before the old one stops, so that all of them serve
    the new config and catalogue. Returns N, or None in a single process."""
    workers = int(os.environ.get("RIN_WORKERS") or 1)
    parent = os.getppid()
    if workers <= 1 or parent <= 1 or not hasattr(signal, "SIGHUP"):
        return None
    log.info("reload: restarting the %d workers (SIGHUP to the supervisor, pid %d)", workers, parent)
    os.kill(parent, signal.SIGHUP)
    return workers
