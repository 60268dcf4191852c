"""budgets: throughput with no budget, a hard global budget in-process, and the same via Redis."""

from __future__ import annotations

import re
import socket
import statistics
from typing import Any

from bench.gateways import Gateway
from bench.scenarios.harness import Ctx, config_yaml, redis_up, table

BUDGET_SETTINGS = "general_settings: {max_budget: 1000000, budget_duration: 30d, enforce_budget: true}\n"


def redis_commands_processed(host: str = "127.0.0.1", port: int = 6379) -> int | None:
    """Redis's `total_commands_processed` (all clients; read-only INFO), or None."""
    try:
        with socket.create_connection((host, port), timeout=1) as sock:
            sock.sendall(b"INFO stats\r\n")
            data = b""
            while b"total_commands_processed:" not in data or not data.endswith(b"\r\n"):
                chunk = sock.recv(65536)
                if not chunk:
                    break
                data += chunk
    except OSError:
        return None
    match = re.search(rb"total_commands_processed:(\d+)", data)
    return int(match.group(1)) if match else None


def run(ctx: Ctx) -> dict[str, Any]:
    """Throughput with no budget, a hard global budget in-process, and the same shared via Redis."""
    up = ctx.upstream
    base = "router_settings:\n  num_retries: 0\n"
    variants: dict[str, Gateway] = {
        "none": ctx.rin("budgets-none", config_yaml(up.base_url, [], base)),
        "in-process": ctx.rin("budgets-local", config_yaml(up.base_url, [], base + BUDGET_SETTINGS)),
    }
    if redis_up():
        variants["redis"] = ctx.rin("budgets-redis", config_yaml(
            up.base_url, [], base + "  redis_host: 127.0.0.1\n  redis_port: 6379\n" + BUDGET_SETTINGS))
    else:
        ctx.notes.append("budgets: Redis not reachable on 127.0.0.1:6379, the Redis variant was skipped")
    for gateway in variants.values():
        ctx.load(gateway, duration=1)
    runs: list[dict[str, Any]] = []
    for _ in range(ctx.args.rounds):
        for name, gateway in variants.items():
            before = redis_commands_processed() if name == "redis" else None
            result = ctx.load(gateway)
            after = redis_commands_processed() if name == "redis" else None
            if before is not None and after is not None:
                result["redis_commands_per_request"] = (after - before) / max(1, result["requests"])
            runs.append({"budget": name, **result})
    mean = {n: statistics.mean(r["rps"] for r in runs if r["budget"] == n) for n in variants}
    cpu = {n: statistics.mean(r["cpu_us_per_request"] for r in runs if r["budget"] == n) for n in variants}
    heads = {"none": "no budget", "in-process": "hard budget, in-process", "redis": "hard budget, shared via Redis"}
    rows = [[i + 1, heads[r["budget"]], f"{r['rps']:,.0f}", f"{r['cpu_us_per_request']:.0f}",
             f"{r['redis_commands_per_request']:.2f}" if "redis_commands_per_request" in r else "—", r["errors"]]
            for i, r in enumerate(runs)]
    md = table(["run", "budget", f"req/s at c={ctx.args.concurrency}", "server CPU µs / request",
                "Redis commands / request (all clients)", "errors"], rows)
    summary = [[heads[n], f"{mean[n]:,.0f}", f"{(mean[n] - mean['none']) / mean['none']:+.1%}" if n != "none" else "—",
                f"{cpu[n]:.0f}", f"{cpu[n] - cpu['none']:+.0f}" if n != "none" else "—"] for n in variants]
    md += "\n\n" + table(["budget", "mean req/s", "vs no budget", "mean CPU µs / request", "CPU vs no budget"],
                         summary)
    md += (f"\n\n`{BUDGET_SETTINGS.strip()}`; the Redis variant adds `router_settings: {{redis_host: 127.0.0.1, "
           f"redis_port: 6379}}` (RIN keeps its state under `rin:`; nothing is flushed, keys expire with the "
           f"window). wrk c={ctx.args.concurrency} for {ctx.args.duration:g} s, alternating for "
           f"{ctx.args.rounds} rounds after a 1 s warm-up each. Redis commands a request come from Redis's own "
           f"`total_commands_processed` (INFO), so they include any other client's commands meanwhile.")
    return {"data": {"runs": runs, "mean_rps": mean, "cpu_us": cpu}, "markdown": md}
