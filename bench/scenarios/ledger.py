"""ledger (issue 4): throughput with the spend ledger on vs off, and its write lag."""

from __future__ import annotations

import statistics
import threading
import time
from typing import Any

from bench.client import Connection, ProtocolError
from bench.scenarios.harness import Ctx, config_yaml, get, prometheus, say, table


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


def run(ctx: Ctx) -> dict[str, Any]:
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
