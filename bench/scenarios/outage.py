"""outage (issue 3): a persistent outage makes no retry storm.

Every deployment answers 500; requests paced over one cooldown and a bit; upstream attempts per
client request against the no-cooldown worst case.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import Counter
from typing import Any

from bench.client import BENCH_KEY, chat_body
from bench.gateways import CHAT_PATH
from bench.scenarios.harness import Ctx, config_yaml, ms, say, table
from bench.upstream import Upstream

OUTAGE_RETRIES, OUTAGE_ALLOWED_FAILS, OUTAGE_COOLDOWN = 2, 3, 5
OUTAGE_CONCURRENCY = 10


def run(ctx: Ctx) -> dict[str, Any]:
    """Every deployment answers 500: N requests at c=10, spread over cooldown_time + 2 s."""
    up = ctx.upstream
    extra = (f"router_settings:\n  num_retries: {OUTAGE_RETRIES}\n  allowed_fails: {OUTAGE_ALLOWED_FAILS}\n"
             f"  cooldown_time: {OUTAGE_COOLDOWN}\n  fallbacks: [{{primary: [backup]}}]\n")
    models = [("primary", "fail-500-primary-a"), ("primary", "fail-500-primary-b"), ("backup", "fail-500-backup")]
    gateway = ctx.rin("outage", config_yaml(up.base_url, models, extra))
    deployments = len(models)
    worst = (1 + OUTAGE_RETRIES) * deployments
    total = max(OUTAGE_CONCURRENCY, ctx.args.requests)
    window = OUTAGE_COOLDOWN + 2.0
    body = chat_body("primary").encode()
    base = up.stats()["chat_requests"]
    say(f"outage: {total} requests to `primary` at c={OUTAGE_CONCURRENCY}, paced over {window:g} s")
    records = asyncio.run(_outage_load(gateway.port, body, total, window, up, base))
    upstream_total = up.stats()["chat_requests"] - base
    records.sort(key=lambda r: r["t"])
    statuses = Counter(r["status"] for r in records)
    samples: dict[str, str] = {}
    for r in records:
        samples.setdefault(str(r["status"]), r["body"])
    first_503 = next((r for r in records if r["status"] == 503), None)
    # The onset: until the last upstream error (non-503) answered before the first cooldown ran out.
    onset_end = max([r["t"] for r in records if r["status"] != 503 and r["t"] < OUTAGE_COOLDOWN]
                    + ([first_503["t"]] if first_503 else []), default=0.0)
    before = [r for r in records if r["t"] <= onset_end]
    after = [r for r in records if r["t"] > onset_end]
    attempts_before = max((r["upstream"] for r in before), default=0)
    attempts_after = upstream_total - attempts_before
    rin_attempts = sum(r["rin_attempts"] for r in records if r["rin_attempts"] is not None)
    per_second: Counter[int] = Counter()
    last = 0
    for r in records:  # attempts seen by the upstream between consecutive completions, per second
        per_second[int(r["t"])] += r["upstream"] - last
        last = r["upstream"]
    data = {
        "requests": len(records), "concurrency": OUTAGE_CONCURRENCY, "window_s": window,
        "statuses": {str(k): v for k, v in sorted(statuses.items(), key=lambda kv: str(kv[0]))},
        "upstream_attempts": upstream_total, "attempts_per_request": upstream_total / max(1, len(records)),
        "worst_case_per_request": worst, "first_503_at_s": first_503["t"] if first_503 else None,
        "onset_end_s": onset_end, "onset_requests": len(before), "onset_attempts": attempts_before,
        "onset_upstream_errors": sum(1 for r in before if r["status"] != 503),
        "cooled_requests": len(after), "cooled_attempts": attempts_after,
        "rin_reported_attempts": rin_attempts, "status_samples": samples,
        "attempts_by_second": {str(k): v for k, v in sorted(per_second.items())},
        "p50_ms": _pct([r["ms"] for r in records], 50), "p99_ms": _pct([r["ms"] for r in records], 99),
    }
    rows: list[list[Any]] = [
        ["client requests (c=10)", f"{len(records)} over {window:g} s"],
        ["client status codes", ", ".join(f"{k}: {v}" for k, v in data["statuses"].items())],
        ["upstream attempts (counted by the upstream)", upstream_total],
        ["**upstream attempts per client request**", f"**{data['attempts_per_request']:.3f}**"
         f" (no-cooldown worst case {worst} = (1 + {OUTAGE_RETRIES}) × {deployments} deployments)"],
        [f"onset: until every deployment cooled (0–{onset_end:.2f} s)",
         f"{len(before)} requests ({data['onset_upstream_errors']} got the upstream's error, the rest 503), "
         f"{attempts_before} attempts"],
        ["cooled: the rest of the run", f"{len(after)} requests, {attempts_after} attempts "
         f"({attempts_after / max(1, len(after)):.4f} a request: half-open probes once {OUTAGE_COOLDOWN} s passed)"],
        ["upstream attempts per second of the run", ", ".join(f"{k}s: {v}" for k, v in per_second.items())],
        ["RIN's own count (sum of x-rin-attempts)", rin_attempts],
        ["client latency p50 / p99 (ms)", f"{ms(data['p50_ms'])} / {ms(data['p99_ms'])}"],
    ]
    for status, text in samples.items():
        rows.append([f"body of a {status}", "`" + text[:220].replace("|", "\\|") + "`"])
    md = table(["outage: all 3 deployments answer 500", "value"], rows)
    md += (f"\n\n`primary` (2 deployments) falls back to `backup` (1); all three upstream models are "
           f"`fail-500-*`; `router_settings: {{num_retries: {OUTAGE_RETRIES}, allowed_fails: "
           f"{OUTAGE_ALLOWED_FAILS}, cooldown_time: {OUTAGE_COOLDOWN}}}`. Requests are paced evenly over "
           f"{window:g} s so the run outlasts one cooldown.")
    if data["attempts_per_request"] >= 1 + OUTAGE_RETRIES:
        ctx.notes.append(f"outage: {data['attempts_per_request']:.2f} upstream attempts per request is a retry "
                         f"storm (≥ 1 + num_retries)")
    return {"data": data, "markdown": md}


def _pct(values: list[float], p: float) -> float | None:
    if not values:
        return None
    values = sorted(values)
    return values[min(len(values) - 1, max(0, math.ceil(len(values) * p / 100) - 1))]


async def _outage_load(port: int, body: bytes, total: int, window: float, up: Upstream,
                       base: int) -> list[dict[str, Any]]:
    import aiohttp

    url = f"http://127.0.0.1:{port}{CHAT_PATH}"
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {BENCH_KEY}"}
    interval = window / total  # one request every `interval` seconds across all workers
    records: list[dict[str, Any]] = []
    next_index = 0
    began = time.perf_counter()

    async def worker(session: aiohttp.ClientSession) -> None:
        nonlocal next_index
        while next_index < total:
            index = next_index
            next_index += 1
            wait = began + index * interval - time.perf_counter()
            if wait > 0:
                await asyncio.sleep(wait)
            start = time.perf_counter()
            try:
                async with session.post(url, data=body, headers=headers) as response:
                    text = await response.text()
                    status: int | str = response.status
                    attempts = response.headers.get("x-rin-attempts")
            except (aiohttp.ClientError, asyncio.TimeoutError) as err:
                status, text, attempts = type(err).__name__, str(err), None
            end = time.perf_counter()
            records.append({"t": end - began, "ms": (end - start) * 1e3, "status": status, "body": text,
                            "rin_attempts": int(attempts) if attempts and attempts.isdigit() else None,
                            "upstream": up.stats()["chat_requests"] - base})

    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=OUTAGE_CONCURRENCY),
                                     timeout=timeout) as session:
        await asyncio.gather(*(worker(session) for _ in range(OUTAGE_CONCURRENCY)))
    return records
