"""Throughput at a fixed concurrency: `wrk` when installed, else an aiohttp load generator.

The aiohttp fallback runs in its own process but is pure Python: around a few thousand requests
per second on one core, so through a fast target it measures itself, not the target. Install wrk
(`apt-get install wrk`) for real numbers.

`python -m bench.load URL --concurrency 50 --duration 10` runs the fallback and prints JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

from bench.client import BENCH_KEY, CHAT_BODY

LUA_SCRIPT = Path(__file__).with_name("chat.lua")
INSTALL_HINT = "wrk is not installed: `apt-get install wrk` (Debian/Ubuntu) for real throughput numbers"


@dataclass
class LoadResult:
    tool: str
    requests: int
    seconds: float
    rps: float
    errors: int  # non-2xx responses plus socket errors (connect, read, write, timeout)
    p50_ms: float | None = None
    p99_ms: float | None = None
    detail: str = ""


def have_wrk() -> bool:
    return shutil.which("wrk") is not None


def run_load(url: str, concurrency: int, duration: float, threads: int = 1,
             tool: str = "auto", preexec: Callable[[], None] | None = None,
             body: str = CHAT_BODY, key: str = BENCH_KEY, headers: dict[str, str] | None = None) -> LoadResult:
    """`body` is POSTed as is by every request (default: the bench's small chat body), with
    `Authorization: Bearer <key>`, or with `headers` instead when given (e.g. `x-api-key`)."""
    if tool == "wrk" or (tool == "auto" and have_wrk()):
        return run_wrk(url, concurrency, duration, threads, preexec, body, key, headers)
    return run_python(url, concurrency, duration, preexec, body, key, headers)


def _header_lines(headers: dict[str, str] | None) -> str:
    return "".join(f"{name}: {value}\n" for name, value in (headers or {}).items())


def run_wrk(url: str, concurrency: int, duration: float, threads: int = 1,
            preexec: Callable[[], None] | None = None, body: str = CHAT_BODY,
            key: str = BENCH_KEY, headers: dict[str, str] | None = None) -> LoadResult:
    argv = ["wrk", f"-t{threads}", f"-c{concurrency}", f"-d{max(1, round(duration))}s",
            "--timeout", "5s", "--latency", "-s", str(LUA_SCRIPT), url]
    env = {**os.environ, "BENCH_BODY": body, "BENCH_KEY": key, "BENCH_HEADERS": _header_lines(headers)}
    done = subprocess.run(argv, capture_output=True, text=True, env=env, preexec_fn=preexec,
                          timeout=duration + 30)
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr.strip() or done.stdout}")
    return parse_wrk(done.stdout)


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


def parse_wrk(output: str) -> LoadResult:
    """Reads wrk's plain-text summary (wrk 4.x)."""
    total = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m)\b", output)
    rps = re.search(r"Requests/sec:\s+([\d.]+)", output)
    if total is None or rps is None:
        raise RuntimeError(f"cannot parse wrk output:\n{output}")
    errors = 0
    if non_2xx := re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output):
        errors += int(non_2xx.group(1))
    if socket_errors := re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)",
                                  output):
        errors += sum(int(n) for n in socket_errors.groups())

    def percentile(p: str) -> float | None:
        match = re.search(rf"^\s+{p}%\s+([\d.]+)(us|ms|s|m)\s*$", output, re.MULTILINE)
        return float(match.group(1)) * _UNITS[match.group(2)] if match else None

    lines = [line.strip() for line in output.splitlines() if "errors" in line or "Non-2xx" in line]
    return LoadResult("wrk", int(total.group(1)), float(total.group(2)) * _UNITS[total.group(3)] / 1e3,
                      float(rps.group(1)), errors, percentile("50"), percentile("99"), "; ".join(lines))


def run_python(url: str, concurrency: int, duration: float,
               preexec: Callable[[], None] | None = None, body: str = CHAT_BODY,
               key: str = BENCH_KEY, headers: dict[str, str] | None = None) -> LoadResult:
    argv = [sys.executable, "-m", "bench.load", url, "--concurrency", str(concurrency),
            "--duration", str(duration), "--body", body, "--key", key]
    for name, value in (headers or {}).items():
        argv += ["--header", f"{name}: {value}"]
    done = subprocess.run(argv, capture_output=True, text=True, preexec_fn=preexec,
                          cwd=Path(__file__).resolve().parent.parent, timeout=duration + 60)
    if done.returncode != 0:
        raise RuntimeError(f"python load generator failed: {done.stderr.strip()}")
    return LoadResult(**json.loads(done.stdout))


async def _generate(url: str, concurrency: int, duration: float, body_text: str = CHAT_BODY,
                    key: str = BENCH_KEY, extra_headers: dict[str, str] | None = None) -> LoadResult:
    import aiohttp

    body = body_text.encode()
    headers = {"Content-Type": "application/json",
               **(extra_headers if extra_headers else {"Authorization": f"Bearer {key}"})}
    latencies: list[float] = []
    errors = 0
    first_error = ""
    connector = aiohttp.TCPConnector(limit=concurrency, force_close=False)
    timeout = aiohttp.ClientTimeout(total=5)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        stop_at = time.perf_counter() + duration

        async def worker() -> None:
            nonlocal errors, first_error
            while (start := time.perf_counter()) < stop_at:
                try:
                    async with session.post(url, data=body, headers=headers) as response:
                        await response.read()
                        ok = response.status == 200
                        if not ok:
                            first_error = first_error or f"HTTP {response.status}"
                except (aiohttp.ClientError, asyncio.TimeoutError) as err:
                    ok = False
                    first_error = first_error or f"{type(err).__name__}: {err}"
                if ok:
                    latencies.append(time.perf_counter() - start)
                else:
                    errors += 1

        began = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        seconds = time.perf_counter() - began
    latencies.sort()

    def percentile(p: float) -> float | None:
        return latencies[min(len(latencies) - 1, int(p / 100 * len(latencies)))] * 1e3 if latencies else None

    done = len(latencies) + errors
    return LoadResult("python-aiohttp", done, seconds, done / seconds, errors,
                      percentile(50), percentile(99), first_error)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.load", description="aiohttp load generator")
    parser.add_argument("url")
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--body", default=CHAT_BODY, help="JSON body to POST (the bench's chat body)")
    parser.add_argument("--key", default=BENCH_KEY, help="API key sent as `Authorization: Bearer` (sk-bench)")
    parser.add_argument("--header", action="append", default=[], metavar="'NAME: VALUE'",
                        help="send these headers instead of the bearer token (repeatable)")
    args = parser.parse_args()
    extra = dict((part.strip() for part in h.split(":", 1)) for h in args.header) or None
    try:
        import uvloop
    except ImportError:
        result = asyncio.run(_generate(args.url, args.concurrency, args.duration, args.body, args.key, extra))
    else:
        result = uvloop.run(_generate(args.url, args.concurrency, args.duration, args.body, args.key, extra))
    print(json.dumps(asdict(result)))


if __name__ == "__main__":
    main()
