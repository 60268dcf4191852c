"""startup (issue 16): the default config's start-up, spawn -> first 200, and the RSS right after.

`rin serve --config config/litellm/config.yaml`, as shipped, with `OPENAI_API_KEY=sk-bench` and
`OPENAI_API_BASE` at the fake upstream, so `gpt-4o` answers; every other variable a config could
read (`*_API_KEY`, `*_API_BASE`, `RIN_*`, `LITELLM_*`, `OTEL_*`, `LANGFUSE_*`) is removed from its
environment, and `RIN_DATA_DIR` points into the scenario's own folder (the ledger's database and
the catalogue go there, never into the repo). Each round starts one RIN on a new data folder (the
database is created and migrated) and one on the same folder again (a restart: the database
exists). The time is from spawning the process to the first 200 on a `gpt-4o` chat request,
polled every 5 ms; the CPU is the process tree's user + system time until then; the RSS is the
tree's VmRSS right after that 200.

RIN's own modules are byte-compiled first (`python -m compileall -q src`), as in the deployed
image (pip compiles at install): this environment sets PYTHONDONTWRITEBYTECODE and RIN is an
editable install, so without it every start would compile ~120 modules (~0.13 s of CPU). On a
shared machine read the minimum (the least disturbed start) and the CPU, not the median.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import time
from pathlib import Path
from typing import Any

from bench.client import chat_body
from bench.gateways import REPO, Gateway, cpu_seconds, rin_spec
from bench.scenarios.harness import Ctx, free_port, say, table
from bench.upstream import Upstream

DEFAULT_CONFIG = REPO / "config" / "litellm" / "config.yaml"
PROBE_MODEL = "gpt-4o"
#: the target of issue 16, for the restart (existing database)
TARGET_S = 0.5


def compile_bytecode() -> None:
    """What the deployed image has: a .pyc for every RIN module (pip compiles at install)."""
    python = REPO / ".venv" / "bin" / "python"
    subprocess.run([str(python if python.exists() else "python3"), "-m", "compileall", "-q", str(REPO / "src")],
                   check=True)


def _unset() -> tuple[str, ...]:
    return tuple(name for name in os.environ
                 if name.endswith(("_API_KEY", "_API_BASE")) or name.startswith(("RIN_", "LITELLM_", "OTEL_",
                                                                                 "LANGFUSE_")))


def start_once(upstream: Upstream, workdir: Path, data_dir: Path) -> dict[str, Any]:
    """One start of the default config: seconds to the first 200, CPU until then, RSS right after."""
    port = free_port()
    spec = rin_spec(DEFAULT_CONFIG, port)
    spec.label = "RIN (default config)"
    spec.env = {"OPENAI_API_KEY": "sk-bench", "OPENAI_API_BASE": upstream.base_url, "RIN_DATA_DIR": str(data_dir)}
    spec.unset = _unset()
    spec.probe_body = chat_body(PROBE_MODEL)
    with Gateway(spec, port, workdir) as gateway:
        seconds = gateway.start()
        rss = gateway.rss_mb()
        cpu = cpu_seconds(gateway.pid)
    return {"seconds": seconds, "cpu_s": cpu, "rss_mb": rss}


def measure(upstream: Upstream, tmp: Path, rounds: int) -> dict[str, Any]:
    """`rounds` × (a start on a new database, a restart on it); min and median of each kind."""
    compile_bytecode()
    starts: dict[str, list[dict[str, Any]]] = {"new": [], "existing": []}
    for i in range(rounds):
        workdir = tmp / f"startup-{i}"
        workdir.mkdir()
        for kind in ("new", "existing"):
            starts[kind].append(start_once(upstream, workdir, workdir / "data-dir"))
            time.sleep(0.2)  # the previous process's exit (ledger flush, sockets) out of the next one's way
        say(f"startup round {i + 1}/{rounds}: new database {starts['new'][-1]['seconds']:.3f} s, "
            f"existing {starts['existing'][-1]['seconds']:.3f} s, RSS {starts['existing'][-1]['rss_mb']:.0f} MB")
    summary = {kind: {f"{stat}_{key}": fn(s[key] for s in runs)
                      for key in ("seconds", "cpu_s", "rss_mb") for stat, fn in (("min", min),
                                                                                 ("median", statistics.median))}
               for kind, runs in starts.items()}
    return {"starts": starts, "summary": summary, "rounds": rounds, "bytecode": "compileall -q src first",
            "config": str(DEFAULT_CONFIG.relative_to(REPO)), "probe_model": PROBE_MODEL}


def main_rows(result: dict[str, Any]) -> dict[str, Any]:
    """The main table's start-up numbers for RIN: the restarts' minimum, CPU and RSS."""
    restart = result["summary"]["existing"]
    return {"startup_default_s": restart["min_seconds"], "startup_default_median_s": restart["median_seconds"],
            "startup_default_cpu_s": restart["min_cpu_s"], "startup_rss_mb": restart["median_rss_mb"],
            "startup_default": result}


def run(ctx: Ctx) -> dict[str, Any]:
    """The default config (config/litellm/config.yaml): spawn -> first 200 on gpt-4o, and RSS."""
    result = measure(ctx.upstream, ctx.tmp, ctx.args.startup_rounds)
    rows = []
    for kind, label in (("existing", "restart (database exists)"), ("new", "first start (new database)")):
        s = result["summary"][kind]
        rows.append([label, f"{s['min_seconds']:.3f}", f"{s['median_seconds']:.3f}", f"{s['min_cpu_s']:.3f}",
                     f"{s['median_cpu_s']:.3f}", f"{s['median_rss_mb']:.0f}"])
    best = result["summary"]["existing"]["min_seconds"]
    md = table(["start", "first 200 min (s)", "median (s)", "CPU min (s)", "CPU median (s)",
                "RSS right after (MB, median)"], rows)
    md += (f"\n\n{result['rounds']} rounds of `rin serve --config {result['config']}` (a new data folder, then "
           f"a restart on it), probe `{PROBE_MODEL}` at the fake upstream; RIN's modules byte-compiled first "
           f"(`compileall -q src`, as in the image). Target ≤ {TARGET_S} s to the first 200 (restart, min): "
           f"{'✓' if best <= TARGET_S else '✗'}. The RSS is the process tree's right after the first 200: "
           f"the spend writer process starts at the first ledger flush, just after it (~15 MB more).")
    return {"data": result, "markdown": md}
