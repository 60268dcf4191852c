"""workers (issue 6): throughput with `rin serve --workers 1` vs `--workers 2`."""

from __future__ import annotations

import os
import statistics
from typing import Any

from bench.scenarios.harness import Ctx, config_yaml, table


def run(ctx: Ctx) -> dict[str, Any]:
    """`rin serve --workers 1` and `--workers 2`, measured alternately."""
    up = ctx.upstream
    gateways = {n: ctx.rin(f"workers-{n}", config_yaml(up.base_url, []), ["--workers", str(n)]) for n in (1, 2)}
    for gateway in gateways.values():
        ctx.load(gateway, duration=1)
    runs = []
    for _ in range(ctx.args.rounds):
        for n, gateway in gateways.items():
            runs.append({"workers": n, **ctx.load(gateway)})
    mean = {n: statistics.mean(r["rps"] for r in runs if r["workers"] == n) for n in gateways}
    rss = {n: g.rss_mb() for n, g in gateways.items()}
    rows = [[i + 1, r["workers"], f"{r['rps']:,.0f}", f"{r['cpu_us_per_request']:.0f}", f"{r['cpu_cores']:.2f}",
             r["errors"]] for i, r in enumerate(runs)]
    md = table(["run", "--workers", f"req/s at c={ctx.args.concurrency}", "server CPU µs / request",
                "server cores busy", "errors"], rows)
    md += (f"\n\nMean: 1 worker {mean[1]:,.0f} req/s, 2 workers {mean[2]:,.0f} req/s (×{mean[2] / mean[1]:.2f}); "
           f"RSS {rss[1]:.0f} vs {rss[2]:.0f} MB. Ledger on (default config). **This machine has "
           f"{os.cpu_count()} cores shared by wrk, the fake upstream and RIN**: a second worker competes "
           f"with them for the same cores, so ×2 is out of reach here; the number says how RIN scales "
           f"only on a machine with cores to spare.")
    return {"data": {"runs": runs, "mean_rps": mean, "rss_mb": rss}, "markdown": md}
