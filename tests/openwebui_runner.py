"""A real Open WebUI (0.12.4 from PyPI) for end-to-end tests: installed once into a cache outside the
repo with the scripts kept beside it (../shared/tools/openwebui), started per test module with a fresh
data dir, and driven through its own HTTP API.

The install (a venv with CPU torch and open-webui, ~2.9 GB, a few minutes) goes into
`~/.cache/rin-tests/openwebui` (or `$RIN_TEST_OPENWEBUI_CACHE`), under a lock, and is reused once
stamped. When the scripts are absent, the package registry cannot be reached or the install does not
finish in INSTALL_TIMEOUT, the caller's test SKIPs with the reason: Open WebUI is an optional client,
so it skips even with RIN_REQUIRE_SERVICES=1 (the reason says so).

Every start gets its own folder holding copies of the start/stop scripts, a symlink to the cached
venv and an empty `data/`: Open WebUI persists settings in its database, so a reused data dir could
hide the environment under test.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.gateway import REPO, free_port

VERSION = "0.12.4"
#: the scripts, kept beside the repo (CI runs a fresh clone with ../shared next to it)
TOOLS = REPO.parent / "shared" / "tools" / "openwebui"
INSTALL_TIMEOUT = 600.0  # seconds for install-openwebui.sh (about 2-4 minutes from the local registry)
START_TIMEOUT = 240.0  # seconds for start-openwebui.sh to see /health (it gives up by itself after 300)
VENV = ".venv-openwebui"
#: what a start passes through from the test's environment; nothing else (no user keys or base URLs)
PASS_ENV = ("PATH", "LANG", "LC_ALL", "TMPDIR", "PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_FIND_LINKS",
            "PIP_NO_INDEX", "PIP_CONFIG_FILE")


def unavailable(why: str) -> None:
    if os.environ.get("RIN_REQUIRE_SERVICES") == "1":
        why += " (an optional client: skipped even with RIN_REQUIRE_SERVICES=1)"
    pytest.skip(why)


def cache_root() -> Path:
    configured = os.environ.get("RIN_TEST_OPENWEBUI_CACHE")
    return Path(configured) if configured else Path.home() / ".cache" / "rin-tests" / "openwebui"


def _tail(text: str | bytes | None, lines: int = 15) -> str:
    if isinstance(text, bytes):
        text = text.decode(errors="replace")
    kept = [ln for ln in (text or "").strip().splitlines() if "is ignored: it is neither a file" not in ln]
    return "\n".join(kept[-lines:])


def install() -> Path:
    """The cache folder holding the installed venv (installing it once, under a lock); skips when that fails."""
    if not (TOOLS / "install-openwebui.sh").is_file():
        unavailable(f"the Open WebUI scripts are absent ({TOOLS}; they live in ../shared/tools/openwebui)")
    root = cache_root()
    stamp = root / ".rin-installed"
    exe = root / VENV / "bin" / "open-webui"
    try:
        root.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        unavailable(f"cannot create the Open WebUI cache dir {root.parent}: {err}")
    with open(root.parent / "openwebui.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one install at a time, across concurrent test runs
        if stamp.is_file() and stamp.read_text().strip() == f"open-webui=={VERSION}" and exe.exists():
            return root
        shutil.rmtree(root, ignore_errors=True)
        shutil.copytree(TOOLS, root, ignore=shutil.ignore_patterns(VENV, "data"))
        env = {**os.environ, "OWUI_VERSION": VERSION, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
        started = time.monotonic()
        proc = subprocess.Popen(["bash", str(root / "install-openwebui.sh")], cwd=root, env=env,
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                start_new_session=True)
        try:
            out, _ = proc.communicate(timeout=INSTALL_TIMEOUT)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)  # pip and its children: the group this Popen started
            out, _ = proc.communicate()
            shutil.rmtree(root, ignore_errors=True)
            unavailable(f"installing open-webui=={VERSION} did not finish in {INSTALL_TIMEOUT:.0f} s "
                        f"(package registry unreachable or slow?):\n{_tail(out, 5)}")
        if proc.returncode != 0 or not exe.exists():
            shutil.rmtree(root, ignore_errors=True)
            unavailable(f"installing open-webui=={VERSION} failed (exit {proc.returncode}) after "
                        f"{time.monotonic() - started:.0f} s (package registry unavailable?):\n{_tail(out)}")
        stamp.write_text(f"open-webui=={VERSION}\n")
    return root


def multipart(fields: dict[str, str], files: dict[str, tuple[str, bytes, str]]) -> tuple[bytes, str]:
    """(body, content type) of a multipart/form-data upload, as a browser sends one."""
    boundary = "----rin-test-" + uuid.uuid4().hex
    out = bytearray()
    for name, value in fields.items():
        out += (f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n').encode()
    for name, (filename, data, ctype) in files.items():
        out += (f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
                f"Content-Type: {ctype}\r\n\r\n").encode() + data + b"\r\n"
    out += f"--{boundary}--\r\n".encode()
    return bytes(out), f"multipart/form-data; boundary={boundary}"


class OpenWebUI:
    """One Open WebUI server, started with start-openwebui.sh from `workdir`, stopped with stop.sh."""

    def __init__(self, install_root: Path, workdir: Path, gateway_url: str, gateway_key: str,
                 env: dict[str, str] | None = None) -> None:
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        for script in ("start-openwebui.sh", "stop.sh"):
            shutil.copy2(install_root / script, workdir / script)
        (workdir / VENV).symlink_to(install_root / VENV, target_is_directory=True)
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        home = workdir / "home"
        home.mkdir(exist_ok=True)
        self.env = {k: v for k, v in os.environ.items() if k in PASS_ENV}
        self.env.update(HOME=str(home), OWUI_HOST="127.0.0.1", OWUI_PORT=str(self.port),
                        GATEWAY_URL=gateway_url, GATEWAY_KEY=gateway_key, **(env or {}))
        self.token: str | None = None

    @property
    def log_path(self) -> Path:
        return self.workdir / "data" / "openwebui.log"

    def log(self, lines: int = 60) -> str:
        return _tail(self.log_path.read_text(errors="replace") if self.log_path.exists() else "", lines)

    def start(self) -> "OpenWebUI":
        try:
            done = subprocess.run(["bash", str(self.workdir / "start-openwebui.sh")], cwd=self.workdir,
                                  env=self.env, capture_output=True, timeout=START_TIMEOUT,
                                  stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            self.stop()
            raise RuntimeError(f"Open WebUI did not answer /health in {START_TIMEOUT:.0f} s:\n{self.log()}")
        if done.returncode != 0:
            self.stop()
            raise RuntimeError(f"start-openwebui.sh exited {done.returncode}:\n{_tail(done.stdout)}\n{self.log()}")
        status, _, body = self.request("POST", "/api/v1/auths/signin", {"email": "", "password": ""})
        if status != 200:
            self.stop()
            raise RuntimeError(f"signing in to Open WebUI answered {status}: {body[:500]!r}")
        self.token = orjson.loads(body)["token"]
        return self

    def stop(self) -> None:
        subprocess.run(["bash", str(self.workdir / "stop.sh")], cwd=self.workdir, capture_output=True,
                       timeout=30, stdin=subprocess.DEVNULL)

    def request(self, method: str, path: str, body: Any = None, raw: bytes | None = None,
                content_type: str = "application/json", timeout: float = 60.0) -> tuple[int, dict[str, str], bytes]:
        data = raw if raw is not None else (orjson.dumps(body) if body is not None else None)
        headers = {"content-type": content_type} if data is not None else {}
        if self.token:
            headers["authorization"] = "Bearer " + self.token
        req = urllib.request.Request(self.base_url + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                return resp.status, {k.lower(): v for k, v in resp.headers.items()}, resp.read()
        except urllib.error.HTTPError as err:
            return err.code, {k.lower(): v for k, v in err.headers.items()}, err.read()

    def upload(self, path: str, fields: dict[str, str], files: dict[str, tuple[str, bytes, str]],
               timeout: float = 60.0) -> tuple[int, dict[str, str], bytes]:
        raw, ctype = multipart(fields, files)
        return self.request("POST", path, raw=raw, content_type=ctype, timeout=timeout)

    def __enter__(self) -> "OpenWebUI":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
