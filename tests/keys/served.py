"""The key admin API over real HTTP.

Once the app registers /key/generate itself, this runs the real gateway (`rin serve`, tests/gateway.py).
Until then it runs the real `App` in-process under uvicorn on a free port, with the KeyAdmin routes
added and a KeyRing started by the lifespan: the same routing, master-key check, body cap and error
rendering, around these handlers."""

from __future__ import annotations

import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import orjson

MASTER = "sk-master-test-0042"


def registered() -> bool:
    source = Path(__file__).resolve().parents[2] / "src" / "rin" / "server" / "app.py"
    return '"/key/generate"' in source.read_text() or "KeyAdmin" in source.read_text()


class Reply:
    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.status, self.headers, self.raw = status, headers, body
        self.json: Any = orjson.loads(body) if body else None


class Served:
    def __init__(self, database_url: str, workdir: Path, refresh: float = 0.2) -> None:
        self.database_url = database_url
        self.workdir = workdir
        self.refresh = refresh
        self.base_url = ""
        self._stop: Any = None

    def __enter__(self) -> Served:
        if registered():
            self._start_gateway()
        else:
            self._start_in_process()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop()

    def _start_gateway(self) -> None:
        from tests.gateway import Gateway

        config = {"model_list": [], "general_settings": {"master_key": MASTER, "database_url": self.database_url},
                  "catalog": {"enabled": False}}
        gateway = Gateway(config, self.workdir).start()
        self.base_url, self._stop = gateway.base_url, gateway.stop

    def _start_in_process(self) -> None:
        import uvicorn

        from rin.config.resolved import CatalogSettings, Config, GeneralSettings
        from rin.keys import KeyRing, KeyStore
        from rin.keys.admin import KeyAdmin
        from rin.runtime import Runtime
        from rin.server.app import App
        from rin.types import Secret
        from tests.gateway import free_port

        config = Config(path=None, deployments=[], catalog=CatalogSettings(enabled=False),
                        general=GeneralSettings(master_key=Secret(MASTER), database_url=self.database_url))
        app = App(Runtime(config))
        ring = KeyRing(KeyStore.from_url(self.database_url))
        app.routes.update(KeyAdmin(ring, spend_of=ring.store.current_spend).routes())  # type: ignore[arg-type]

        async def asgi(scope: dict[str, Any], receive: Any, send: Any) -> None:
            if scope["type"] != "lifespan":
                return await app(scope, receive, send)

            async def lifespan_receive() -> dict[str, Any]:
                message: dict[str, Any] = await receive()
                if message["type"] == "lifespan.startup":
                    await ring.start(self.refresh)
                elif message["type"] == "lifespan.shutdown":
                    await ring.close()
                return message

            await app(scope, lifespan_receive, send)

        port = free_port()
        server = uvicorn.Server(uvicorn.Config(asgi, host="127.0.0.1", port=port, log_level="warning",
                                               lifespan="on", access_log=False))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 20
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the in-process gateway did not start")
            time.sleep(0.02)
        self.base_url = f"http://127.0.0.1:{port}"

        def stop() -> None:
            server.should_exit = True
            thread.join(timeout=30)

        self._stop = stop

    def call(self, method: str, path: str, body: Any = None, token: str | None = MASTER,
             raw: bytes | None = None) -> Reply:
        data = raw if raw is not None else (orjson.dumps(body) if body is not None else None)
        headers = {"content-type": "application/json"}
        if token is not None:
            headers["authorization"] = f"Bearer {token}"
        request = urllib.request.Request(self.base_url + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=30) as resp:
                return Reply(resp.status, {k.lower(): v for k, v in resp.headers.items()}, resp.read())
        except urllib.error.HTTPError as err:
            return Reply(err.code, {k.lower(): v for k, v in err.headers.items()}, err.read())
