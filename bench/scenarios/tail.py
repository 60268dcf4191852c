"""tail: added p50 / p99 / p99.9 at c=1 and c=50 over long runs, ledger, keys and cache on (issue 16).

The outside measurement of issue 16: wrk against an nginx that answers a fixed chat.completion,
directly and through RIN (ledger on, a master key and a virtual key the client uses, the local
response cache on, every request distinct so each one misses), runs long enough (at least
MIN_SECONDS) to hold every periodic thing the gateway does: the ledger's batches (every 0.25 s), the
keys' refresh (every 10 s), garbage collections. Added = RIN's percentile minus direct's, per round.
The floor (bench/floor.py: the bare stack relaying bytes) runs beside it: at c=1 a request through
any gateway costs the machine two more process wakeups than a direct one, and on a VM each wakeup
of an idle vCPU has a tail of its own; the floor's added tail is that part.

BENCH_TAIL_ALT_SRC=/other/worktree/src adds "rin-alt", RIN imported from that tree, to every round
(an A/B in one run, same nginx, same direct baseline). BENCH_TAIL_PROBE=out.json instead runs one c=1
run on a RIN started through bench.probe and prints its report (BENCH_TAIL_SRC: from that tree).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import time
from pathlib import Path
from typing import Any

from bench.gateways import (REPO, CHAT_PATH, Gateway, cpu_seconds, ensure_litellm, floor_spec, litellm_spec,
                            rin_spec)
from bench.load import parse_wrk
from bench.scenarios.harness import Ctx, config_yaml, free_port, ms, say, table
from bench.scenarios.machine import Steal
from bench.scenarios.keys import MASTER_KEY, KEY_REQUEST, generate_key

MIN_SECONDS = 12.0  # the keys' refresh runs every 10 s: every run sees at least one
NGINX = "/usr/sbin/nginx"
TAIL_LUA = Path(__file__).resolve().parent.parent / "tail.lua"
PERCENTILES = ("50", "99", "99.9")

ANSWER = ('{"id":"chatcmpl-bench","object":"chat.completion","created":1700000000,"model":"bench-model",'
          '"choices":[{"index":0,"message":{"role":"assistant","content":"Hello! How can I help?"},'
          '"finish_reason":"stop"}],"usage":{"prompt_tokens":12,"completion_tokens":7,"total_tokens":19}}')

NGINX_CONF = """\
worker_processes 1;
daemon off;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;
events {{ worker_connections 1024; }}
http {{
  access_log off;
  client_body_temp_path {tmp}/body;
  keepalive_requests 100000000;
  keepalive_timeout 300s;
  server {{
    listen 127.0.0.1:{port};
    location = /v1/chat/completions {{
      default_type application/json;
      return 200 '{answer}';
    }}
  }}
}}
"""


class Nginx:
    """Our own nginx on a free 127.0.0.1 port: POST /v1/chat/completions -> a fixed chat.completion.
    keepalive_requests is raised so that neither wrk nor RIN's pool reconnects during a run."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def __enter__(self) -> "Nginx":
        self.tmp.mkdir(parents=True, exist_ok=True)
        conf = self.tmp / "nginx.conf"
        conf.write_text(NGINX_CONF.format(tmp=self.tmp, port=self.port, answer=ANSWER))
        self.process = subprocess.Popen([NGINX, "-c", str(conf), "-p", str(self.tmp)],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                        start_new_session=True)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return self
            except OSError:
                time.sleep(0.02)
        raise RuntimeError(f"nginx did not listen on {self.port}: {(self.tmp / 'error.log').read_text()[-500:]}")

    def __exit__(self, *exc: object) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGQUIT)
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


def wrk_tail(port: int, concurrency: int, seconds: float, key: str, tag: str) -> dict[str, Any]:
    """wrk -t1 -cN with tail.lua: req/s, errors and the latency percentiles (ms) of every request."""
    argv = ["wrk", "-t1", f"-c{concurrency}", f"-d{max(1, round(seconds))}s", "--timeout", "5s",
            "-s", str(TAIL_LUA), f"http://127.0.0.1:{port}{CHAT_PATH}"]
    env = {**os.environ, "BENCH_KEY": key, "BENCH_TAG": tag}
    done = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=seconds + 30)
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr.strip() or done.stdout}")
    summary = parse_wrk(done.stdout)
    line = re.search(r"^TAIL (.*)$", done.stdout, re.MULTILINE)
    if line is None:
        raise RuntimeError(f"tail.lua printed no TAIL line:\n{done.stdout}")
    fields = dict(part.split("=") for part in line.group(1).split())
    out: dict[str, Any] = {"rps": summary.rps, "requests": summary.requests, "errors": summary.errors,
                           "max_ms": int(fields["max"]) / 1000}
    for p in PERCENTILES:
        out[f"p{p}_ms"] = int(fields[p]) / 1000
    return out


def _floor(ctx: Ctx, api_base: str) -> Gateway:
    """The bare stack RIN runs on (uvicorn, httptools, uvloop, one aiohttp session relaying bytes):
    the same wakeups a request through RIN costs the machine, with none of RIN's work."""
    return _beside(ctx, "floor", floor_spec, api_base)


def _litellm(ctx: Ctx, api_base: str) -> Gateway | None:
    if not getattr(ctx.args, "litellm", False):
        return None
    ensure_litellm()
    return _beside(ctx, "litellm", litellm_spec, api_base)


def _beside(ctx: Ctx, folder: str, spec: Any, api_base: str) -> Gateway:
    """A gateway of `spec(config path, port)` relaying to `api_base`; it stops with the scenario."""
    workdir = ctx.tmp / folder
    workdir.mkdir()
    path = workdir / "bench-config.yaml"
    path.write_text(config_yaml(api_base, []))
    port = free_port()
    gateway = Gateway(spec(path, port), port, workdir)
    ctx.stack.enter_context(gateway)
    say(gateway.start_settled()[1])
    return gateway


def _rin(ctx: Ctx, label: str, config: str, probe_out: Path | None = None, src: str | None = None) -> Gateway:
    """A RIN with `config`; `probe_out`: through bench.probe (timing probes written there when it
    stops); `src`: importing RIN from that source tree instead (another commit's, for an A/B)."""
    workdir = ctx.tmp / label
    workdir.mkdir()
    (workdir / "bench-config.yaml").write_text(config)
    port = free_port()
    spec = rin_spec(workdir / "bench-config.yaml", port)
    if probe_out is not None:
        spec.argv[1:3] = ["-m", "bench.probe", "run", str(probe_out), "--"]
    paths = [p for p in (src, str(REPO) if probe_out is not None else None) if p]
    if paths:
        spec.env["PYTHONPATH"] = os.pathsep.join(paths)
    spec.label, spec.auth_key = f"RIN ({label})", MASTER_KEY
    gateway = Gateway(spec, port, workdir)
    ctx.stack.enter_context(gateway)
    say(gateway.start_settled()[1])
    return gateway


def run(ctx: Ctx) -> dict[str, Any]:
    """Added p50/p99/p99.9 at c=1 and c=50 against nginx, ledger + keys + cache on, long runs."""
    if shutil.which("wrk") is None or not Path(NGINX).exists():
        raise RuntimeError("the tail scenario needs wrk and nginx")
    seconds = max(ctx.args.duration, MIN_SECONDS)
    nginx = ctx.stack.enter_context(Nginx(ctx.tmp / "nginx"))
    extra = ("router_settings:\n  num_retries: 0\n"
             f"general_settings: {{master_key: {MASTER_KEY}}}\n"
             "litellm_settings: {cache: true, cache_params: {type: local}}\n")
    config = config_yaml(nginx.base_url, [], extra)
    if probe_out := os.environ.get("BENCH_TAIL_PROBE"):
        return _probe_run(ctx, config, Path(probe_out).absolute(), seconds)
    rin = _rin(ctx, "rin", config)
    targets: dict[str, tuple[int, str, Gateway | None]] = {
        "direct": (nginx.port, "sk-bench", None),
        "rin": (rin.port, generate_key(rin.port, MASTER_KEY, KEY_REQUEST), rin)}
    if alt_src := os.environ.get("BENCH_TAIL_ALT_SRC"):  # an A/B in one run: RIN from another tree
        alt = _rin(ctx, "rin-alt", config, src=alt_src)
        targets["rin-alt"] = (alt.port, generate_key(alt.port, MASTER_KEY, KEY_REQUEST), alt)
    floor = _floor(ctx, nginx.base_url)
    targets["floor"] = (floor.port, "sk-bench", floor)
    litellm = _litellm(ctx, nginx.base_url)
    if litellm is not None:
        targets["litellm"] = (litellm.port, "sk-bench", litellm)
    for name, (port, key, _) in targets.items():
        wrk_tail(port, 1, 1, key, f"warm-{name}-")
    runs: list[dict[str, Any]] = []
    for r in range(ctx.args.rounds):
        for conc in dict.fromkeys((1, ctx.args.concurrency)):  # --concurrency 1: c=1 only
            order = list(targets.items()) if r % 2 == 0 else list(targets.items())[::-1]
            for name, (port, key, gateway) in order:
                seconds_here = seconds if name != "litellm" else min(seconds, 6.0)
                cpu0 = cpu_seconds(gateway.pid) if gateway else 0.0
                load1, steal = os.getloadavg()[0], Steal()
                row = wrk_tail(port, conc, seconds_here, key, f"r{r}c{conc}{name}-")
                cpu = cpu_seconds(gateway.pid) - cpu0 if gateway else 0.0
                row.update(target=name, round=r + 1, concurrency=conc, seconds=seconds_here, load1=load1,
                           steal=round(steal.share(), 4),
                           cpu_us_per_request=cpu / max(1, row["requests"]) * 1e6 if gateway else None)
                runs.append(row)
                say(f"tail round {r + 1} c={conc} {name}: {row['rps']:,.0f} req/s, p50 {ms(row['p50_ms'])} "
                    f"p99 {ms(row['p99_ms'])} p99.9 {ms(row['p99.9_ms'])} max {ms(row['max_ms'])} ms, "
                    f"{row['errors']} errors (load {load1:.2f}, steal {row['steal']:.1%})")
    return _report(ctx, runs, list(targets), seconds)


def _probe_run(ctx: Ctx, config: str, out: Path, seconds: float) -> dict[str, Any]:
    """BENCH_TAIL_PROBE=OUT.json: one c=1 run on a probed RIN, then its report (bench.probe)."""
    from bench import probe

    rin = _rin(ctx, "probed", config, probe_out=out, src=os.environ.get("BENCH_TAIL_SRC"))
    virtual = generate_key(rin.port, MASTER_KEY, KEY_REQUEST)
    wrk_tail(rin.port, 1, 2, virtual, "warm-")
    spy = None
    if spy_out := os.environ.get("BENCH_TAIL_PYSPY"):  # py-spy's raw stacks of the same run, not pausing RIN
        spy = subprocess.Popen([str(REPO / ".venv" / "bin" / "py-spy"), "record", "--pid", str(rin.pid),
                                "--rate", "1000", "--format", "raw", "--nonblocking", "-o", spy_out,
                                "-d", str(round(seconds))], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    row = wrk_tail(rin.port, 1, seconds, virtual, "probe-")
    if spy is not None:
        spy.wait(30)
    say(f"tail probed c=1: {row['rps']:,.0f} req/s, p50 {ms(row['p50_ms'])} p99 {ms(row['p99_ms'])} "
        f"p99.9 {ms(row['p99.9_ms'])} max {ms(row['max_ms'])} ms")
    rin.stop()
    text = probe.report(out, 2.5)
    return {"data": {"probe": row, "report": text}, "markdown": f"Probed c=1 run: {row}\n\n```\n{text}\n```"}


def _report(ctx: Ctx, runs: list[dict[str, Any]], names: list[str], seconds: float) -> dict[str, Any]:
    concs = sorted({r["concurrency"] for r in runs})
    added: dict[str, dict[int, dict[str, float]]] = {}
    rows = []
    for name in names:
        if name == "direct":
            continue
        added[name] = {}
        for conc in concs:
            mine = [r for r in runs if r["target"] == name and r["concurrency"] == conc]
            base = {r["round"]: r for r in runs if r["target"] == "direct" and r["concurrency"] == conc}
            med = {}
            for p in PERCENTILES:
                key = f"p{p}_ms"
                med[p] = statistics.median(r[key] - base[r["round"]][key] for r in mine)
            added[name][conc] = med
            cpu = [r["cpu_us_per_request"] for r in mine if r["cpu_us_per_request"] is not None]
            rows.append([name, f"c={conc}", f"{statistics.median(r['rps'] for r in mine):,.0f}",
                         *(ms(med[p]) for p in PERCENTILES),
                         ", ".join(ms(r["p99_ms"] - base[r["round"]]["p99_ms"]) for r in mine),
                         f"{statistics.median(cpu):.0f}" if cpu else "—",
                         sum(r["errors"] for r in mine)])
    for conc in concs:
        direct = [r for r in runs if r["target"] == "direct" and r["concurrency"] == conc]
        rows.append(["direct (nginx)", f"c={conc}", f"{statistics.median(r['rps'] for r in direct):,.0f}",
                     *(ms(statistics.median(r[f"p{p}_ms"] for r in direct)) for p in PERCENTILES),
                     "(absolute)", "—", sum(r["errors"] for r in direct)])
    md = table(["target", "load", "req/s (median)", "added p50 ms", "added p99 ms", "added p99.9 ms",
                "added p99 per round", "CPU µs / request", "errors"], rows)
    md += (f"\n\nwrk -t1 for {seconds:g} s a run (LiteLLM: at most 6 s), {ctx.args.rounds} rounds, order "
           "alternating; added = the target's percentile minus direct's in the same round, median over "
           "rounds (direct rows: absolute). RIN: ledger on (SQLite), master key + the virtual key the "
           "client sends, local response cache on, every request distinct (all misses). Target: added "
           "p99 ≤ 1.5 ms at c=1.")
    return {"data": {"runs": runs, "added": {n: {str(c): v for c, v in d.items()} for n, d in added.items()},
                     "seconds": seconds}, "markdown": md}
