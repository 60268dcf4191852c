"""Hot reload: POST /admin/reload and SIGHUP swap the config atomically, under load."""

from __future__ import annotations

import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import orjson
import yaml

from tests.e2e.conftest import KEYS, deployment
from tests.gateway import Gateway, wait_for

MESSAGES = [{"role": "user", "content": "hello"}]


def config(fake, extra: list[str]) -> dict:
    models = [deployment("steady", "openai/gpt-4o", fake.openai_base)]
    models += [deployment(name, "openai/gpt-4o-mini", fake.openai_base) for name in extra]
    return {"model_list": models, "general_settings": {"master_key": "sk-admin-1"}}


def model_ids(gw: Gateway) -> set[str]:
    status, _, body = gw.request("GET", "/v1/models", headers={"authorization": "Bearer sk-admin-1"})
    return {m["id"] for m in orjson.loads(body)["data"]}


def test_reload_swaps_config_and_rejects_an_invalid_one(fake, tmp_path):
    with Gateway(config(fake, []), tmp_path, env=KEYS) as gw:
        auth = {"authorization": "Bearer sk-admin-1"}
        assert gw.request("POST", "/admin/reload")[0] == 401
        gw.config_path.write_text(yaml.safe_dump(config(fake, ["newcomer"])))
        status, _, body = gw.request("POST", "/admin/reload", headers=auth)
        assert status == 200 and orjson.loads(body)["models"] == 2
        assert model_ids(gw) == {"steady", "newcomer"}
        gw.config_path.write_text("model_list:\n  - model_name: broken\n    litellm_params:\n"
                                  "      model: openai/x\n      temperature: 9\n")
        status, _, body = gw.request("POST", "/admin/reload", headers=auth)
        error = orjson.loads(body)["error"]
        assert status == 400 and error["code"] == "invalid_config"
        assert "config.yaml:5" in error["message"] and "temperature" in error["message"]
        assert model_ids(gw) == {"steady", "newcomer"}  # the old config keeps serving
        gw.config_path.write_text(yaml.safe_dump(config(fake, ["by-signal"])))
        gw.proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 10
        while "by-signal" not in model_ids(gw) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert model_ids(gw) == {"steady", "by-signal"}


def test_reload_under_steady_load_fails_no_request(fake, tmp_path):
    with Gateway(config(fake, []), tmp_path, env=KEYS) as gw:
        auth = {"authorization": "Bearer sk-admin-1"}
        stop = threading.Event()
        statuses: list[int] = []

        def client() -> None:
            while not stop.is_set():
                status, _, _ = gw.request("POST", "/v1/chat/completions",
                                          {"model": "steady", "messages": MESSAGES}, headers=auth)
                statuses.append(status)

        with ThreadPoolExecutor(max_workers=8) as pool:
            for _ in range(8):
                pool.submit(client)
            for i in range(10):
                gw.config_path.write_text(yaml.safe_dump(config(fake, [f"extra-{i}"])))
                assert gw.request("POST", "/admin/reload", headers=auth)[0] == 200
            stop.set()
        assert len(statuses) > 20
        assert set(statuses) == {200}


def test_with_several_workers_a_reload_reaches_every_worker(fake, tmp_path):
    """`rin serve --workers 2`: the reload request lands on one worker, which has the supervisor
    replace them all; afterwards every request, whichever worker takes it, sees the new model,
    and no request failed meanwhile."""
    with Gateway(config(fake, []), tmp_path, env=KEYS, args=["--workers", "2"]) as gw:
        auth = {"authorization": "Bearer sk-admin-1"}
        gw.config_path.write_text(yaml.safe_dump(config(fake, ["newcomer"])))
        status, _, body = gw.request("POST", "/admin/reload", headers=auth)
        assert status == 200 and orjson.loads(body)["workers_restarting"] == 2

        def everywhere() -> bool:  # new connections: the kernel spreads them over both workers
            return all(gw.request("POST", "/v1/chat/completions", {"model": "newcomer", "messages": MESSAGES},
                                  headers=auth)[0] == 200 for _ in range(20))

        assert wait_for(everywhere, 60), gw.log()[-3000:]
        assert all(gw.request("POST", "/v1/chat/completions", {"model": "steady", "messages": MESSAGES},
                              headers=auth)[0] == 200 for _ in range(10))
    assert "restarting the 2 workers" in gw.log()
