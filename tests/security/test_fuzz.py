"""A property-based fuzz run of RIN's own OpenAPI description: no request may cause a 500."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.conftest import KEYS, core_config
from tests.gateway import Gateway


def test_schemathesis_finds_no_server_error(fake, tmp_path):
    cli = Path(sys.executable).parent / "schemathesis"
    if not cli.exists() and shutil.which("schemathesis") is None:
        pytest.skip("schemathesis is not installed (pip install -e '.[test]')")
    config = core_config(fake)
    # only healthy upstreams: a 5xx is then RIN's own fault, never a faithfully relayed outage
    healthy = {"gpt-4o", "gpt-tool", "embed", "claude", "claude-tool", "or-gpt"}
    config["model_list"] = [m for m in config["model_list"] if m["model_name"] in healthy]
    config["general_settings"] = {"master_key": "sk-fuzz"}
    with Gateway(config, tmp_path, env=KEYS) as gw:
        out = subprocess.run(
            [str(cli if cli.exists() else "schemathesis"), "run", gw.base_url + "/openapi.json",
             "--checks", "not_a_server_error", "--max-examples", "60", "--phases", "examples,coverage,fuzzing",
             "-H", "Authorization: Bearer sk-fuzz", "--seed", "1", "--suppress-health-check", "all",
             "--request-timeout", "20"],
            capture_output=True, text=True, timeout=600)
        log = gw.log()
    assert "Traceback" not in log, log[-3000:]
    assert out.returncode == 0, out.stdout[:6000] + out.stderr[-2000:]
    assert "generated" in out.stdout
