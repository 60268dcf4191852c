"""keys: throughput and latency with the master key vs a virtual key."""

from __future__ import annotations

import json
import statistics
from typing import Any

from bench.client import CHAT_BODY, Connection, post_request
from bench.scenarios.harness import Ctx, config_yaml, latency_row, ms, say, sequence, table

MASTER_KEY = "sk-bench-master"
KEY_REQUEST = {"key_alias": "bench", "max_budget": 1000000, "rpm_limit": 100000000}


def generate_key(port: int, master: str, body: dict[str, Any]) -> str:
    """POST /key/generate with the master key; the new key's value (raises on anything but 200)."""
    raw = post_request(port, "/key/generate", json.dumps(body, separators=(",", ":")), master)
    conn = Connection(port, timeout=10)
    try:
        response = conn.request(raw)
    finally:
        conn.close()
    if response.status != 200:
        raise RuntimeError(f"POST /key/generate: HTTP {response.status}: {response.body[:300]!r}")
    key = json.loads(response.body).get("key")
    if not key:
        raise RuntimeError(f"POST /key/generate: no \"key\" in {response.body[:300]!r}")
    return str(key)


def _spread(values: list[float]) -> float:
    return max(values) - min(values) if len(values) > 1 else 0.0


def run(ctx: Ctx) -> dict[str, Any]:
    """Master key vs a virtual key: throughput at c=50 and latency at c=1, alternately."""
    up = ctx.upstream
    gateway = ctx.rin("keys", config_yaml(up.base_url, [], "router_settings:\n  num_retries: 0\n"
                                                           f"general_settings: {{master_key: {MASTER_KEY}}}\n"),
                      auth_key=MASTER_KEY)
    virtual = generate_key(gateway.port, MASTER_KEY, KEY_REQUEST)
    say(f"keys: generated a virtual key ({virtual[:6]}…, {KEY_REQUEST})")
    variants = {"master": MASTER_KEY, "virtual": virtual}
    for key in variants.values():
        ctx.load(gateway, duration=1, key=key)
    runs: list[dict[str, Any]] = []
    ratios: list[float] = []  # virtual / master throughput, per round
    lat: dict[str, list[dict[str, Any]]] = {name: [] for name in variants}
    for r in range(ctx.args.rounds):
        order = list(variants.items()) if r % 2 == 0 else list(variants.items())[::-1]  # drift favours neither
        measured = {name: ctx.load(gateway, key=key) for name, key in order}
        runs += [{"key": name, "round": r + 1, **measured[name]} for name in variants]
        if measured["master"]["rps"]:
            ratios.append(measured["virtual"]["rps"] / measured["master"]["rps"])
        for name, key in variants.items():
            row = latency_row(sequence(gateway.port, CHAT_BODY, ctx.args.requests, ctx.args.warmup, key=key))
            lat[name].append(row)
            say(f"keys {name}: c=1 p50 {ms(row['p50_ms'])} ms, p99 {ms(row['p99_ms'])} ms, {row['errors']} errors")
    mean = {n: statistics.mean(r["rps"] for r in runs if r["key"] == n) for n in variants}
    cpu = {n: statistics.mean(r["cpu_us_per_request"] for r in runs if r["key"] == n) for n in variants}
    spread = {n: _spread([r["rps"] for r in runs if r["key"] == n]) for n in variants}
    p50 = {n: statistics.mean(r["p50_ms"] for r in lat[n]) for n in variants}
    p99 = {n: statistics.mean(r["p99_ms"] for r in lat[n]) for n in variants}
    p50_spread = {n: _spread([r["p50_ms"] for r in lat[n]]) for n in variants}
    p99_spread = {n: _spread([r["p99_ms"] for r in lat[n]]) for n in variants}
    errors = {n: sum(r["errors"] for r in runs if r["key"] == n) + sum(r["errors"] for r in lat[n]) for n in variants}
    d_rps = mean["virtual"] - mean["master"]
    d50, d99 = p50["virtual"] - p50["master"], p99["virtual"] - p99["master"]
    noise_rps = max(spread.values())
    noise50, noise99 = max(p50_spread.values()), max(p99_spread.values())

    def within(diff: float, noise: float) -> str:
        return "within noise ✓" if abs(diff) <= noise else "**beyond noise** ✗"

    rows = []
    for i, r in enumerate(runs):
        rows.append([f"c={ctx.args.concurrency} run {i + 1}", r["key"], f"{r['rps']:,.0f} req/s",
                     f"{r['cpu_us_per_request']:.0f} µs CPU / request", r["errors"]])
    for name in variants:
        for i, r in enumerate(lat[name]):
            rows.append([f"c=1 round {i + 1}", name, f"p50 {ms(r['p50_ms'])} ms", f"p99 {ms(r['p99_ms'])} ms",
                         r["errors"]])
    md = table(["run", "key", "throughput / p50", "CPU / p99", "errors"], rows)
    median = statistics.median(ratios) if ratios else None
    md += ("\n\n" + table(["metric", "master key", "virtual key", "virtual − master", "noise (largest spread "
                                                                                   "between rounds of one key)"], [
        ["throughput, median of the rounds' virtual / master ratios (each round runs both, order "
         "alternating)", "—", "—", f"{median - 1:+.1%}" if median else "—",
         ", ".join(f"{x:.2f}" for x in sorted(ratios))],
        [f"throughput at c={ctx.args.concurrency} (req/s, mean)", f"{mean['master']:,.0f}", f"{mean['virtual']:,.0f}",
         f"{d_rps:+,.0f} ({d_rps / mean['master']:+.1%}): {within(d_rps, noise_rps)}", f"{noise_rps:,.0f}"],
        ["server CPU µs a request (mean)", f"{cpu['master']:.0f}", f"{cpu['virtual']:.0f}",
         f"{cpu['virtual'] - cpu['master']:+.0f}", "—"],
        ["latency p50 at c=1 (ms, mean)", ms(p50["master"]), ms(p50["virtual"]), f"{d50:+.3f}: {within(d50, noise50)}",
         ms(noise50)],
        ["latency p99 at c=1 (ms, mean)", ms(p99["master"]), ms(p99["virtual"]), f"{d99:+.3f}: {within(d99, noise99)}",
         ms(noise99)],
        ["errors", errors["master"], errors["virtual"], "—", "—"],
    ]))
    md += (f"\n\nOne RIN with `general_settings: {{master_key: {MASTER_KEY}}}`; the virtual key from `POST "
           f"/key/generate` with `{json.dumps(KEY_REQUEST)}` (so its budget and rpm limit are checked but never "
           f"bind). wrk c={ctx.args.concurrency} for {ctx.args.duration:g} s and {ctx.args.requests} sequential "
           f"requests after {ctx.args.warmup} warm-up, alternating master, virtual for {ctx.args.rounds} rounds. "
           f"Target: the difference is not measurable (within the spread between rounds of one key).")
    data = {"runs": runs, "pair_ratios": ratios, "median_ratio": median, "latency": lat, "mean_rps": mean, "cpu_us": cpu, "p50_ms": p50, "p99_ms": p99,
            "diff": {"rps": d_rps, "p50_ms": d50, "p99_ms": d99},
            "noise": {"rps": noise_rps, "p50_ms": noise50, "p99_ms": noise99}, "errors": errors}
    return {"data": data, "markdown": md}
