"""Every command finds the same data files from any working directory: the gateway, the sync script
and `rin spend` run from three different folders against one config."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import orjson
import yaml

from tests.e2e.conftest import KEYS, deployment
from tests.gateway import REPO, Gateway, listed, wait_for

ADMIN = "sk-admin-data-paths"
MESSAGES = [{"role": "user", "content": "hello"}]
SYNCED = "openrouter/anthropic/claude-sonnet-4.5"


def config(fake, master_key: str | None) -> dict:
    entry = deployment("ok", "openai/gpt-4o-ok", fake.openai_base, model_info={
        "input_cost_per_token": 0.000001, "output_cost_per_token": 0.000002})
    settings = {"master_key": master_key} if master_key else {}
    return {"model_list": [entry], "catalog": {"sync_on_startup": False}, "general_settings": settings}


def environment(fake) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.endswith(("_API_KEY", "_API_BASE"))}
    base.pop("RIN_CONFIG", None)
    base.pop("RIN_DATA_DIR", None)
    return {**base, **KEYS, "OPENROUTER_API_BASE": fake.openrouter_base}


def folders(tmp_path: Path) -> tuple[Path, Path, Path, Path]:
    conf, serve, sync, report = (tmp_path / name for name in ("conf", "serve-here", "sync-here", "report-here"))
    for folder in (conf, serve, sync, report):
        folder.mkdir()
    return conf, serve, sync, report


def test_sync_script_and_spend_from_other_folders_reach_the_gateways_data(fake, tmp_path):
    conf, serve, sync, report = folders(tmp_path)
    env = environment(fake)
    with Gateway(config(fake, ADMIN), conf, env=env, api_key=ADMIN, cwd=serve) as gw:
        run_file = conf / "data" / "rin.run.json"
        info = orjson.loads(run_file.read_bytes())
        assert (info["pid"], info["port"], info["config"]) == (gw.proc.pid, gw.port, str(gw.config_path))
        assert SYNCED not in listed(gw)

        # the guide's script, from a third folder, with the config's path relative to that folder
        done = subprocess.run([str(REPO / "scripts/sync_models.sh"), "--config", "../conf/config.yaml"],
                              cwd=sync, env=env, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stdout + done.stderr
        assert f"notified the gateway at http://127.0.0.1:{gw.port}: it reloaded" in done.stdout
        assert (conf / "data" / "openrouter" / "models.json").exists()
        assert not (sync / "data").exists() and not (serve / "data").exists()
        assert SYNCED in listed(gw)  # the reload answered after the new catalogue was served

        status, headers, _ = gw.request("POST", "/v1/chat/completions", {"model": "ok", "messages": MESSAGES})
        assert status == 200
        rid = headers["x-rin-request-id"]

        def reported() -> list[dict] | None:
            out = subprocess.run([sys.executable, "-m", "rin", "spend", "--json", "--config", str(gw.config_path)],
                                 cwd=report, env=env, capture_output=True, text=True, timeout=60)
            assert out.returncode == 0, out.stderr
            rows = orjson.loads(out.stdout)
            return rows if any(r["model"] == "ok" and r["requests"] == 1 for r in rows) else None

        assert wait_for(reported), "rin spend from another folder did not see the gateway's row"
        assert (conf / "data" / "litellm" / "litellm_cost_tracking.db").exists()
        assert rid not in done.stdout
    assert not run_file.exists()  # removed on a clean shutdown
    assert not (serve / "data").exists() and not (report / "data").exists()


def test_without_a_master_key_the_sync_signals_the_gateway(fake, tmp_path):
    conf, serve, sync, _ = folders(tmp_path)
    env = environment(fake)
    with Gateway(config(fake, None), conf, env=env, cwd=serve) as gw:
        done = subprocess.run([sys.executable, "-m", "rin", "sync-models", "--config", str(gw.config_path)],
                              cwd=sync, env=env, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stdout + done.stderr
        assert f"notified the gateway at http://127.0.0.1:{gw.port} (pid {gw.proc.pid}, SIGHUP)" in done.stdout
        assert wait_for(lambda: SYNCED in listed(gw)), gw.log()
        assert gw.proc.poll() is None


def test_no_gateway_and_a_stale_run_file_are_said_plainly(fake, tmp_path):
    conf, _, sync, _ = folders(tmp_path)
    env = environment(fake)
    path = conf / "config.yaml"
    path.write_text(yaml.safe_dump(config(fake, ADMIN)))
    command = [sys.executable, "-m", "rin", "sync-models", "--config", str(path)]
    done = subprocess.run(command, cwd=sync, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "no running gateway found for this config (no run file at" in done.stdout
    # a gateway killed with -9 leaves its file: its pid is gone
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    (conf / "data" / "rin.run.json").write_bytes(orjson.dumps({
        "pid": gone.pid, "host": "127.0.0.1", "port": 9, "config": str(path), "started_at": "",
        "hostname": socket.gethostname()}))
    done = subprocess.run(command, cwd=sync, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0
    assert f"no running gateway found for this config ({conf / 'data' / 'rin.run.json'} is stale" in done.stdout
    # --url names the gateway instead of the run file
    done = subprocess.run([*command, "--url", "http://127.0.0.1:9/"], cwd=sync, env=env, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0 and "no gateway answered at http://127.0.0.1:9 (" in done.stdout
