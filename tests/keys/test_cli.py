"""`rin keys create | list | revoke` run as subprocesses against real databases."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import orjson
import yaml

from rin.keys import KeyRing, KeyStore, hash_key
from tests.keys.test_admin_http import seed_spend
from tests.keys.test_store import INJECTIONS
from tests.ledger.support import eventually

REPO = Path(__file__).resolve().parents[2]


def wired() -> bool:
    return "add_keys_parser" in (REPO / "src" / "rin" / "cli.py").read_text()


def rin_keys(workdir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    prefix = ["-m", "rin", "keys"] if wired() else ["-m", "rin.keys.cli"]
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    return subprocess.run([sys.executable, *prefix, *args, "--config", str(workdir / "config.yaml")],
                          cwd=workdir, env=env, capture_output=True, text=True, timeout=60)


def configure(workdir: Path, database_url: str) -> None:
    config = {"model_list": [], "general_settings": {"database_url": database_url}}
    (workdir / "config.yaml").write_text(yaml.safe_dump(config))


def test_create_list_revoke(database_url: str, tmp_path: Path) -> None:
    configure(tmp_path, database_url)
    made = rin_keys(tmp_path, "create", "--alias", "bot", "--budget", "25", "--budget-duration", "30d",
                    "--models", "gpt-4o, claude", "--rpm", "10", "--tpm", "1000", "--expires", "30d")
    assert made.returncode == 0, made.stderr
    key = made.stdout.strip()
    assert key.startswith("sk-rin-") and "\n" not in key
    assert "bot" in made.stderr and key not in made.stderr
    other = rin_keys(tmp_path, "create", "--json").stdout
    second = orjson.loads(other)
    assert second["token"] == hash_key(second["key"]) and second["models"] == []
    seed_spend(database_url, tmp_path, hash_key(key), "1.5", "0.25")

    listed = rin_keys(tmp_path, "list", "--json")
    assert listed.returncode == 0, listed.stderr
    rows = orjson.loads(listed.stdout)
    assert [r["key_alias"] for r in rows] == ["bot", None]
    bot = rows[0]
    assert (bot["key_name"], bot["models"], bot["max_budget"], bot["budget_duration"], bot["rpm_limit"],
            bot["tpm_limit"], bot["spend"], bot["status"]) == (
        f"sk-rin-…{key[-4:]}", ["gpt-4o", "claude"], 25.0, "30d", 10, 1000, 1.75, "active")
    table = rin_keys(tmp_path, "list").stdout
    assert "bot" in table and f"sk-rin-…{key[-4:]}" in table and "1.7500" in table
    for output in (listed.stdout, table):
        assert key not in output and second["key"] not in output and key[7:-4] not in output

    revoked = rin_keys(tmp_path, "revoke", "bot")
    assert revoked.returncode == 0 and "revoked bot" in revoked.stdout
    assert [r["key_alias"] for r in orjson.loads(rin_keys(tmp_path, "list", "--json").stdout)] == [None]
    everything = orjson.loads(rin_keys(tmp_path, "list", "--all", "--json").stdout)
    assert [(r["key_alias"], r["status"]) for r in everything] == [("bot", "revoked"), (None, "active")]
    assert rin_keys(tmp_path, "revoke", second["key"]).returncode == 0
    assert rin_keys(tmp_path, "list", "--json").stdout.strip() == "[]"

    third = rin_keys(tmp_path, "create", "--alias", "bot").stdout.strip()  # the alias is free again
    assert rin_keys(tmp_path, "revoke", hash_key(third)).returncode == 0

    missing = rin_keys(tmp_path, "revoke", "sk-rin-not-a-real-key-123")
    assert missing.returncode == 1 and "sk-rin-not-a-real-key-123" not in missing.stderr + missing.stdout


def test_bad_flags_name_themselves(tmp_path: Path) -> None:
    configure(tmp_path, f"sqlite:///{tmp_path / 'rin.db'}")
    for args, flag in ((["--budget", "lots"], "--budget"), (["--budget-duration", "monthly"], "--budget-duration"),
                       (["--expires", "forever"], "--expires"), (["--rpm", "-3"], "--rpm")):
        done = rin_keys(tmp_path, "create", *args)
        assert done.returncode == 1 and f"error: {flag}:" in done.stderr, done.stderr
    rin_keys(tmp_path, "create", "--alias", "dup")
    dup = rin_keys(tmp_path, "create", "--alias", "dup")
    assert dup.returncode == 1 and "--alias" in dup.stderr
    broken = tmp_path / "elsewhere"
    broken.mkdir()
    (broken / "config.yaml").write_text("general_settings: [oops\n")
    assert rin_keys(broken, "list").returncode == 1


def test_injection_strings_through_the_cli(database_url: str, tmp_path: Path) -> None:
    configure(tmp_path, database_url)
    for text in INJECTIONS:
        done = rin_keys(tmp_path, "create", "--alias", text, "--models", text.replace(",", ";"))
        assert done.returncode == 0, done.stderr
    for text in INJECTIONS[:3]:
        assert rin_keys(tmp_path, "revoke", text + "'").returncode == 1
    rows = orjson.loads(rin_keys(tmp_path, "list", "--json").stdout)
    assert [r["key_alias"] for r in rows] == INJECTIONS
    assert [r["models"] for r in rows] == [[t.replace(",", ";")] for t in INJECTIONS]
    assert rin_keys(tmp_path, "revoke", INJECTIONS[0]).returncode == 0
    assert len(orjson.loads(rin_keys(tmp_path, "list", "--json").stdout)) == len(INJECTIONS) - 1


def test_a_running_gateway_picks_up_cli_changes(database_url: str, tmp_path: Path) -> None:
    configure(tmp_path, database_url)

    async def main() -> None:
        ring = KeyRing(KeyStore.from_url(database_url))
        await ring.start(interval=0.05)
        loop = asyncio.get_running_loop()
        key = (await loop.run_in_executor(None, rin_keys, tmp_path, "create", "--alias", "live")).stdout.strip()
        await eventually(lambda: ring.lookup(key) is not None, timeout=5, what="the new key")
        await loop.run_in_executor(None, rin_keys, tmp_path, "revoke", "live")
        await eventually(lambda: ring.lookup(key) is None, timeout=5, what="the revocation")
        await ring.close()

    asyncio.run(main())

