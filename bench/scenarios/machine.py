"""The machine's state around a scenario: is it quiet enough for the numbers to mean anything?

The 1-minute load average and a one-second CPU sample before the scenario, and the CPU that
processes other than the bench's own (wrk, upstream, RIN, its own client) used while it ran.
"""

from __future__ import annotations

import os
import resource
import time
from pathlib import Path
from typing import Any

from bench.gateways import cpu_seconds

BUSY_CORES = 0.25  # other processes using more than this many cores makes a run "busy"
BUSY_BEFORE = 0.15  # the same for the one-second sample before the run (as the main bench)


def _machine_busy_ticks(processes_only: bool = False) -> int:
    """All CPUs' busy ticks; `processes_only`: user + nice + system, the time processes' own CPU
    accounting covers (not irq/softirq, where much of the loopback traffic's kernel work lands)."""
    fields = [int(n) for n in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    if processes_only:
        return fields[0] + fields[1] + fields[2]
    return sum(fields) - fields[3] - (fields[4] if len(fields) > 4 else 0)


def _own_cpu_seconds() -> float:
    """CPU used by this process, its live descendants and every child it has reaped."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return cpu_seconds(os.getpid()) + children.ru_utime + children.ru_stime


def cpu_busy(seconds: float = 1.0) -> float:
    t0, b0 = _total_ticks(), _machine_busy_ticks()
    time.sleep(seconds)
    t1, b1 = _total_ticks(), _machine_busy_ticks()
    return (b1 - b0) / max(1, t1 - t0)


def _total_ticks() -> int:
    return sum(int(n) for n in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:])


class MachineWatch:
    """The 1-minute load average and a CPU sample before a scenario; others' CPU during it."""

    def __init__(self) -> None:
        self.load1 = os.getloadavg()[0]
        self.busy_before = cpu_busy(1.0)
        self.began = time.monotonic()
        self.machine0 = _machine_busy_ticks(processes_only=True)
        self.own0 = _own_cpu_seconds()

    def finish(self) -> dict[str, Any]:
        wall = time.monotonic() - self.began
        machine = (_machine_busy_ticks(processes_only=True) - self.machine0) / os.sysconf("SC_CLK_TCK")
        own = _own_cpu_seconds() - self.own0
        other = max(0.0, (machine - own) / wall)
        busy = other > BUSY_CORES or self.busy_before > BUSY_BEFORE
        return {"load1_at_start": round(self.load1, 2), "busy_before": round(self.busy_before, 3),
                "other_cores_during": round(other, 2), "elapsed_s": round(wall, 1), "busy": busy}

    @staticmethod
    def describe(state: dict[str, Any]) -> str:
        text = (f"1-min load average at start {state['load1_at_start']:.2f} on {os.cpu_count()} cores; "
                f"CPU {state['busy_before']:.0%} busy in the second before; other processes used "
                f"{state['other_cores_during']:.2f} cores during the {state['elapsed_s']:.0f} s run")
        if state["busy"]:
            text += (" — **the machine was busy: these numbers are not meaningful, rerun when it is "
                     "idle**")
        else:
            text += " — quiet enough"
        return text
