"""The machine's state around a scenario: is it quiet enough for the numbers to mean anything?

The 1-minute load average and a one-second CPU sample before the scenario, the CPU that
processes other than the bench's own (wrk, upstream, RIN, its own client) used while it ran, and
on a VM the steal time: the share of the vCPUs' time the host gave to someone else. On the 2-vCPU
VM here steal went from under 1 % to 37 % within minutes, halving nginx's own throughput with no
process in the guest to blame.
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
BUSY_STEAL = 0.03  # the host taking more than this share of the vCPUs' time makes a run "busy"


def _machine_busy_ticks(processes_only: bool = False) -> int:
    """All CPUs' busy ticks; `processes_only`: user + nice + system, the time processes' own CPU
    accounting covers (not irq/softirq, where much of the loopback traffic's kernel work lands)."""
    fields = [int(n) for n in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    if processes_only:
        return fields[0] + fields[1] + fields[2]
    return sum(fields) - fields[3] - (fields[4] if len(fields) > 4 else 0)


def _steal_ticks() -> int:
    """All CPUs' steal ticks (/proc/stat's 8th field; 0 where the kernel has none)."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    return int(fields[7]) if len(fields) > 7 else 0


class Steal:
    """The share of the vCPUs' time the host took from now until share() is asked."""

    def __init__(self) -> None:
        self.steal0, self.total0 = _steal_ticks(), _total_ticks()

    def share(self) -> float:
        return (_steal_ticks() - self.steal0) / max(1, _total_ticks() - self.total0)


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
        self.steal = Steal()
        self.own0 = _own_cpu_seconds()

    def finish(self) -> dict[str, Any]:
        wall = time.monotonic() - self.began
        machine = (_machine_busy_ticks(processes_only=True) - self.machine0) / os.sysconf("SC_CLK_TCK")
        own = _own_cpu_seconds() - self.own0
        other = max(0.0, (machine - own) / wall)
        steal = self.steal.share()
        busy = other > BUSY_CORES or self.busy_before > BUSY_BEFORE or steal > BUSY_STEAL
        return {"load1_at_start": round(self.load1, 2), "busy_before": round(self.busy_before, 3),
                "other_cores_during": round(other, 2), "steal_during": round(steal, 3),
                "elapsed_s": round(wall, 1), "busy": busy}

    @staticmethod
    def describe(state: dict[str, Any]) -> str:
        text = (f"1-min load average at start {state['load1_at_start']:.2f} on {os.cpu_count()} cores; "
                f"CPU {state['busy_before']:.0%} busy in the second before; other processes used "
                f"{state['other_cores_during']:.2f} cores during the {state['elapsed_s']:.0f} s run")
        if "steal_during" in state:
            text += f"; the host took {state['steal_during']:.1%} of the vCPUs' time (steal)"
        if state["busy"]:
            text += (" — **the machine was busy: these numbers are not meaningful, rerun when it is "
                     "idle**")
        else:
            text += " — quiet enough"
        return text
