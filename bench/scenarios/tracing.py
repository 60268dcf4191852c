"""tracing (issue 15): throughput with OpenTelemetry tracing on, exporting to a dead endpoint, vs off."""

from __future__ import annotations

import asyncio
import statistics
import time
from pathlib import Path
from typing import Any

from bench.client import CHAT_BODY
from bench.scenarios.harness import Ctx, config_yaml, free_port, get, prometheus, say, table

#: the in-process comparison: blocks of requests, alternately traced and not
_BLOCKS, _BLOCK = 200, 100


def run(ctx: Ctx) -> dict[str, Any]:
    """Two RINs, tracing off and tracing on (`callbacks: ["otel"]`) to an OTLP endpoint where nothing
    listens, so every export fails: what a request pays for its spans (made, attributed, queued)
    when the collector is down. Pairs alternate their order, as in the ledger scenario, and the
    verdict is the median of the pairs' ratios. The on-RIN's /metrics shows how many spans were
    dropped at its bounded queue."""
    up = ctx.upstream
    dead = f"http://127.0.0.1:{free_port()}"  # nothing listens there once free_port() returned
    off = ctx.rin("tracing-off", config_yaml(up.base_url, []))
    on = ctx.rin("tracing-on", config_yaml(up.base_url, [], (
        "router_settings:\n  num_retries: 0\n"
        "litellm_settings:\n  callbacks: [otel]\n"
        f"environment_variables:\n  OTEL_EXPORTER_OTLP_ENDPOINT: {dead}\n")))
    for gateway in (on, off):
        ctx.load(gateway, duration=1)
    runs: list[dict[str, Any]] = []
    ratios: list[float] = []
    for pair in range(ctx.args.rounds):
        order = (("on", on), ("off", off)) if pair % 2 == 0 else (("off", off), ("on", on))
        measured = {}
        for label, gateway in order:
            measured[label] = ctx.load(gateway)
            runs.append({"tracing": label, "pair": pair + 1, **measured[label]})
        if measured["off"]["rps"]:
            ratios.append(measured["on"]["rps"] / measured["off"]["rps"])
    metrics = prometheus(get(on.port, "/metrics").body.decode())
    spans = {name: metrics.get(f"rin_telemetry_spans_{name}", 0.0)
             for name in ("exported_total", "failed_total", "dropped_total", "queued")}
    say(f"tracing on: spans exported {spans['exported_total']:.0f}, failed {spans['failed_total']:.0f}, "
        f"dropped {spans['dropped_total']:.0f}, queued {spans['queued']:.0f}")
    on_rps = statistics.mean(r["rps"] for r in runs if r["tracing"] == "on")
    off_rps = statistics.mean(r["rps"] for r in runs if r["tracing"] == "off")
    on_cpu = statistics.mean(r["cpu_us_per_request"] for r in runs if r["tracing"] == "on")
    off_cpu = statistics.mean(r["cpu_us_per_request"] for r in runs if r["tracing"] == "off")
    drop = 1 - statistics.median(ratios) if ratios else None
    rows = [[r["pair"], r["tracing"], f"{r['rps']:,.0f}", f"{r['cpu_us_per_request']:.0f}", r["errors"],
             f"{r['wrk_p50_ms']:.1f}" if r.get("wrk_p50_ms") is not None else "—"] for r in runs]
    md = table(["pair", "tracing", f"req/s at c={ctx.args.concurrency}", "server CPU µs / request", "errors",
                "p50 ms"], rows)
    verdict = "—" if drop is None else (f"a drop of **{drop:.1%}**" if drop >= 0 else f"a gain of **{-drop:.1%}**")
    spread = f" (pair ratios on/off: {', '.join(f'{x:.2f}' for x in sorted(ratios))})" if ratios else ""
    md += (f"\n\nMedian of {len(ratios)} pairs: {verdict}{spread}; target ≤ 10 %: "
           f"{'✓' if drop is not None and drop <= 0.10 else '✗'}. Means: on {on_rps:,.0f} vs off {off_rps:,.0f} "
           f"req/s; server CPU a request {on_cpu:.0f} vs {off_cpu:.0f} µs. The on-RIN's spans to the dead "
           f"endpoint: {spans['failed_total']:,.0f} in failed exports, {spans['dropped_total']:,.0f} dropped "
           f"at the full queue, {spans['queued']:,.0f} still queued, {spans['exported_total']:,.0f} exported.")
    inproc = asyncio.run(_interleaved(ctx.tmp / "tracing-on" / "bench-config.yaml"))
    say(f"in process, interleaved: {inproc['on_us']:.1f} vs {inproc['off_us']:.1f} µs of main-thread CPU a request")
    md += (f"\n\nIn one process, interleaved ({_BLOCKS} blocks of {_BLOCK} requests through the ASGI app, "
           f"its tracer on and off by turns, to the same dead endpoint): main-thread CPU a request "
           f"{inproc['on_us']:.1f} µs on vs {inproc['off_us']:.1f} µs off, **+{inproc['on_us'] - inproc['off_us']:.1f} "
           f"µs ({inproc['on_us'] / inproc['off_us'] - 1:+.1%})**: the steadiest number on a shared machine.")
    data = {"runs": runs, "pair_ratios": ratios, "on_rps": on_rps, "off_rps": off_rps, "drop": drop,
            "on_cpu_us": on_cpu, "off_cpu_us": off_cpu, "spans": spans, "dead_endpoint": dead,
            "interleaved": inproc}
    return {"data": data, "markdown": md}


async def _interleaved(config: Path) -> dict[str, float]:
    """Main-thread CPU a request, tracing on vs off, in one RIN process (the on-config's Runtime,
    its tracer switched off every other block): both modes share the machine's moment."""
    from rin.config import load_config
    from rin.runtime import Runtime
    from rin.server.app import App

    runtime = Runtime(load_config(config))
    app = App(runtime)
    await runtime.start()
    tracing, body = runtime.tracing, CHAT_BODY.encode()
    scope = {"type": "http", "method": "POST", "path": "/v1/chat/completions", "raw_path": b"/v1/chat/completions",
             "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]}

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start" and message["status"] != 200:
            raise RuntimeError(f"the in-process request answered HTTP {message['status']}")

    try:
        for _ in range(2000):  # warm, and fill the dead endpoint's queue: its steady state
            await app(dict(scope), receive, send)
        cpu = {True: 0.0, False: 0.0}
        for block in range(_BLOCKS):
            on = block % 2 == 1
            runtime.tracing = tracing if on else None
            began = time.thread_time()
            for _ in range(_BLOCK):
                await app(dict(scope), receive, send)
            cpu[on] += time.thread_time() - began
    finally:
        runtime.tracing = tracing
        await runtime.close()
    per = _BLOCK * _BLOCKS / 2 / 1e6
    return {"on_us": cpu[True] / per, "off_us": cpu[False] / per}
