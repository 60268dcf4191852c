"""The SQLite ledger writes through a separate process (rin.spend_writer): it survives being killed,
ignores the Ctrl-C meant for the gateway, and when it can't run at all the thread writes instead."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from rin.ledger.sqlite import SqliteBackend
from tests.ledger.support import messages, row


def count(path: Path) -> int:
    with sqlite3.connect(path) as db:
        return int(db.execute("SELECT COUNT(*) FROM spend_log").fetchone()[0])


def child_of_this_process(pid: int) -> bool:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat.rsplit(")", 1)[1].split()[1]) == os.getpid()


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc to find the writer process")
def test_rows_go_through_a_child_process_that_is_replaced_when_killed(tmp_path: Path) -> None:
    db = tmp_path / "x.db"

    async def main() -> None:
        backend = SqliteBackend(db)
        await backend.open()
        await backend.write([row(i).values() for i in range(100)])
        assert backend.process is not None
        first = backend.process.pid
        assert first is not None and child_of_this_process(first)
        assert count(db) == 100  # committed before write() returned
        os.kill(first, signal.SIGINT)  # a Ctrl-C sent to the whole process group: ignored
        await backend.write([row(i).values() for i in range(100, 200)])
        assert backend.process.pid == first
        os.kill(first, signal.SIGKILL)
        await asyncio.sleep(0)  # nothing waits for it: the next write finds it gone
        retried = [row(i).values() for i in range(150, 300)]  # half of them written already
        for _ in range(2):  # the dead pipe fails once, then a new process takes over
            try:
                await backend.write(retried)
                break
            except Exception as err:  # noqa: BLE001 - the ledger's own retry does the same
                assert "writer process" in str(err)
        second = backend.process.pid
        assert second is not None and second != first and not backend.process.broken
        await backend.close()
        assert backend.process.pid is None

    asyncio.run(main())
    assert count(db) == 300  # each row once, replays included


def test_when_the_process_cannot_start_the_thread_writes(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    db = tmp_path / "x.db"
    caplog.set_level(logging.WARNING, "rin.ledger")

    async def main() -> None:
        backend = SqliteBackend(db)
        assert backend.process is not None
        backend.process.python = str(tmp_path / "no-such-python")
        await backend.open()
        await backend.write([row(i).values() for i in range(10)])
        assert backend.process.broken
        await backend.write([row(i).values() for i in range(10, 20)])
        await backend.close()

    asyncio.run(main())
    assert count(db) == 20
    assert len(messages(caplog, "cannot start the writer process")) == 1


def test_the_thread_writer_alone(tmp_path: Path) -> None:
    db = tmp_path / "x.db"

    async def main() -> None:
        backend = SqliteBackend(db, writer_process=False)
        await backend.open()
        await backend.write([row(i).values() for i in range(50)])
        await backend.write([row(i).values() for i in range(25, 75)])
        assert backend.process is None
        await backend.close()

    asyncio.run(main())
    assert count(db) == 75


@pytest.mark.skipif(not hasattr(os, "SCHED_IDLE"), reason="Linux scheduling classes")
def test_the_writer_process_takes_the_cpu_only_when_nothing_else_wants_it(tmp_path: Path) -> None:
    """Where the process may leave SCHED_IDLE again (root here), it writes in the idle class, niced;
    the class is read from the live writer process, not from our own code."""
    from rin.spend_writer import NICE

    # the rights test CpuClass makes, in a child so that our own priority stays as it is
    allowed = subprocess.run(
        [sys.executable, "-c", "import os\nos.setpriority(os.PRIO_PROCESS, 0, 11)\n"
                               "os.setpriority(os.PRIO_PROCESS, 0, 10)"], capture_output=True).returncode == 0

    async def main() -> tuple[int, int]:
        backend = SqliteBackend(tmp_path / "x.db")
        await backend.open()
        await backend.write([row(i).values() for i in range(10)])
        assert backend.process is not None and backend.process.pid is not None
        pid = backend.process.pid
        seen = os.sched_getscheduler(pid), os.getpriority(os.PRIO_PROCESS, pid)
        await backend.close()
        return seen

    policy, nice = asyncio.run(main())
    if allowed:
        assert (policy, nice) == (os.SCHED_IDLE, NICE)
    else:
        assert (policy, nice) == (os.SCHED_OTHER, NICE + 1)


@pytest.mark.skipif(not hasattr(os, "SCHED_IDLE"), reason="Linux scheduling classes")
def test_a_starved_writer_leaves_the_idle_class_for_the_next_batch() -> None:
    """A batch that waited longer than STARVED for a CPU: the next runs in the normal class (still
    niced); a batch that didn't: back to idle. Run in a child process, whose class it changes."""
    code = ("import os\nfrom rin.spend_writer import CpuClass, STARVED\n"
            "c = CpuClass()\nif not c.reversible: raise SystemExit(3)\n"
            "seen = [os.sched_getscheduler(0)]\n"
            "c.after_batch(STARVED * 2); seen += [os.sched_getscheduler(0), os.getpriority(os.PRIO_PROCESS, 0)]\n"
            "c.after_batch(0.0); seen.append(os.sched_getscheduler(0))\nprint(*seen)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if done.returncode == 3:
        pytest.skip("this user may not leave SCHED_IDLE (no CAP_SYS_NICE / RLIMIT_NICE): the writer stays niced")
    assert done.returncode == 0, done.stderr
    from rin.spend_writer import NICE

    assert done.stdout.split() == [str(os.SCHED_IDLE), str(os.SCHED_OTHER), str(NICE), str(os.SCHED_IDLE)]


def test_a_batch_is_framed_in_steps_with_the_loop_free_between_them() -> None:
    """The frame the writer process reads, built FRAME_ROWS rows at a time: other tasks (the
    requests) run between the steps instead of waiting for the whole batch. It is one JSON document
    (the frame of [seq, rows] with newlines between the steps), which the writer parses a step at a
    time and whole alike."""
    from rin.ledger.writer import FRAME_ROWS, _framed
    from rin.spend_writer import ROWS_PER_STATEMENT, batch_parts, frame

    assert FRAME_ROWS % ROWS_PER_STATEMENT == 0

    async def main() -> None:
        for count in (0, 1, FRAME_ROWS - 1, FRAME_ROWS, FRAME_ROWS + 1, 4 * FRAME_ROWS):
            rows = [row(i).values() for i in range(count)]
            framed = await _framed(9, rows)
            expected = orjson.loads(frame([9, rows], default=str)[4:])
            assert int.from_bytes(framed[:4], "big") == len(framed) - 4
            assert orjson.loads(framed[4:]) == expected
            seq, parts = batch_parts(framed[4:])
            parts = list(parts)
            assert seq == 9 and [r for part in parts for r in part] == expected[1]
            assert len(parts) == max(1, -(-count // FRAME_ROWS))  # a step a line
            assert batch_parts(frame([9, rows], default=str)[4:])[0] == 9  # one line: whole
        turns = 0

        async def other_task() -> None:
            nonlocal turns
            while True:
                turns += 1
                await asyncio.sleep(0)

        task = asyncio.create_task(other_task())
        await asyncio.sleep(0)
        before = turns
        await _framed(1, [row(i).values() for i in range(4 * FRAME_ROWS)])
        assert turns - before >= 3  # it ran between each of the four steps
        task.cancel()

    asyncio.run(main())


def _voluntary_switches(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("voluntary_ctxt_switches:"):
            return int(line.split()[1])
    raise AssertionError(f"no voluntary_ctxt_switches in /proc/{pid}/status")


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads the writer's context switches in /proc")
def test_the_writer_gives_up_its_cpu_after_every_statement(tmp_path: Path) -> None:
    """A batch's statements run with the CPU given back between them (the process sleeps, so a
    waiting client or upstream gets the CPU whatever the scheduler's groups): the live process's
    voluntary context switches grow with the statements, all rows written in one batch; its timer slack is 1 µs, so that a pause is short (the transaction is open)."""
    from rin.spend_writer import ROWS_PER_STATEMENT

    statements = 12
    db = tmp_path / "x.db"

    async def main() -> int:
        backend = SqliteBackend(db)
        await backend.open()
        await backend.write([row(i).values() for i in range(3)])  # the process is up and idle
        assert backend.process is not None and backend.process.pid is not None
        pid = backend.process.pid
        slack = Path(f"/proc/{pid}/timerslack_ns")
        assert not slack.exists() or int(slack.read_text()) == 1000
        before = _voluntary_switches(pid)
        await backend.write([row(i).values() for i in range(3, 3 + statements * ROWS_PER_STATEMENT)])
        switches = _voluntary_switches(pid) - before
        await backend.close()
        return switches

    switches = asyncio.run(main())
    assert count(db) == 3 + statements * ROWS_PER_STATEMENT
    # 11 pauses; a 20 µs sleep may end before the switch it asks for (without them: 0-2 switches)
    assert switches >= statements // 2, f"{switches} voluntary switches for {statements} statements"
