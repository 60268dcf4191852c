"""`python -m bench`: throughput, added latency, first-token time, start-up and memory of RIN.

Everything runs on 127.0.0.1 against bench.upstream, a fake OpenAI server in its own process, and
every load run is bounded in time (wrk) or count (the sequential latency loops).
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

from bench import report, scenarios
from bench.client import measure_latency
from bench.gateways import (CHAT_PATH, Gateway, GatewayError, cpu_seconds, ensure_litellm,
                            floor_spec, litellm_spec, rin_spec, write_config)
from bench.load import INSTALL_HINT, LoadResult, have_wrk, run_load
from bench.scenarios import startup
from bench.upstream import Upstream

TARGET_NAMES = ("direct", "floor", "rin", "litellm")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument("--scenario", action="append", default=[], metavar="NAME",
                        help="run scenario(s) instead of the main comparison: "
                             + ", ".join(scenarios.NAMES) + " or all (repeat or comma-separate)")
    parser.add_argument("--protocols", action="store_true",
                        help="the same as --scenario protocols: RIN's added latency on /v1/messages and "
                             "/v1/responses (native and translated routes) beside chat, and their throughput")
    parser.add_argument("--duration", type=float, default=None,
                        help="seconds per throughput run (10; scenarios: 5)")
    parser.add_argument("--rounds", type=int, default=2,
                        help="scenarios ledger and workers: alternating rounds of each variant (2)")
    parser.add_argument("--startup-rounds", type=int, default=5,
                        help="start-ups of the default config, each on a new and then an existing database, "
                             "for the main run's start-up rows and the startup scenario (5)")
    parser.add_argument("--concurrency", type=int, default=50, help="connections for throughput (50)")
    parser.add_argument("--requests", type=int, default=2000,
                        help="sequential requests per latency run (2000; streams: a quarter)")
    parser.add_argument("--warmup", type=int, default=200, help="unmeasured requests first (200)")
    parser.add_argument("--litellm", action="store_true",
                        help="also measure LiteLLM's proxy (installed into bench/.venv-litellm)")
    parser.add_argument("--floor", action="store_true",
                        help="also measure a bare uvicorn+aiohttp pass-through: what the stack alone costs")
    parser.add_argument("--only", help="comma-separated subset of: direct,floor,rin,litellm")
    parser.add_argument("--loadgen", choices=("auto", "wrk", "python"), default="auto",
                        help="throughput client: wrk if installed (auto), or the aiohttp fallback")
    parser.add_argument("--delay-ms", type=float, default=0.0, help="upstream delay per request (0)")
    parser.add_argument("--config-extra", default="", metavar="YAML",
                        help="YAML appended to every gateway's config, e.g. "
                             "'general_settings: {disable_spend_logs: true}'")
    parser.add_argument("--pin", action="store_true",
                        help="pin the gateway to CPU 1 and clients and upstream to CPU 0 (off by default: "
                             "on a shared machine a pinned gateway cannot dodge other work)")
    args = parser.parse_args(argv)
    chosen = (args.only.split(",") if args.only else
              ["direct"] + (["floor"] if args.floor else []) + ["rin"] + (["litellm"] if args.litellm else []))
    unknown = set(chosen) - set(TARGET_NAMES)
    if unknown:
        parser.error(f"--only: unknown target(s) {', '.join(sorted(unknown))}; use {','.join(TARGET_NAMES)}")
    args.targets = chosen
    args.scenario = scenarios.parse_names(args.scenario + (["protocols"] if args.protocols else []))
    if unknown := set(args.scenario) - set(scenarios.NAMES):
        parser.error(f"--scenario: unknown {', '.join(sorted(unknown))}; use {', '.join(scenarios.NAMES)} or all")
    if args.duration is None:
        args.duration = 5.0 if args.scenario else 10.0
    if args.loadgen == "wrk" and not have_wrk():
        parser.error(INSTALL_HINT)
    return args


class Pinning:
    """CPU 1 for the server being measured, CPU 0 for everything else (clients, upstream).

    With two cores the load generator, the upstream and the gateway share the machine; pinning
    keeps the gateway on a core of its own, so its numbers are those of one worker on one core.
    """

    def __init__(self, enabled: bool) -> None:
        cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
        self.enabled = enabled and len(cpus) >= 2
        self.client_cpus = {cpus[0]} if self.enabled else set()
        self.server_cpus = {cpus[1]} if self.enabled else set()

    def describe(self) -> str:
        if not self.enabled:
            return "off"
        return f"gateway on CPU {min(self.server_cpus)}, clients and upstream on CPU {min(self.client_cpus)}"

    def pin_self(self) -> None:
        if self.enabled:
            os.sched_setaffinity(0, self.client_cpus)

    def for_server(self) -> Callable[[], None] | None:
        return (lambda: os.sched_setaffinity(0, self.server_cpus)) if self.enabled else None

    def for_client(self) -> Callable[[], None] | None:
        return (lambda: os.sched_setaffinity(0, self.client_cpus)) if self.enabled else None


def cpu_busy(seconds: float = 1.0) -> float | None:
    """The fraction of all CPUs' time spent busy over `seconds`: other work skews every number."""
    def sample() -> tuple[int, int]:
        fields = [int(n) for n in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
        return idle, sum(fields)

    try:
        idle0, total0 = sample()
        time.sleep(seconds)
        idle1, total1 = sample()
    except (OSError, ValueError, IndexError):
        return None
    return 1 - (idle1 - idle0) / max(1, total1 - total0)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def say(message: str) -> None:
    print(f"bench: {message}", flush=True)


def measure_target(name: str, port: int, pid: int, args: argparse.Namespace,
                   loadgen_preexec: Callable[[], None] | None, throughput: bool = True) -> dict[str, Any]:
    """Latency at c=1, streaming first token, then throughput at c=N against the server `pid`.

    CPU time per request under load is the least noisy number on a shared machine: other work
    slows the server down but does not add to its own CPU time (much).
    """
    result: dict[str, Any] = {}
    latency = measure_latency(port, CHAT_PATH, args.requests, args.warmup)
    result.update(p50_ms=latency.percentile(50), p99_ms=latency.percentile(99), errors=latency.errors)
    say(f"{name}: latency p50 {latency.percentile(50) or 0:.3f} ms, p99 {latency.percentile(99) or 0:.3f} ms"
        f" ({len(latency.ms)} requests, {latency.errors} errors)")
    stream = measure_latency(port, CHAT_PATH, max(1, args.requests // 4), max(1, args.warmup // 4), stream=True)
    result.update(ttft_p50_ms=stream.percentile(50), ttft_p99_ms=stream.percentile(99))
    result["errors"] += stream.errors
    say(f"{name}: stream first token p50 {stream.percentile(50) or 0:.3f} ms ({stream.errors} errors)")
    for kind, timings in (("latency", latency), ("stream", stream)):
        if timings.first_error:
            result.setdefault("error_samples", []).append(f"{kind}: {timings.first_error}")
    if throughput:
        url = f"http://127.0.0.1:{port}{CHAT_PATH}"
        cpu_before = cpu_seconds(pid)
        load: LoadResult = run_load(url, args.concurrency, args.duration, tool=args.loadgen,
                                    preexec=loadgen_preexec)
        cpu = cpu_seconds(pid) - cpu_before
        result.update(rps=load.rps, load=vars(load), cpu_cores=cpu / load.seconds,
                      cpu_us_per_request=cpu / max(1, load.requests) * 1e6)
        result["errors"] += load.errors
        say(f"{name}: {load.rps:,.0f} req/s at c={args.concurrency} ({load.tool}, {load.requests} requests, "
            f"{load.errors} errors), {result['cpu_us_per_request']:.0f} µs CPU a request, "
            f"{result['cpu_cores']:.2f} cores busy")
    return result


def run_gateway(spec_factory: Callable[[Path, int], Any], upstream: Upstream, workdir: Path,
                args: argparse.Namespace, pin: Pinning) -> dict[str, Any]:
    config = write_config(workdir, upstream.base_url, args.config_extra)
    port = free_port()
    spec = spec_factory(config, port)
    say(f"{spec.label}: starting `{' '.join(spec.argv)}` in {workdir}")
    with Gateway(spec, port, workdir, preexec=pin.for_server()) as gateway:
        startup, line = gateway.start_settled()
        say(line)
        result = measure_target(spec.label, port, gateway.pid, args, pin.for_client())
        result.update(startup_s=startup, rss_mb=gateway.rss_mb())
        if not gateway.alive():
            raise GatewayError(f"{spec.label} died during the load runs\n{gateway.log_tail()}")
        say(f"{spec.label}: RSS {result['rss_mb']:.0f} MB")
        result["log_tail"] = gateway.log_tail(10)
    return result


def run_all(args: argparse.Namespace, pin: Pinning, notes: list[str]) -> dict[str, dict[str, Any]]:
    """Direct first (the baseline every "added" number subtracts), then each gateway in turn."""
    results: dict[str, dict[str, Any]] = {}
    with Upstream(delay=args.delay_ms / 1000) as upstream, \
            tempfile.TemporaryDirectory(prefix="rin-bench-") as tmp:
        say(f"fake upstream on {upstream.base_url} (pid {upstream.pid}); CPU pinning: {pin.describe()}")
        if "rin" in args.targets:
            startup.compile_bytecode()  # as deployed: every start-up row below reads .pyc files
        # Pinned, the direct run's load generator takes the CPU a gateway would have.
        results["direct"] = measure_target("direct", upstream.port, upstream.pid, args, pin.for_server(),
                                           throughput="direct" in args.targets)
        for name, factory in (("floor", floor_spec), ("rin", rin_spec), ("litellm", litellm_spec)):
            if name not in args.targets:
                continue
            workdir = Path(tmp) / name
            workdir.mkdir()
            try:
                results[name] = run_gateway(factory, upstream, workdir, args, pin)
            except (GatewayError, RuntimeError, OSError) as err:
                say(f"{name} FAILED: {err}")
                results[name] = {"failed": str(err)}
                notes.append(f"{name} failed: {str(err).splitlines()[0]}")
                continue
            if name == "rin":
                # issue 16's measure: the default config, several starts (bench/scenarios/startup.py)
                results[name].update(startup.main_rows(startup.measure(upstream, Path(tmp), args.startup_rounds)))
            for key in ("p50_ms", "p99_ms", "ttft_p50_ms"):
                mine, theirs = results[name].get(key), results["direct"].get(key)
                if mine is not None and theirs is not None:
                    results[name][f"added_{key}"] = mine - theirs
    return results


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.scenario:
        if args.loadgen == "auto" and not have_wrk():
            say(INSTALL_HINT + "; throughput below measures the aiohttp load generator")
        return scenarios.run(args.scenario, args)
    pin = Pinning(args.pin)
    pin.pin_self()
    loadgen = "wrk" if args.loadgen == "wrk" or (args.loadgen == "auto" and have_wrk()) else "python-aiohttp"
    notes: list[str] = []
    if loadgen != "wrk":
        if args.loadgen == "auto":
            say(INSTALL_HINT)
        notes.append("throughput measured with the Python aiohttp fallback load generator, which "
                     "saturates before a fast server does: install wrk for real numbers")
        say(notes[-1])
    if "litellm" in args.targets:
        ensure_litellm()
    busy = cpu_busy()
    if busy is not None and busy > 0.15:
        notes.append(f"the machine was {busy:.0%} busy before the run (other processes): "
                     "expect lower, noisier numbers")
        say("WARNING: " + notes[-1])
    began = time.monotonic()
    results = run_all(args, pin, notes)
    for name, result in results.items():
        notes += [f"{name}: first error seen: {sample}" for sample in result.get("error_samples", [])]
    if note := report.floor_note(results):
        notes.insert(0, note)
    rin = results.get("rin", {})
    full = {
        "machine": report.machine(),
        "settings": {"duration": args.duration, "concurrency": args.concurrency,
                     "requests": args.requests, "warmup": args.warmup, "loadgen": loadgen,
                     "startup_rounds": args.startup_rounds, "delay_ms": args.delay_ms, "pinning": pin.describe(),
                     "config_extra": args.config_extra,
                     "busy_before": None if busy is None else round(busy, 3),
                     "elapsed_s": round(time.monotonic() - began, 1)},
        "results": results,
        "checks": report.checks(rin) if rin and "failed" not in rin else {},
        "ratios": report.ratios(results),
        "notes": notes,
    }
    print("\n" + report.markdown(full))
    json_path, md_path = report.save(full)
    say(f"wrote {json_path} and {md_path}")
    return 1 if any("failed" in result for result in results.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
