"""Real coding-agent CLIs through RIN: Anthropic's Claude Code (`claude -p`, POST /v1/messages) and
OpenAI's Codex CLI (`codex exec`, POST /v1/responses), each once to an Anthropic-backed model and
once to an OpenAI-backed one, against the fake upstreams.

The CLIs are npm packages (each ships a native binary as a platform-specific optional dependency).
A session fixture installs the pinned versions on first use into a cache outside the repo
(`~/.cache/rin-tests/npm`, or `$RIN_TEST_NPM_CACHE`) and reuses them afterwards; when npm is
missing, the registry cannot be reached, the install fails or the binary does not run here, the
tests SKIP with the reason. They are optional clients, so they skip even with
RIN_REQUIRE_SERVICES=1 (the reason says so). RIN_SKIP_CLI_CLIENTS=1 skips them outright.

Each CLI runs with HOME (and CODEX_HOME) in a temp dir and a clean environment, so no user config
is read or written, and talks to the gateway through tests.recording_proxy, which records every
call it makes (the gateway keeps no access log): an answer >= 400 from RIN is reported as a
warning naming the call, and any failure message lists all of them.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import time
import warnings
from pathlib import Path

import pytest

from tests.e2e.conftest import KEYS, deployment
from tests.gateway import Gateway
from tests.recording_proxy import RecordingProxy

CLAUDE_CODE = ("@anthropic-ai/claude-code", "2.1.332", "claude")  # npm view ... version, pinned
CODEX = ("@openai/codex", "0.171.0", "codex")
INSTALL_TIMEOUT = 300.0  # seconds for one `npm install` (the packages are ~400 MB each)
RUN_TIMEOUT = 120.0  # seconds for one CLI prompt
MASTER = "sk-master-cli-clients"
PROMPT = "Reply with one word: pong"
#: RIN model names; none contains "tool", so the fake answers with text, never a tool call
MODELS = {"anthropic": "cli-claude", "openai": "cli-gpt"}

if os.environ.get("RIN_SKIP_CLI_CLIENTS") == "1":
    pytest.skip("RIN_SKIP_CLI_CLIENTS=1", allow_module_level=True)


# installing the CLIs

def _unavailable(why: str) -> None:
    if os.environ.get("RIN_REQUIRE_SERVICES") == "1":
        why += " (an optional client: skipped even with RIN_REQUIRE_SERVICES=1)"
    pytest.skip(why)


def _cache_root() -> Path:
    configured = os.environ.get("RIN_TEST_NPM_CACHE")
    return Path(configured) if configured else Path.home() / ".cache" / "rin-tests" / "npm"


def _tail(text: str | bytes | None, lines: int = 15) -> str:
    if isinstance(text, bytes):
        text = text.decode(errors="replace")
    return "\n".join((text or "").strip().splitlines()[-lines:])


def _head(text: bytes, lines: int = 6) -> str:
    """npm's first error lines say what went wrong; its last ones only where the debug log is."""
    return "\n".join(text.decode(errors="replace").strip().splitlines()[:lines])


def _clean_env(home: Path) -> dict[str, str]:
    """PATH and locale from the test's environment, nothing else: no user keys or base URLs leak in."""
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "LANG", "LC_ALL", "TMPDIR")}
    env.update(HOME=str(home), NO_COLOR="1", TERM="dumb")
    return env


def npm_install(package: str, version: str, binary: str, scratch: Path) -> Path:
    """The CLI's executable, installed once into the cache (under a lock); skips when that fails."""
    npm = shutil.which("npm")
    if npm is None:
        _unavailable(f"npm is not on PATH, so {package}@{version} cannot be installed")
    cache = _cache_root()
    root = cache / f"{package.lstrip('@').replace('/', '+')}@{version}"
    exe = root / "node_modules" / ".bin" / binary
    stamp = root / ".rin-installed"
    try:
        cache.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        _unavailable(f"cannot create the npm cache dir {cache}: {err}")
    with open(cache / f"{root.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one install at a time, across concurrent test runs
        if not (stamp.exists() and exe.exists()):
            shutil.rmtree(root, ignore_errors=True)
            root.mkdir(parents=True)
            cmd = [npm, "install", "--no-audit", "--no-fund", "--loglevel=error", "--prefix", str(root),
                   "--fetch-retries=1", "--fetch-retry-mintimeout=2000", "--fetch-retry-maxtimeout=5000",
                   f"{package}@{version}"]
            env = {**os.environ, "npm_config_update_notifier": "false"}
            started = time.monotonic()
            try:
                done = subprocess.run(cmd, capture_output=True, timeout=INSTALL_TIMEOUT, env=env, cwd=root,
                                      stdin=subprocess.DEVNULL)
            except subprocess.TimeoutExpired as err:
                shutil.rmtree(root, ignore_errors=True)
                _unavailable(f"`npm install {package}@{version}` did not finish in {INSTALL_TIMEOUT:.0f} s "
                             f"(registry unreachable or slow?): {_tail(err.stderr, 5)}")
            if done.returncode != 0 or not exe.exists():
                shutil.rmtree(root, ignore_errors=True)
                _unavailable(f"`npm install {package}@{version}` failed (exit {done.returncode}) after "
                             f"{time.monotonic() - started:.0f} s:\n{_head(done.stderr)}")
            stamp.write_text(f"{package}@{version}\n")
    home = scratch / "version-home"
    home.mkdir(exist_ok=True)
    try:
        probe = subprocess.run([str(exe), "--version"], capture_output=True, timeout=60, cwd=scratch,
                               env=_clean_env(home), stdin=subprocess.DEVNULL)
    except (subprocess.TimeoutExpired, OSError) as err:
        _unavailable(f"{package}@{version} is installed ({exe}) but does not run here: {err}")
    if probe.returncode != 0:
        _unavailable(f"{package}@{version} is installed ({exe}) but `{binary} --version` exits "
                     f"{probe.returncode} here (no native binary for this platform?):\n{_tail(probe.stderr)}")
    if version not in probe.stdout.decode(errors="replace"):
        _unavailable(f"{exe} reports {probe.stdout!r}, not version {version}")
    return exe


@pytest.fixture(scope="session")
def claude_exe(tmp_path_factory) -> Path:
    return npm_install(*CLAUDE_CODE, tmp_path_factory.mktemp("claude-install"))


@pytest.fixture(scope="session")
def codex_exe(tmp_path_factory) -> Path:
    return npm_install(*CODEX, tmp_path_factory.mktemp("codex-install"))


# the gateway and a recording proxy in front of it

@pytest.fixture(scope="module")
def gw(fake, tmp_path_factory):
    o, a = fake.openai_base, fake.anthropic_base
    config = {
        "model_list": [
            deployment(MODELS["anthropic"], "anthropic/claude-sonnet-4-5", a, "ANTHROPIC_API_KEY"),
            deployment(MODELS["openai"], "openai/gpt-4o", o),
        ],
        "router_settings": {"num_retries": 0, "timeout": 30, "allowed_fails": 1000},
        "general_settings": {"master_key": MASTER},
    }
    with Gateway(config, tmp_path_factory.mktemp("cli-clients"), env=KEYS, api_key=MASTER) as gateway:
        yield gateway


@pytest.fixture
def proxy(gw):
    with RecordingProxy(gw.base_url) as recorder:
        yield recorder


def ledger_rows(gw: Gateway, model: str, endpoint: str) -> list[dict]:
    gw.request("POST", "/admin/reload")  # no-op reload: lets the ledger flush first
    status, _, body = gw.request("GET", f"/spend/logs?limit=1000&model={model}")
    assert status == 200, body
    return [r for r in json.loads(body) if r["endpoint"] == endpoint]


def report(proxy: RecordingProxy, gw: Gateway, done: subprocess.CompletedProcess | None, what: str) -> str:
    """Everything needed to see why a CLI run failed: its calls, RIN's refusals, outputs, RIN's log."""
    lines = [what, "calls through RIN:", *("  " + c for c in proxy.summary())]
    for call in proxy.calls:
        if call.status is None or call.status >= 400:
            lines.append(f"RIN answered {call.brief()}: {call.response_excerpt[:600].decode(errors='replace')}")
    if done is not None:
        lines += [f"exit {done.returncode}", "stdout:", _tail(done.stdout, 30), "stderr:", _tail(done.stderr, 30)]
    log = [line for line in gw.log().splitlines() if "reload:" not in line]  # ledger_rows() reloads
    lines += ["gateway log:", _tail("\n".join(log), 20)]
    return "\n".join(lines)


def warn_refusals(proxy: RecordingProxy, client: str) -> None:
    """Calls RIN refused (even those the CLI recovered from) show up in pytest's warnings summary."""
    for call in proxy.calls:
        if call.status is None or call.status >= 400:
            warnings.warn(f"{client}: RIN answered {call.brief()}: "
                          f"{call.response_excerpt[:400].decode(errors='replace')}", stacklevel=2)


def run(cmd: list[str], env: dict[str, str], cwd: Path, proxy: RecordingProxy, gw: Gateway
        ) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(cmd, capture_output=True, timeout=RUN_TIMEOUT, env=env, cwd=cwd,
                              stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as err:
        pytest.fail(report(proxy, gw, None, f"{Path(cmd[0]).name} did not finish in {RUN_TIMEOUT:.0f} s; "
                                            f"stderr so far:\n{_tail(err.stderr)}"))


# Claude Code

@pytest.mark.parametrize("backend", ["anthropic", "openai"])
def test_claude_code_print_mode(claude_exe, gw, proxy, tmp_path, backend):
    model = MODELS[backend]
    home, work = tmp_path / "home", tmp_path / "work"
    home.mkdir()
    work.mkdir()
    env = _clean_env(home) | {
        "ANTHROPIC_BASE_URL": proxy.base_url,  # no /v1: Claude Code adds it
        "ANTHROPIC_API_KEY": MASTER,  # sent as x-api-key
        "DISABLE_TELEMETRY": "1",
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        "DISABLE_AUTOUPDATER": "1",
        "DISABLE_ERROR_REPORTING": "1",
        # every model Claude Code may pick for a side call is a configured RIN model
        "ANTHROPIC_MODEL": model,
        "ANTHROPIC_DEFAULT_HAIKU_MODEL": model,
        "ANTHROPIC_SMALL_FAST_MODEL": model,
        "ANTHROPIC_DEFAULT_SONNET_MODEL": model,
        "ANTHROPIC_DEFAULT_OPUS_MODEL": model,
    }
    before = len(ledger_rows(gw, model, "messages"))
    done = run([str(claude_exe), "-p", PROMPT, "--model", model, "--output-format", "json",
                "--no-session-persistence"], env, work, proxy, gw)
    warn_refusals(proxy, f"claude ({backend})")
    exit_code = done.returncode
    assert exit_code == 0, report(proxy, gw, done, f"claude -p to {model} failed")
    stdout = done.stdout.decode(errors="replace")
    result = json.loads(stdout.strip().splitlines()[-1])
    assert result.get("is_error") is False and "Echo:" in result.get("result", ""), \
        report(proxy, gw, done, "unexpected result")
    answered = [c for c in proxy.calls if c.method == "POST" and c.path.split("?")[0] == "/v1/messages"
                and c.status == 200]
    assert answered and all(c.json["model"] == model for c in answered), report(proxy, gw, done, "no answer")
    rows = ledger_rows(gw, model, "messages")
    assert len(rows) > before and rows[0]["status"] == "success", report(proxy, gw, done, f"ledger: {rows[:3]}")
    assert rows[0]["provider"] == backend and rows[0]["prompt_tokens"] > 0


# Codex CLI

def codex_config(base_url: str, model: str) -> str:
    return "\n".join([
        f'model = "{model}"',
        'model_provider = "rin"',
        "check_for_update_on_startup = false",
        "[analytics]",
        "enabled = false",
        "[model_providers.rin]",
        'name = "RIN"',
        f'base_url = "{base_url}/v1"',
        'env_key = "RIN_KEY"',
        'wire_api = "responses"',
        "",
    ])


#: "default": Codex as installed, which also sends a `namespace` tool (multi_agent_v1) and
#: `{"type": "web_search"}`; "function-tools": those two switched off, so only function tools go
CODEX_TOOLS = {"default": [], "function-tools": ["--disable", "multi_agent", "-c", 'web_search="disabled"']}


@pytest.mark.parametrize("tools", list(CODEX_TOOLS))
@pytest.mark.parametrize("backend", ["openai", "anthropic"])
def test_codex_exec(codex_exe, gw, proxy, tmp_path, backend, tools):
    model = MODELS[backend]
    home, work, codex_home = tmp_path / "home", tmp_path / "work", tmp_path / "codex"
    for d in (home, work, codex_home):
        d.mkdir()
    (codex_home / "config.toml").write_text(codex_config(proxy.base_url, model))
    env = _clean_env(home) | {"CODEX_HOME": str(codex_home), "RIN_KEY": MASTER}  # sent as Bearer
    last = tmp_path / "last-message.txt"
    before = len(ledger_rows(gw, model, "responses"))
    done = run([str(codex_exe), "exec", "--skip-git-repo-check", "--ephemeral", "--color", "never",
                *CODEX_TOOLS[tools], "-o", str(last), PROMPT], env, work, proxy, gw)
    exit_code = done.returncode
    if backend == "anthropic" and tools == "default":
        # Codex's built-in tools (web_search, the multi_agent namespace) have no chat form: RIN says
        # so before any upstream call, rather than dropping them
        refused = [c for c in proxy.calls if c.status == 400 and b"need an OpenAI deployment" in c.response_excerpt]
        assert exit_code != 0 and refused, report(proxy, gw, done, "expected RIN's 400 for built-in tools")
        return
    warn_refusals(proxy, f"codex ({backend}, {tools})")
    assert exit_code == 0, report(proxy, gw, done, f"codex exec to {model} ({tools} tools) failed")
    answer = last.read_text() if last.exists() else ""
    assert "Echo:" in answer, report(proxy, gw, done, f"last message: {answer!r}")
    answered = [c for c in proxy.calls if c.method == "POST" and c.path.split("?")[0] == "/v1/responses"
                and c.status == 200]
    assert answered and all(c.json["model"] == model for c in answered), report(proxy, gw, done, "no answer")
    rows = ledger_rows(gw, model, "responses")
    assert len(rows) > before and rows[0]["status"] == "success", report(proxy, gw, done, f"ledger: {rows[:3]}")
    assert rows[0]["provider"] == backend and rows[0]["prompt_tokens"] > 0
