"""What every scenario uses: `Ctx` (start a RIN, run a load on it), the config, the c=1
sequences, /metrics, and the markdown table."""

from __future__ import annotations

import argparse
import re
import socket
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from bench.client import (BENCH_KEY, CHAT_BODY, Connection, Response, Timings, measure_sequence,
                          post_request)
from bench.gateways import CHAT_PATH, Gateway, cpu_seconds, rin_spec
from bench.load import LoadResult, run_load
from bench.upstream import Upstream


def say(message: str) -> None:
    print(f"bench: {message}", flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def deployment(name: str, model: str, api_base: str) -> str:
    return (f"  - model_name: {name}\n"
            f"    litellm_params: {{model: openai/{model}, api_base: {api_base}, api_key: sk-bench}}\n")


def config_yaml(api_base: str, models: list[tuple[str, str]], extra: str = "") -> str:
    """`bench-model` (healthy: the start-up probe asks it) plus `models` as (name, upstream model)."""
    text = "model_list:\n" + deployment("bench-model", "bench-model", api_base)
    text += "".join(deployment(name, model, api_base) for name, model in models)
    return text + (extra.rstrip() + "\n" if extra else "router_settings:\n  num_retries: 0\n")


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
        say(gateway.start_settled()[1])
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


def redis_up(host: str = "127.0.0.1", port: int = 6379) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False
