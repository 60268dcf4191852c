"""The gateways under test as subprocesses: config, start-up timing, RSS, shutdown.

RIN runs from the repo's venv. LiteLLM runs from its own venv (bench/.venv-litellm), made on first
use, because it is large and must not leak into RIN's dependencies.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from bench.client import BENCH_KEY, CHAT_BODY, Response, wait_until_serving

REPO = Path(__file__).resolve().parent.parent
LITELLM_VENV = Path(__file__).resolve().parent / ".venv-litellm"
# Pinned: newer releases need a `litellm-proxy` / `litellm-proxy-extras` the registry may not serve
# yet, and pinning keeps the comparison reproducible (and clear of pulled, compromised releases).
LITELLM_SPEC = "litellm[proxy]==1.108.4"
CHAT_PATH = "/v1/chat/completions"

CONFIG_TEMPLATE = """\
model_list:
  - model_name: bench-model
    litellm_params:
      model: openai/bench-model
      api_base: {api_base}
      api_key: sk-bench
router_settings:
  num_retries: 0
"""


def write_config(directory: Path, api_base: str, extra: str = "") -> Path:
    """The bench config; `extra` is YAML appended as is (new top-level keys only)."""
    path = directory / "bench-config.yaml"
    path.write_text(CONFIG_TEMPLATE.format(api_base=api_base) + (extra.rstrip() + "\n" if extra else ""))
    return path


@dataclass
class GatewaySpec:
    key: str  # "rin" | "litellm": the name in results
    label: str
    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)
    startup_timeout: float = 30.0
    auth_key: str = BENCH_KEY  # the bearer token of the start-up probe (a master key, when set)
    probe_body: str = CHAT_BODY  # the start-up probe's chat request (its model must answer 200)
    unset: tuple[str, ...] = ()  # variables of the bench's environment the gateway must not see


def rin_spec(config: Path, port: int) -> GatewaySpec:
    python = REPO / ".venv" / "bin" / "python"
    argv = [str(python if python.exists() else sys.executable), "-m", "rin", "serve",
            "--config", str(config), "--host", "127.0.0.1", "--port", str(port)]
    return GatewaySpec("rin", "RIN", argv, startup_timeout=30.0)


def floor_spec(config: Path, port: int) -> GatewaySpec:
    python = REPO / ".venv" / "bin" / "python"
    argv = [str(python if python.exists() else sys.executable), str(Path(__file__).with_name("floor.py")),
            "--config", str(config), "--host", "127.0.0.1", "--port", str(port)]
    return GatewaySpec("floor", "floor", argv, startup_timeout=30.0)


def litellm_spec(config: Path, port: int) -> GatewaySpec:
    argv = [str(LITELLM_VENV / "bin" / "litellm"), "--config", str(config), "--host", "127.0.0.1",
            "--port", str(port), "--num_workers", "1"]
    env = {
        "LITELLM_LOG": "ERROR",
        # Since 1.8x LiteLLM refuses to start without a master key; RIN runs without one too.
        "LITELLM_DANGEROUSLY_PERMIT_WEAK_OR_UNSET_MASTER_KEY": "true",
        # The cost map is otherwise fetched from GitHub at import; there is no network here.
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        "DISABLE_SCHEMA_UPDATE": "true",
        "LITELLM_TELEMETRY": "False",
        "LITELLM_MODE": "PRODUCTION",  # don't read a .env
    }
    return GatewaySpec("litellm", "LiteLLM", argv, env, startup_timeout=120.0)


def ensure_litellm() -> None:
    """Creates bench/.venv-litellm and installs LiteLLM's proxy into it, once per LITELLM_SPEC."""
    stamp = LITELLM_VENV / ".bench-installed"
    if (LITELLM_VENV / "bin" / "litellm").exists() and stamp.exists() and stamp.read_text() == LITELLM_SPEC:
        return
    print(f"bench: installing {LITELLM_SPEC} into {LITELLM_VENV} (first use only; several hundred MB)",
          flush=True)
    if not (LITELLM_VENV / "bin" / "python").exists():
        subprocess.run([sys.executable, "-m", "venv", str(LITELLM_VENV)], check=True)
    pip = [str(LITELLM_VENV / "bin" / "python"), "-m", "pip"]
    subprocess.run([*pip, "install", "--progress-bar", "off", "--upgrade", "pip"], check=True)
    subprocess.run([*pip, "install", "--progress-bar", "off", LITELLM_SPEC], check=True)
    stamp.write_text(LITELLM_SPEC)
    print("bench: LiteLLM installed", flush=True)


class GatewayError(Exception):
    """A gateway did not start or died; the message ends with the tail of its log."""


class Gateway:
    """One gateway process, started in its own session so it and its workers stop together."""

    def __init__(self, spec: GatewaySpec, port: int, workdir: Path,
                 preexec: Callable[[], None] | None = None) -> None:
        self.spec = spec
        self.port = port
        self.workdir = workdir
        self.preexec = preexec
        self.log_path = workdir / f"{spec.key}.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.first_response: Response | None = None

    def start(self) -> float:
        """Spawns the gateway; returns seconds from spawn to the first 200 on a chat request."""
        unset = {"DATABASE_URL", "RIN_CONFIG", "REDIS_URL", "REDIS_HOST", *self.spec.unset}
        env = {key: value for key, value in os.environ.items() if key not in unset}
        env.update(self.spec.env)
        log = self.log_path.open("wb")
        began = time.perf_counter()
        self.process = subprocess.Popen(self.spec.argv, cwd=self.workdir, env=env, stdout=log,
                                        stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                        start_new_session=True, preexec_fn=self.preexec)
        log.close()
        try:
            self.first_response = wait_until_serving(self.port, CHAT_PATH, self.process,
                                                     self.spec.startup_timeout, key=self.spec.auth_key,
                                                     body=self.spec.probe_body)
        except (RuntimeError, TimeoutError) as err:
            self.stop()
            raise GatewayError(f"{self.spec.label} {err}\n{self.log_tail()}") from None
        return time.perf_counter() - began

    def settle(self, share: float = 0.05, window: float = 0.5, limit: float = 30.0) -> float | None:
        """Waits until the gateway's processes use under `share` of a core over `window` seconds:
        a server still busy after its first answer (LiteLLM's proxy was seen at 93 % of a core for
        a while after start, RIN loads its cached catalogue after binding) would spoil the first
        run. Seconds waited, or None if it was still busy after `limit` (or died)."""
        began = time.perf_counter()
        while time.perf_counter() - began < limit and self.alive():
            before = cpu_seconds(self.pid)
            time.sleep(window)
            used = cpu_seconds(self.pid) - before
            if 0 <= used < share * window and self.alive():  # < 0: a process of the tree ended, measure again
                return time.perf_counter() - began
        return None

    def start_settled(self, limit: float = 30.0) -> tuple[float, str]:
        """start() (its seconds), then settle(); and what happened, for the bench's log."""
        startup = self.start()
        settled = self.settle(limit=limit)
        quiet = (f"not idle within {limit:.0f} s (busy or gone: its numbers may suffer)" if settled is None
                 else f"idle {settled:.1f} s later")
        return startup, f"{self.spec.label}: first 200 after {startup:.2f} s, {quiet}"

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def rss_mb(self) -> float:
        """Resident memory of the gateway and all its descendants (workers), in MB."""
        assert self.process is not None
        return sum(_vm_rss_kb(pid) for pid in _process_tree(self.process.pid)) / 1024

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(f"    | {line}" for line in text.splitlines()[-lines:])

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        except ProcessLookupError:
            pass

    def __enter__(self) -> "Gateway":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time used so far by a process and its descendants (all threads)."""
    ticks = 0
    for member in _process_tree(pid):
        try:
            fields = Path(f"/proc/{member}/stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        ticks += int(fields[11]) + int(fields[12])  # utime, stime: fields 14 and 15 of stat(5)
    return ticks / os.sysconf("SC_CLK_TCK")


def _process_tree(pid: int) -> list[int]:
    pids = [pid]
    for tid in _listdir(f"/proc/{pid}/task"):
        try:
            children = Path(f"/proc/{pid}/task/{tid}/children").read_text().split()
        except OSError:
            continue
        for child in children:
            pids += _process_tree(int(child))
    return pids


def _listdir(path: str) -> list[str]:
    try:
        return os.listdir(path)
    except OSError:
        return []


def _vm_rss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0
