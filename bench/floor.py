"""The floor: the thinnest pass-through on RIN's own stack, to show what the stack alone costs.

uvicorn (httptools, uvloop) serving a bare ASGI function that forwards the body through one pooled
aiohttp session to the first deployment's `api_base` in the config and relays the answer: no
parsing, routing, auth, cost or logging. What RIN adds over this is RIN's own code.

`python -m bench.floor --config bench-config.yaml --port 4010`
"""

from __future__ import annotations

import argparse
from typing import Any, Awaitable, Callable

import aiohttp
import uvicorn
import yaml  # type: ignore[import-untyped]

Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


def make_app(api_base: str, api_key: str) -> Callable[[dict[str, Any], Receive, Send], Awaitable[None]]:
    url = api_base.rstrip("/") + "/chat/completions"
    headers = {"content-type": "application/json", "authorization": f"Bearer {api_key}"}
    session: aiohttp.ClientSession | None = None

    async def lifespan(receive: Receive, send: Send) -> None:
        nonlocal session
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if session is not None:
                    await session.close()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def app(scope: dict[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            return await lifespan(receive, send)
        assert session is not None
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        async with session.post(url, data=body, headers=headers) as response:
            data = await response.read()
            content_type = response.headers.get("content-type", "application/json").encode()
        await send({"type": "http.response.start", "status": response.status,
                    "headers": [(b"content-type", content_type),
                                (b"content-length", str(len(data)).encode())]})
        await send({"type": "http.response.body", "body": data})

    return app


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.floor", description=__doc__.split("\n")[0])
    parser.add_argument("--config", required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=4010)
    args = parser.parse_args()
    with open(args.config) as file:
        params = yaml.safe_load(file)["model_list"][0]["litellm_params"]
    app = make_app(params["api_base"], params.get("api_key", ""))
    uvicorn.run(app, host=args.host, port=args.port, http="httptools", loop="uvloop",
                log_level="warning", access_log=False, lifespan="on")


if __name__ == "__main__":
    main()
