"""The gateway's run file (rin.runfile): written atomically, removed only by its writer, stale when
its process is gone."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import orjson

from rin import runfile
from rin.runfile import RunInfo


def test_write_find_remove(tmp_path: Path) -> None:
    path = runfile.write(tmp_path, "127.0.0.1", 4000, tmp_path / "conf" / ".." / "config.yaml")
    assert path == tmp_path / "data" / "rin.run.json"
    assert [p.name for p in path.parent.iterdir()] == ["rin.run.json"]  # no temporary file left
    data = orjson.loads(path.read_bytes())
    assert (data["pid"], data["port"], data["config"]) == (os.getpid(), 4000, str(tmp_path / "config.yaml"))
    info, why = runfile.find(tmp_path)
    # this test runs in pytest, not `rin serve`: where /proc tells, the pid is not a gateway's
    if Path("/proc/self/cmdline").exists():
        assert info is None and "is stale" in why
    else:
        assert info is not None and info.url == "http://127.0.0.1:4000"
    runfile.remove(path)
    assert not path.exists()
    assert runfile.find(tmp_path) == (None, f"no run file at {path}")


def test_another_process_file_is_not_removed_and_a_dead_pid_is_stale(tmp_path: Path) -> None:
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    path = tmp_path / "data" / "rin.run.json"
    path.parent.mkdir()
    path.write_bytes(orjson.dumps({"pid": gone.pid, "host": "0.0.0.0", "port": 4000, "config": "c.yaml",
                                   "started_at": "", "hostname": socket.gethostname()}))
    runfile.remove(path)
    assert path.exists()
    assert runfile.find(tmp_path) == (None, f"{path} is stale: process {gone.pid} is gone")


def test_a_file_from_another_machine_is_tried_and_wildcards_are_reached_on_loopback(tmp_path: Path) -> None:
    path = tmp_path / "data" / "rin.run.json"
    path.parent.mkdir()
    path.write_bytes(orjson.dumps({"pid": 1, "host": "0.0.0.0", "port": 4000, "config": "/app/config.yaml",
                                   "started_at": "", "hostname": "a-container"}))
    info, _ = runfile.find(tmp_path)
    assert info is not None and info.url == "http://127.0.0.1:4000"
    assert RunInfo(1, "::", 4000, "c", "").url == "http://[::1]:4000"
    assert RunInfo(1, "10.0.0.5", 8080, "c", "").url == "http://10.0.0.5:8080"


def test_an_unwritable_folder_is_a_warning_not_a_failure(tmp_path: Path, caplog) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "data").write_text("a file where the folder should be")
    assert runfile.write(tmp_path, "127.0.0.1", 4000, tmp_path / "c.yaml") is None
    assert "could not write the run file" in caplog.text and "--url" in caplog.text


def test_garbage_is_no_gateway(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "rin.run.json").write_text("{not json")
    assert runfile.find(tmp_path)[0] is None
