"""Runs the real gateway (`python -m rin serve`) as a subprocess for end-to-end tests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import orjson
import urllib.request
import urllib.error

import yaml

REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Gateway:
    """One `rin serve` process on a free port, with its log captured to a file."""

    def __init__(self, config: dict[str, Any] | str, workdir: Path, env: dict[str, str] | None = None,
                 args: list[str] | None = None, api_key: str | None = None, cwd: Path | None = None) -> None:
        #: sent as the Bearer token by request() and openai() unless a call says otherwise
        self.api_key = api_key
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        #: where `rin serve` runs (default: `workdir`, beside its config)
        self.cwd = cwd or workdir
        self.config_path = workdir / "config.yaml"
        text = config if isinstance(config, str) else yaml.safe_dump(config, sort_keys=False)
        self.config_path.write_text(text)
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.log_path = workdir / "rin.log"
        self.env = {k: v for k, v in os.environ.items()
                    if not k.endswith("_API_KEY") and not k.endswith("_API_BASE")}
        self.env.update(env or {})
        self.args = args or []
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 20.0) -> "Gateway":
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "rin", "serve", "--config", str(self.config_path),
             "--port", str(self.port), *self.args],
            cwd=self.cwd, env=self.env, stdout=self._log, stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"rin serve exited with {self.proc.returncode}:\n{self.log()}")
            try:
                with urllib.request.urlopen(self.base_url + "/health/liveliness", timeout=1) as resp:
                    if resp.status == 200:
                        return self
            except (urllib.error.URLError, ConnectionError, OSError):
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"rin serve did not become ready:\n{self.log()}")

    def stop(self, sig: int | None = None) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            if sig is None:
                self.proc.terminate()
            else:
                self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
        return self.proc.returncode

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def request(self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None,
                raw: bytes | None = None) -> tuple[int, dict[str, str], bytes]:
        data = raw if raw is not None else (orjson.dumps(body) if body is not None else None)
        base = {"content-type": "application/json"}
        if self.api_key:
            base["authorization"] = "Bearer " + self.api_key
        req = urllib.request.Request(self.base_url + path, data=data, method=method,
                                     headers={**base, **(headers or {})})
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                return resp.status, {k.lower(): v for k, v in resp.headers.items()}, resp.read()
        except urllib.error.HTTPError as err:
            return err.code, {k.lower(): v for k, v in err.headers.items()}, err.read()

    def openai(self, api_key: str | None = None, **kwargs: Any):  # type: ignore[no-untyped-def]
        import openai

        key = api_key or self.api_key or "sk-anything"
        return openai.OpenAI(base_url=self.base_url + "/v1", api_key=key, max_retries=0, **kwargs)

    def __enter__(self) -> "Gateway":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def wait_for(condition: Any, seconds: float = 15.0) -> Any:
    """Polls `condition()` until it returns something true (returned) or `seconds` pass (its last
    value): for what a gateway process does on its own schedule (a sync, a reload, a log line)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if found := condition():
            return found
        time.sleep(0.05)
    return condition()


def listed(gw: Gateway) -> set[str]:
    """The model ids `gw` lists on /v1/models."""
    return {m["id"] for m in orjson.loads(gw.request("GET", "/v1/models")[2])["data"]}
