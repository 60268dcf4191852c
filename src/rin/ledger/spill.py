"""Rows that can't reach the database yet, kept on local disk as JSON lines, so that neither a long
outage nor a shutdown during one loses spend.

Each process appends to its own file, `rin-spend-spill-<host>-<pid>.jsonl`, and holds an exclusive
`flock` on it while open. A file whose lock another process can take belongs to a process that is
gone: that process claims it, replays it and deletes it. Replaying twice is harmless, because the
insert skips request_ids already present. Every method does file I/O: call them off the event loop.
"""

from __future__ import annotations

import fcntl
import logging
import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import orjson

from rin.ledger.row import SpendRow, Values, values_dict

log = logging.getLogger("rin.ledger")
PATTERN = "rin-spend-spill-*.jsonl"


class SpillFile:
    """One spill file and the lock this process holds on it."""

    def __init__(self, path: Path, file: BinaryIO) -> None:
        self.path = path
        self.file = file
        self.rows = sum(1 for _ in file)
        if file.tell() and (file.seek(-1, os.SEEK_END), file.read(1))[1] != b"\n":
            file.write(b"\n")  # a torn last line must not swallow the next row appended

    @classmethod
    def lock(cls, path: Path) -> SpillFile | None:
        """Opens and locks `path`; None when a live process holds it."""
        file = open(path, "a+b")  # noqa: SIM115 - held open (and locked) until released
        try:
            fcntl.flock(file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            file.close()
            return None
        file.seek(0)
        return cls(path, file)

    def batches(self, size: int) -> Iterator[list[Values]]:
        """The rows, `size` at a time, checked again (SpendRow). A torn last line (a hard kill
        mid-write) is skipped."""
        self.file.seek(0)
        batch: list[Values] = []
        for number, line in enumerate(self.file, 1):
            try:
                batch.append(SpendRow.from_dict(orjson.loads(line)).values())
            except (orjson.JSONDecodeError, TypeError, ValueError, KeyError) as err:
                log.error("ledger: skipped unreadable line %d of %s (%s)", number, self.path, type(err).__name__)
                continue
            if len(batch) >= size:
                yield batch
                batch = []
        if batch:
            yield batch

    def append(self, rows: list[Values]) -> None:
        self.file.write(b"".join(orjson.dumps(values_dict(row)) + b"\n" for row in rows))
        self.file.flush()
        os.fsync(self.file.fileno())
        self.rows += len(rows)

    def empty(self) -> None:
        self.file.truncate(0)
        self.file.flush()
        self.rows = 0

    def delete(self) -> None:
        self.path.unlink(missing_ok=True)
        self.file.close()

    def release(self) -> None:
        self.file.close()


class Spill:
    """This process's spill file plus the orphaned ones it has claimed."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.own: SpillFile | None = None
        self.claimed: list[SpillFile] = []

    @property
    def rows(self) -> int:
        return (self.own.rows if self.own else 0) + sum(f.rows for f in self.claimed)

    def _open_own(self) -> SpillFile:
        if self.own is None:
            self.directory.mkdir(parents=True, exist_ok=True)
            name = f"rin-spend-spill-{socket.gethostname()}-{os.getpid()}"
            own = SpillFile.lock(self.directory / f"{name}.jsonl")
            # Same host name and pid as a live process: two containers sharing a volume, both pid 1.
            self.own = own or SpillFile.lock(self.directory / f"{name}-{uuid.uuid4().hex[:8]}.jsonl")
        assert self.own is not None
        return self.own

    def append(self, rows: list[Values]) -> None:
        self._open_own().append(rows)

    def claim_orphans(self) -> int:
        """Claims the files of processes that are gone; returns how many rows they hold."""
        if not self.directory.is_dir():
            return 0
        held = {f.path for f in self.claimed} | ({self.own.path} if self.own else set())
        found = 0
        for path in sorted(self.directory.glob(PATTERN)):
            if path in held:
                continue
            spill = SpillFile.lock(path)
            if spill is not None:
                self.claimed.append(spill)
                found += spill.rows
        return found

    def sources(self) -> list[SpillFile]:
        """Files with rows to replay, oldest first (claimed orphans before this process's own)."""
        own = [self.own] if self.own and self.own.rows else []
        return [*self.claimed, *own]

    def replayed(self, spill: SpillFile) -> None:
        if spill is self.own:
            spill.empty()
        else:
            spill.delete()
            self.claimed.remove(spill)

    def close(self) -> None:
        """Releases every lock; this process's file is deleted when empty, else left for the next start."""
        for spill in self.claimed:
            spill.release()
        self.claimed.clear()
        if self.own is not None:
            if self.own.rows:
                self.own.release()
            else:
                self.own.delete()
            self.own = None
