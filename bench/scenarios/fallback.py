"""fallback (issue 3): a successful fallback's extra latency over a direct success.

`primary` (upstream model `fail-500`) falls back to `backup`; `backup` asked directly is the
baseline; with `num_retries` 0, then 2.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from bench.client import Response, chat_body
from bench.scenarios.harness import Ctx, config_yaml, latency_row, ms, say, sequence, table


def run(ctx: Ctx) -> dict[str, Any]:
    """`primary` answers 500 and falls back to `backup`; `backup` asked directly is the baseline."""
    up = ctx.upstream
    rows, data = [], {}
    for retries in (0, 2):
        extra = (f"router_settings:\n  num_retries: {retries}\n  fallbacks: [{{primary: [backup]}}]\n"
                 f"  allowed_fails: 1000000\n")
        gateway = ctx.rin(f"fallback-retries-{retries}", config_yaml(
            up.base_url, [("primary", "fail-500"), ("backup", "backup-model")], extra))
        # Retries wait a jittered backoff (tens of ms): fewer requests keep that run to seconds.
        count = ctx.args.requests if retries == 0 else max(10, min(ctx.args.requests, 30))
        warmup = ctx.args.warmup if retries == 0 else 3
        for asked in ("backup", "primary"):
            answered: Counter[str] = Counter()
            attempts: Counter[str] = Counter()

            def check(response: Response) -> str | None:
                answered[response.header("x-rin-model") or "?"] += 1
                attempts[response.header("x-rin-attempts") or "?"] += 1
                return None

            before = up.stats()
            timings = sequence(gateway.port, chat_body(asked), count, warmup, check)
            after = up.stats()
            sent = count + warmup
            row = latency_row(timings)
            row.update(answered_by=dict(answered), rin_attempts=dict(attempts),
                       upstream_attempts_per_request=(after["chat_requests"] - before["chat_requests"]) / sent)
            data[f"retries{retries}_{asked}"] = row
            say(f"num_retries {retries}, asked {asked}: p50 {ms(row['p50_ms'])} ms, p99 {ms(row['p99_ms'])} ms, "
                f"{row['upstream_attempts_per_request']:.2f} upstream attempts a request, "
                f"{timings.errors} errors, answered by {dict(answered)}")
        direct, viafb = data[f"retries{retries}_backup"], data[f"retries{retries}_primary"]
        for asked, row in (("backup (direct success)", direct), ("primary → 500 → backup", viafb)):
            extra50 = extra99 = "—"
            if row is viafb and row["p50_ms"] is not None and direct["p50_ms"] is not None:
                extra50, extra99 = ms(row["p50_ms"] - direct["p50_ms"]), ms(row["p99_ms"] - direct["p99_ms"])
            rows.append([retries, asked, row["count"], ms(row["p50_ms"]), ms(row["p99_ms"]), extra50, extra99,
                         f"{row['upstream_attempts_per_request']:.2f}",
                         ", ".join(f"{k}×{v}" for k, v in row["answered_by"].items()) or "—", row["errors"]])
    md = table(["num_retries", "model asked", "requests", "p50 (ms)", "p99 (ms)", "extra p50 (ms)",
                "extra p99 (ms)", "upstream attempts / request", "x-rin-model", "errors"], rows)
    md += ("\n\nc=1, sequential on one keep-alive connection; `primary`'s upstream answers HTTP 500 "
           "(model `fail-500`), `router_settings: {fallbacks: [{primary: [backup]}], allowed_fails: 1000000}` "
           "so no cooldown hides the cost. With num_retries 2 the extra time is mostly the router's "
           "jittered backoff between retries (≈ 0.05 s then 0.1 s, × 0.5–1.5).")
    return {"data": data, "markdown": md}
