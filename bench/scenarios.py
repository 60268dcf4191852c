"""Scenarios: `python -m bench --scenario NAME[,NAME...]` or `--scenario all`.

Each scenario starts its own fake upstream and RIN processes on 127.0.0.1, runs bounded loads (a
few seconds each), prints a small markdown table and adds its section to
bench/results/latest.{json,md}. Every section records the machine's state: the 1-minute load
average and a one-second CPU sample at the start, and the CPU that processes other than the
bench's own used while the scenario ran. Numbers from a busy machine are flagged, not trusted.

- fallback: a successful fallback's extra latency over a direct success (issue 3)
- outage:   a persistent outage makes no retry storm: upstream attempts per client request (issue 3)
- ledger:   throughput with the spend ledger on vs off, and its write lag (issue 4)
- workers:  throughput with `rin serve --workers 1` vs `--workers 2` (issue 6)
- cache:    cache-hit latency and throughput, local and Redis (issue 6)
- keys:     throughput and latency with the master key vs a virtual key
- budgets:  throughput with no budget, a hard global budget in-process, and the same via Redis
- protocols: added latency on /v1/messages and /v1/responses (native and translated) beside chat
  (bench/protocols.py; also `python -m bench --protocols`)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import re
import resource
import secrets
import socket
import statistics
import tempfile
import threading
import time
from collections import Counter
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from bench import report
from bench.client import (BENCH_KEY, CHAT_BODY, Connection, ProtocolError, Response, Timings, chat_body,
                          measure_sequence, post_request)
from bench.gateways import CHAT_PATH, Gateway, GatewayError, cpu_seconds, rin_spec
from bench.load import LoadResult, run_load
from bench.upstream import Upstream

NAMES = ("fallback", "outage", "ledger", "workers", "cache", "keys", "budgets", "protocols")
BUSY_CORES = 0.25  # other processes using more than this many cores makes a run "busy"
BUSY_BEFORE = 0.15  # the same for the one-second sample before the run (as the main bench)


def say(message: str) -> None:
    print(f"bench: {message}", flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# ---------------------------------------------------------------------------------------------
# Configs


def deployment(name: str, model: str, api_base: str) -> str:
    return (f"  - model_name: {name}\n"
            f"    litellm_params: {{model: openai/{model}, api_base: {api_base}, api_key: sk-bench}}\n")


def config_yaml(api_base: str, models: list[tuple[str, str]], extra: str = "") -> str:
    """`bench-model` (healthy: the start-up probe asks it) plus `models` as (name, upstream model)."""
    text = "model_list:\n" + deployment("bench-model", "bench-model", api_base)
    text += "".join(deployment(name, model, api_base) for name, model in models)
    return text + (extra.rstrip() + "\n" if extra else "router_settings:\n  num_retries: 0\n")


# ---------------------------------------------------------------------------------------------
# The machine


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


# ---------------------------------------------------------------------------------------------
# Running RIN


@dataclass
class Ctx:
    args: argparse.Namespace
    upstream: Upstream
    tmp: Path
    stack: ExitStack
    notes: list[str] = field(default_factory=list)

    def rin(self, label: str, config: str, extra_argv: list[str] | None = None,
            auth_key: str = BENCH_KEY) -> Gateway:
        """Starts RIN with `config` in its own directory; it stops when the scenario ends.
        `auth_key`: the bearer token of the start-up probe (the master key when the config has one)."""
        workdir = self.tmp / label
        workdir.mkdir()
        path = workdir / "bench-config.yaml"
        path.write_text(config)
        port = free_port()
        spec = rin_spec(path, port)
        spec.argv += extra_argv or []
        spec.label = f"RIN ({label})"
        spec.auth_key = auth_key
        gateway = Gateway(spec, port, workdir)
        self.stack.enter_context(gateway)
        say(f"{spec.label}: starting `{' '.join(spec.argv[1:])}`")
        startup = gateway.start()
        say(f"{spec.label}: first 200 after {startup:.2f} s")
        return gateway

    def load(self, gateway: Gateway, duration: float | None = None, concurrency: int | None = None,
             body: str = CHAT_BODY, key: str | None = None) -> dict[str, Any]:
        """wrk at c=N for the scenario duration; requests/s and the server's CPU per request.
        `key`: the bearer token (default: the gateway's start-up key)."""
        duration = duration or self.args.duration
        concurrency = concurrency or self.args.concurrency
        url = f"http://127.0.0.1:{gateway.port}{CHAT_PATH}"
        cpu0 = cpu_seconds(gateway.pid)
        result: LoadResult = run_load(url, concurrency, duration, tool=self.args.loadgen, body=body,
                                      key=key or gateway.spec.auth_key)
        cpu = cpu_seconds(gateway.pid) - cpu0
        out = {"rps": result.rps, "requests": result.requests, "errors": result.errors,
               "cpu_us_per_request": cpu / max(1, result.requests) * 1e6, "cpu_cores": cpu / result.seconds,
               "wrk_p50_ms": result.p50_ms, "wrk_p99_ms": result.p99_ms, "tool": result.tool}
        say(f"{gateway.spec.label}: {result.rps:,.0f} req/s at c={concurrency} for {duration:g} s "
            f"({result.requests} requests, {result.errors} errors), "
            f"{out['cpu_us_per_request']:.0f} µs CPU a request")
        return out


def latency_row(timings: Timings) -> dict[str, Any]:
    return {"p50_ms": timings.percentile(50), "p99_ms": timings.percentile(99), "count": len(timings.ms),
            "errors": timings.errors, "first_error": timings.first_error}


def sequence(port: int, body: str, count: int, warmup: int,
             check: Callable[[Response], str | None] | None = None, key: str = BENCH_KEY) -> Timings:
    raw = post_request(port, CHAT_PATH, body, key)
    return measure_sequence(port, [raw] * (warmup + count), warmup, check=check)


def ms(value: float | None) -> str:
    if value is None:
        return "—"
    if abs(value) < 1:
        return f"{value:.3f}"
    return f"{value:.2f}" if abs(value) < 10 else f"{value:.1f}"


def table(header: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def get(port: int, path: str, conn: Connection | None = None) -> Response:
    own = conn is None
    conn = conn or Connection(port, timeout=5)
    try:
        return conn.request(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())
    finally:
        if own:
            conn.close()


def prometheus(text: str) -> dict[str, float]:
    """`name` → value for unlabelled samples; `name` → sum over labels for labelled ones."""
    out: dict[str, float] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        match = re.match(r"([a-zA-Z_:][\w:]*)(\{[^}]*\})?\s+(\S+)", line)
        if match:
            try:
                out[match.group(1)] = out.get(match.group(1), 0.0) + float(match.group(3))
            except ValueError:
                continue
    return out


# ---------------------------------------------------------------------------------------------
# fallback (issue 3)


def fallback(ctx: Ctx) -> dict[str, Any]:
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


# ---------------------------------------------------------------------------------------------
# outage (issue 3)

OUTAGE_RETRIES, OUTAGE_ALLOWED_FAILS, OUTAGE_COOLDOWN = 2, 3, 5
OUTAGE_CONCURRENCY = 10


def outage(ctx: Ctx) -> dict[str, Any]:
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


# ---------------------------------------------------------------------------------------------
# ledger (issue 4)


class MetricsPoller:
    """Polls GET /metrics every `interval` s in a thread; keeps the max of the ledger gauges."""

    def __init__(self, port: int, interval: float = 0.05) -> None:
        self.port = port
        self.interval = interval
        self.max_lag = 0.0
        self.max_pending = 0.0
        self.polls = 0
        self.seen = False
        self.error = ""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> "MetricsPoller":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)

    def _run(self) -> None:
        conn = Connection(self.port, timeout=5)
        try:
            while not self._stop.wait(self.interval):
                try:
                    values = prometheus(get(self.port, "/metrics", conn).body.decode())
                except (OSError, ProtocolError) as err:
                    self.error = f"{type(err).__name__}: {err}"
                    continue
                self.polls += 1
                if "rin_ledger_lag_seconds" in values:
                    self.seen = True
                    self.max_lag = max(self.max_lag, values["rin_ledger_lag_seconds"])
                    self.max_pending = max(self.max_pending, values.get("rin_ledger_pending_rows", 0.0))
        finally:
            conn.close()


def ledger(ctx: Ctx) -> dict[str, Any]:
    """Two RINs, ledger on and off, measured in pairs whose order alternates (on-off, off-on, ...),
    so that a machine whose speed drifts during the run favours neither. The drop is the median of
    the pairs' ratios: one pair caught by a noisy neighbour can't decide it. Both runs poll
    `/metrics` alike (the off-RIN has no ledger gauges, but answers the same endpoint)."""
    up = ctx.upstream
    on = ctx.rin("ledger-on", config_yaml(up.base_url, []))
    off = ctx.rin("ledger-off", config_yaml(up.base_url, [], "router_settings:\n  num_retries: 0\n"
                                                              "general_settings: {disable_spend_logs: true}\n"))
    for gateway in (on, off):  # warm both (JIT-free Python still has caches, pools, page faults)
        ctx.load(gateway, duration=1)
    runs: list[dict[str, Any]] = []
    ratios: list[float] = []
    for pair in range(ctx.args.rounds):
        order = (("on", on), ("off", off)) if pair % 2 == 0 else (("off", off), ("on", on))
        measured: dict[str, dict[str, Any]] = {}
        for label, gateway in order:
            with MetricsPoller(gateway.port) as poller:
                result = ctx.load(gateway)
            if label == "on":
                drained = _drain_seconds(gateway.port)
                result.update(max_lag_s=poller.max_lag, max_pending_rows=poller.max_pending,
                              polls=poller.polls, drain_s=drained, gauges_seen=poller.seen)
                say(f"ledger on: max rin_ledger_lag_seconds {poller.max_lag:.3f}, max pending rows "
                    f"{poller.max_pending:.0f} ({poller.polls} polls), drained {drained:.2f} s after the run")
                if not poller.seen:
                    ctx.notes.append("ledger: /metrics had no rin_ledger_lag_seconds during the on-run "
                                     + (poller.error or ""))
            measured[label] = result
            runs.append({"ledger": label, "pair": pair + 1, **result})
        if measured["off"]["rps"]:
            ratios.append(measured["on"]["rps"] / measured["off"]["rps"])
    metrics = prometheus(get(on.port, "/metrics").body.decode())
    rows_written, requests_counted = metrics.get("rin_ledger_written_rows_total"), metrics.get("rin_requests_total")
    on_rps = statistics.mean(r["rps"] for r in runs if r["ledger"] == "on")
    off_rps = statistics.mean(r["rps"] for r in runs if r["ledger"] == "off")
    on_cpu = statistics.mean(r["cpu_us_per_request"] for r in runs if r["ledger"] == "on")
    off_cpu = statistics.mean(r["cpu_us_per_request"] for r in runs if r["ledger"] == "off")
    drop = 1 - statistics.median(ratios) if ratios else None
    rows = [[r["pair"], r["ledger"], f"{r['rps']:,.0f}", f"{r['cpu_us_per_request']:.0f}", r["errors"],
             f"{r['max_lag_s']:.3f}" if "max_lag_s" in r else "—",
             f"{r['max_pending_rows']:.0f}" if "max_pending_rows" in r else "—"] for r in runs]
    md = table(["pair", "ledger", f"req/s at c={ctx.args.concurrency}", "server CPU µs / request", "errors",
                "max rin_ledger_lag_seconds", "max rin_ledger_pending_rows"], rows)
    verdict = "—" if drop is None else (f"a drop of **{drop:.1%}**" if drop >= 0 else f"a gain of **{-drop:.1%}**")
    spread = (f" (pair ratios on/off: {', '.join(f'{x:.2f}' for x in sorted(ratios))})" if ratios else "")
    md += (f"\n\nMedian of {len(ratios)} pairs: {verdict}{spread}; target ≤ 10 %: "
           f"{'✓' if drop is not None and drop <= 0.10 else '✗'}. Means: on {on_rps:,.0f} vs off {off_rps:,.0f} "
           f"req/s. Server CPU a request (every thread of the process) {on_cpu:.0f} vs {off_cpu:.0f} µs "
           f"(+{on_cpu - off_cpu:.0f} µs for the ledger). Write lag: max "
           f"{max(r.get('max_lag_s', 0) for r in runs):.3f} s, max "
           f"{max(r.get('max_pending_rows', 0) for r in runs):.0f} rows pending (`/metrics` polled every "
           f"50 ms during every run). After the runs the on-RIN reports {rows_written or 0:,.0f} rows "
           f"written for {requests_counted or 0:,.0f} requests counted.")
    data = {"runs": runs, "pair_ratios": ratios, "on_rps": on_rps, "off_rps": off_rps, "drop": drop,
            "on_cpu_us": on_cpu, "off_cpu_us": off_cpu, "rows_written": rows_written,
            "requests_counted": requests_counted}
    return {"data": data, "markdown": md}


def _drain_seconds(port: int, limit: float = 5.0) -> float:
    """Seconds after the load until /metrics shows no pending rows (capped at `limit`)."""
    began = time.monotonic()
    while time.monotonic() - began < limit:
        values = prometheus(get(port, "/metrics").body.decode())
        if not values.get("rin_ledger_pending_rows"):
            break
        time.sleep(0.02)
    return time.monotonic() - began


# ---------------------------------------------------------------------------------------------
# workers (issue 6)


def workers(ctx: Ctx) -> dict[str, Any]:
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


# ---------------------------------------------------------------------------------------------
# cache (issue 6)

CACHE_HIT = "x-rin-cache-hit"


def redis_up(host: str = "127.0.0.1", port: int = 6379) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


def cache_config(api_base: str, params: str) -> str:
    return config_yaml(api_base, [], "router_settings:\n  num_retries: 0\n"
                                     f"litellm_settings:\n  cache: true\n  cache_params: {params}\n")


def probe_cache(ctx: Ctx, label: str, params: str) -> tuple[Gateway | None, str]:
    """RIN with the cache on, if it starts and answers a repeated request with x-rin-cache-hit."""
    try:
        gateway = ctx.rin(label, cache_config(ctx.upstream.base_url, params))
    except GatewayError as err:
        return None, "RIN did not start with it: " + str(err).splitlines()[0]
    body = chat_body(content=f"cache probe {secrets.token_hex(4)}")
    conn = Connection(gateway.port)
    try:
        first = conn.request(post_request(gateway.port, CHAT_PATH, body))
        second = conn.request(post_request(gateway.port, CHAT_PATH, body))
    finally:
        conn.close()
    if second.status != 200 or (second.header(CACHE_HIT) or "").lower() != "true":
        return None, (f"a repeated request got HTTP {second.status} with {CACHE_HIT}: {second.header(CACHE_HIT)} "
                      f"(first: HTTP {first.status}, {CACHE_HIT}: {first.header(CACHE_HIT)})")
    return gateway, ""


def cache(ctx: Ctx) -> dict[str, Any]:
    """Hit vs miss latency at c=1 and hit throughput at c=50, local cache (and Redis if up)."""
    up = ctx.upstream
    run_id = secrets.token_hex(4)
    backends = [("local", "{type: local}")]
    if redis_up():
        backends.append(("redis", f"{{type: redis, host: 127.0.0.1, port: 6379, ttl: 60, "
                                  f"namespace: rin-bench-{run_id}}}"))
    else:
        ctx.notes.append("cache: Redis not reachable on 127.0.0.1:6379, redis column skipped")
    gateways: dict[str, Gateway] = {}
    for name, params in backends:
        gateway, why = probe_cache(ctx, f"cache-{name}", params)
        if gateway is None:
            message = f"cache not available in this build ({name}: {why})"
            say(message)
            if name == "local":
                return {"data": {"available": False, "reason": why}, "markdown": message, "skipped": True}
            ctx.notes.append(message)
            continue
        gateways[name] = gateway
    gateways = {"off": ctx.rin("cache-off", config_yaml(up.base_url, [])), **gateways}
    count, warmup = ctx.args.requests, ctx.args.warmup
    columns: dict[str, dict[str, Any]] = {}
    for name, gateway in gateways.items():
        col: dict[str, Any] = {}

        def is_hit(response: Response, want: bool) -> str | None:
            hit = (response.header(CACHE_HIT) or "").lower() == "true"
            return None if name == "off" or hit == want else f"{CACHE_HIT}: {response.header(CACHE_HIT)}"

        # Misses: every request different (a fresh message), so each goes to the upstream and is stored.
        raws = [post_request(gateway.port, CHAT_PATH, chat_body(content=f"miss {run_id} {name} {i}"))
                for i in range(warmup + count)]
        before = up.stats()["chat_requests"]
        miss = measure_sequence(gateway.port, raws, warmup, check=lambda r: is_hit(r, False))
        col["miss"] = latency_row(miss) | {"upstream_per_request": (up.stats()["chat_requests"] - before) / len(raws)}
        # Hits: the same body every time, stored by one priming request first.
        hit_body = chat_body(content=f"hit {run_id} {name}")
        sequence(gateway.port, hit_body, 1, 0)
        before = up.stats()["chat_requests"]
        hit = sequence(gateway.port, hit_body, count, warmup, check=lambda r: is_hit(r, True))
        col["hit"] = latency_row(hit) | {"upstream_per_request": (up.stats()["chat_requests"] - before) / (count + warmup)}
        before = up.stats()["chat_requests"]
        col["load"] = ctx.load(gateway, body=hit_body)
        col["load"]["upstream_requests"] = up.stats()["chat_requests"] - before
        columns[name] = col
        say(f"cache {name}: miss p50 {ms(col['miss']['p50_ms'])} ms, hit p50 {ms(col['hit']['p50_ms'])} ms, "
            f"{col['load']['rps']:,.0f} req/s on one repeated body, {col['load']['upstream_requests']} of "
            f"them reached the upstream")
    names = list(columns)
    heads = {"off": "cache off (reference)", "local": "cache: local", "redis": "cache: redis"}
    rows = []
    for key, label in (("miss", "miss (new request each time)"), ("hit", "hit (same request)")):
        rows.append([f"{label} p50 at c=1 (ms)"] + [ms(columns[n][key]["p50_ms"]) for n in names])
        rows.append([f"{label} p99 at c=1 (ms)"] + [ms(columns[n][key]["p99_ms"]) for n in names])
        rows.append([f"{label}: upstream calls a request"]
                    + [f"{columns[n][key]['upstream_per_request']:.2f}" for n in names])
    rows.append([f"one repeated request at c={ctx.args.concurrency} (req/s)"]
                + [f"{columns[n]['load']['rps']:,.0f}" for n in names])
    rows.append(["… server CPU µs a request"] + [f"{columns[n]['load']['cpu_us_per_request']:.0f}" for n in names])
    rows.append(["… requests that reached the upstream"] + [columns[n]["load"]["upstream_requests"] for n in names])
    rows.append(["errors (non-200 or wrong x-rin-cache-hit)"]
                + [columns[n]["miss"]["errors"] + columns[n]["hit"]["errors"] + columns[n]["load"]["errors"]
                   for n in names])
    md = table(["metric"] + [heads[n] for n in names], rows)
    md += (f"\n\n{count} sequential requests after {warmup} warm-up on one keep-alive connection; a hit is "
           f"checked by `{CACHE_HIT}: true` on every response. `litellm_settings: {{cache: true, "
           f"cache_params: {{type: local}}}}` (Redis: a namespace of its own, ttl 60 s). The cache-off column "
           f"is the same RIN without a cache: every request goes upstream.")
    for n in names:
        for key in ("miss", "hit"):
            if columns[n][key]["first_error"]:
                ctx.notes.append(f"cache {n} {key}: first error: {columns[n][key]['first_error']}")
    return {"data": {"available": True, "columns": columns}, "markdown": md}


# ---------------------------------------------------------------------------------------------
# keys: master key vs virtual key

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


def keys(ctx: Ctx) -> dict[str, Any]:
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


# ---------------------------------------------------------------------------------------------
# budgets: the cost of a hard global budget, in-process and through Redis

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


def budgets(ctx: Ctx) -> dict[str, Any]:
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


# ---------------------------------------------------------------------------------------------

# ---------------------------------------------------------------------------------------------
# protocols: /v1/messages and /v1/responses beside chat (bench/protocols.py)


def protocols(ctx: Ctx) -> dict[str, Any]:
    """Messages and Responses API beside chat: RIN's added latency, native and translated."""
    from bench.protocols import run as run_protocols  # it imports this module

    return run_protocols(ctx)


SCENARIOS: dict[str, Callable[[Ctx], dict[str, Any]]] = {
    "fallback": fallback, "outage": outage, "ledger": ledger, "workers": workers, "cache": cache,
    "keys": keys, "budgets": budgets, "protocols": protocols,
}


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
        say(f"scenario {name}: {(SCENARIOS[name].__doc__ or name).strip().splitlines()[0]}")
        watch = MachineWatch()
        say(f"scenario {name}: 1-min load average {watch.load1:.2f}, CPU {watch.busy_before:.0%} busy")
        notes: list[str] = []
        try:
            with Upstream() as upstream, tempfile.TemporaryDirectory(prefix=f"rin-bench-{name}-") as tmp, \
                    ExitStack() as stack:
                ctx = Ctx(args, upstream, Path(tmp), stack, notes)
                section = SCENARIOS[name](ctx)
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
                                 "loadgen": args.loadgen},
                       when=datetime.now(timezone.utc).isoformat(timespec="seconds"))
        print(f"\n## scenario `{name}`\n\n{section['markdown']}", flush=True)
        json_path, md_path = report.save_scenario(name, section)
        say(f"added `{name}` to {json_path} and {md_path}")
    return 1 if failed else 0
