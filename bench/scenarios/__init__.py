"""Scenarios: `python -m bench --scenario NAME[,NAME...]` or `--scenario all`.

Each scenario starts its own fake upstream and RIN processes on 127.0.0.1, runs bounded loads (a
few seconds each), prints a small markdown table and adds its section to
bench/results/latest.{json,md}. Every section records the machine's state (`machine.py`): the
1-minute load average and a one-second CPU sample at the start, and the CPU that processes other
than the bench's own used while the scenario ran. Numbers from a busy machine are flagged, not
trusted.

One module a scenario, named as the scenario, whose `run(ctx: Ctx) -> {"data", "markdown"}` does
the work (its docstring's first line is printed as the scenario starts); `harness.py` holds what
they share. A new scenario is a new module here plus its name in `NAMES`:

- fallback: a successful fallback's extra latency over a direct success (issue 3)
- outage:   a persistent outage makes no retry storm: upstream attempts per client request (issue 3)
- ledger:   throughput with the spend ledger on vs off, and its write lag (issue 4)
- workers:  throughput with `rin serve --workers 1` vs `--workers 2` (issue 6)
- cache:    cache-hit latency and throughput, local and Redis (issue 6)
- keys:     throughput and latency with the master key vs a virtual key
- budgets:  throughput with no budget, a hard global budget in-process, and the same via Redis
- protocols: added latency on /v1/messages and /v1/responses (native and translated) beside chat
  (also `python -m bench --protocols`)
- tracing:  throughput with OpenTelemetry tracing on (to a dead endpoint) vs off (issue 15)
- startup:  the default config's spawn -> first 200 and RSS right after, new and existing database (issue 16)
- tail:     added p50/p99/p99.9 at c=1 and c=50 against nginx over long runs, ledger + keys + cache on (issue 16)
"""

from __future__ import annotations

import argparse
import importlib
import tempfile
from contextlib import ExitStack
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from bench import report
from bench.gateways import GatewayError
from bench.scenarios.harness import Ctx, say
from bench.scenarios.machine import MachineWatch
from bench.upstream import Upstream

# The scenarios, in the order `--scenario all` runs them; each is the module bench/scenarios/NAME.py.
NAMES = ("fallback", "outage", "ledger", "workers", "cache", "keys", "budgets", "protocols", "tracing",
         "startup", "tail")


def scenario(name: str) -> Callable[[Ctx], dict[str, Any]]:
    """The `run` function of the scenario `name` (imported on first use)."""
    run_scenario: Callable[[Ctx], dict[str, Any]] = importlib.import_module(f"{__name__}.{name}").run
    return run_scenario


def parse_names(values: list[str]) -> list[str]:
    names: list[str] = []
    for value in values:
        for name in value.split(","):
            name = name.strip()
            if name == "all":
                names += [n for n in NAMES if n not in names]
            elif name and name not in names:
                names.append(name)
    return names


def run(names: list[str], args: argparse.Namespace) -> int:
    failed = 0
    for name in names:
        run_scenario = scenario(name)
        say(f"scenario {name}: {(run_scenario.__doc__ or name).strip().splitlines()[0]}")
        watch = MachineWatch()
        say(f"scenario {name}: 1-min load average {watch.load1:.2f}, CPU {watch.busy_before:.0%} busy")
        notes: list[str] = []
        try:
            with Upstream() as upstream, tempfile.TemporaryDirectory(prefix=f"rin-bench-{name}-") as tmp, \
                    ExitStack() as stack:
                ctx = Ctx(args, upstream, Path(tmp), stack, notes)
                section = run_scenario(ctx)
        except (GatewayError, RuntimeError, OSError) as err:
            failed += 1
            say(f"scenario {name} FAILED: {err}")
            section = {"failed": str(err), "markdown": f"FAILED: {str(err).splitlines()[0]}"}
        state = watch.finish()
        if state["busy"]:
            notes.append("the machine was busy: do not read these numbers as RIN's")
        machine = report.machine()
        header = (f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, RIN {machine['rin_commit']}, "
                  f"{MachineWatch.describe(state)}.")
        section["markdown"] = (header + "\n\n" + section["markdown"]
                               + "".join(f"\n- {note}" for note in notes) + "\n")
        section.update(machine=machine, state=state, notes=notes,
                       settings={"duration": args.duration, "concurrency": args.concurrency,
                                 "requests": args.requests, "warmup": args.warmup, "rounds": args.rounds,
                                 "startup_rounds": args.startup_rounds,
                                 "loadgen": args.loadgen},
                       when=datetime.now(timezone.utc).isoformat(timespec="seconds"))
        print(f"\n## scenario `{name}`\n\n{section['markdown']}", flush=True)
        json_path, md_path = report.save_scenario(name, section)
        say(f"added `{name}` to {json_path} and {md_path}")
    return 1 if failed else 0
