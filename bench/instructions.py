"""Instructions a request, counted by callgrind: a CPU A/B that steal time and other tenants can't move.

    python -m bench.instructions /path/to/tree-a/src /path/to/tree-b/src [--requests 300]

On this shared 2-vCPU VM the host's steal time went from 0 to 30 % within minutes and moved RIN's
CPU a request from 400 to 1,400 µs (bench/README.md): a 2 % change can't be read from wrk or
/proc CPU times. callgrind counts the user-space instructions RIN executes, the same number run
after run (±0.6 % here) whatever else the machine does. The kernel's share (system calls, loopback
TCP) is not in it: a change that saves system calls shows in their count, not here.

Each tree's RIN (`python -m rin serve`, imported from that `src` via PYTHONPATH) runs under
`valgrind --tool=callgrind` with instrumentation off, against our own nginx answering a fixed
chat.completion (as the tail scenario), ledger (SQLite) and local cache on, no master key. After
50 warm-up requests, instrumentation is turned on for `--requests` sequential requests on one
keep-alive connection (every body distinct: cache misses), then dumped. About 25 s for two trees.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

from bench.scenarios import tail
from bench.scenarios.harness import config_yaml, free_port

EXTRA = "router_settings:\n  num_retries: 0\nlitellm_settings: {cache: true, cache_params: {type: local}}\n"


def _post(port: int, count: int, tag: str) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    for i in range(count):
        body = json.dumps({"model": "bench-model", "max_tokens": 16,
                           "messages": [{"role": "user", "content": f"hello {tag} {i}"}]})
        conn.request("POST", "/v1/chat/completions", body,
                     {"Content-Type": "application/json", "Authorization": "Bearer sk-bench"})
        response = conn.getresponse()
        response.read()
        if response.status != 200:
            raise RuntimeError(f"{tag}: HTTP {response.status}")
    conn.close()


def _wait_ready(port: int, log: Path, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 300  # start-up under valgrind: ~50x slower
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"RIN exited under valgrind:\n{log.read_text()[-2000:]}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            conn.request("GET", "/health/liveliness")
            if conn.getresponse().status == 200:
                return
        except OSError:
            time.sleep(0.5)
    raise RuntimeError(f"RIN did not start under valgrind:\n{log.read_text()[-2000:]}")


def _dumped_instructions(folder: Path) -> int:
    """The instruction total of the dump taken at `callgrind_control -d` (the largest `summary`)."""
    total = 0
    for path in folder.glob("callgrind.*"):
        for line in path.read_text(errors="replace").splitlines():
            if line.startswith(("summary:", "totals:")):
                total = max(total, int(line.split()[1]))
    return total


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.instructions", description=__doc__.split("\n")[0])
    parser.add_argument("trees", nargs="+", help="src folders of the RIN trees to compare")
    parser.add_argument("--requests", type=int, default=300)
    args = parser.parse_args()
    if subprocess.run(["which", "valgrind"], capture_output=True).returncode != 0:
        sys.exit("needs valgrind (apt-get install valgrind)")
    with ExitStack() as stack:
        tmp = Path(tempfile.mkdtemp(prefix="rin-bench-instructions-"))
        nginx = stack.enter_context(tail.Nginx(tmp / "nginx"))
        runs = []
        for n, src in enumerate(args.trees):
            folder = tmp / f"tree{n}"
            folder.mkdir()
            (folder / "bench-config.yaml").write_text(config_yaml(nginx.base_url, [], EXTRA))
            port = free_port()
            log = folder / "rin.log"
            proc = subprocess.Popen(
                ["valgrind", "--tool=callgrind", "--instr-atstart=no",
                 f"--callgrind-out-file={folder}/callgrind.%p", sys.executable, "-m", "rin", "serve",
                 "--config", str(folder / "bench-config.yaml"), "--port", str(port)],
                env={**os.environ, "PYTHONPATH": str(Path(src).absolute()), "RIN_DATA_DIR": str(folder)},
                cwd=folder, stdout=log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True)
            stack.callback(lambda p=proc: (os.killpg(p.pid, signal.SIGTERM), p.wait(120)))
            runs.append((src, folder, port, log, proc))
        for _, _, port, log, proc in runs:
            _wait_ready(port, log, proc)
            _post(port, 50, "warm")
        for src, folder, port, _, proc in runs:
            subprocess.run(["callgrind_control", "-i", "on", str(proc.pid)], check=True, capture_output=True)
            _post(port, args.requests, "measured")
            subprocess.run(["callgrind_control", "-d", str(proc.pid)], check=True, capture_output=True)
            subprocess.run(["callgrind_control", "-i", "off", str(proc.pid)], check=True, capture_output=True)
        time.sleep(1)
        first = None
        for src, folder, *_ in runs:
            per_request = _dumped_instructions(folder) / args.requests
            first = first or per_request
            print(f"{src}: {per_request:,.0f} instructions a request ({per_request / first - 1:+.1%})")


if __name__ == "__main__":
    main()
