"""The SQLite ledger's writer process: `python -m rin.spend_writer`, started by rin.ledger.sqlite.

Why a process: SQLite's inserts ran in a thread of the gateway, and binding each batch's parameters
holds the GIL the event loop needs; measured against the same gateway with the ledger off, that
thread cost about 9% of throughput, a writer process about 1% (bench/README.md, scenario ledger).

Protocol on stdin / stdout, each frame a 4-byte big-endian length and a JSON document:
  parent -> child  first {"path", "busy_timeout", "columns", "cost"}, then [seq, rows] per batch,
                   rows being arrays in `columns` order with the cost as a decimal string
  child -> parent  [seq, null] once the batch is committed, or [seq, "error text"] if it is not
A batch frame's rows are one framing step a line (the parent's FRAME_ROWS), which the writer parses
a line at a time (`batch_parts`); a frame on one line is parsed whole.
A batch is one transaction: all of it is written or none. EOF on stdin (the gateway closed the pipe,
or died) ends the process after the batch in hand. SIGINT and SIGTERM are ignored, so that a Ctrl-C
or a stop sent to the whole process group can't cut the gateway's last flush short.

This module imports nothing heavy (no asyncio, no rin.ledger): it starts in a few dozen ms.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import struct
import sys
import time
from decimal import Decimal
from functools import lru_cache
from collections.abc import Iterable, Iterator
from typing import Any, BinaryIO

import orjson

from rin.money import decimal_text

_LENGTH = struct.Struct("!I")
#: rows per INSERT statement. The same statement text every time but for a line's remainder, so
#: sqlite3 prepares each once and reuses it. (One statement for the whole batch was prepared anew for
#: every batch size: 14-18 µs of the writer's CPU a row against 9.6 for fixed chunks.) 16 rows take
#: ~150 µs of CPU; rin.ledger.writer's FRAME_ROWS, the rows of a line, is a multiple of it.
ROWS_PER_STATEMENT = 16
#: the writer's sleep between statements (s): Writer.write says why. Linux lengthens a sleep by the
#: thread's timer slack (50 µs by default: ~100 µs taken); main() sets this process's to 1 µs.
PAUSE = 0.00002


def read_body(stream: BinaryIO) -> bytes | None:
    """The next frame's JSON text, or None at EOF (a torn frame counts as EOF)."""
    head = stream.read(_LENGTH.size)
    if len(head) < _LENGTH.size:
        return None
    (size,) = _LENGTH.unpack(head)
    body = stream.read(size)
    return body if len(body) == size else None


def read_frame(stream: BinaryIO) -> Any:
    """The next frame's document, or None at EOF."""
    body = read_body(stream)
    return None if body is None else orjson.loads(body)


def batch_parts(body: bytes) -> tuple[int, Iterator[list[list[Any]]]]:
    """A batch frame's seq, and its rows parsed a line at a time as they are written.

    rin.ledger.writer puts each framing step's rows on a line of their own (JSON allows the
    newlines; orjson's text has none inside values): parsing a 600-row batch in one call held the
    writer's CPU for 0.6-2 ms after its sleep between batches, a line is ~64 rows. A frame on
    one line is parsed whole."""
    head, newline, rest = body.partition(b"\n")
    if not newline:
        seq, rows = orjson.loads(body)
        return seq, iter([rows])
    if not head.startswith(b"[") or not head.endswith(b",["):
        raise ValueError(f"not a batch frame: {head[:40]!r}")
    lines = rest.split(b"\n")[:-1]  # the last line closes the arrays
    return int(head[1:-2]), (orjson.loads(b"[" + line.rstrip(b",") + b"]") for line in lines)


@lru_cache(maxsize=64)
def insert_statement(columns: tuple[str, ...], count: int) -> str:
    """INSERT OR IGNORE of `count` rows of `columns` (request_id is the key: a row sent twice is kept once)."""
    values = "(" + ", ".join("?" * len(columns)) + ")"
    return f"INSERT OR IGNORE INTO spend_log ({', '.join(columns)}) VALUES " + ", ".join([values] * count)


def frame(document: Any, default: Any = None) -> bytes:
    body = orjson.dumps(document, default=default)
    return _LENGTH.pack(len(body)) + body


class Writer:
    def __init__(self, path: str, busy_timeout: float, columns: list[str], cost: int) -> None:
        self.path = path
        self.busy_timeout = busy_timeout
        self.columns = tuple(columns)
        self.cost = cost
        self.db: sqlite3.Connection | None = None

    def params(self, rows: list[list[Any]]) -> list[Any]:
        """The rows' values in one list, the cost (a decimal string) in its canonical text."""
        params: list[Any] = []
        cost = self.cost
        for row in rows:
            row[cost] = decimal_text(Decimal(row[cost]))
            params.extend(row)
        return params

    def connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=self.busy_timeout, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        return db

    def write(self, parts: Iterable[list[list[Any]]]) -> None:
        """The rows of `parts` in one transaction, the CPU given up for a moment after every
        statement: neither the writer's niceness nor SCHED_IDLE holds across scheduling groups.
        With autogroup (a group a session, Linux's default) or a cgroup a service, a client or
        upstream woken on the writer's CPU waited until the writer's whole group had used its
        slice, up to the next tick (4 ms at HZ=250): `perf sched` showed nginx and wrk waiting 2-3
        ms behind 3-7 ms runs of this process (bench/README.md, tail latency). A sleep ends every
        run within a statement's time (~150 µs), whatever the groups. On any error the connection
        is dropped and made again next time (after "disk I/O error" or a replaced file the old one
        may never recover)."""
        db = self.db = self.db or self.connect()
        try:
            db.execute("BEGIN IMMEDIATE")
            pause = False
            for rows in parts:
                for start in range(0, len(rows), ROWS_PER_STATEMENT):
                    if pause:  # between statements only: none after the last, the lock is held
                        time.sleep(PAUSE)
                    chunk = rows[start:start + ROWS_PER_STATEMENT]
                    db.execute(insert_statement(self.columns, len(chunk)), self.params(chunk))
                    pause = True
            db.execute("COMMIT")
        except BaseException:
            try:
                if db.in_transaction:
                    db.execute("ROLLBACK")
            except sqlite3.Error:
                pass
            db.close()
            self.db = None
            raise


#: the niceness the writer keeps in any scheduling class: bookkeeping yields the CPU to requests
NICE = 10
#: a batch that waited longer than this for a CPU in total (s) means the machine has no idle time
#: left for an idle-class process: the next batch runs in the normal class (at NICE) instead
STARVED = 0.25


class CpuClass:
    """The writer's CPU scheduling: Linux's SCHED_IDLE while the machine has idle time, so that a
    waking request-path process (the gateway, its client, a local upstream) takes the writer's
    CPU at once. In the normal class, even niced, the writer kept its CPU for the rest of its time
    slice (1.4 ms on a 2-vCPU machine): `perf sched` showed 40 % of the gateway chain's wakeups
    that waited >= 0.5 ms for a CPU waiting behind this process (bench/README.md, tail latency).

    A machine busy all the time gives an idle-class process almost nothing, so after a batch that
    waited over STARVED for a CPU the next one runs in the normal class, niced. Linux lets a process
    leave SCHED_IDLE only if it may lower its niceness to NICE (root with CAP_SYS_NICE, or
    RLIMIT_NICE); where it may not (an ordinary user, a default container), the writer never enters
    the idle class and stays niced, as before."""

    def __init__(self) -> None:
        self.idle = False
        self.reversible = False
        try:
            # the test Linux applies to leaving SCHED_IDLE, made without entering it: may we lower
            # our niceness to NICE? (raising it to NICE + 1 needs no right)
            os.setpriority(os.PRIO_PROCESS, 0, NICE + 1)
            os.setpriority(os.PRIO_PROCESS, 0, NICE)
            self.reversible = hasattr(os, "SCHED_IDLE")
        except (OSError, AttributeError):
            pass  # not Linux, or not allowed: niced (NICE + 1) or normal priority
        self.use_idle(True)

    def use_idle(self, idle: bool) -> None:
        if idle == self.idle or not self.reversible:
            return
        try:
            os.sched_setscheduler(0, os.SCHED_IDLE if idle else os.SCHED_OTHER, os.sched_param(0))
        except OSError:
            self.reversible = False  # in whichever class it is now
            return
        self.idle = idle

    @staticmethod
    def waited() -> float:
        """Seconds this thread has spent runnable but waiting for a CPU (0.0 where unknown)."""
        try:
            with open("/proc/thread-self/schedstat", "rb") as stats:
                return int(stats.read().split()[1]) / 1e9
        except (OSError, IndexError, ValueError):
            return 0.0

    def after_batch(self, waited: float) -> None:
        self.use_idle(waited < STARVED)


def _precise_sleeps() -> None:
    """A timer slack of 1 µs for this process (Linux's prctl), so PAUSE is ~20 µs, not ~100: the
    pauses fall inside the batch's transaction, which other writers of the file wait for."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(29, 1000, 0, 0, 0)  # PR_SET_TIMERSLACK, in ns
    except (OSError, AttributeError):
        pass  # not Linux (or no prctl): the default slack


def main() -> int:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    cpu = CpuClass()
    _precise_sleeps()
    source, sink = sys.stdin.buffer, sys.stdout.buffer
    setup = read_frame(source)
    if setup is None:
        return 0
    writer = Writer(setup["path"], float(setup["busy_timeout"]), list(setup["columns"]), int(setup["cost"]))
    while (body := read_body(source)) is not None:
        seq, parts = batch_parts(body)
        before = cpu.waited()
        try:
            writer.write(parts)
            reply: Any = None
        except (sqlite3.Error, OSError, ArithmeticError, ValueError, TypeError) as err:
            reply = f"{type(err).__name__}: {err}"
        cpu.after_batch(cpu.waited() - before)
        sink.write(frame([seq, reply]))
        sink.flush()
    if writer.db is not None:
        writer.db.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
