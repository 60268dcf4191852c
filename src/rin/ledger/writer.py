"""The gateway's end of the SQLite writer process (rin.spend_writer, where the why and the protocol
are): started on first use, fed one batch at a time, each batch answered once it is committed.

Anything that goes wrong with the process itself (it can't start, exits, stops answering, or the
write is interrupted half-way) kills it and raises LedgerUnavailable: the ledger keeps the batch
and tries again (the next try starts a new process). Replaying a batch the process did commit is
harmless: the insert skips request_ids already present. If the process can never start (a Python
without `rin` importable, say), `broken` turns True and the backend writes from its thread instead.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from pathlib import Path
from typing import Any

import orjson

from rin.ledger.backend import LedgerUnavailable
from rin.ledger.row import COST, QUOTED, Values
from rin.spend_writer import frame

log = logging.getLogger("rin.ledger")

#: column names as SQL (user is a keyword)


#: rows framed per step, and per line of the frame (the writer parses a line at a time): a multiple
#: of spend_writer.ROWS_PER_STATEMENT. The event loop serves requests between steps: framing a
#: 500-row batch in one go held the loop for ~0.35 ms four times a second, which the requests
#: waiting behind it saw (bench/README.md, tail latency)
FRAME_ROWS = 64


async def _framed(seq: int, rows: list[Values]) -> bytes:
    """The frame of [seq, rows] as rin.spend_writer reads it, built FRAME_ROWS rows at a time with
    the loop free in between, a step a line; Decimal costs become their exact strings."""
    parts = []
    for start in range(0, len(rows), FRAME_ROWS):
        if start:
            await asyncio.sleep(0)
        parts.append(orjson.dumps(rows[start:start + FRAME_ROWS], default=str)[1:-1])
    body = b"[%d,[\n%s\n]]" % (seq, b",\n".join(parts))  # a step a line: spend_writer.batch_parts
    return len(body).to_bytes(4, "big") + body


class WriterProcess:
    #: the interpreter that runs `-m rin.spend_writer` (this one)
    python = sys.executable

    def __init__(self, path: Path, label: str, busy_timeout: float) -> None:
        self.path = path
        self.label = label
        self.busy_timeout = busy_timeout
        #: True once the process failed to start or to answer its first batch: don't use it
        self.broken = False
        self._proc: asyncio.subprocess.Process | None = None
        self._answered = False
        self._seq = 0
        self._lock = asyncio.Lock()

    async def write(self, rows: list[Values]) -> None:
        """Returns once `rows` are committed; raises LedgerUnavailable."""
        async with self._lock:
            proc = self._proc if self._proc is not None and self._proc.returncode is None else await self._start()
            assert proc.stdin is not None and proc.stdout is not None
            self._seq += 1
            payload = await _framed(self._seq, rows)
            try:
                proc.stdin.write(payload)
                # a batch waits at most busy_timeout for the database lock; the rest is margin
                async with asyncio.timeout(self.busy_timeout + 30.0):
                    await proc.stdin.drain()
                    while True:
                        head = await proc.stdout.readexactly(4)
                        seq, error = orjson.loads(await proc.stdout.readexactly(int.from_bytes(head, "big")))
                        if seq == self._seq:
                            break
            except (OSError, asyncio.IncompleteReadError, TimeoutError) as err:
                what = "stopped answering" if isinstance(err, TimeoutError) else "exited"
                if not self._answered:
                    self.broken = True
                    log.warning("ledger: the writer process %s before its first batch (%s); writing from a "
                                "thread instead", what, type(err).__name__)
                await self._stop()
                raise LedgerUnavailable(f"{self.label}: the ledger's writer process {what}") from err
            except BaseException:
                await asyncio.shield(self._stop())  # cancelled half-way: the stream is out of step
                raise
            self._answered = True
            if error is not None:
                raise LedgerUnavailable(f"{self.label}: {error}")

    async def _start(self) -> asyncio.subprocess.Process:
        try:
            proc = await asyncio.create_subprocess_exec(
                self.python, "-m", "rin.spend_writer",
                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
        except OSError as err:
            self.broken = True
            log.warning("ledger: cannot start the writer process (%s); writing from a thread instead", err)
            raise LedgerUnavailable(f"{self.label}: cannot start the ledger's writer process") from err
        assert proc.stdin is not None
        proc.stdin.write(frame({"path": str(self.path), "busy_timeout": self.busy_timeout,
                                "columns": list(QUOTED), "cost": COST}))
        self._proc = proc
        return proc

    async def _stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.returncode is None:
            proc.kill()
            await proc.wait()

    async def close(self, timeout: float = 10.0) -> None:
        """Closes the pipe: the process finishes the batch in hand (there is none: writes are
        awaited) and exits."""
        async with self._lock:
            proc, self._proc = self._proc, None
        if proc is None:
            return
        assert proc.stdin is not None
        proc.stdin.close()
        try:
            async with asyncio.timeout(timeout):
                await proc.wait()
        except TimeoutError:
            proc.kill()
            await proc.wait()

    @property
    def pid(self) -> Any:
        return self._proc.pid if self._proc is not None else None
